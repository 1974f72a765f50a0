//! The `local` executor: each job is a detached supervisor process on this machine,
//! found again through the files under the root directory. A job whose files cannot
//! be read is reported as broken, on its own, and can still be stopped and deleted:
//! its supervisor is found through its lock file when `state.json` is unreadable.

use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::waits::SlowStop;
use super::{CreateOptions, DeleteOptions, Executor, ExecutorError, Outcome, StopOptions};
use crate::control::{call, Request, Response};
use crate::job::{
    validate_name, DesiredState, JobFile, JobInfo, JobSpec, Phase, ScheduleResume, SignalName,
    SlurmOptions, SupervisorState,
};
use crate::logs::{drain, drain_some, Activity, Follower, Grabber, LogLine, Selection, Tail};
use crate::store::proc::{job_processes, leftovers, ProcStat};
use crate::store::{
    flush_to_disk, is_disk_full, read_json, write_json, write_json_unflushed, JobLock,
    ProcessIdentity, Root, StoreError, SupervisorLock,
};
use crate::supervisor::{self, read_runs, signal_each, signal_processes, RunHistory};

mod executor;
mod listing;
mod revive;
mod supervisors;
mod units;

use supervisors::reports_a_live_job;

/// How long a supervisor may take to say it is up (`MRSM_READY_TIMEOUT`, e.g. `30s`,
/// overrides it for very slow machines).
const READY_TIMEOUT: Duration = Duration::from_secs(10);

fn ready_timeout() -> Duration {
    std::env::var("MRSM_READY_TIMEOUT")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .unwrap_or(READY_TIMEOUT)
}
/// Extra time allowed beyond a job's grace period for a stop to be confirmed.
const STOP_SLACK: Duration = Duration::from_secs(10);
/// How long a killed supervisor's processes may take to vanish after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Jobs run by detached supervisors on this machine. The same executor, under
/// another label and with Slurm options, is the `slurm` executor: its supervisors
/// run each step on the cluster. Both keep their jobs in one root, so a job name is
/// one job on this machine wherever its steps run, and each lists only its own.
pub struct LocalExecutor {
    root: Root,
    supervisor_bin: PathBuf,
    label: String,
    /// Where this executor's jobs run.
    runs: Runs,
    /// The root's opaque name ([`Root::home_id`]), once asked.
    home: std::sync::OnceLock<String>,
    /// The root as systemd units name it ([`crate::systemd::canonical_root`]),
    /// once asked.
    unit_root: std::sync::OnceLock<PathBuf>,
}

/// Finds the `mrsm` executable that runs supervisors: `MRSM_BIN`, this executable
/// when it is `mrsm`, an `mrsm` beside it or one directory up (Cargo's examples and
/// tests), else `mrsm` on the PATH.
pub fn locate_mrsm_binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("MRSM_BIN").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    if let Ok(exe) = std::env::current_exe() {
        if exe.file_name().is_some_and(|n| n == "mrsm") {
            return exe;
        }
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("mrsm");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    PathBuf::from("mrsm")
}

/// Where a [`LocalExecutor`]'s jobs run: which of the root's executors it is.
#[derive(Clone, Debug)]
enum Runs {
    /// Supervisors launched here, steps here (`local`).
    Here,
    /// Steps on a Slurm cluster with these defaults under each job's own options
    /// (`slurm`, `slurm:NAME`).
    Cluster(SlurmOptions),
    /// Supervisors run by the user's systemd manager, one unit per job (`systemd`).
    Systemd,
}

/// A job's definition as far as it can be read.
enum Definition {
    Readable(Box<JobFile>),
    /// `job.json` exists but cannot be read (the reason).
    Broken(String),
}

impl LocalExecutor {
    /// The local executor over `root`, launching supervisors with the `mrsm` binary
    /// found by [`locate_mrsm_binary`].
    pub fn new(root: Root) -> LocalExecutor {
        LocalExecutor {
            root,
            supervisor_bin: locate_mrsm_binary(),
            label: super::DEFAULT_LABEL.to_string(),
            runs: Runs::Here,
            home: std::sync::OnceLock::new(),
            unit_root: std::sync::OnceLock::new(),
        }
    }

    /// The executor `label` that runs its jobs' steps on a Slurm cluster with
    /// `defaults` under each job's own options; supervisors stay on this machine.
    pub fn slurm(root: Root, label: &str, defaults: SlurmOptions) -> LocalExecutor {
        LocalExecutor {
            label: label.to_string(),
            runs: Runs::Cluster(defaults),
            ..LocalExecutor::new(root)
        }
    }

