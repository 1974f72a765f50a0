//! Executors run jobs somewhere: `local` (a detached supervisor per job on this
//! machine) today, `systemd` and `api:LABEL` later. Every verb of the command line
//! goes through the `Executor` trait, so any crate can add its own executor.

mod api;
mod handle;
mod local;
mod memory;
mod outcome;
mod registry;
mod spawn;
mod unavailable;
mod waits;
pub mod wire;

pub use api::{ApiExecutor, ClientOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
pub use handle::Job;
pub use local::{locate_mrsm_binary, LocalExecutor};
pub use memory::{MemoryExecutor, MemoryJob};
pub use outcome::Outcome;
pub use registry::{list_each, Registry, Remote, DEFAULT_LABEL, SLURM_LABEL, SYSTEMD_LABEL};
pub use unavailable::Unavailable;
pub use waits::announce_slow_stops;

use std::time::Duration;

use crate::job::{DesiredState, JobInfo, JobSpec, RunHistory, SignalName, SpecError};
use crate::logs::{Cursor, LogLine, Selection};
use crate::store::StoreError;

/// Failures of executor verbs; each names the job.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("job {0:?} does not exist")]
    NotFound(String),
    #[error("job {0:?} already exists")]
    AlreadyExists(String),
    #[error("job {0:?} is not running")]
    NotRunning(String),
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("job {name:?}: {message}")]
    Supervisor { name: String, message: String },
    /// Not now: the job cannot take this yet (its step has not read the input it
    /// was given); the same request may be sent again a little later.
    #[error("job {name:?}: {message}")]
    Busy { name: String, message: String },
    /// The executor cannot be reached or used now; nothing was done.
    #[error("executor {executor}: {message}")]
    Unavailable { executor: String, message: String },
    /// The executor's server refused the caller's token this (it lacks a scope the
    /// request needs); nothing was done.
    #[error("executor {executor}: {message}")]
    Forbidden { executor: String, message: String },
    /// The executor cannot do this at all (see [`Capabilities`]).
    #[error("job {name:?}: the {executor} executor cannot {what}")]
    Unsupported {
        name: String,
        executor: String,
        what: String,
    },
    #[error("unknown executor {label:?}: expected one of {}{}", known.join(", "), suggestion(label, known))]
    UnknownExecutor { label: String, known: Vec<String> },
}

fn suggestion(label: &str, known: &[String]) -> String {
    // `prod` is as good as `api:prod`, so both are candidates.
    let known: Vec<&str> = known
        .iter()
        .flat_map(|k| [k.as_str(), k.strip_prefix("api:").unwrap_or(k)])
        .collect();
    crate::suggest::did_you_mean(label, &known)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_else(|| {
            "; others are declared in a spec's `executors:` block or as [executors.NAME] in the settings file".to_string()
        })
}

/// What kind of failure an [`ExecutorError`] is: what a script or an HTTP client
/// can act on without reading the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    NotFound,
    Conflict,
    Refused,
    Unsupported,
    Unavailable,
    Invalid,
    /// Try the same again later.
    Busy,
}

impl ErrorKind {
    /// The HTTP status that says the same.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::NotFound => 404,
            ErrorKind::Conflict => 409,
            ErrorKind::Refused => 500,
            ErrorKind::Unsupported => 501,
            ErrorKind::Unavailable => 503,
            ErrorKind::Invalid => 400,
            ErrorKind::Busy => 429,
        }
    }

    /// The command line's exit status: 2 for what the user typed, 1 otherwise.
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Invalid => 2,
            _ => 1,
        }
    }
}

impl ExecutorError {
    /// What went wrong, without the executor's name in front when the error is that
    /// it cannot be reached (for messages that name the executor already).
    pub fn reason(self) -> String {
        match self {
            ExecutorError::Unavailable { message, .. }
            | ExecutorError::Forbidden { message, .. } => message,
            e => e.to_string(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExecutorError::NotFound(_) => ErrorKind::NotFound,
            ExecutorError::AlreadyExists(_) | ExecutorError::NotRunning(_) => ErrorKind::Conflict,
            ExecutorError::Spec(_) | ExecutorError::UnknownExecutor { .. } => ErrorKind::Invalid,
            ExecutorError::Store(_) | ExecutorError::Supervisor { .. } => ErrorKind::Refused,
            ExecutorError::Unavailable { .. } | ExecutorError::Forbidden { .. } => {
                ErrorKind::Unavailable
            }
            ExecutorError::Unsupported { .. } => ErrorKind::Unsupported,
            ExecutorError::Busy { .. } => ErrorKind::Busy,
        }
    }
}

/// What an executor can do beyond create, start, stop, delete and logs, so that it
/// refuses honestly instead of pretending.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capabilities {
    /// Suspend a job's processes and hold its schedule.
    pub pause: bool,
    /// Write to a running step's standard input (`attach job`).
    pub stdin: bool,
    /// Run jobs on schedules.
    pub schedules: bool,
}

