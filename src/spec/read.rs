//! Reading one spec file's nodes key by key: every key that is unknown or holds
//! the wrong kind of value is one error at its place, and reading goes on with
//! the next key, so a file with three mistakes gets three errors. What a wrong key
//! held is left out (it is never guessed at), and a job that lost a key this way is
//! marked so that later checks do not report what follows from it (a `comand:`
//! typo is one error, not also "no `command`").

use std::path::Path;

use indexmap::IndexMap;

use super::error::SpecError;
use super::fields::{At, Fields};
use super::node::{Node, Value};
use super::raw::{self, RawCommand, RawExecutor, RawPaths};
use crate::job::SlurmOptions;
use crate::suggest::did_you_mean;

/// What one file says.
#[derive(Default)]
pub(super) struct ReadFile {
    pub project: Option<At<String>>,
    pub executors: Vec<(At<String>, RawExecutor)>,
    /// `defaults`, and whether a key of it could not be read.
    pub defaults: Option<(Fields, bool)>,
    /// `jobs:` as written, when present.
    pub jobs: Option<ReadJobs>,
    /// The file is not a mapping of the top-level keys, or `jobs:` is not a
    /// mapping: what it declares is unknown.
    pub unknown_shape: bool,
}

/// The `jobs:` key and what follows it: nothing (`None`: a file cut short, never
/// "no jobs") or the jobs (`jobs: {}` is "no jobs").
pub(super) struct ReadJobs {
    pub key: At<String>,
    pub jobs: Option<Vec<ReadJob>>,
}

/// One job as a file declares it.
pub(super) struct ReadJob {
    pub name: At<String>,
    /// Boxed: a job's fields are over a kilobyte, and a thousand jobs moved through
    /// growing vectors and maps by value cost megabytes of copies and page faults.
    pub fields: Box<Fields>,
    /// A key of it could not be read (unknown, or the wrong kind of value).
    pub unsure: bool,
}

/// Reads the nodes of file number `file` (at `path`, whose text is `source`).
pub(super) struct Reader<'a> {
    file: usize,
    path: &'a Path,
    source: &'a str,
    pub errors: Vec<SpecError>,
}

const BOOLEAN: &str = "expected true or false (yes/no/on/off are not booleans here)";
const WHOLE: &str = "expected a whole number";
const COMMAND: &str = "expected a command: a string, or a list of strings (the steps)";
const PATHS: &str = "expected a path, or a list of paths";

impl<'a> Reader<'a> {
    pub fn new(file: usize, path: &'a Path, source: &'a str) -> Self {
        Reader {
            file,
            path,
            source,
            errors: Vec::new(),
        }
    }

    pub(super) fn at<T>(&self, node: &Node, value: T) -> At<T> {
        At {
            value,
            file: self.file,
            line: node.line,
            column: node.column,
        }
    }

    pub(super) fn error(&mut self, node: &Node, message: impl Into<String>) {
        let e = SpecError::at(self.path, self.source, node.line, node.column, message);
        self.errors.push(e);
    }

