//! Reading the compose-style keys of a job: `healthcheck` (with `http_get`) and
//! `depends_on` (compose's list or its mapping of conditions). Values are kept as
//! written, with their places; `build_compose.rs` checks them.

use super::fields::At;
use super::node::{Node, Value};
use super::raw::{self, RawAfter, RawDependency, RawHealth, RawHttpGet, RawTest};
use super::read::Reader;

const TEST: &str =
    "expected a command string, or a list such as [\"CMD\", \"prog\", \"arg\"] or [\"CMD-SHELL\", \"…\"]";
const DEPENDS: &str =
    "expected a list of job names, or a mapping of job names to { condition: …, restart: … }";

impl Reader<'_> {
    /// A job's `healthcheck:`.
    pub(super) fn healthcheck(&mut self, node: &Node) -> Option<At<RawHealth>> {
        let expected = "a mapping such as { test: [\"CMD\", \"true\"], interval: 5s }";
        let entries = self.mapping(node, expected)?;
        let mut h = RawHealth::default();
        for (k, v) in entries {
            let Some(key) = self.key(k) else { continue };
            match key.value.as_str() {
                "test" => h.test = self.test(v),
                "http_get" => h.http_get = self.http_get(v),
                "interval" => h.interval = self.string(v),
                "timeout" => h.timeout = self.string(v),
                "retries" => h.retries = self.whole(v),
                "start_period" => h.start_period = self.string(v),
                "start_interval" => h.start_interval = self.string(v),
                "disable" => h.disable = self.boolean(v),
                "liveness" => h.liveness = self.boolean(v),
                _ => self.unknown(&key, k, &raw::HEALTH_KEYS, &[]),
            }
        }
        Some(self.at(node, h))
    }

    fn test(&mut self, node: &Node) -> Option<At<RawTest>> {
        let test = match &node.value {
            Value::Null => return None,
            Value::Str(s) => Some(RawTest::Shell(s.clone())),
            Value::Seq(_) => Self::strings(node).map(RawTest::List),
            _ => None,
        };
        if test.is_none() {
            self.error(node, TEST);
        }
        test.map(|t| self.at(node, t))
    }

    fn http_get(&mut self, node: &Node) -> Option<At<RawHttpGet>> {
        let expected = "a mapping such as { port: 8080, path: /health }";
        let entries = self.mapping(node, expected)?;
        let mut get = RawHttpGet::default();
        for (k, v) in entries {
            let Some(key) = self.key(k) else { continue };
            match key.value.as_str() {
                "scheme" => get.scheme = self.string(v),
                "host" => get.host = self.string(v),
                "port" => {
                    get.port_written = true;
                    get.port = self.whole(v);
                }
                "path" => get.path = self.string(v),
                "status" => get.status = self.whole(v),
                _ => self.unknown(&key, k, &raw::HTTP_GET_KEYS, &[]),
            }
        }
        Some(self.at(node, get))
    }

    /// A job's `depends_on:`: compose's list of names, or its mapping of names to
    /// conditions.
    pub(super) fn depends_on(&mut self, node: &Node) -> Option<At<Vec<RawDependency>>> {
        let plain = |name: At<String>| RawDependency {
            name,
            condition: None,
            ready_log_line: None,
            restart: None,
            required: None,
            timeout: None,
        };
        let mut list = Vec::new();
        match &node.value {
            Value::Null => return None,
            Value::Str(_) => list.push(plain(self.string(node)?)),
            Value::Seq(_) => list.extend(self.names(node).into_iter().map(plain)),
            Value::Map(entries) => {
                for (k, v) in entries {
                    let Some(name) = self.key(k) else { continue };
                    list.push(self.dependency(plain(name), v));
                }
            }
            _ => {
                self.error(node, DEPENDS);
                return None;
            }
        }
        Some(self.at(node, list))
    }

    /// A job's `after:`: a job name, a list of them, or `{ jobs, when, on }`.
    pub(super) fn after(&mut self, node: &Node) -> Option<At<RawAfter>> {
        let mut after = RawAfter::default();
        match &node.value {
            Value::Null => return None,
            Value::Str(_) => after.jobs.extend(self.string(node)),
            Value::Seq(_) => after.jobs = self.names(node),
            Value::Map(entries) => {
                for (k, v) in entries {
                    let Some(key) = self.key(k) else { continue };
                    match key.value.as_str() {
                        "jobs" => match &v.value {
                            Value::Str(_) => after.jobs.extend(self.string(v)),
                            _ => after.jobs = self.names(v),
                        },
                        "when" => after.when = self.string(v),
                        "on" => after.on = self.string(v),
                        _ => self.unknown(&key, k, &raw::AFTER_KEYS, &[]),
                    }
                }
            }
            _ => {
                self.error(
                    node,
                    "expected a job name, a list of them, or { jobs: […], when: all, on: end }",
                );
                return None;
            }
        }
        Some(self.at(node, after))
    }

    /// A list of job names.
    fn names(&mut self, node: &Node) -> Vec<At<String>> {
        let Some(items) = node.items() else {
            self.error(node, "expected a list of job names");
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| match item.value {
                Value::Str(_) => self.string(item),
                _ => {
                    self.error(item, "expected a job name");
                    None
                }
            })
            .collect()
    }

    fn dependency(&mut self, mut d: RawDependency, node: &Node) -> RawDependency {
        let expected = "a mapping such as { condition: service_healthy }";
        for (k, v) in self.mapping(node, expected).unwrap_or_default() {
            let Some(key) = self.key(k) else { continue };
            match key.value.as_str() {
                "condition" => d.condition = self.string(v),
                "ready_log_line" => d.ready_log_line = self.string(v),
                "restart" => d.restart = self.boolean(v),
                "required" => d.required = self.boolean(v),
                "timeout" => d.timeout = self.string(v),
                _ => self.unknown(&key, k, &raw::DEPENDENCY_KEYS, &[]),
            }
        }
        d
    }
}
