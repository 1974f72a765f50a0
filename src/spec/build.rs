//! A job's definition from its merged keys: each value interpolated and checked
//! where it was written (schedule and zone, policies, stop and log limits, working
//! directory, environment, executor), every problem an error or a warning at its
//! place.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::executors::Declared;
use super::fields::{At, Fields};
use super::interpolate::{parse_env_file, Vars};
use super::loader::Loader;
use super::raw::{RawCommand, RawPaths};
use super::{spec_hash, DesiredJob, SpecError, StateWord};
use crate::job::parse_size;
use crate::job::{split_chain, written_steps};
use crate::job::{validate_name, JobSpec, OverlapPolicy, RestartPolicy, SignalName};
use crate::suggest::did_you_mean;

/// A job as the files declare it, its keys merged over the defaults.
pub(super) struct Declaration {
    pub name: At<String>,
    /// Boxed, as [`super::read::ReadJob`]'s.
    pub fields: Box<Fields>,
    /// A key of the job (or of the defaults) could not be read: what is missing
    /// may be that key, so it is not reported as missing.
    pub unsure: bool,
    /// The job gives its own `timezone:` (not only the defaults').
    pub own_zone: bool,
}

impl Loader {
    fn parsed<T: std::str::FromStr<Err = String>>(
        &mut self,
        value: &Option<At<String>>,
        vars: &Vars,
        known: &[&str],
    ) -> Option<T> {
        let value = value.as_ref()?;
        let text = self.text(value, vars)?;
        match text.parse::<T>() {
            Ok(v) => Some(v),
            Err(message) => {
                let message = match did_you_mean(&text, known) {
                    Some(k) => format!("{message} (did you mean {k:?}?)"),
                    None => message,
                };
                self.error(value, message);
                None
            }
        }
    }

    /// The steps of a job's command: as they run, and as written (what is shown).
    fn steps(&mut self, job: &Declaration, vars: &Vars) -> (Vec<String>, Vec<String>) {
        let name = &job.name;
        let Some(c) = &job.fields.command else {
            // A key that could not be read may be the command (`comand:`), which
            // is reported already.
            if !job.unsure {
                self.error(name, format!("job `{}` has no `command`", name.value));
            }
            return (Vec::new(), Vec::new());
        };
        // A string is split into steps as written, before `${VAR}`s are filled in:
        // a value never adds a step (`PLUS="x + rm -rf …"` stays in its step).
        let mut readable = true;
        let written: Vec<String> = match &c.value {
            RawCommand::One(s) => match split_chain(s) {
                Ok(split) => split,
                Err(e) => {
                    let column = self.column_of(c, s, s, e.offset);
                    self.error(&c.place_at(column), e.to_string());
                    readable = false;
                    vec![s.clone()]
                }
            },
            RawCommand::Steps(list) => list.clone(),
        };
        let shown = match &c.value {
            RawCommand::One(s) if !readable => written_steps(s),
            _ => written.clone(),
        };
        let mut steps = Vec::new();
        for step in &written {
            match self.text(&c.place_at(c.column).with(step.clone()), vars) {
                Some(text) => steps.push(text),
                None => readable = false,
            }
        }
        if readable && (steps.is_empty() || steps.iter().any(|s| s.trim().is_empty())) {
            self.error(c, "the command is empty");
        }
        // A step that would only fail once it runs (`echo "unclosed`) is an error
        // now. Only its number is said: the step as it runs may hold a secret.
        for (i, step) in steps.iter().enumerate() {
            if !parses_as_shell(step) {
                self.error(
                    c,
                    format!(
                        "step {} cannot be read as a command (an unterminated quote?)",
                        i + 1
                    ),
                );
            }
        }
        (steps, shown)
    }

    /// The schedule and time zone of a job. A schedule that names its zone (`…
    /// tz Europe/Berlin`) is evaluated there: the defaults' `timezone:` does not
    /// apply to it, and the job's own must name the same zone.
    fn schedule(&mut self, spec: &mut JobSpec, f: &Fields, own_zone: bool, vars: &Vars) {
        let mut zone = None;
        if let Some(tz) = &f.timezone {
            if let Some(text) = self.text(tz, vars) {
                match crate::schedule::tz_data().get(&text) {
                    Some(_) => zone = Some(text),
                    None => self.error(tz, format!("unknown time zone {text:?}: expected an IANA name such as Europe/Berlin")),
                }
            }
        }
        let Some(s) = &f.schedule else {
            spec.timezone = zone;
            return;
        };
        let Some(text) = self.text(s, vars) else {
            return;
        };
        let parsed = crate::schedule::parse_schedule(&text).and_then(|sched| {
            match (sched.written_zone().map(str::to_string), zone) {
                (Some(written), Some(other)) if own_zone => {
                    spec.timezone = Some(written);
                    sched.in_zone(&other)
                }
                (Some(written), _) => {
                    spec.timezone = Some(written);
                    Ok(sched)
                }
                (None, Some(zone)) => {
                    let sched = sched.in_zone(&zone);
                    spec.timezone = Some(zone);
                    sched
                }
                (None, None) => Ok(sched),
            }
        });
        match parsed {
            Ok(sched) => match crate::job::too_fast(&sched, spec.allow_fast) {
                Some(message) => self.error(s, message),
                None => spec.schedule = Some(text),
            },
            Err(e) => {
                let column = match (e.column(), s.value == text) {
                    (Some(c), true) => self.text_column(s) + c - 1,
                    _ => s.column,
                };
                let hint = e.hint().map(|h| format!(": {h}")).unwrap_or_default();
                self.error(
                    &s.place_at(column),
                    format!("bad schedule: {}{hint}", e.message()),
                );
            }
        }
    }

