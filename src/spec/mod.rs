//! Spec files (`mrsm-jobs.yaml`): read one or more, later files overriding earlier
//! ones key by key as compose does, interpolate `${VAR}`, validate everything, and
//! produce the desired jobs. Every error names the file, line and column.

mod error;
mod interpolate;
mod raw;
mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde_saphyr::Spanned;

pub use error::{did_you_mean, SpecError, SpecErrors};
pub use interpolate::{interpolate, parse_env_file, Vars};
pub use schema::schema_json;

use crate::executor::split_chain;
use crate::job::{validate_name, DesiredState, JobSpec, OverlapPolicy, RestartPolicy, SignalName};
use crate::logs::parse_size;
use raw::{RawCommand, RawFile, RawJob, RawPaths};

/// The spec file read when none is named.
pub const DEFAULT_FILE: &str = "mrsm-jobs.yaml";

/// One job as the files declare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredJob {
    pub spec: JobSpec,
    pub state: DesiredState,
    /// The executor's label (`local`).
    pub executor: String,
    /// Hash of everything that changes how the job runs; a change means a restart.
    pub spec_hash: String,
}

/// What a set of spec files asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub project: String,
    pub jobs: Vec<DesiredJob>,
}

/// A value and where it was written.
#[derive(Clone, Debug)]
struct At<T> {
    value: T,
    file: usize,
    line: usize,
    column: usize,
}

fn at<T>(s: Spanned<T>, file: usize) -> At<T> {
    At {
        value: s.value,
        file,
        line: s.referenced.line() as usize,
        column: s.referenced.column() as usize,
    }
}

fn lift<T>(s: Option<Spanned<T>>, file: usize) -> Option<At<T>> {
    s.map(|s| at(s, file))
}

/// A job's fields after merging files and defaults.
#[derive(Clone, Debug, Default)]
struct Fields {
    command: Option<At<RawCommand>>,
    schedule: Option<At<String>>,
    timezone: Option<At<String>>,
    overlap: Option<At<String>>,
    restart: Option<At<String>>,
    executor: Option<At<String>>,
    env: IndexMap<String, At<String>>,
    env_file: Option<At<RawPaths>>,
    cwd: Option<At<String>>,
    state: Option<At<String>>,
    stop_signal: Option<At<String>>,
    stop_timeout: Option<At<String>>,
    max_size: Option<At<String>>,
    keep: Option<At<u32>>,
    shell: Option<At<bool>>,
}

impl Fields {
    fn from_raw(raw: RawJob, file: usize) -> Fields {
        let stop = raw.stop.unwrap_or_default();
        let logs = raw.logs.unwrap_or_default();
        Fields {
            command: lift(raw.command, file),
            schedule: lift(raw.schedule, file),
            timezone: lift(raw.timezone, file),
            overlap: lift(raw.overlap, file),
            restart: lift(raw.restart, file),
            executor: lift(raw.executor, file),
            env: raw
                .env
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k.value, at(v, file)))
                .collect(),
            env_file: lift(raw.env_file, file),
            cwd: lift(raw.cwd, file),
            state: lift(raw.state, file),
            stop_signal: lift(stop.signal, file),
            stop_timeout: lift(stop.timeout, file),
            max_size: lift(logs.max_size, file),
            keep: lift(logs.keep, file),
            shell: lift(raw.shell, file),
        }
    }

    /// `self` over `base`, key by key (maps merged key by key).
    fn over(self, base: Fields) -> Fields {
        let mut env = base.env;
        env.extend(self.env);
        Fields {
            command: self.command.or(base.command),
            schedule: self.schedule.or(base.schedule),
            timezone: self.timezone.or(base.timezone),
            overlap: self.overlap.or(base.overlap),
            restart: self.restart.or(base.restart),
            executor: self.executor.or(base.executor),
            env,
            env_file: self.env_file.or(base.env_file),
            cwd: self.cwd.or(base.cwd),
            state: self.state.or(base.state),
            stop_signal: self.stop_signal.or(base.stop_signal),
            stop_timeout: self.stop_timeout.or(base.stop_timeout),
            max_size: self.max_size.or(base.max_size),
            keep: self.keep.or(base.keep),
            shell: self.shell.or(base.shell),
        }
    }
}

struct Source {
    path: PathBuf,
    text: String,
}

/// Reads, merges and validates spec files. `project` overrides the project name
/// (default: the `project:` key, else the first file's directory name).
pub fn load(files: &[PathBuf], project: Option<&str>) -> Result<Desired, SpecErrors> {
    let mut loader = Loader::default();
    for path in files {
        match std::fs::read_to_string(path) {
            Ok(text) => loader.sources.push(Source {
                path: path.clone(),
                text,
            }),
            Err(e) => loader
                .errors
                .push(SpecError::file(path, format!("cannot read: {e}"))),
        }
    }
    if !loader.errors.is_empty() {
        return Err(SpecErrors(loader.errors));
    }
    let desired = loader.run(project);
    match loader.errors.is_empty() {
        true => desired.ok_or_else(|| SpecErrors(Vec::new())),
        false => Err(SpecErrors(loader.errors)),
    }
}