    /// The `systemd` executor: each job's supervisor is a unit of the user's
    /// systemd manager (`units.rs`); its files stay in `root`, as a local job's.
    pub fn systemd(root: Root) -> LocalExecutor {
        LocalExecutor {
            label: super::SYSTEMD_LABEL.to_string(),
            runs: Runs::Systemd,
            ..LocalExecutor::new(root)
        }
    }

    /// The cluster's options for every job, on a Slurm executor.
    fn cluster(&self) -> Option<&SlurmOptions> {
        match &self.runs {
            Runs::Cluster(defaults) => Some(defaults),
            _ => None,
        }
    }

    /// Whether a definition is one of this executor's jobs. The built-in `slurm`
    /// also holds the jobs of named Slurm executors (`slurm:NAME`), which exist only
    /// while a spec declares them: listed without that spec, they are still seen.
    fn holds(&self, file: &JobFile) -> bool {
        let label = self.label_of(file);
        label == self.label || (self.label == super::SLURM_LABEL && label.starts_with("slurm:"))
    }

    /// The executor a definition says it is on.
    fn label_of<'a>(&'a self, file: &'a JobFile) -> &'a str {
        file.executor.as_deref().unwrap_or(super::DEFAULT_LABEL)
    }

    /// `spec` as this executor runs it: with the cluster's options under the job's
    /// own for the slurm executor; a job with Slurm options is refused elsewhere.
    fn placed(&self, spec: &JobSpec) -> Result<JobSpec, ExecutorError> {
        let mut spec = spec.clone();
        if matches!(self.runs, Runs::Systemd) {
            crate::systemd::answers().map_err(|why| ExecutorError::Unavailable {
                executor: self.label.clone(),
                message: format!("{why}; nothing was created"),
            })?;
        }
        match self.cluster() {
            Some(defaults) => {
                crate::slurm::available().map_err(|e| ExecutorError::Unavailable {
                    executor: self.label.clone(),
                    message: e.to_string(),
                })?;
                let own = spec.slurm.take().unwrap_or_default();
                spec.slurm = Some(defaults.overlaid(&own));
            }
            None if spec.slurm.is_some() => {
                return Err(crate::job::SpecError::Invalid(format!(
                    "job {:?} has Slurm options, but its executor {} runs steps on this machine; use `executor: slurm`",
                    spec.name, self.label
                ))
                .into())
            }
            None => {}
        }
        spec.validate()?;
        Ok(spec)
    }

    /// The project of job `name` of this root, whichever executor of the root holds
    /// it (none for a job of no project, or no such job).
    pub fn project_of(&self, name: &str) -> Option<String> {
        match self.definition(name).ok()? {
            Definition::Readable(file) => file.project,
            Definition::Broken(_) => None,
        }
    }

    /// A definition for `spec` on this executor.
    fn new_file(&self, spec: &JobSpec, options: &CreateOptions) -> JobFile {
        let mut file = new_job_file(spec, options);
        file.executor = (self.label != super::DEFAULT_LABEL).then(|| self.label.clone());
        file
    }

