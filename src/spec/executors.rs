//! The `executors:` block of spec files: each named executor's keys checked with
//! their place (a remote `mrsm serve`: `url`, `token`, `ca_file`, `timeout`,
//! `connect_timeout`; a Slurm cluster: its options), and a job's `executor:` and
//! `slurm:` resolved against them.

use std::path::PathBuf;
use std::time::Duration;

use super::fields::{At, Fields};
use super::interpolate::Vars;
use super::loader::Loader;
use super::raw::RawExecutor;
use super::DeclaredExecutor;
use crate::job::SlurmOptions;
use crate::suggest::did_you_mean;

/// A named executor the files declare, with its Slurm options when it is a cluster.
pub(super) type Declared = (String, Option<SlurmOptions>);

/// A named executor as the files wrote it, each key with its place.
pub(super) struct WrittenExecutor {
    pub name: At<String>,
    pub url: Option<At<String>>,
    pub token: Option<At<String>>,
    pub ca_file: Option<At<String>>,
    pub timeout: Option<At<String>>,
    pub connect_timeout: Option<At<String>>,
    /// A Slurm executor's options (`kind: slurm`).
    pub slurm: Option<SlurmOptions>,
}

impl Loader {
    /// Checks a named executor's keys (those that need its variables are checked
    /// by [`Loader::declared`]); what it says, as written.
    pub(super) fn check_executor(
        &mut self,
        name: At<String>,
        executor: RawExecutor,
    ) -> WrittenExecutor {
        WrittenExecutor {
            url: executor.url.clone(),
            token: executor.token.clone(),
            ca_file: executor.ca_file.clone(),
            timeout: executor.timeout.clone(),
            connect_timeout: executor.connect_timeout.clone(),
            slurm: self.check_kind(&name, executor),
            name,
        }
    }

    /// Checks a named executor's keys against its kind; a Slurm executor's options
    /// are returned.
    fn check_kind(&mut self, name: &At<String>, executor: RawExecutor) -> Option<SlurmOptions> {
        if ["local", "slurm"].contains(&name.value.as_str()) {
            self.error(
                name,
                format!(
                    "`{}` is a built-in executor: name this one otherwise (e.g. `cluster`)",
                    name.value
                ),
            );
        }
        let kind = executor.kind.clone();
        match kind.as_ref().map(|k| k.value.as_str()) {
            Some("slurm") => {
                for (key, given) in executor.remote_keys() {
                    if given {
                        self.error(
                            name,
                            format!("executor `{}` is a Slurm cluster (`kind: slurm`): `{key}` belongs to a remote executor (`kind: api`)", name.value),
                        );
                    }
                }
                let options = executor.slurm.clone();
                if let Some(problem) = options.problem() {
                    self.error(name, format!("executor `{}`: {problem}", name.value));
                }
                return Some(options);
            }
            Some("api") | None => {}
            Some(other) => {
                let kind = kind.clone().unwrap_or_else(|| name.clone());
                self.error(
                    &kind,
                    format!("unknown executor kind {other:?}: expected api (a remote mrsm serve, the default) or slurm"),
                );
                return None;
            }
        }
        if executor.has_slurm_options() {
            self.error(
                name,
                format!(
                    "executor `{}` has Slurm options: add `kind: slurm` (it then needs no `url`)",
                    name.value
                ),
            );
        }
        match executor.url {
            None => self.error(name, format!("executor `{}` has no `url`", name.value)),
            Some(url)
                if !(url.value.starts_with("http://")
                    || url.value.starts_with("https://")
                    || url.value.contains("${")) =>
            {
                self.error(
                    &url,
                    format!(
                        "bad url {:?}: expected http://HOST:PORT or https://…",
                        url.value
                    ),
                )
            }
            Some(_) => {}
        }
        if let Some(token) = executor.token {
            if token.value.trim().is_empty() {
                self.error(&token, "the token is empty");
            }
        }
        None
    }

    /// A declared executor with its variables substituted; a `ca_file` (relative
    /// to the file that names it) that is not a usable PEM file, and a timeout
    /// that is not a duration above zero, are errors at their place.
    pub(super) fn declared(&mut self, written: &WrittenExecutor, vars: &Vars) -> DeclaredExecutor {
        let url = written.url.as_ref().and_then(|u| self.text(u, vars));
        let token = written.token.as_ref().and_then(|t| self.text(t, vars));
        DeclaredExecutor {
            name: written.name.value.clone(),
            url: url.unwrap_or_default(),
            token: token.filter(|t| !t.is_empty()),
            ca_file: written.ca_file.as_ref().and_then(|c| self.ca_file(c, vars)),
            timeout: self.timeout(&written.timeout, vars),
            connect_timeout: self.timeout(&written.connect_timeout, vars),
            slurm: written.slurm.clone(),
        }
    }

