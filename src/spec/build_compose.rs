//! The compose-style keys of a job checked and built: its health check, its hooks
//! and its dependencies; then, across the jobs, dependencies that name no job
//! (with a suggestion) and cycles (said as their path).

use std::collections::BTreeMap;

use super::fields::{At, Fields};
use super::interpolate::Vars;
use super::loader::Loader;
use super::raw::{RawAfter, RawDependency, RawHealth, RawHttpGet, RawTest};
use super::DesiredJob;
use crate::job::{
    After, Condition, Dependency, HealthCheck, Hooks, HttpGet, HttpScheme, Probe,
    DEFAULT_DEPENDENCY_WAIT,
};
use crate::suggest::did_you_mean;

impl Loader {
    /// The job's health check; none when it has none or it is disabled.
    pub(super) fn health(&mut self, f: &Fields, vars: &Vars) -> Option<HealthCheck> {
        let written = f.healthcheck.as_ref()?;
        let h = &written.value;
        if h.disable.as_ref().is_some_and(|d| d.value) {
            return None;
        }
        let probe = match (&h.test, &h.http_get) {
            (Some(test), None) => self.test_probe(test, vars)?,
            (None, Some(get)) => Probe::Http(self.http_get(get, vars)?),
            (Some(test), Some(_)) => {
                self.error(
                    test,
                    "a healthcheck has either `test` or `http_get`, not both",
                );
                return None;
            }
            (None, None) => {
                self.error(
                    written,
                    "the healthcheck has no `test` nor `http_get`: say what to probe (or `disable: true`)",
                );
                return None;
            }
        };
        let mut check = HealthCheck::new(probe);
        self.timings(h, &mut check, vars);
        check.liveness = h.liveness.as_ref().is_some_and(|l| l.value);
        if let Some(problem) = check.problem() {
            self.error(written, problem);
            return None;
        }
        Some(check)
    }

    fn timings(&mut self, h: &RawHealth, check: &mut HealthCheck, vars: &Vars) {
        // (its key, as written, where it goes, whether 0s is allowed)
        let slots = [
            ("interval", &h.interval, &mut check.interval, false),
            ("timeout", &h.timeout, &mut check.timeout, false),
            (
                "start_period",
                &h.start_period,
                &mut check.start_period,
                true,
            ),
            (
                "start_interval",
                &h.start_interval,
                &mut check.start_interval,
                false,
            ),
        ];
        for (key, written, slot, zero_allowed) in slots {
            let Some(written) = written else { continue };
            match self.duration(written, vars) {
                // Said at its place, not at the check's.
                Some(d) if d.is_zero() && !zero_allowed => self.error(
                    written,
                    format!("the healthcheck's {key} must be more than 0s"),
                ),
                Some(d) => *slot = d,
                None => {}
            }
        }
        if let Some(retries) = &h.retries {
            check.retries = retries.value;
        }
    }

    /// `test:` as a probe; `["NONE"]` is written as no test at all.
    fn test_probe(&mut self, test: &At<RawTest>, vars: &Vars) -> Option<Probe> {
        let text = |this: &mut Self, s: &str| {
            this.text(&test.place_at(test.column).with(s.to_string()), vars)
        };
        match &test.value {
            RawTest::Shell(s) => text(self, s).map(Probe::Shell),
            RawTest::List(items) => match items.split_first() {
                Some((kind, rest)) if kind == "CMD" => {
                    let args: Option<Vec<String>> = rest.iter().map(|a| text(self, a)).collect();
                    args.map(Probe::Exec)
                }
                Some((kind, rest)) if kind == "CMD-SHELL" => {
                    text(self, &rest.join(" ")).map(Probe::Shell)
                }
                Some((kind, _)) if kind == "NONE" => {
                    self.error(
                        test,
                        "[\"NONE\"] turns the check off: write `disable: true`",
                    );
                    None
                }
                _ => {
                    self.error(
                        test,
                        "the test list starts with \"CMD\", \"CMD-SHELL\" or \"NONE\"",
                    );
                    None
                }
            },
        }
    }

