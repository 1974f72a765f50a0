//! Reading spec files into desired jobs: parse each file, merge them key by key,
//! interpolate, validate, and collect every error and warning with its place, plus
//! every file that was read (spec files, `.env`, env files), which the watcher
//! watches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use super::error::SpecError;
use super::executors::{Declared, WrittenExecutor};
use super::fields::{at, lift, At, Fields};
use super::interpolate::{interpolate_noting, parse_env_file, Vars};
use super::raw::{self, RawCommand, RawFile, RawPaths};
use super::{project_from_dir, spec_hash, DeclaredExecutor, Desired, DesiredJob, StateWord};
use crate::job::parse_size;
use crate::job::{split_chain, written_steps};
use crate::job::{validate_name, JobSpec, OverlapPolicy, RestartPolicy, SignalName};
use crate::suggest::did_you_mean;

/// One spec file's text.
pub(super) struct Source {
    pub path: PathBuf,
    pub text: String,
}

/// Everything one load found.
#[derive(Default)]
pub(super) struct Loader {
    pub sources: Vec<Source>,
    pub errors: Vec<SpecError>,
    pub warnings: Vec<SpecError>,
    /// Every file read or looked for, absolute, in the order first read.
    pub inputs: Vec<PathBuf>,
    /// The executors jobs may name besides the file's own `executors:`.
    pub known_executors: Vec<String>,
}

/// Whether a file declares nothing at all: blank, or only comments. Such a file is
/// what a save in progress (`: > f`, `gen > f`) looks like, so it is an error.
fn declares_nothing(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// Turns a serde-saphyr message into ours: the location prefix dropped, unknown keys
/// with a suggestion.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default();
    let message = match first.strip_prefix("error: line ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, m)| m),
        None => first,
    };
    // The location is given separately.
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    };
    if message.starts_with("invalid u") || message.starts_with("invalid i") {
        return "expected a whole number".into();
    }
    if message.starts_with("invalid boolean") {
        return "expected true or false (yes/no/on/off are not booleans here)".into();
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((key, _)) = rest.split_once('`') {
            let known: Vec<&str> = [
                &raw::JOB_KEYS[..],
                &raw::TOP_KEYS,
                &raw::STOP_KEYS,
                &raw::LOGS_KEYS,
                &raw::EXECUTOR_KEYS,
                &raw::SLURM_KEYS,
            ]
            .concat();
            let expected = message
                .split_once("expected ")
                .map(|(_, e)| e)
                .unwrap_or("");
            return match did_you_mean(key, &known) {
                Some(k) if expected.contains(k) => {
                    format!("unknown key `{key}`: did you mean `{k}`?")
                }
                _ => format!("unknown key `{key}`: expected {expected}"),
            };
        }
    }
    if message.starts_with("duplicate mapping key") {
        let key = message
            .trim_start_matches("duplicate mapping key: ")
            .split(", set DuplicateKeyPolicy")
            .next()
            .unwrap_or_default();
        return format!("duplicate key `{key}`");
    }
    if message.contains("untagged enum RawCommand") {
        return "expected a command: a string, or a list of strings (the steps)".into();
    }
    if message.contains("untagged enum RawPaths") {
        return "expected a path, or a list of paths".into();
    }
    message.to_string()
}