#[derive(Default)]
struct Loader {
    sources: Vec<Source>,
    errors: Vec<SpecError>,
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

impl Loader {
    fn error<T>(&mut self, at: &At<T>, message: impl Into<String>) {
        let source = &self.sources[at.file];
        self.errors.push(SpecError::at(
            &source.path,
            &source.text,
            at.line,
            at.column,
            message,
        ));
    }

    /// The column where the text of a scalar starts (after an opening quote).
    fn text_column<T>(&self, at: &At<T>) -> usize {
        let line = self.sources[at.file]
            .text
            .lines()
            .nth(at.line.saturating_sub(1));
        let quoted = line
            .and_then(|l| l.chars().nth(at.column.saturating_sub(1)))
            .is_some_and(|c| c == '"' || c == '\'');
        at.column + usize::from(quoted)
    }

    fn dir(&self, file: usize) -> PathBuf {
        let path = &self.sources[file].path;
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
    }

    fn run(&mut self, project_override: Option<&str>) -> Option<Desired> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let mut project: Option<At<String>> = None;
        let mut executors: Vec<At<String>> = Vec::new();
        let mut defaults = Fields::default();
        let mut jobs: IndexMap<String, (At<String>, Fields)> = IndexMap::new();
        for file in 0..self.sources.len() {
            let parsed = if self.sources[file].text.trim().is_empty() {
                Ok(RawFile::default())
            } else {
                serde_saphyr::from_str_with_options::<RawFile>(
                    &self.sources[file].text,
                    options.clone(),
                )
            };
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
            project = lift(raw.project, file).or(project);
            for (name, executor) in raw.executors.unwrap_or_default() {
                let name = at(name, file);
                let executor = at(executor, file);
                match lift(executor.value.url, file) {
                    None => self.error(&name, format!("executor `{}` has no `url`", name.value)),
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
                if let Some(token) = lift(executor.value.token, file) {
                    if token.value.trim().is_empty() {
                        self.error(&token, "the token is empty");
                    }
                }
                executors.push(name);
            }
            if let Some(d) = raw.defaults {
                defaults = Fields::from_raw(d, file).over(defaults);
            }
            for (name, job) in raw.jobs.unwrap_or_default() {
                let name = at(name, file);
                let fields = Fields::from_raw(job.value, file);
                match jobs.shift_remove(&name.value) {
                    Some((_, base)) => jobs.insert(name.value.clone(), (name, fields.over(base))),
                    None => jobs.insert(name.value.clone(), (name, fields)),
                };
            }
        }
        if !self.errors.is_empty() {
            return None;
        }
        let dotenv_path = self.dir(0).join(".env");
        let dotenv = match std::fs::read_to_string(&dotenv_path) {
            Ok(text) => match parse_env_file(&text) {
                Ok(vars) => vars,
                Err((line, message)) => {
                    self.errors
                        .push(SpecError::at(&dotenv_path, &text, line, 1, message));
                    return None;
                }
            },
            Err(_) => BTreeMap::new(),
        };
        let vars = Vars::from_env(dotenv);
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
        let executor_names: Vec<String> = executors.iter().map(|e| e.value.clone()).collect();
        let mut desired = Vec::new();
        for (_, (name, fields)) in jobs {
            let fields = fields.over(defaults.clone());
            if let Some(job) = self.build_job(&name, fields, &vars, &executor_names) {
                desired.push(job);
            }
        }
        Some(Desired {
            project,
            jobs: desired,
        })
    }