    fn http_get(&mut self, get: &At<RawHttpGet>, vars: &Vars) -> Option<HttpGet> {
        let g = &get.value;
        let Some(port) = &g.port else {
            if !g.port_written {
                self.error(get, "http_get needs a `port`");
            }
            return None;
        };
        let Ok(port_number) = u16::try_from(port.value)
            .map_err(drop)
            .and_then(|p| match p {
                0 => Err(()),
                p => Ok(p),
            })
        else {
            self.error(port, "expected a port from 1 to 65535");
            return None;
        };
        let scheme = match g
            .scheme
            .as_ref()
            .and_then(|s| self.text(s, vars))
            .as_deref()
        {
            None | Some("http") => HttpScheme::Http,
            Some("https") => HttpScheme::Https,
            Some(other) => {
                let message = format!("unknown scheme {other:?}: expected http or https");
                match &g.scheme {
                    Some(at) => self.error(at, message),
                    None => self.error(port, message),
                }
                return None;
            }
        };
        let status = match &g.status {
            Some(s) if !(100..600).contains(&s.value) => {
                self.error(s, "expected an HTTP status from 100 to 599");
                return None;
            }
            Some(s) => Some(s.value as u16),
            None => None,
        };
        if let Some(path) = &g.path {
            if !path.value.starts_with('/') {
                self.error(path, format!("the path {:?} must start with /", path.value));
                return None;
            }
        }
        Some(HttpGet {
            scheme,
            host: g
                .host
                .as_ref()
                .and_then(|h| self.text(h, vars))
                .unwrap_or_else(|| "127.0.0.1".into()),
            port: port_number,
            path: g
                .path
                .as_ref()
                .and_then(|p| self.text(p, vars))
                .unwrap_or_else(|| "/".into()),
            status,
        })
    }

    /// `on_start`, `on_success`, `on_failure` and `hook_timeout`.
    pub(super) fn hooks(&mut self, f: &Fields, vars: &Vars) -> Hooks {
        let mut hooks = Hooks::default();
        let command = |this: &mut Self, written: &Option<At<String>>| {
            let text = this.text(written.as_ref()?, vars)?;
            match text.trim().is_empty() {
                true => {
                    this.error(written.as_ref()?, "the hook's command is empty");
                    None
                }
                false => Some(text),
            }
        };
        hooks.on_start = command(self, &f.on_start);
        hooks.on_success = command(self, &f.on_success);
        hooks.on_failure = command(self, &f.on_failure);
        if let Some(written) = &f.hook_timeout {
            match self.duration(written, vars) {
                Some(d) if d.is_zero() => self.error(written, "hook_timeout must be more than 0s"),
                Some(d) => hooks.timeout = d,
                None => {}
            }
        }
        hooks
    }

    /// The job's dependencies, each checked on its own (the names are checked
    /// against the other jobs by [`Loader::check_dependencies`]).
    pub(super) fn dependencies(&mut self, f: &Fields, vars: &Vars) -> Vec<Dependency> {
        let Some(list) = &f.depends_on else {
            return Vec::new();
        };
        list.value
            .iter()
            .filter_map(|d| self.dependency(d, vars))
            .collect()
    }

    fn dependency(&mut self, d: &RawDependency, vars: &Vars) -> Option<Dependency> {
        let word = match &d.condition {
            Some(c) => self.text(c, vars)?,
            None => "service_started".to_string(),
        };
        let condition = match (word.as_str(), &d.ready_log_line) {
            ("log_ready", Some(line)) => {
                let text = self.text(line, vars)?;
                if let Err(e) = regex::Regex::new(&text) {
                    let first = e.to_string().lines().last().unwrap_or_default().to_string();
                    self.error(
                        line,
                        format!("ready_log_line is not a regular expression: {first}"),
                    );
                    return None;
                }
                Condition::LogReady {
                    ready_log_line: text,
                }
            }
            ("log_ready", None) => {
                self.error(
                    d.condition.as_ref()?,
                    "condition log_ready needs a `ready_log_line` (a regular expression)",
                );
                return None;
            }
            (_, Some(line)) => {
                self.error(line, "ready_log_line goes with `condition: log_ready`");
                return None;
            }
            ("service_started", None) => Condition::ServiceStarted,
            ("service_healthy", None) => Condition::ServiceHealthy,
            ("service_completed_successfully", None) => Condition::ServiceCompletedSuccessfully,
            (other, None) => {
                let hint = did_you_mean(other, &Condition::WORDS)
                    .map(|w| format!(": did you mean {w}?"))
                    .unwrap_or_else(|| {
                        format!(": expected one of {}", Condition::WORDS.join(", "))
                    });
                self.error(
                    d.condition.as_ref()?,
                    format!("unknown condition {other:?}{hint}"),
                );
                return None;
            }
        };
        let timeout = match &d.timeout {
            Some(t) => self.duration(t, vars)?,
            None => DEFAULT_DEPENDENCY_WAIT,
        };
        Some(Dependency {
            name: d.name.value.clone(),
            condition,
            restart: d.restart.as_ref().is_some_and(|r| r.value),
            required: d.required.as_ref().is_none_or(|r| r.value),
            timeout,
        })
    }