    /// Uses a specific `mrsm` binary for supervisors.
    pub fn with_supervisor_binary(mut self, path: impl Into<PathBuf>) -> LocalExecutor {
        self.supervisor_bin = path.into();
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Root {
        &self.root
    }

    fn definition(&self, name: &str) -> Result<Definition, ExecutorError> {
        validate_name(name).map_err(crate::job::SpecError::from)?;
        match read_json::<JobFile>(&self.root.job_file(name)) {
            Ok(Some(file)) => Ok(Definition::Readable(Box::new(file))),
            Ok(None) => Err(ExecutorError::NotFound(name.into())),
            Err(e) => Ok(Definition::Broken(e.to_string())),
        }
    }

    fn read_file(&self, name: &str) -> Result<JobFile, ExecutorError> {
        match self.definition(name)? {
            Definition::Readable(file) => Ok(*file),
            Definition::Broken(reason) => Err(ExecutorError::Supervisor {
                name: name.into(),
                message: format!("its definition is broken: {reason}"),
            }),
        }
    }

    /// The supervisor's last report. A supervisor on a full disk may be rewriting it
    /// in place, so an unreadable file is read once more before it counts as broken.
    /// Reports are not flushed to disk, so after a crash one may be empty or torn:
    /// with no supervisor of the job alive, such a report is no report.
    fn state(&self, name: &str) -> Result<Option<SupervisorState>, StoreError> {
        let path = self.root.state_file(name);
        read_json(&path)
            .or_else(|_| {
                std::thread::sleep(Duration::from_millis(5));
                read_json(&path)
            })
            .or_else(|e| match self.live_lock_holder(name) {
                Some(_) => Err(e),
                None => Ok(None),
            })
    }

    /// The supervisor named in the job's lock file, if it is alive: the job's
    /// supervisor whatever its report says (or when that cannot be read).
    fn live_lock_holder(&self, name: &str) -> Option<ProcessIdentity> {
        SupervisorLock::holder(&self.root, name).filter(|s| s.is_alive())
    }

    /// The supervisor's last report ([`LocalExecutor::state`]); when `state.json` is
    /// missing (removed from outside) while a supervisor of the job lives, that
    /// supervisor is asked, so a running job never shows as never started.
    fn report(&self, name: &str) -> Result<Option<SupervisorState>, StoreError> {
        let state = self.state(name)?;
        let Some(holder) = state
            .is_none()
            .then(|| self.live_lock_holder(name))
            .flatten()
        else {
            return Ok(state);
        };
        match self.request(name, &Request::Status, Duration::from_secs(2)) {
            Ok(Response::State { state }) => Ok(Some(*state)),
            _ => Err(StoreError::io(
                "reading",
                &self.root.state_file(name),
                std::io::Error::other(format!(
                    "it is missing while its supervisor (pid {}) runs, and that supervisor does not answer",
                    holder.pid
                )),
            )),
        }
    }

    fn read_state(&self, name: &str) -> Option<SupervisorState> {
        self.report(name).ok().flatten()
    }

    /// The job's supervisor if it is alive and has not recorded the end of the job
    /// (a supervisor that has is only finishing its exit).
    fn live_supervisor(&self, name: &str) -> Option<SupervisorState> {
        self.read_state(name).filter(reports_a_live_job)
    }

    /// The job's current (or last) supervisor: the live holder of its lock, else
    /// the one its report names, else the last holder of its lock. A report may be
    /// missing or name an earlier supervisor; the lock's live holder is the job's.
    fn supervisor_of(&self, name: &str) -> Option<ProcessIdentity> {
        self.live_lock_holder(name)
            .or_else(|| self.read_state(name).map(|s| s.supervisor))
            .or_else(|| SupervisorLock::holder(&self.root, name))
    }

    /// Takes the job name's lock for the whole of a verb: verbs on one job, from
    /// any process, run one after the other.
    fn lock_job(&self, name: &str) -> Result<JobLock, ExecutorError> {
        validate_name(name).map_err(crate::job::SpecError::from)?;
        Ok(JobLock::acquire(&self.root, name)?)
    }

    /// Records that the job is to stay stopped, before it is (under the job's lock).
    /// A definition that cannot be read or written (a full disk) does not keep the
    /// job from being stopped: it is returned as `None`, or unchanged.
    fn mark_stopped(&self, name: &str) -> Result<Option<JobFile>, ExecutorError> {
        let mut file = match self.definition(name)? {
            Definition::Readable(file) => *file,
            Definition::Broken(_) => return Ok(None),
        };
        if file.desired != DesiredState::Stopped {
            file.desired = DesiredState::Stopped;
            // Flushed by the caller once the job is stopped (see `stop`).
            match write_json_unflushed(&self.root.job_file(name), &file) {
                Ok(()) => {}
                Err(StoreError::Io { source, .. }) if is_disk_full(&source) => {
                    err!("warning: job {name:?}: the disk is full, so that it is to stay stopped is not recorded");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(file))
    }

    /// Records what the job should be doing. A full disk does not keep the job from
    /// being paused or started: that is then not recorded, and said so.
    fn set_desired(&self, name: &str, desired: DesiredState) -> Result<JobFile, ExecutorError> {
        let mut file = self.read_file(name)?;
        if file.desired != desired {
            file.desired = desired;
            match write_json(&self.root.job_file(name), &file) {
                Ok(()) => {}
                Err(StoreError::Io { source, .. }) if is_disk_full(&source) => {
                    err!("warning: job {name:?}: the disk is full, so that it is to be {desired:?} is not recorded");
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(file)
    }
}

/// A definition for `spec`; steps run where the job was defined, whatever the
/// supervisor's directory.
pub(super) fn new_job_file(spec: &JobSpec, options: &CreateOptions) -> JobFile {
    let mut spec = spec.clone();
    spec.cwd = Some(absolute(spec.cwd.as_deref().unwrap_or(Path::new("."))));
    JobFile {
        spec,
        desired: options.desired,
        created: jiff::Timestamp::now(),
        project: options.project.clone(),
        spec_hash: options.spec_hash.clone(),
        resume: None,
        executor: None,
        lease_ms: options.lease.map(|l| l.as_millis() as u64),
    }
}

/// Polls `done` every few milliseconds until it holds or `timeout` passes.
pub(super) fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Makes a relative path absolute against the current directory.
pub(super) fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}