    /// The certificate file `written` names, checked.
    fn ca_file(&mut self, written: &At<String>, vars: &Vars) -> Option<PathBuf> {
        let text = self.text(written, vars)?;
        if text.trim().is_empty() {
            self.error(written, "ca_file is empty: name a PEM file of certificates");
            return None;
        }
        let path = self.dir(written.file).join(&text);
        self.note_input(&path);
        match crate::certs::read_pem_certificates(&path) {
            Ok(_) => Some(path),
            Err(problem) => {
                self.error(written, format!("ca_file: {problem}"));
                None
            }
        }
    }

    /// A timeout, more than zero.
    fn timeout(&mut self, written: &Option<At<String>>, vars: &Vars) -> Option<Duration> {
        let written = written.as_ref()?;
        let timeout = self.duration(written, vars)?;
        if timeout.is_zero() {
            self.error(written, "a timeout must be more than zero");
            return None;
        }
        Some(timeout)
    }

    /// The executor's label: one the machine knows, `slurm:NAME` for a Slurm
    /// executor the files declare, or `api:NAME` for a `NAME` (or `api:NAME`) that
    /// the files or the machine declare.
    pub(super) fn executor(&mut self, f: &Fields, vars: &Vars, executors: &[Declared]) -> String {
        let Some(e) = &f.executor else {
            return "local".to_string();
        };
        let label = self.text(e, vars).unwrap_or_default();
        if self.known_executors.contains(&label) {
            return label;
        }
        let name = label
            .strip_prefix("api:")
            .or_else(|| label.strip_prefix("slurm:"))
            .unwrap_or(&label);
        if let Some((d, slurm)) = executors.iter().find(|(d, _)| d == name) {
            return match slurm {
                Some(_) => format!("slurm:{d}"),
                None => format!("api:{d}"),
            };
        }
        let remote = format!("api:{name}");
        if self.known_executors.contains(&remote) {
            return remote;
        }
        let mut known: Vec<String> = self.known_executors.clone();
        known.extend(executors.iter().map(|(d, slurm)| match slurm {
            Some(_) => format!("slurm:{d}"),
            None => format!("api:{d}"),
        }));
        known.sort();
        known.dedup();
        // `prod` is as good as `api:prod`, so both are suggestions.
        let words: Vec<&str> = known
            .iter()
            .flat_map(|k| {
                let short = k
                    .strip_prefix("api:")
                    .or_else(|| k.strip_prefix("slurm:"))
                    .unwrap_or(k);
                [k.as_str(), short]
            })
            .collect();
        let hint = did_you_mean(&label, &words)
            .map(|k| format!("; did you mean `{k}`?"))
            .unwrap_or_default();
        self.error(
            e,
            format!(
                "unknown executor {label:?}: expected one of {}{hint}",
                known.join(", ")
            ),
        );
        label
    }

    /// The Slurm options of a job on a Slurm executor: the executor's, with the
    /// job's own `slurm:` over them. `slurm:` on a job that runs elsewhere is an
    /// error: it would silently do nothing.
    pub(super) fn slurm(
        &mut self,
        f: &Fields,
        executor: &str,
        executors: &[Declared],
    ) -> Option<SlurmOptions> {
        let own = f.slurm.as_ref();
        let base = match executor.strip_prefix("slurm:") {
            Some(name) => executors
                .iter()
                .find(|(d, _)| d == name)
                .and_then(|(_, s)| s.clone()),
            None if executor == "slurm" => Some(SlurmOptions::default()),
            None => {
                if let Some(own) = own {
                    self.error(
                        own,
                        format!("`slurm` options apply to jobs on a Slurm executor, and this job's executor is {executor}: add `executor: slurm`"),
                    );
                }
                return None;
            }
        }?;
        let options = match own {
            Some(own) => base.overlaid(&own.value),
            None => base,
        };
        if let Some(problem) = options.problem() {
            match own {
                Some(own) => self.error(own, problem),
                None => self.error(f.executor.as_ref()?, problem),
            }
        }
        Some(options)
    }
}