/// The directory a file's relative paths resolve against.
pub(super) fn dir_of(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

impl Loader {
    /// Remembers that `path` was read (or looked for).
    pub fn note_input(&mut self, path: &Path) {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if !self.inputs.contains(&path) {
            self.inputs.push(path);
        }
    }

    fn place<T>(&self, at: &At<T>, message: impl Into<String>) -> SpecError {
        let source = &self.sources[at.file];
        SpecError::at(&source.path, &source.text, at.line, at.column, message)
    }

    pub(super) fn error<T>(&mut self, at: &At<T>, message: impl Into<String>) {
        let e = self.place(at, message);
        self.errors.push(e);
    }

    pub(super) fn warn<T>(&mut self, at: &At<T>, message: impl Into<String>) {
        let w = self.place(at, message);
        if !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// The column where the text of a scalar starts (after an opening quote).
    pub(super) fn text_column<T>(&self, at: &At<T>) -> usize {
        let line = self.sources[at.file]
            .text
            .lines()
            .nth(at.line.saturating_sub(1));
        let quoted = line
            .and_then(|l| l.chars().nth(at.column.saturating_sub(1)))
            .is_some_and(|c| c == '"' || c == '\'');
        at.column + usize::from(quoted)
    }

    /// The column of byte `offset` of a scalar's text, when the file holds that text
    /// as written (no interpolation changed it); else the scalar's own column.
    fn column_of<T>(&self, at: &At<T>, written: &str, text: &str, offset: usize) -> usize {
        match written == text {
            true => self.text_column(at) + text[..offset].chars().count(),
            false => at.column,
        }
    }

    pub(super) fn dir(&self, file: usize) -> PathBuf {
        dir_of(&self.sources[file].path)
    }

    /// Parses every file and merges them into the desired jobs.
    pub fn run(&mut self, project_override: Option<&str>) -> Option<Desired> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let mut project: Option<At<String>> = None;
        let mut executors: Vec<WrittenExecutor> = Vec::new();
        let mut defaults = Fields::default();
        // Name (where first declared) and fields, in declaration order.
        let mut jobs: IndexMap<String, (At<String>, Fields)> = IndexMap::new();
        let mut jobs_declared = false;
        for file in 0..self.sources.len() {
            if declares_nothing(&self.sources[file].text) {
                let path = self.sources[file].path.clone();
                self.errors.push(SpecError::file(
                    &path,
                    "the file is empty (still being written?): declare the jobs under `jobs:`, or write `jobs: {}` for none",
                ));
                continue;
            }
            let parsed = serde_saphyr::from_str_with_options::<RawFile>(
                &self.sources[file].text,
                options.clone(),
            );
            let raw = match parsed {
                Ok(raw) => raw,
                Err(e) => {
                    let (line, column) = e
                        .location()
                        .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
                    let source = &self.sources[file];
                    self.errors.push(SpecError::at(
                        &source.path,
                        &source.text,
                        line,
                        column,
                        yaml_message(&e),
                    ));
                    continue;
                }
            };
            for key in raw.unknown {
                let key = at(key, file);
                let message = match did_you_mean(&key.value, &raw::TOP_KEYS) {
                    Some(k) => format!("unknown key `{}`: did you mean `{k}`?", key.value),
                    None => format!(
                        "unknown key `{}`: expected project, executors, defaults, jobs or an extension key `x-…`",
                        key.value
                    ),
                };
                self.error(&key, message);
            }
            project = lift(raw.project, file).or(project);
            for (name, executor) in raw.executors.unwrap_or_default() {
                let written = self.check_executor(at(name, file), executor.value, file);
                executors.push(written);
            }
            if let Some(d) = raw.defaults {
                defaults = Fields::from_raw(d, file).over(defaults);
            }
            let Some(block) = raw.jobs else { continue };
            let Some(declared) = block.jobs else {
                let key = at(block.key, file);
                self.error(
                    &key,
                    "`jobs:` has nothing under it (a file cut short?): list the jobs, or write `jobs: {}` for none",
                );
                continue;
            };
            jobs_declared = true;
            for (name, job) in declared {
                let name = at(name, file);
                let fields = Fields::from_raw(job.value.unwrap_or_default(), file);
                match jobs.get_mut(&name.value) {
                    Some((_, base)) => *base = fields.over(std::mem::take(base)),
                    None => {
                        jobs.insert(name.value.clone(), (name, fields));
                    }
                }
            }
        }
        if !self.errors.is_empty() {
            return None;
        }
        if !jobs_declared {
            let path = self.sources.first()?.path.clone();
            self.errors.push(SpecError::file(
                &path,
                "no `jobs:` key: declare the jobs under `jobs:` (`jobs: {}` means no jobs)",
            ));
            return None;
        }
        let vars = self.variables()?;
        let project = match (project_override, project) {
            (Some(p), _) => p.to_string(),
            (None, Some(p)) => {
                let name = self.text(&p, &vars).unwrap_or_default();
                if validate_name(&name).is_err() {
                    self.error(
                        &p,
                        format!(
                            "invalid project name {name:?}: use letters, digits, '_', '.' and '-'"
                        ),
                    );
                }
                name
            }
            (None, None) => project_from_dir(&self.dir(0)),
        };
        let executor_names: Vec<Declared> = executors
            .iter()
            .map(|e| (e.name.value.clone(), e.slurm.clone()))
            .collect();
        let declared: Vec<DeclaredExecutor> = executors
            .iter()
            .map(|written| self.declared(written, &vars))
            .collect();
        let mut desired = Vec::new();
        for (_, (name, fields)) in jobs {
            let own_restart = fields.restart.clone();
            let fields = fields.over(defaults.clone());
            if let Some(job) = self.build_job(&name, fields, &vars, &executor_names) {
                if let Some(restart) = own_restart {
                    if job.spec.schedule.is_some() && job.spec.restart != RestartPolicy::Never {
                        self.warn(
                            &restart,
                            "`restart` is ignored for a job with a `schedule`: the schedule decides when it runs again",
                        );
                    }
                }
                desired.push(job);
            }
        }
        Some(Desired {
            project,
            jobs: desired,
            executors: declared,
        })
    }

    /// The environment over the `.env` file beside the first spec file.
    fn variables(&mut self) -> Option<Vars> {
        let dotenv_path = self.dir(0).join(".env");
        self.note_input(&dotenv_path);
        let dotenv = match std::fs::read_to_string(&dotenv_path) {
            Ok(text) => match parse_env_file(&text) {
                Ok(vars) => vars,
                Err((line, message)) => {
                    self.errors
                        .push(SpecError::at_hidden(&dotenv_path, line, 1, message));
                    return None;
                }
            },
            Err(_) => BTreeMap::new(),
        };
        Some(Vars::from_env(dotenv))
    }

    /// Interpolates a string value, reporting errors (and unset variables, as
    /// warnings) at their place.
    pub(super) fn text(&mut self, value: &At<String>, vars: &Vars) -> Option<String> {
        let mut unset = Vec::new();
        let result = interpolate_noting(&value.value, vars, &mut |offset, name| {
            unset.push((offset, name.to_string()))
        });
        let column_of = |this: &Self, offset: usize| {
            this.text_column(value) + value.value[..offset].chars().count()
        };
        for (offset, name) in unset {
            let column = column_of(self, offset);
            self.warn(
                &value.place_at(column),
                format!("variable {name} is not set: using an empty string (write ${{{name}:-default}} to choose one)"),
            );
        }
        match result {
            Ok(text) => Some(text),
            Err((offset, message)) => {
                let column = column_of(self, offset);
                self.error(&value.place_at(column), message);
                None
            }
        }
    }

    /// A duration as written (`10s`, `500ms`); one that is not is an error at its
    /// place.
    pub(super) fn duration(&mut self, value: &At<String>, vars: &Vars) -> Option<Duration> {
        let text = self.text(value, vars)?;
        match humantime::parse_duration(&text) {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    value,
                    format!("bad duration {text:?}: {e} (expected e.g. 10s or 500ms)"),
                );
                None
            }
        }
    }

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
    fn steps(
        &mut self,
        name: &At<String>,
        command: &Option<At<RawCommand>>,
        vars: &Vars,
    ) -> (Vec<String>, Vec<String>) {
        let Some(c) = command else {
            self.error(name, format!("job `{}` has no `command`", name.value));
            return (Vec::new(), Vec::new());
        };
        let (texts, shown): (Vec<String>, Vec<String>) = match &c.value {
            RawCommand::One(s) => (vec![s.clone()], written_steps(s)),
            RawCommand::Steps(list) => (list.clone(), list.clone()),
        };
        let mut steps = Vec::new();
        let mut readable = true;
        for written in texts {
            let Some(text) = self.text(&c.place_at(c.column).with(written.clone()), vars) else {
                readable = false;
                continue;
            };
            match &c.value {
                RawCommand::One(_) => match split_chain(&text) {
                    Ok(split) => steps.extend(split),
                    Err(e) => {
                        let column = self.column_of(c, &written, &text, e.offset);
                        self.error(&c.place_at(column), e.to_string());
                        readable = false;
                    }
                },
                RawCommand::Steps(_) => steps.push(text),
            }
        }
        if readable && (steps.is_empty() || steps.iter().any(|s| s.trim().is_empty())) {
            self.error(c, "the command is empty");
        }
        (steps, shown)
    }

    /// The schedule and time zone of a job.
    fn schedule(&mut self, spec: &mut JobSpec, f: &Fields, vars: &Vars) {
        if let Some(s) = &f.schedule {
            if let Some(text) = self.text(s, vars) {
                let parsed =
                    crate::schedule::parse_schedule(&text).and_then(|sched| match &f.timezone {
                        Some(tz) => sched.in_zone(&tz.value),
                        None => Ok(sched),
                    });
                match parsed {
                    Ok(sched) => match crate::job::too_fast(&sched, spec.allow_fast) {
                        Some(message) => self.error(s, message),
                        None => spec.schedule = Some(text),
                    },
                    Err(e) if e.message().starts_with("unknown time zone") => {
                        if let Some(tz) = &f.timezone {
                            self.error(tz, format!("unknown time zone {:?}: expected an IANA name such as Europe/Berlin", tz.value));
                        }
                    }
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
        }
        if let Some(tz) = &f.timezone {
            if let Some(text) = self.text(tz, vars) {
                if crate::schedule::tz_data().get(&text).is_none() {
                    if f.schedule.is_none() {
                        self.error(tz, format!("unknown time zone {text:?}: expected an IANA name such as Europe/Berlin"));
                    }
                } else {
                    spec.timezone = Some(text);
                }
            }
        }
    }

    /// `stop` and `logs` settings.
    fn limits(&mut self, spec: &mut JobSpec, f: &Fields, vars: &Vars) {
        if let Some(signal) = self.parsed::<SignalName>(&f.stop_signal, vars, &[]) {
            spec.stop.signal = signal;
        }
        if let Some(timeout) = f.stop_timeout.as_ref().and_then(|t| self.duration(t, vars)) {
            spec.stop.timeout = timeout;
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

    fn build_job(
        &mut self,
        name: &At<String>,
        f: Fields,
        vars: &Vars,
        executors: &[Declared],
    ) -> Option<DesiredJob> {
        let errors_before = self.errors.len();
        if let Err(e) = validate_name(&name.value) {
            self.error(name, e.to_string());
        }
        let (steps, written) = self.steps(name, &f.command, vars);
        let mut spec = JobSpec::new(name.value.clone(), steps).written_as(written);
        spec.allow_fast = f.allow_fast.as_ref().is_some_and(|a| a.value);
        self.schedule(&mut spec, &f, vars);
        spec.restart = self
            .parsed::<RestartPolicy>(&f.restart, vars, &["never", "on-failure", "always"])
            .unwrap_or_default();
        spec.overlap = self
            .parsed::<OverlapPolicy>(&f.overlap, vars, &["skip", "queue", "replace", "allow"])
            .unwrap_or_default();
        let state = self
            .parsed::<StateWord>(&f.state, vars, &["running", "paused", "stopped"])
            .map_or(crate::job::DesiredState::Running, |s| s.0);
        self.limits(&mut spec, &f, vars);
        if let Some(shell) = &f.shell {
            spec.shell = shell.value;
        }
        let executor = self.executor(&f, vars, executors);
        spec.slurm = self.slurm(&f, &executor, executors);
        spec.cwd = Some(self.cwd(name, &f, vars));
        spec.env = self.env(&f, vars);
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
