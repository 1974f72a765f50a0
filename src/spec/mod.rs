//! Spec files (`mrsm-jobs.yaml`): read one or more, later files overriding earlier
//! ones key by key as compose does, interpolate `${VAR}`, validate everything, and
//! produce the desired jobs. Every error names the file, line and column.

mod build;
mod build_compose;
mod error;
mod executors;
mod fields;
mod interpolate;
mod loader;
mod node;
mod raw;
mod read;
mod read_compose;
mod replicas;
mod schema;

use std::path::{Path, PathBuf};

pub use crate::suggest::did_you_mean;
pub use error::{AsWarning, SpecError, SpecErrors};
pub use interpolate::{interpolate, interpolate_noting, parse_env_file, Vars};
pub use replicas::{dependency_targets, is_copy_of, replica_name, REPLICA_VARIABLE};
pub use schema::schema_json;

use crate::job::{DesiredState, JobSpec};
use loader::{Loader, Source};

/// The spec file read when none is named.
pub const DEFAULT_FILE: &str = "mrsm-jobs.yaml";

/// One job as the files declare it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredJob {
    pub spec: JobSpec,
    pub state: DesiredState,
    /// The executor's label (`local`, `api:prod`, a custom one's).
    pub executor: String,
    /// Hash of everything that changes how the job runs; a change means a restart.
    pub spec_hash: String,
}

/// What a set of spec files asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    pub project: String,
    pub jobs: Vec<DesiredJob>,
    /// The remote executors the files declare (`executors:`).
    pub executors: Vec<DeclaredExecutor>,
}

/// An executor a spec file declares: a remote one, `executors: { prod: { url,
/// token } }` with `${VAR}`s substituted, whose label is `api:NAME`; or a Slurm
/// cluster, `executors: { hpc: { kind: slurm, partition, … } }`, whose label is
/// `slurm:NAME`.
#[derive(Clone, PartialEq, Eq)]
pub struct DeclaredExecutor {
    pub name: String,
    pub url: String,
    pub token: Option<String>,
    /// PEM certificates trusted for this server instead of the system's (absolute).
    pub ca_file: Option<std::path::PathBuf>,
    /// Longest wait for an ordinary answer of this server.
    pub timeout: Option<std::time::Duration>,
    /// Longest wait for a connection to it.
    pub connect_timeout: Option<std::time::Duration>,
    /// The options every job on it gets (a Slurm executor); none for a remote one.
    pub slurm: Option<crate::job::SlurmOptions>,
}

impl std::fmt::Debug for DeclaredExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token: specs are printed in errors and tests.
        f.debug_struct("DeclaredExecutor")
            .field("name", &self.name)
            .field("url", &self.url)
            .finish()
    }
}

/// What one load of the spec files found: the desired jobs or every error, the
/// warnings (which never stop a load), and every file that was read or looked for.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub result: Result<Desired, SpecErrors>,
    /// Problems that do not stop the load (an unset `${VAR}`, a missing `cwd`, a
    /// `restart` a schedule overrides), each with its place.
    pub warnings: Vec<SpecError>,
    /// Absolute paths of the spec files, the `.env` beside the first one (present or
    /// not) and every env file: the watcher watches and hashes exactly these.
    pub inputs: Vec<PathBuf>,
}

/// Reads, merges and validates spec files. `project` overrides the project name
/// (default: the `project:` key, else the first file's directory name).
pub fn load(files: &[PathBuf], project: Option<&str>) -> Result<Desired, SpecErrors> {
    load_tracked(files, project).result
}

/// [`load`], also returning the warnings and every file it read. Jobs may name
/// `local` and the file's own `executors:`.
pub fn load_tracked(files: &[PathBuf], project: Option<&str>) -> Loaded {
    load_for(files, project, &["local".to_string(), "slurm".to_string()])
}

/// [`load_tracked`] for a machine whose executors are `known` (labels such as
/// `local`, `api:prod`, or a library user's own): a job's `executor:` must be one
/// of them or one the file declares, else it is an error with a suggestion.
pub fn load_for(files: &[PathBuf], project: Option<&str>, known: &[String]) -> Loaded {
    load_scaled(files, project, known, &std::collections::BTreeMap::new())
}

/// [`load_for`] with the number of copies of some jobs given here (`mrsm scale
/// NAME=N`) instead of by their `replicas:`; a name that is no declared job is an
/// error.
pub fn load_scaled(
    files: &[PathBuf],
    project: Option<&str>,
    known: &[String],
    scale: &std::collections::BTreeMap<String, u32>,
) -> Loaded {
    let mut loader = Loader {
        known_executors: known.to_vec(),
        scale: scale.clone(),
        ..Loader::default()
    };
    for path in files {
        loader.note_input(path);
        match std::fs::read_to_string(path) {
            Ok(text) => loader.sources.push(Source {
                path: path.clone(),
                text,
            }),
            Err(e) => loader
                .errors
                .push(SpecError::file(
                    path,
                    match e.kind() {
                        std::io::ErrorKind::NotFound => format!(
                            "cannot read: {e} (name the spec file with -f FILE, or a project with -p NAME)"
                        ),
                        _ => format!("cannot read: {e}"),
                    },
                )),
        }
    }
    if let Some(first) = files.first() {
        loader.note_input(&loader::dir_of(first).join(".env"));
    }
    let desired = match loader.errors.is_empty() {
        true => loader.run(project),
        false => None,
    };
    let result = match (desired, loader.errors.is_empty()) {
        (Some(d), true) => Ok(d),
        _ => {
            // In reading order: file by file (spec files first, as given), line
            // by line.
            let order = |e: &SpecError| {
                let file = files.iter().position(|f| *f == e.file);
                (file.unwrap_or(files.len()), e.line, e.column)
            };
            let mut errors = std::mem::take(&mut loader.errors);
            errors.sort_by_key(order);
            Err(SpecErrors(errors))
        }
    };
    Loaded {
        result,
        warnings: SpecError::fold(loader.warnings),
        inputs: loader.inputs,
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
/// The command as written is left out: it is only shown, so a change of it alone
/// (a variable renamed, its value the same) restarts nothing, while a changed
/// value changes the command that runs, and so the hash.
pub fn spec_hash(spec: &JobSpec, executor: &str) -> String {
    let runs = JobSpec {
        written_command: None,
        ..spec.clone()
    };
    let json = serde_json::to_vec(&runs).unwrap_or_default();
    let hash = crate::fnv::Fnv::new()
        .write(&json)
        .write(executor.as_bytes())
        .finish();
    format!("{hash:016x}")
}