    /// `stop` and `logs` settings.
    fn limits(&mut self, spec: &mut JobSpec, f: &Fields, vars: &Vars) {
        if let Some(signal) = self.parsed::<SignalName>(&f.stop_signal, vars, &[]) {
            spec.stop.signal = signal;
        }
        if let Some(written) = &f.stop_timeout {
            if let Some(timeout) = self.duration(written, vars) {
                match crate::job::check_stop_timeout(timeout) {
                    Ok(timeout) => spec.stop.timeout = timeout,
                    Err(e) => self.error(written, e.to_string()),
                }
            }
        }
        if let Some(size) = &f.max_size {
            if let Some(text) = self.text(size, vars) {
                match parse_size(&text) {
                    Ok(n) => spec.logs.max_size = n,
                    Err(m) => self.error(size, m),
                }
            }
        }
        if let Some(keep) = &f.keep {
            if keep.value == 0 {
                self.error(keep, "logs.keep must be at least 1");
            }
            spec.logs.keep = keep.value;
        }
        if let Some(size) = &f.max_line {
            if let Some(text) = self.text(size, vars) {
                match parse_size(&text) {
                    Ok(n) if n > crate::job::MAX_LINE_LIMIT => self.error(
                        size,
                        format!("{text:?} is too long for one record: at most 64MiB"),
                    ),
                    Ok(n) => spec.logs.max_line = n,
                    Err(m) => self.error(size, m),
                }
            }
        }
    }

    /// The working directory: `cwd` against the file that wrote it, else the
    /// directory of the file that first declared the job. A declared directory that
    /// does not exist is a warning (it may be created before the job runs).
    fn cwd(&mut self, name: &At<String>, f: &Fields, vars: &Vars) -> PathBuf {
        let Some(c) = &f.cwd else {
            return self.dir(name.file);
        };
        let text = self.text(c, vars).unwrap_or_default();
        // `./work` is written `work` (the same directory, shown the same everywhere).
        let dir: PathBuf = self
            .dir(c.file)
            .join(&text)
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect();
        if !dir.is_dir() {
            self.warn(
                c,
                format!(
                    "cwd {} does not exist: the job's steps cannot start until it does",
                    dir.display()
                ),
            );
        }
        dir
    }

    /// The environment: env files (each against the file that named it), then `env`.
    fn env(&mut self, f: &Fields, vars: &Vars) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        if let Some(files) = &f.env_file {
            let paths = match &files.value {
                RawPaths::One(p) => vec![p.clone()],
                RawPaths::Many(ps) => ps.clone(),
            };
            for p in paths {
                let path = self.dir(files.file).join(&p);
                self.note_input(&path);
                match std::fs::read_to_string(&path) {
                    Ok(text) => match parse_env_file(&text) {
                        Ok(vars) => env.extend(vars),
                        Err((line, m)) => self.errors.push(SpecError::at_hidden(&path, line, 1, m)),
                    },
                    Err(e) => self.error(files, format!("cannot read env file {p:?}: {e}")),
                }
            }
        }
        for (key, value) in &f.env {
            if let Some(text) = self.text(value, vars) {
                env.insert(key.clone(), text);
            }
        }
        env
    }

    /// The job a declaration describes; `None` when it has errors (each reported).
    pub(super) fn build_job(
        &mut self,
        job: Declaration,
        vars: &Vars,
        executors: &[Declared],
    ) -> Option<DesiredJob> {
        let errors_before = self.errors.len();
        let (name, f) = (&job.name, &job.fields);
        if let Err(e) = validate_name(&name.value) {
            self.error(name, e.to_string());
        }
        let (steps, written) = self.steps(&job, vars);
        let mut spec = JobSpec::new(name.value.clone(), steps).written_as(written);
        spec.allow_fast = f.allow_fast.as_ref().is_some_and(|a| a.value);
        self.schedule(&mut spec, f, job.own_zone, vars);
        spec.restart = self
            .parsed::<RestartPolicy>(&f.restart, vars, &["never", "on-failure", "always"])
            .unwrap_or_default();
        spec.overlap = self
            .parsed::<OverlapPolicy>(&f.overlap, vars, &["skip", "queue", "replace", "allow"])
            .unwrap_or_default();
        let state = self
            .parsed::<StateWord>(&f.state, vars, &["running", "paused", "stopped"])
            .map_or(crate::job::DesiredState::Running, |s| s.0);
        self.limits(&mut spec, f, vars);
        if let Some(shell) = &f.shell {
            spec.shell = shell.value;
        }
        let executor = self.executor(f, vars, executors);
        spec.slurm = self.slurm(f, &executor, executors);
        spec.cwd = Some(self.cwd(name, f, vars));
        spec.env = self.env(f, vars);
        spec.health = self.health(f, vars);
        spec.hooks = self.hooks(f, vars);
        spec.depends_on = self.dependencies(f, vars);
        spec.after = self.after(f, vars, spec.schedule.is_some());
        if self.errors.len() > errors_before {
            return None;
        }
        let spec_hash = spec_hash(&spec, &executor);
        Some(DesiredJob {
            spec,
            state,
            executor,
            spec_hash,
        })
    }
}

/// Whether `sh` would read `step` (`sh -n`: parsed, never run). Only a step whose
/// quotes mrsm's own splitting finds unbalanced is asked (a heredoc may hold a lone
/// quote); a shell that cannot be asked does not keep a file from loading.
fn parses_as_shell(step: &str) -> bool {
    if crate::job::split_words(step).is_ok() {
        return true;
    }
    std::process::Command::new("sh")
        .args(["-n", "-c", step])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_or(true, |s| s.success())
}