    /// Across the jobs: each dependency names a declared job (else an error with
    /// a suggestion, or a warning for one that is not required), and no job
    /// depends on itself through others (the cycle said as its path, at the
    /// `depends_on` of its first job).
    pub(super) fn check_dependencies(
        &mut self,
        written: &BTreeMap<String, At<Vec<RawDependency>>>,
        jobs: &[String],
    ) {
        let names: Vec<&str> = jobs.iter().map(String::as_str).collect();
        let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for job in jobs {
            graph.insert(job.clone(), Vec::new());
        }
        for (job, list) in written {
            for d in &list.value {
                let name = &d.name.value;
                if names.contains(&name.as_str()) {
                    graph.entry(job.clone()).or_default().push(name.clone());
                    continue;
                }
                let hint = did_you_mean(name, &names)
                    .map(|n| format!(": did you mean `{n}`?"))
                    .unwrap_or_default();
                let message =
                    format!("job `{job}` depends on `{name}`, which is not declared{hint}");
                match d.required.as_ref().is_none_or(|r| r.value) {
                    true => self.error(&d.name, message),
                    false => self.warn(&d.name, format!("{message} (not required: ignored)")),
                }
            }
        }
        if let Err(cycle) = crate::job::start_order(&graph) {
            let first = cycle.split(" -> ").next().unwrap_or_default();
            if let Some(at) = written.get(first) {
                self.error(at, format!("dependency cycle: {cycle}"));
            }
        }
    }

    /// The job's `after:`, checked on its own (the names against the other jobs
    /// by [`Loader::check_after`]).
    pub(super) fn after(&mut self, f: &Fields, vars: &Vars, scheduled: bool) -> Option<After> {
        let written = f.after.as_ref()?;
        let a = &written.value;
        if scheduled {
            self.error(
                written,
                "a job with `after` runs after other jobs' runs: it has no `schedule` of its own",
            );
            return None;
        }
        if a.jobs.is_empty() {
            self.error(written, "`after` names no job");
            return None;
        }
        let jobs: Option<Vec<String>> = a.jobs.iter().map(|j| self.text(j, vars)).collect();
        let all = self.either(&a.when, vars, "when", ["any", "all"])?;
        let on_end = self.either(&a.on, vars, "on", ["success", "end"])?;
        Some(After {
            jobs: jobs?,
            all,
            on_end,
        })
    }

    /// A key that is one of two words: false for the first (or when not
    /// given), true for the second; another word is an error at its place.
    fn either(
        &mut self,
        written: &Option<At<String>>,
        vars: &Vars,
        key: &str,
        [no, yes]: [&str; 2],
    ) -> Option<bool> {
        let Some(at) = written else {
            return Some(false);
        };
        match self.text(at, vars)? {
            w if w == no => Some(false),
            w if w == yes => Some(true),
            w => {
                self.error(at, format!("unknown `{key}` {w:?}: expected {no} or {yes}"));
                None
            }
        }
    }

    /// Across the jobs: each job an `after:` names is declared (not the job
    /// itself, not one with `replicas`), both keep their runs on this machine,
    /// and no job comes after itself through others.
    pub(super) fn check_after(
        &mut self,
        written: &BTreeMap<String, At<RawAfter>>,
        jobs: &[DesiredJob],
        declared: &[String],
        replicated: &[String],
    ) {
        let here = |job: &DesiredJob| crate::job::keeps_runs_here(&job.executor);
        let names: Vec<&str> = declared.iter().map(String::as_str).collect();
        let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, list) in written {
            let Some(job) = jobs.iter().find(|j| &j.spec.name == name) else {
                continue;
            };
            for upstream in &list.value.jobs {
                let up = &upstream.value;
                let found = jobs.iter().find(|j| &j.spec.name == up);
                let problem = match found {
                    _ if up == name => Some(format!("job `{name}` cannot come after itself")),
                    // Declared, with errors of its own (said at their place).
                    None if names.contains(&up.as_str()) => None,
                    _ if replicated.contains(up) => Some(format!(
                        "job `{name}` comes after `{up}`, which has `replicas`: name a job without copies"
                    )),
                    None => Some(format!(
                        "job `{name}` comes after `{up}`, which is not declared{}",
                        did_you_mean(up, &names)
                            .map(|n| format!(": did you mean `{n}`?"))
                            .unwrap_or_default()
                    )),
                    Some(u) if !here(u) || !here(job) => Some(format!(
                        "`after` links jobs whose runs are kept on this machine: `{up}` is on {} and `{name}` on {}",
                        u.executor, job.executor
                    )),
                    Some(_) => None,
                };
                match (problem, found) {
                    (Some(message), _) => self.error(upstream, message),
                    (None, Some(_)) => graph.entry(name.clone()).or_default().push(up.clone()),
                    (None, None) => {}
                }
            }
        }
        for job in jobs {
            graph.entry(job.spec.name.clone()).or_default();
        }
        if let Err(cycle) = crate::job::start_order(&graph) {
            let first = cycle.split(" -> ").next().unwrap_or_default();
            if let Some(at) = written.get(first) {
                self.error(at, format!("`after` cycle: {cycle}"));
            }
        }
    }
}
