//! Reading spec files into desired jobs: parse each file, merge them key by key,
//! interpolate, validate, and collect every error and warning with its place, plus
//! every file that was read (spec files, `.env`, env files), which the watcher
//! watches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;

use super::build::Declaration;
use super::error::SpecError;
use super::executors::{Declared, WrittenExecutor};
use super::fields::{At, Fields};
use super::interpolate::{interpolate_noting, parse_env_file, Vars};
use super::node::Node;
use super::read::{ReadFile, Reader};
use super::{project_from_dir, DeclaredExecutor, Desired};
use crate::job::{validate_name, RestartPolicy};

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
    /// Copies of jobs asked for here (`mrsm scale`), over their `replicas:`.
    pub scale: BTreeMap<String, u32>,
}

/// Whether a file declares nothing at all: blank, or only comments. Such a file is
/// what a save in progress (`: > f`, `gen > f`) looks like, so it is an error.
fn declares_nothing(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// A serde-saphyr message as ours: the location (given separately) dropped.
fn yaml_message(e: &serde_saphyr::Error) -> String {
    let text = e.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default();
    let message = match first.strip_prefix("error: line ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, m)| m),
        None => first,
    };
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => &message[..i],
        _ => message,
    };
    match message.strip_prefix("duplicate mapping key: ") {
        Some(rest) => {
            let key = rest
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or_default();
            format!("duplicate key `{key}`")
        }
        None => message.to_string(),
    }
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
    pub(super) fn column_of<T>(
        &self,
        at: &At<T>,
        written: &str,
        text: &str,
        offset: usize,
    ) -> usize {
        match written == text {
            true => self.text_column(at) + text[..offset].chars().count(),
            false => at.column,
        }
    }

    pub(super) fn dir(&self, file: usize) -> PathBuf {
        dir_of(&self.sources[file].path)
    }

    /// Parses every file and merges them into the desired jobs. Every file is read
    /// whole and every key checked, so that all the errors are found at once; the
    /// jobs are checked too unless a file could not be parsed (what it declares is
    /// then unknown).
    pub fn run(&mut self, project_override: Option<&str>) -> Option<Desired> {
        let mut project: Option<At<String>> = None;
        let mut executors: Vec<WrittenExecutor> = Vec::new();
        let mut defaults = Fields::default();
        let mut defaults_unsure = false;
        // Name (where first declared), fields, whether a key could not be read and
        // whether the job gives its own time zone, in declaration order.
        let mut jobs: IndexMap<String, Declaration> = IndexMap::new();
        let mut jobs_declared = false;
        let mut unknown_shape = false;
        for file in 0..self.sources.len() {
            let Some(read) = self.read(file) else {
                unknown_shape = true;
                continue;
            };
            unknown_shape |= read.unknown_shape;
            project = read.project.or(project);
            for (name, executor) in read.executors {
                let written = self.check_executor(name, executor);
                executors.push(written);
            }
            if let Some((d, unsure)) = read.defaults {
                defaults = d.over(defaults);
                defaults_unsure |= unsure;
            }
            let Some(block) = read.jobs else { continue };
            let Some(declared) = block.jobs else {
                self.error(
                    &block.key,
                    "`jobs:` has nothing under it (a file cut short?): list the jobs, or write `jobs: {}` for none",
                );
                continue;
            };
            jobs_declared = true;
            for job in declared {
                let own_zone = job.fields.timezone.is_some();
                match jobs.get_mut(&job.name.value) {
                    Some(d) => {
                        *d.fields = (*job.fields).over(std::mem::take(&mut *d.fields));
                        d.unsure |= job.unsure;
                        d.own_zone |= own_zone;
                    }
                    None => {
                        jobs.insert(
                            job.name.value.clone(),
                            Declaration {
                                name: job.name,
                                fields: job.fields,
                                unsure: job.unsure,
                                own_zone,
                            },
                        );
                    }
                }
            }
        }
        if unknown_shape {
            return None;
        }
        if !jobs_declared {
            // A mistyped `jobs:` has its own error already.
            let path = self.sources.first()?.path.clone();
            if self.errors.is_empty() {
                self.errors.push(SpecError::file(
                    &path,
                    "no `jobs:` key: declare the jobs under `jobs:` (`jobs: {}` means no jobs)",
                ));
            }
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
        let names: Vec<String> = jobs.keys().cloned().collect();
        for name in self
            .scale
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect::<Vec<_>>()
        {
            let path = self.sources.first()?.path.clone();
            let hint =
                super::did_you_mean(&name, &names.iter().map(String::as_str).collect::<Vec<_>>())
                    .map(|n| format!(": did you mean `{n}`?"))
                    .unwrap_or_default();
            self.errors.push(SpecError::file(
                &path,
                format!("cannot scale `{name}`: the files declare no such job{hint}"),
            ));
        }
        let mut written_dependencies = BTreeMap::new();
        let mut written_after = BTreeMap::new();
        // Replicated jobs: their copies' names, and where each plain job's name
        // is written (a copy's name taken by one is an error).
        let mut copies: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut places: BTreeMap<String, At<String>> = BTreeMap::new();
        for (_, mut job) in jobs {
            let own_restart = job.fields.restart.clone();
            *job.fields = std::mem::take(&mut *job.fields).over(defaults.clone());
            job.unsure |= defaults_unsure;
            if let Some(list) = &job.fields.depends_on {
                written_dependencies.insert(job.name.value.clone(), list.clone());
            }
            if let Some(after) = &job.fields.after {
                written_after.insert(job.name.value.clone(), after.clone());
            }
            let count = self.scale.get(&job.name.value).copied().or(job
                .fields
                .replicas
                .as_ref()
                .map(|r| r.value));
            let name = job.name.clone();
            if let Some(built) = self.build_job(job, &vars, &executor_names) {
                if let Some(restart) = own_restart {
                    let decided_by = match (&built.spec.schedule, &built.spec.after) {
                        (Some(_), _) => Some("a `schedule`: the schedule"),
                        (None, Some(_)) => Some("`after`: the runs it comes after"),
                        (None, None) => None,
                    };
                    if let (Some(by), true) =
                        (decided_by, built.spec.restart != RestartPolicy::Never)
                    {
                        self.warn(
                            &restart,
                            format!("`restart` is ignored for a job with {by} decides when it runs again"),
                        );
                    }
                }
                match count {
                    Some(count) => {
                        let made = self.replicate(built, count, &name);
                        copies.insert(
                            name.value,
                            made.iter().map(|j| j.spec.name.clone()).collect(),
                        );
                        desired.extend(made);
                    }
                    None => {
                        places.insert(name.value.clone(), name);
                        desired.push(built);
                    }
                }
            }
        }
        places.retain(|name, _| copies.values().flatten().any(|c| c == name));
        self.check_copy_names(&places);
        let replicated: Vec<String> = copies.keys().cloned().collect();
        self.check_after(&written_after, &desired, &names, &replicated);
        self.check_dependencies(&written_dependencies, &names);
        Some(Desired {
            project,
            jobs: desired,
            executors: declared,
        })
    }

    /// Parses file number `file` and reads its keys, each error with its place;
    /// `None` when it declares nothing or does not parse.
    fn read(&mut self, file: usize) -> Option<ReadFile> {
        let source = &self.sources[file];
        if declares_nothing(&source.text) {
            let path = source.path.clone();
            self.errors.push(SpecError::file(
                &path,
                "the file is empty (still being written?): declare the jobs under `jobs:`, or write `jobs: {}` for none",
            ));
            return None;
        }
        let options = serde_saphyr::options! { strict_booleans: true };
        let root = match serde_saphyr::from_str_with_options::<Node>(&source.text, options) {
            Ok(root) => root,
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
                let e = SpecError::at(&source.path, &source.text, line, column, yaml_message(&e));
                self.errors.push(e);
                return None;
            }
        };
        let mut reader = Reader::new(file, &source.path, &source.text);
        let read = reader.file(&root);
        self.errors.append(&mut reader.errors);
        Some(read)
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
}
