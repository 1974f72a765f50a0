//! The root directory: where jobs, their state and their logs live on disk, how files
//! are opened (never through a link, never waiting on what is not a regular file)
//! and written without ever being seen half-written, who may write (the root is
//! refused when another user could change it), and how a recorded process is
//! recognised again (pid plus start time, so a reused pid is never taken for a
//! job's process).
//!
//! ```text
//! $MRSM_ROOT_DIR/jobs/NAME/job.json      definition + desired state + labels
//! $MRSM_ROOT_DIR/jobs/NAME/state.json    written by the supervisor only
//! $MRSM_ROOT_DIR/jobs/NAME/runs.jsonl    one line per finished run (bounded)
//! $MRSM_ROOT_DIR/jobs/NAME/control.sock  the supervisor's control socket
//! $MRSM_ROOT_DIR/logs/NAME.log, NAME.log.1 …
//! $MRSM_ROOT_DIR/locks/NAME.lock         held for each verb on the job
//! $MRSM_ROOT_DIR/locks/NAME.supervisor   held by the job's supervisor, names it
//! ```

mod atomic;
mod folder;
mod home;
mod lock;
mod open;
mod owner;
pub mod private;
pub mod proc;
pub mod scopes;
pub mod settings;
mod socket_path;
pub mod tokens;
mod trouble;

use std::path::{Path, PathBuf};

pub use atomic::{
    flush_to_disk, is_disk_full, read_json, write_file, write_file_unflushed, write_json,
    write_json_even_when_full, write_json_unflushed,
};
pub use folder::{kept_jobs, remove_job_definition, Kept};
pub use lock::{lock_holders, JobLock, ProjectLock, RootLock, SupervisorLock};
pub use open::{
    check_socket, create_new, open_append, open_lock, open_read, open_write, read_file, read_text,
    read_user_file, Refused, SMALL_FILE,
};
pub use proc::ProcessIdentity;
pub use settings::{ExecutorSettings, Settings};
pub use socket_path::with_socket_path;
pub use trouble::LogTrouble;

/// The previous file of a run history (`runs.jsonl.1`), kept with it.
pub fn older_runs_file(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Failures of the on-disk store, each naming the path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// Not a regular file, too large, or in a directory someone else could change.
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("no root directory: set MRSM_ROOT_DIR, XDG_STATE_HOME or HOME")]
    NoRoot,
    #[error("settings: {0}")]
    Settings(String),
}

impl StoreError {
    /// `action` on `path` failed; a refusal of the file (it names the path and
    /// what is wrong) is kept as it is.
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        match Refused::take(source) {
            Ok(refused) => StoreError::Refused(refused),
            Err(source) => StoreError::Io {
                action,
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// The root directory of one mrsm installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Root {
    dir: PathBuf,
}

impl Root {
    /// `MRSM_ROOT_DIR`, else `root_dir` of the settings file, else
    /// `$XDG_STATE_HOME/mrsm`, else `~/.local/state/mrsm`. A settings file that does
    /// not read is an error, and so is a root someone else could change
    /// ([`Root::verify`]).
    pub fn from_env() -> Result<Root, StoreError> {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        let settings = settings::Settings::load()?;
        let dir = settings
            .root_dir
            .filter(|d| !d.as_os_str().is_empty())
            .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("mrsm")))
            .or_else(|| var("HOME").map(|h| h.join(".local/state/mrsm")))
            .ok_or(StoreError::NoRoot)?;
        let root = Root::at(std::path::absolute(&dir).unwrap_or(dir));
        root.verify()?;
        Ok(root)
    }

    /// Refuses a root that another user owns or could write, or whose `jobs/`,
    /// `logs/`, `locks/` or `projects/` is so (see [`owner`]): before anything is
    /// read or written there. Checked once per process; what does not exist yet
    /// passes (mrsm creates it owner-only).
    pub fn verify(&self) -> Result<(), StoreError> {
        owner::check_root(&self.dir)?;
        for dir in [
            self.jobs_dir(),
            self.logs_dir(),
            self.locks_dir(),
            self.projects_dir(),
        ] {
            owner::check_dir(&dir)?;
        }
        Ok(())
    }

    /// A root at a given directory (created on first write).
    pub fn at(dir: impl Into<PathBuf>) -> Root {
        Root { dir: dir.into() }
    }

    /// The root directory itself.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where every job's directory lives.
    pub fn jobs_dir(&self) -> PathBuf {
        self.dir.join("jobs")
    }

    /// One job's directory.
    pub fn job_dir(&self, name: &str) -> PathBuf {
        self.jobs_dir().join(name)
    }

    /// The job's definition and desired state.
    pub fn job_file(&self, name: &str) -> PathBuf {
        self.job_dir(name).join("job.json")
    }

    /// What the job's supervisor last reported.
    pub fn state_file(&self, name: &str) -> PathBuf {
        self.job_dir(name).join("state.json")
    }

    /// The job's finished runs.
    pub fn runs_file(&self, name: &str) -> PathBuf {
        self.job_dir(name).join("runs.jsonl")
    }

    /// Left where a deleted job's logs and run history are kept: which project the
    /// job belonged to, so `down -v` can remove them later.
    pub fn kept_file(&self, name: &str) -> PathBuf {
        self.job_dir(name).join("kept.json")
    }

    /// The supervisor's control socket.
    pub fn control_socket(&self, name: &str) -> PathBuf {
        self.job_dir(name).join("control.sock")
    }

    /// Where the per-name locks live: outside the jobs' directories, so removing a
    /// job never removes a lock that someone holds.
    pub fn locks_dir(&self) -> PathBuf {
        self.dir.join("locks")
    }

    /// Where the per-project locks live.
    pub fn projects_dir(&self) -> PathBuf {
        self.dir.join("projects")
    }

    /// Held by the job's supervisor while it lives; names it.
    pub fn supervisor_lock(&self, name: &str) -> PathBuf {
        self.locks_dir().join(format!("{name}.supervisor"))
    }

    /// Held for the whole of each verb on the job.
    pub fn job_lock(&self, name: &str) -> PathBuf {
        self.locks_dir().join(format!("{name}.lock"))
    }

    /// Where the supervisor's own errors go (not the job's output).
    pub fn supervisor_errors(&self, name: &str) -> PathBuf {
        self.job_dir(name).join("supervisor.err")
    }

    /// Where all logs live.
    pub fn logs_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// The job's current log file (rotated ones add `.1`, `.2`, …).
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.logs_dir().join(format!("{name}.log"))
    }

    /// The names of all jobs, sorted.
    pub fn job_names(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .job_dir_names()?
            .into_iter()
            .filter(|name| self.job_file(name).exists())
            .collect())
    }

    /// The names of the directories under `jobs/`, sorted: every job's, and those
    /// of deleted jobs whose run history was kept (no `job.json`). For a caller that
    /// reads each job's definition anyway, and so tells them apart for free.
    pub fn job_dir_names(&self) -> Result<Vec<String>, StoreError> {
        let dir = self.jobs_dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("reading", &dir, e)),
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        Ok(names)
    }
}