impl Capabilities {
    /// Everything (the local executor).
    pub const ALL: Capabilities = Capabilities {
        pause: true,
        stdin: true,
        schedules: true,
    };
}

/// How a job is created beyond its spec.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    pub desired: DesiredState,
    pub project: Option<String>,
    pub spec_hash: Option<String>,
    /// The job lives only while its creator renews its lease within this time
    /// ([`Executor::renew_lease`]): a foreground run on another executor, which
    /// must not run on for ever when its client is killed.
    pub lease: Option<Duration>,
}

/// Overrides for one stop.
#[derive(Clone, Copy, Debug, Default)]
pub struct StopOptions {
    pub signal: Option<SignalName>,
    pub timeout: Option<Duration>,
}

/// How a job is deleted.
#[derive(Clone, Copy, Debug, Default)]
pub struct DeleteOptions {
    pub stop: StopOptions,
    /// Also remove the job's logs and run history (compose's `down -v`). Without it
    /// they are kept, and a job declared again under the same name continues them.
    pub purge: bool,
}

impl DeleteOptions {
    /// Stops with the job's own settings and removes everything, logs included (the
    /// `delete jobs` verb and Meerschaum's `Job.delete`).
    pub fn purge() -> DeleteOptions {
        DeleteOptions {
            stop: StopOptions::default(),
            purge: true,
        }
    }
}