    /// A mapping's entries; `None` for null (nothing given) and for anything else,
    /// which is an error.
    pub(super) fn mapping<'n>(
        &mut self,
        node: &'n Node,
        expected: &str,
    ) -> Option<&'n [(Node, Node)]> {
        if node.is_null() {
            return None;
        }
        let entries = node.entries();
        if entries.is_none() {
            self.error(node, format!("expected {expected}"));
        }
        entries
    }

    /// A key as text.
    pub(super) fn key(&mut self, node: &Node) -> Option<At<String>> {
        match node.text(self.source) {
            Some(text) => Some(self.at(node, text)),
            None => {
                self.error(node, "expected a key (a word)");
                None
            }
        }
    }

    /// An unknown key: a suggestion when one is close, else the keys there are.
    pub(super) fn unknown(&mut self, key: &At<String>, node: &Node, known: &[&str], also: &[&str]) {
        let candidates: Vec<&str> = known.iter().chain(also).copied().collect();
        let message = match did_you_mean(&key.value, &candidates) {
            Some(k) => format!("unknown key `{}`: did you mean `{k}`?", key.value),
            None => format!(
                "unknown key `{}`: expected one of {}",
                key.value,
                known.join(", ")
            ),
        };
        self.error(node, message);
    }

    /// A scalar as text (a number as written); null is nothing given.
    pub(super) fn string(&mut self, node: &Node) -> Option<At<String>> {
        if node.is_null() {
            return None;
        }
        match node.text(self.source) {
            Some(text) => Some(self.at(node, text)),
            None => {
                self.error(node, "expected a string");
                None
            }
        }
    }

    pub(super) fn boolean(&mut self, node: &Node) -> Option<At<bool>> {
        let value = match &node.value {
            Value::Null => return None,
            Value::Bool(b) => Some(*b),
            Value::Str(s) if s == "true" => Some(true),
            Value::Str(s) if s == "false" => Some(false),
            _ => None,
        };
        if value.is_none() {
            self.error(node, BOOLEAN);
        }
        value.map(|b| self.at(node, b))
    }

    pub(super) fn whole(&mut self, node: &Node) -> Option<At<u32>> {
        let value = match &node.value {
            Value::Null => return None,
            Value::Int(n) => u32::try_from(*n).ok(),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        if value.is_none() {
            self.error(node, WHOLE);
        }
        value.map(|n| self.at(node, n))
    }

    /// Strings only (a list of steps or paths): `None` when an item is not one.
    pub(super) fn strings(node: &Node) -> Option<Vec<String>> {
        node.items()?
            .iter()
            .map(|item| match &item.value {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn command(&mut self, node: &Node) -> Option<At<RawCommand>> {
        let command = match &node.value {
            Value::Null => return None,
            Value::Str(s) => Some(RawCommand::One(s.clone())),
            Value::Seq(_) => Self::strings(node).map(RawCommand::Steps),
            _ => None,
        };
        if command.is_none() {
            self.error(node, COMMAND);
        }
        command.map(|c| self.at(node, c))
    }

    fn paths(&mut self, node: &Node) -> Option<At<RawPaths>> {
        let paths = match &node.value {
            Value::Null => return None,
            Value::Str(s) => Some(RawPaths::One(s.clone())),
            Value::Seq(_) => Self::strings(node).map(RawPaths::Many),
            _ => None,
        };
        if paths.is_none() {
            self.error(node, PATHS);
        }
        paths.map(|p| self.at(node, p))
    }

    /// `env` (or compose's `environment`): `NAME: value` pairs, or compose's list
    /// of `NAME=value`.
    fn env(&mut self, node: &Node) -> IndexMap<String, At<String>> {
        let mut env = IndexMap::new();
        if let Some(items) = node.items() {
            for item in items {
                let pair = item.text(self.source);
                match pair.as_deref().and_then(|p| p.split_once('=')) {
                    Some((name, value)) if !name.is_empty() => {
                        // The value's place: after `NAME=` on the item's line.
                        let mut at = self.at(item, value.to_string());
                        at.column += name.chars().count() + 1 + usize::from(quoted(item, self.source));
                        env.insert(name.to_string(), at);
                    }
                    _ => self.error(
                        item,
                        "expected NAME=value (a name alone does not pass a variable on: write NAME: ${NAME})",
                    ),
                }
            }
            return env;
        }
        for (key, value) in self
            .mapping(node, "a mapping of NAME: value")
            .unwrap_or_default()
        {
            let Some(name) = self.key(key) else { continue };
            match value.text(self.source) {
                Some(text) => {
                    env.insert(name.value, self.at(value, text));
                }
                None => self.error(
                    value,
                    format!(
                        "expected a value for {} (\"\" for an empty one)",
                        name.value
                    ),
                ),
            }
        }
        env
    }

    /// A job, or the `defaults` block; whether a key of it could not be read.
    pub fn job(&mut self, node: &Node) -> (Fields, bool) {
        let before = self.errors.len();
        let mut f = Fields::default();
        let entries = self.mapping(node, "a mapping of the job's keys (command, schedule, …)");
        if entries.is_none() && !node.is_null() {
            return (f, true);
        }
        // The keys given so far as written, each with the key it stands for (a
        // compose name beside its mrsm name is one key given twice).
        let mut given: Vec<(String, String)> = Vec::new();
        for (k, v) in entries.unwrap_or_default() {
            let Some(key) = self.key(k) else { continue };
            let same = raw::JOB_ALIASES
                .iter()
                .find(|(compose, _)| *compose == key.value)
                .map_or(key.value.as_str(), |(_, mrsm)| mrsm)
                .to_string();
            if let Some((first, _)) = given.iter().find(|(_, s)| *s == same) {
                let message = format!(
                    "`{}` and `{first}` are the same key (compose's name and mrsm's): give one of them",
                    key.value
                );
                self.error(k, message);
                continue;
            }
            match same.as_str() {
                "command" => f.command = self.command(v),
                "schedule" => f.schedule = self.string(v),
                "timezone" => f.timezone = self.string(v),
                "overlap" => f.overlap = self.string(v),
                "restart" => f.restart = self.string(v),
                "executor" => f.executor = self.string(v),
                "state" => f.state = self.string(v),
                "env" => f.env = self.env(v),
                "env_file" => f.env_file = self.paths(v),
                "cwd" => f.cwd = self.string(v),
                "stop" => self.stop(v, &mut f),
                "logs" => self.logs(v, &mut f),
                "shell" => f.shell = self.boolean(v),
                "allow_fast" => f.allow_fast = self.boolean(v),
                "slurm" => f.slurm = self.slurm(v).map(|s| self.at(v, s)),
                "healthcheck" => f.healthcheck = self.healthcheck(v),
                "depends_on" => f.depends_on = self.depends_on(v),
                "on_start" => f.on_start = self.string(v),
                "on_success" => f.on_success = self.string(v),
                "on_failure" => f.on_failure = self.string(v),
                "hook_timeout" => f.hook_timeout = self.string(v),
                "replicas" => f.replicas = self.whole(v),
                "after" => f.after = self.after(v),
                _ => {
                    let aliases: Vec<&str> = raw::JOB_ALIASES.iter().map(|(c, _)| *c).collect();
                    self.unknown(&key, k, &raw::JOB_KEYS, &aliases);
                    continue;
                }
            }
            given.push((key.value, same));
        }
        (f, self.errors.len() > before)
    }

    fn stop(&mut self, node: &Node, f: &mut Fields) {
        let expected = "a mapping such as { signal: SIGTERM, timeout: 10s }";
        for (k, v) in self.mapping(node, expected).unwrap_or_default() {
            let Some(key) = self.key(k) else { continue };
            match key.value.as_str() {
                "signal" => f.stop_signal = self.string(v),
                "timeout" => f.stop_timeout = self.string(v),
                _ => self.unknown(&key, k, &raw::STOP_KEYS, &[]),
            }
        }
    }

    fn logs(&mut self, node: &Node, f: &mut Fields) {
        let expected = "a mapping such as { max_size: 10MiB, keep: 5 }";
        for (k, v) in self.mapping(node, expected).unwrap_or_default() {
            let Some(key) = self.key(k) else { continue };
            match key.value.as_str() {
                "max_size" => f.max_size = self.string(v),
                "keep" => f.keep = self.whole(v),
                "max_line" => f.max_line = self.string(v),
                _ => self.unknown(&key, k, &raw::LOGS_KEYS, &[]),
            }
        }
    }

    /// One Slurm option into `options`; false when `key` is not one.
    fn slurm_option(&mut self, key: &str, v: &Node, options: &mut SlurmOptions) -> bool {
        let text = |r: &mut Self| r.string(v).map(|s| s.value);
        match key {
            "partition" => options.partition = text(self),
            "account" => options.account = text(self),
            "qos" => options.qos = text(self),
            "time" => options.time = text(self),
            "mem" => options.mem = text(self),
            "gres" => options.gres = text(self),
            "cpus" => options.cpus = self.whole(v).map(|n| n.value),
            "extra" => match (&v.value, Self::strings(v)) {
                (Value::Null, _) => {}
                (_, Some(extra)) => options.extra = extra,
                _ => self.error(
                    v,
                    "expected a list of srun options, such as [--constraint=avx2]",
                ),
            },
            _ => return false,
        }
        true
    }

    /// A job's `slurm:` options.
    fn slurm(&mut self, node: &Node) -> Option<SlurmOptions> {
        let entries = self.mapping(node, "a mapping of Slurm options (partition, cpus, …)")?;
        let mut options = SlurmOptions::default();
        for (k, v) in entries {
            let Some(key) = self.key(k) else { continue };
            if !self.slurm_option(&key.value, v, &mut options) {
                self.unknown(&key, k, &raw::SLURM_KEYS, &[]);
            }
        }
        Some(options)
    }

    /// A named executor.
    fn executor(&mut self, node: &Node) -> RawExecutor {
        let mut executor = RawExecutor::default();
        let expected = "a mapping such as { url: https://…, token: … } or { kind: slurm, … }";
        for (k, v) in self.mapping(node, expected).unwrap_or_default() {
            let Some(key) = self.key(k) else { continue };
            match key.value.as_str() {
                "kind" => executor.kind = self.string(v),
                "url" => executor.url = self.string(v),
                "token" => executor.token = self.string(v),
                "ca_file" => executor.ca_file = self.string(v),
                "timeout" => executor.timeout = self.string(v),
                "connect_timeout" => executor.connect_timeout = self.string(v),
                other => {
                    if !self.slurm_option(other, v, &mut executor.slurm) {
                        self.unknown(&key, k, &raw::EXECUTOR_KEYS, &[]);
                    }
                }
            }
        }
        executor
    }

    /// The whole file.
    pub fn file(&mut self, root: &Node) -> ReadFile {
        let mut read = ReadFile::default();
        let expected = "a mapping with the keys project, executors, defaults and jobs";
        let Some(entries) = root.entries() else {
            self.error(root, format!("expected {expected}"));
            read.unknown_shape = true;
            return read;
        };
        for (k, v) in entries {
            let Some(key) = self.key(k) else { continue };
            match key.value.as_str() {
                "project" => read.project = self.string(v),
                "executors" => {
                    let expected = "a mapping of executor names to executors";
                    for (name, executor) in self.mapping(v, expected).unwrap_or_default() {
                        if let Some(name) = self.key(name) {
                            let executor = self.executor(executor);
                            read.executors.push((name, executor));
                        }
                    }
                }
                "defaults" => read.defaults = Some(self.job(v)),
                "jobs" => {
                    let jobs = match v.is_null() {
                        true => None,
                        false => Some(self.jobs(v, &mut read.unknown_shape)),
                    };
                    read.jobs = Some(ReadJobs { key, jobs });
                }
                extension if extension.starts_with("x-") => {}
                _ => {
                    let message = match did_you_mean(&key.value, &raw::TOP_KEYS) {
                        Some(t) => format!("unknown key `{}`: did you mean `{t}`?", key.value),
                        None => format!(
                            "unknown key `{}`: expected project, executors, defaults, jobs or an extension key `x-…`",
                            key.value
                        ),
                    };
                    self.error(k, message);
                }
            }
        }
        read
    }

    /// The jobs of `jobs:`.
    fn jobs(&mut self, node: &Node, unknown_shape: &mut bool) -> Vec<ReadJob> {
        let Some(entries) = self.mapping(node, "a mapping of job names to jobs") else {
            *unknown_shape = true;
            return Vec::new();
        };
        let mut jobs = Vec::with_capacity(entries.len());
        for (name, job) in entries {
            let Some(name) = self.key(name) else { continue };
            let (fields, unsure) = self.job(job);
            jobs.push(ReadJob {
                name,
                fields: Box::new(fields),
                unsure,
            });
        }
        jobs
    }
}

/// Whether a scalar is written in quotes (its text starts one column later).
fn quoted(node: &Node, source: &str) -> bool {
    source
        .lines()
        .nth(node.line.saturating_sub(1))
        .and_then(|l| l.chars().nth(node.column.saturating_sub(1)))
        .is_some_and(|c| c == '"' || c == '\'')
}