    /// Interpolates a string value, reporting errors at its place.
    fn text(&mut self, value: &At<String>, vars: &Vars) -> Option<String> {
        match interpolate(&value.value, vars) {
            Ok(text) => Some(text),
            Err((offset, message)) => {
                let column = self.text_column(value) + value.value[..offset].chars().count();
                self.error(&value.place_at(column), message);
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

    fn build_job(
        &mut self,
        name: &At<String>,
        f: Fields,
        vars: &Vars,
        executors: &[String],
    ) -> Option<DesiredJob> {
        let errors_before = self.errors.len();
        if let Err(e) = validate_name(&name.value) {
            self.error(name, e.to_string());
        }
        let steps: Vec<String> = match &f.command {
            None => {
                self.error(name, format!("job `{}` has no `command`", name.value));
                Vec::new()
            }
            Some(c) => {
                let texts: Vec<String> = match &c.value {
                    RawCommand::One(s) => vec![s.clone()],
                    RawCommand::Steps(list) => list.clone(),
                };
                let mut steps = Vec::new();
                let mut readable = true;
                for text in texts {
                    let Some(text) = self.text(&c.place_at(c.column).with(text), vars) else {
                        readable = false;
                        continue;
                    };
                    match &c.value {
                        RawCommand::One(_) => steps.extend(split_chain(&text)),
                        RawCommand::Steps(_) => steps.push(text),
                    }
                }
                if readable && (steps.is_empty() || steps.iter().any(|s| s.trim().is_empty())) {
                    self.error(c, "the command is empty");
                }
                steps
            }
        };
        let mut spec = JobSpec::new(name.value.clone(), steps);
        if let Some(s) = &f.schedule {
            if let Some(text) = self.text(s, vars) {
                let parsed =
                    crate::schedule::parse_schedule(&text).and_then(|sched| match &f.timezone {
                        Some(tz) => sched.in_zone(&tz.value),
                        None => Ok(sched),
                    });
                match parsed {
                    Ok(_) => spec.schedule = Some(text),
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
                if jiff::tz::TimeZone::get(&text).is_err() {
                    if f.schedule.is_none() {
                        self.error(tz, format!("unknown time zone {text:?}: expected an IANA name such as Europe/Berlin"));
                    }
                } else {
                    spec.timezone = Some(text);
                }
            }
        }
        spec.restart = self
            .parsed::<RestartPolicy>(&f.restart, vars, &["never", "on-failure", "always"])
            .unwrap_or_default();
        spec.overlap = self
            .parsed::<OverlapPolicy>(&f.overlap, vars, &["skip", "queue", "replace", "allow"])
            .unwrap_or_default();
        let state = self
            .parsed::<StateWord>(&f.state, vars, &["running", "paused", "stopped"])
            .map_or(DesiredState::Running, |s| s.0);
        if let Some(signal) = self.parsed::<SignalName>(&f.stop_signal, vars, &[]) {
            spec.stop.signal = signal;
        }
        if let Some(t) = &f.stop_timeout {
            if let Some(text) = self.text(t, vars) {
                match humantime::parse_duration(&text) {
                    Ok(d) => spec.stop.timeout = d,
                    Err(e) => self.error(
                        t,
                        format!("bad duration {text:?}: {e} (expected e.g. 10s or 500ms)"),
                    ),
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
        if let Some(shell) = &f.shell {
            spec.shell = shell.value;
        }
        let executor = match &f.executor {
            None => "local".to_string(),
            Some(e) => {
                let label = self.text(e, vars).unwrap_or_default();
                if label != "local" {
                    let message = if executors.contains(&label) {
                        format!("executor {label:?} is declared, but only the `local` executor is available in this version")
                    } else {
                        let mut known: Vec<&str> = vec!["local"];
                        known.extend(executors.iter().map(String::as_str));
                        format!(
                            "unknown executor {label:?}: expected one of {}",
                            known.join(", ")
                        )
                    };
                    self.error(e, message);
                }
                label
            }
        };
        let dir = self.dir(name.file);
        spec.cwd = Some(match &f.cwd {
            Some(c) => dir.join(self.text(c, vars).unwrap_or_default()),
            None => dir.clone(),
        });
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        if let Some(files) = &f.env_file {
            let paths = match &files.value {
                RawPaths::One(p) => vec![p.clone()],
                RawPaths::Many(ps) => ps.clone(),
            };
            for p in paths {
                let path = self.dir(files.file).join(&p);
                match std::fs::read_to_string(&path) {
                    Ok(text) => match parse_env_file(&text) {
                        Ok(vars) => env.extend(vars),
                        Err((line, m)) => self.errors.push(SpecError::at(&path, &text, line, 1, m)),
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
        spec.env = env;
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

impl<T> At<T> {
    /// The same place, at another column of its line.
    fn place_at(&self, column: usize) -> At<()> {
        At {
            value: (),
            file: self.file,
            line: self.line,
            column,
        }
    }
}

impl At<()> {
    fn with<T>(self, value: T) -> At<T> {
        At {
            value,
            file: self.file,
            line: self.line,
            column: self.column,
        }
    }
}

/// `running | paused | stopped`.
struct StateWord(DesiredState);

impl std::str::FromStr for StateWord {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "running" => Ok(StateWord(DesiredState::Running)),
            "paused" => Ok(StateWord(DesiredState::Paused)),
            "stopped" => Ok(StateWord(DesiredState::Stopped)),
            _ => Err(format!(
                "unknown state {s:?}: expected running, paused or stopped"
            )),
        }
    }
}

/// The project name a directory gives: its name, lower-cased, other characters as `-`.
pub fn project_from_dir(dir: &Path) -> String {
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let cleaned = cleaned
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string();
    if cleaned.is_empty() {
        "default".into()
    } else {
        cleaned.chars().take(64).collect()
    }
}

/// FNV-1a over the spec's JSON and the executor: stable across runs and versions.
pub fn spec_hash(spec: &JobSpec, executor: &str) -> String {
    let json = serde_json::to_vec(spec).unwrap_or_default();
    let hash = crate::fnv::Fnv::new()
        .write(&json)
        .write(executor.as_bytes())
        .finish();
    format!("{hash:016x}")
}