/// Where jobs run. Implementations must be safe to call from several threads.
pub trait Executor: Send + Sync {
    /// The executor's label as users write it (`local`, `systemd`, `api:prod`).
    fn label(&self) -> &str;
    /// What it can do beyond the basic verbs.
    fn capabilities(&self) -> Capabilities;
    /// Where its jobs are kept, when other executors may keep theirs there too
    /// (`local` and `slurm` share a root): a job moves between executors of one
    /// home by `replace`, keeping its logs and runs, since its name is taken there.
    fn home(&self) -> Option<String> {
        None
    }
    /// Defines a job and starts it (unless `options.desired` says otherwise).
    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError>;
    /// Replaces a job's definition (stopping it first if it runs), keeping its logs
    /// and run history, then brings it to `options.desired`.
    fn replace(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError>;
    /// The job's definition as stored.
    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError>;
    /// Starts a stopped job or resumes a paused one.
    fn start(&self, name: &str) -> Result<Outcome, ExecutorError>;
    /// Starts the job again if it still is one that died meant to run (brought
    /// back paused if it is meant to be paused); `None` when it is not (any more).
    /// A look taken a moment earlier (the server's watchdog) may be stale: a verb
    /// under way may have started it since, and it may even have finished, so an
    /// executor that can decides under the job's lock, or a finished one-shot job
    /// would run twice.
    fn revive(&self, name: &str) -> Result<Option<Outcome>, ExecutorError> {
        let job = match self.get(name) {
            Ok(job) => job,
            Err(ExecutorError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        if !job.died {
            return Ok(None);
        }
        let started = self.start(name)?;
        match job.desired {
            crate::job::DesiredState::Paused => self.pause(name).map(Some),
            _ => Ok(Some(started)),
        }
    }
    /// [`Executor::revive`] for each of `names`, all at once (`resurrect`): an
    /// executor that can do many more cheaply than one by one does so.
    fn revive_all(&self, names: &[String]) -> Vec<Result<Option<Outcome>, ExecutorError>> {
        crate::parallel::each(names, |name| self.revive(name))
    }
    /// Suspends every process of a running job and holds its schedule.
    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError>;
    /// Stops a job and returns once no process of it is left.
    fn stop(&self, name: &str, options: &StopOptions) -> Result<Outcome, ExecutorError>;
    /// Stops a job, then removes it (and its logs and run history with `purge`).
    fn delete(&self, name: &str, options: &DeleteOptions) -> Result<Outcome, ExecutorError>;
    /// One job as users see it.
    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError>;
    /// Every job of this executor, or only the project's.
    fn list(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError>;
    /// The directory this executor reads its jobs from itself (no server in
    /// between), found without any I/O: executors with the same one (`local`,
    /// `slurm`, `slurm:NAME` on one root) are listed with one read of it
    /// ([`list_each`]).
    fn local_home(&self) -> Option<&std::path::Path> {
        None
    }
    /// Every job kept in [`Executor::local_home`], or only the project's, each
    /// labelled with the executor that holds it (whichever of the home's executors
    /// that is).
    fn list_home(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        self.list(project)
    }
    /// Deleted jobs (of the project, or all) whose logs and run history were kept:
    /// `down -v` removes them with `delete(name, purge)`. None unless the executor
    /// keeps such data.
    fn kept_jobs(&self, project: Option<&str>) -> Result<Vec<String>, ExecutorError> {
        let _ = project;
        Ok(Vec::new())
    }
    /// The job's finished runs, oldest first (damaged records counted, not fatal).
    fn runs(&self, name: &str) -> Result<RunHistory, ExecutorError>;
    /// The job's log lines, filtered.
    fn logs(&self, name: &str, selection: &Selection) -> Result<Vec<LogLine>, ExecutorError>;
    /// The last lines that `selection` admits (at most its `tail`), no more than
    /// `max_bytes` of them (a server's answer). The default reads them all.
    fn tail_logs(
        &self,
        name: &str,
        selection: &Selection,
        max_bytes: usize,
    ) -> Result<crate::logs::Tail, ExecutorError> {
        let mut lines = self.logs(name, selection)?;
        let mut kept = 0usize;
        let mut bytes = 0usize;
        for line in lines.iter().rev() {
            bytes += line.line.len();
            if bytes > max_bytes {
                break;
            }
            kept += 1;
        }
        let cut = kept < lines.len();
        lines.drain(..lines.len() - kept);
        Ok(crate::logs::Tail { lines, cut })
    }
    /// Up to `max` log lines from record number `cursor` on, and the cursor after
    /// them: a follower that lost its connection resumes there without repeating or
    /// losing a line (records rotation deleted meanwhile come as one `gap` line).
    /// An executor that cannot do this says so.
    fn read_logs(
        &self,
        name: &str,
        cursor: Cursor,
        max: usize,
    ) -> Result<(Vec<LogLine>, Cursor), ExecutorError> {
        let _ = (cursor, max);
        Err(ExecutorError::Unsupported {
            name: name.into(),
            executor: self.label().into(),
            what: "read its logs by position".into(),
        })
    }
    /// Hands each new log line to `on_line` (from the start of the log, or only
    /// lines written from now on) until the job stops or `on_line` returns false.
    fn follow_logs(
        &self,
        name: &str,
        from_start: bool,
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        self.follow_logs_when_ready(name, from_start, &mut || {}, on_line)
    }
    /// [`Executor::follow_logs`], calling `ready` once the follower has its place in
    /// the log: whatever is written after that is seen. `attach job` sends input
    /// only then, so the job's answer cannot slip by before it follows.
    fn follow_logs_when_ready(
        &self,
        name: &str,
        from_start: bool,
        ready: &mut dyn FnMut(),
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError>;
    /// Hands `on_line` each line of the job's log from record `cursor` on, as it is
    /// written, across the job's stops and restarts, until `on_line` returns false
    /// or the job is deleted: what `logs -f` does with a job elsewhere. An executor
    /// that cannot says so, and callers fall back to [`Executor::follow_logs`].
    fn follow_logs_from(
        &self,
        name: &str,
        cursor: Cursor,
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        let _ = (cursor, on_line);
        Err(ExecutorError::Unsupported {
            name: name.into(),
            executor: self.label().into(),
            what: "follow its logs across restarts".into(),
        })
    }
    /// Writes to the standard input of the job's running step; `eof` closes it.
    fn send_input(&self, name: &str, data: &[u8], eof: bool) -> Result<(), ExecutorError>;
    /// Renews the lease of a job created with one ([`CreateOptions::lease`]): it
    /// runs for its whole lease time again.
    fn renew_lease(&self, name: &str) -> Result<(), ExecutorError> {
        Err(ExecutorError::Unsupported {
            name: name.into(),
            executor: self.label().into(),
            what: "renew a job's lease".into(),
        })
    }
}
