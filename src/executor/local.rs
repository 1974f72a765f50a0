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
use crate::supervisor::{
    self, call, read_runs, signal_each, signal_processes, Request, Response, RunHistory,
};

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
    /// The cluster's options for every job (the slurm executor); none runs steps here.
    slurm: Option<SlurmOptions>,
    /// The root's opaque name ([`Root::home_id`]), once asked.
    home: std::sync::OnceLock<String>,
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
            slurm: None,
            home: std::sync::OnceLock::new(),
        }
    }

    /// The executor `label` that runs its jobs' steps on a Slurm cluster with
    /// `defaults` under each job's own options; supervisors stay on this machine.
    pub fn slurm(root: Root, label: &str, defaults: SlurmOptions) -> LocalExecutor {
        LocalExecutor {
            label: label.to_string(),
            slurm: Some(defaults),
            ..LocalExecutor::new(root)
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
        match &self.slurm {
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

    fn request(
        &self,
        name: &str,
        request: &Request,
        timeout: Duration,
    ) -> Result<Response, ExecutorError> {
        call(&self.root.control_socket(name), request, timeout).map_err(|e| {
            ExecutorError::Supervisor {
                name: name.into(),
                message: format!("no answer from its supervisor: {e}"),
            }
        })
    }

    /// Starts `mrsm supervise NAME` in a new session and waits for it to say
    /// `ready`, doing `meanwhile` while it starts. If it does not,
    /// everything it started is killed before the error is returned: nothing of the
    /// job is left running.
    fn launch(&self, name: &str, meanwhile: &dyn Fn()) -> Result<(), ExecutorError> {
        let errors_path = self.root.supervisor_errors(name);
        let errors = crate::store::open_append(&errors_path)
            .map_err(|e| StoreError::io("opening", &errors_path, e))?;
        // A supervisor launched from inside a job (the watcher, `mrsm serve` run as
        // a job, a step running `mrsm run -d`) is none of that job's processes: it
        // drops the tags its processes are found by, and is marked as a supervisor,
        // so walks of the launching job's process tree stop at it.
        let mut extra = vec![
            ("MRSM_ROOT_DIR", self.root.dir().as_os_str().to_owned()),
            (crate::store::proc::SUPERVISOR_VARIABLE, name.into()),
        ];
        // The supervisor's own files are private; its steps get the user's umask.
        if let Some(mask) = crate::store::private::step_umask() {
            extra.push((
                crate::store::private::STEP_UMASK_VAR,
                format!("{mask:o}").into(),
            ));
        }
        let could_not = |e: std::io::Error| ExecutorError::Supervisor {
            name: name.into(),
            message: format!("could not run {}: {e}", self.supervisor_bin.display()),
        };
        let (ready_read, ready_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| could_not(e.into()))?;
        let null = std::fs::File::open("/dev/null").map_err(could_not)?;
        let pid = super::spawn::spawn_in_new_session(
            &self.supervisor_bin,
            &[
                std::ffi::OsStr::new("supervise"),
                std::ffi::OsStr::new(name),
            ],
            &supervisor::JOB_TAGS,
            &extra,
            null.as_fd(),
            ready_write.as_fd(),
            errors.as_fd(),
        )
        .map_err(could_not)?;
        drop(ready_write);
        let child = nix::unistd::Pid::from_raw(pid);
        let reap = move || nix::sys::wait::waitpid(child, None);
        let identity = ProcessIdentity::of(pid);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(std::fs::File::from(ready_read)).read_line(&mut line);
            let _ = tx.send(line);
        });
        meanwhile();
        let timeout = ready_timeout();
        let answer = rx.recv_timeout(timeout);
        let line = answer.as_deref().map(str::trim).unwrap_or_default();
        if line == supervisor::BUSY {
            // Another supervisor of this job is already running: nothing to do.
            let _ = reap();
            return Ok(());
        }
        if line == supervisor::READY {
            // Reap it whenever it ends, so a long-lived caller collects no zombies.
            std::thread::spawn(reap);
            return Ok(());
        }
        // Not up in time (or it failed): end its whole session, steps included.
        match identity {
            Some(identity) => kill_session(identity),
            None => {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            }
        }
        let status = reap();
        let detail = crate::store::read_text(&errors_path).unwrap_or_default();
        let late = format!(
            "it did not say it was ready within {} (MRSM_READY_TIMEOUT); it was killed",
            humantime::format_duration(timeout)
        );
        let said = format!(
            "it exited without saying why (it said {:?}; {})",
            line,
            match status {
                Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => format!("exit status: {code}"),
                Ok(other) => format!("{other:?}"),
                Err(e) => format!("not waited for: {e}"),
            }
        );
        let last = match (detail.lines().last(), answer.is_err()) {
            (Some(line), _) => line,
            (None, true) => late.as_str(),
            (None, false) => said.as_str(),
        };
        Err(ExecutorError::Supervisor {
            name: name.into(),
            message: format!("the supervisor did not start: {last}"),
        })
    }

    /// Starts a freshly defined job's supervisor unless it is to stay stopped, and
    /// pauses it when asked.
    fn bring_up(
        &self,
        name: &str,
        desired: DesiredState,
        meanwhile: &dyn Fn(),
    ) -> Result<(), ExecutorError> {
        if desired == DesiredState::Stopped {
            return Ok(());
        }
        self.launch(name, meanwhile)?;
        if desired == DesiredState::Paused {
            self.request(name, &Request::Pause, Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// What a dead supervisor of the job left running, daemons that left its
    /// session included, but never what a newer supervisor of the job runs.
    fn leftovers(&self, name: &str, supervisor: ProcessIdentity) -> Vec<ProcStat> {
        let newer: Vec<i32> = SupervisorLock::holder(&self.root, name)
            .filter(|s| *s != supervisor && s.is_alive())
            .map(|s| {
                let mut pids = vec![s.pid];
                pids.extend(job_processes(s).iter().map(|p| p.pid));
                pids
            })
            .unwrap_or_default();
        leftovers(supervisor, self.root.dir(), name)
            .into_iter()
            .filter(|p| !newer.contains(&p.pid))
            .collect()
    }

    /// Stops what a dead supervisor left behind, with the job's stop signal first,
    /// SIGKILL after `grace`; returns how many processes there were.
    fn clean_leftovers(
        &self,
        name: &str,
        supervisor: ProcessIdentity,
        signal: Signal,
        grace: Duration,
    ) -> usize {
        // A live supervisor stops its own processes; these are a dead one's only.
        if supervisor.is_alive() {
            return 0;
        }
        let found = self.leftovers(name, supervisor);
        if found.is_empty() {
            return 0;
        }
        let _slow = SlowStop::watch(name, SignalName(signal), grace);
        signal_processes(&found, signal);
        signal_processes(&found, Signal::SIGCONT);
        let gone = wait_for(grace, || self.leftovers(name, supervisor).is_empty());
        if !gone {
            wait_for(KILL_WAIT, || {
                let left = self.leftovers(name, supervisor);
                signal_processes(&left, Signal::SIGKILL);
                left.is_empty()
            });
        }
        found.len()
    }

    /// Whether this command runs as a process of job `name` of this root (a step
    /// that acts on its own job).
    fn asked_from_inside(&self, name: &str) -> bool {
        std::env::var_os(crate::store::proc::JOB_VARIABLE).is_some_and(|j| j == name)
            && std::env::var_os("MRSM_ROOT_DIR")
                .is_some_and(|r| std::path::Path::new(&r) == self.root.dir())
    }

    /// Stops the job's supervisor and every process of it. `stop` settings come from
    /// the definition when it could be read; `then_remove` asks the supervisor to
    /// remove the job's files itself once it is over.
    fn stop_unlocked(
        &self,
        name: &str,
        spec: Option<&JobSpec>,
        options: &StopOptions,
        then_remove: Option<supervisor::Removal>,
    ) -> Result<Outcome, ExecutorError> {
        let settings = spec.map(|s| s.stop).unwrap_or_default();
        let signal = options.signal.unwrap_or(settings.signal);
        // A definition written by hand, or a request, may ask for more than a stop
        // can wait: held to the longest.
        let mut grace = options
            .timeout
            .unwrap_or(settings.timeout)
            .min(crate::job::MAX_STOP_TIMEOUT);
        let kill_after = grace;
        // A step on a cluster may take the cluster's own kill wait longer to end.
        if self.slurm.is_some() || spec.is_some_and(|s| s.slurm.is_some()) {
            grace += crate::slurm::stop_slack();
        }
        let Some(supervisor) = self.supervisor_of(name) else {
            return Ok(Outcome::WasNotRunning {
                name: name.into(),
                leftovers: 0,
                supervisor: None,
            });
        };
        if !supervisor.is_alive() {
            let leftovers = self.clean_leftovers(name, supervisor, signal.0, grace);
            supervisor::record_killed_end(&self.root, name);
            return Ok(Outcome::WasNotRunning {
                name: name.into(),
                leftovers,
                supervisor: Some(supervisor.pid),
            });
        }
        // A supervisor stopped from outside (SIGSTOP) could not answer.
        wake(supervisor);
        let request = Request::Stop {
            signal: options.signal,
            timeout_ms: options.timeout.map(|t| t.as_millis() as u64),
            then_remove,
        };
        // A supervisor that answers has seen every process of the job gone.
        let mut answered = false;
        let slow = SlowStop::watch(name, signal, kill_after);
        match self.request(name, &request, grace + STOP_SLACK) {
            Ok(Response::Refused { message, .. }) => {
                return Err(ExecutorError::Supervisor {
                    name: name.into(),
                    message,
                })
            }
            Ok(_) => answered = true,
            // No answer on the socket (removed, or the supervisor is stuck): its own
            // signal handler stops the job the same way.
            Err(_) if supervisor.is_alive() => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(supervisor.pid),
                    Signal::SIGTERM,
                );
            }
            Err(_) => {}
        }
        let gone = supervisor.wait_gone(grace + STOP_SLACK);
        drop(slow);
        if !gone {
            return Err(ExecutorError::Supervisor {
                name: name.into(),
                message: format!("supervisor (pid {}) did not exit", supervisor.pid),
            });
        }
        // Whatever a supervisor killed meanwhile could not stop.
        if !answered {
            self.clean_leftovers(name, supervisor, Signal::SIGKILL, Duration::ZERO);
        }
        Ok(Outcome::Stopped { name: name.into() })
    }

    /// Whether a deleted job's logs or run history are still here.
    fn has_kept_data(&self, name: &str) -> bool {
        self.root.runs_file(name).exists()
            || self.root.kept_file(name).exists()
            || !crate::logs::log_files(&self.root.log_file(name)).is_empty()
    }

    /// Whether job `name`'s log may be read: it exists, or it was deleted and its
    /// log kept.
    fn log_readable(&self, name: &str) -> Result<(), ExecutorError> {
        match self.definition(name) {
            Err(ExecutorError::NotFound(_)) if self.has_kept_data(name) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// The last lines of job `name`'s log that `selection` admits (at most its
    /// `tail`), and no more than `max_bytes` of them: read from the end of the log,
    /// they cost what they return, which is what a server needs of a tail.
    pub fn tail_logs(
        &self,
        name: &str,
        selection: &Selection,
        max_bytes: usize,
    ) -> Result<Tail, ExecutorError> {
        self.log_readable(name)?;
        let max = selection.tail.unwrap_or(usize::MAX);
        let path = self.root.log_file(name);
        Ok(crate::logs::read_tail(
            name, &path, selection, max, max_bytes,
        ))
    }

    /// Jobs deleted with their logs and run history kept, and whose they were.
    pub fn kept(&self) -> Vec<(String, supervisor::Kept)> {
        supervisor::kept_jobs(&self.root)
    }

    /// Where the job's schedule stands, to carry over to its next definition.
    fn schedule_position(&self, name: &str) -> Option<ScheduleResume> {
        self.read_state(name).and_then(|s| s.schedule)
    }
}

/// Continues a supervisor that was stopped from outside (SIGSTOP), which could not
/// answer otherwise.
fn wake(supervisor: ProcessIdentity) {
    if supervisor.is_alive() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor.pid), Signal::SIGCONT);
    }
}

/// Whether a report comes from a supervisor that is alive and has not recorded the
/// end of its job.
fn reports_a_live_job(state: &SupervisorState) -> bool {
    state.phase != Phase::Exited && state.supervisor.is_alive()
}

/// Kills a supervisor and every process of its session, and waits until they are
/// gone. Its processes are found while it is still alive (a dying process hands its
/// children over before it is gone), then found again by session until none is left.
///
/// Process by process, never by group: a program given as the supervisor
/// (`MRSM_BIN`) that put its processes back into the launcher's process group
/// must not have that group stopped with it.
fn kill_session(supervisor: ProcessIdentity) {
    let procs = job_processes(supervisor);
    signal_each(&procs, Signal::SIGSTOP);
    if supervisor.is_alive() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor.pid), Signal::SIGKILL);
    }
    signal_each(&procs, Signal::SIGKILL);
    wait_for(KILL_WAIT, || {
        let left = job_processes(supervisor);
        signal_each(&left, Signal::SIGKILL);
        !supervisor.is_alive() && left.is_empty()
    });
}

/// A definition for `spec`; steps run where the job was defined, whatever the
/// supervisor's directory.
fn new_job_file(spec: &JobSpec, options: &CreateOptions) -> JobFile {
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
fn wait_for(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
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
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

impl Executor for LocalExecutor {
    fn label(&self) -> &str {
        &self.label
    }

    fn home(&self) -> Option<String> {
        Some(self.home.get_or_init(|| self.root.home_id()).clone())
    }

    fn capabilities(&self) -> super::Capabilities {
        super::Capabilities::ALL
    }

    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        let spec = &self.placed(spec)?;
        let name = spec.name.clone();
        let _job = self.lock_job(&name)?;
        let file = {
            if self.root.job_file(&name).exists() {
                return Err(ExecutorError::AlreadyExists(name));
            }
            let file = self.new_file(spec, options);
            write_json_unflushed(&self.root.job_file(&name), &file)?;
            // Logs and history kept from an earlier job of this name are its own now.
            let _ = std::fs::remove_file(self.root.kept_file(&name));
            file
        };
        // Jobs of other names start at the same time; the supervisor's own lock keeps
        // a job from ever having two. The definition reaches the disk while the
        // supervisor starts (before the job is reported).
        let job_file = self.root.job_file(&name);
        let flushed = std::cell::OnceCell::new();
        let flush = || {
            flushed.get_or_init(|| flush_to_disk(&job_file));
        };
        let launched = self.bring_up(&name, options.desired, &flush);
        flush(); // when no supervisor was launched
        if let Some(Err(e)) = flushed.get() {
            err!("warning: job {name:?}: {e}");
        }
        if let Err(e) = launched {
            // Nothing of it runs (launch made sure): the definition goes, its logs
            // stay for the user to read.
            supervisor::remove_job_definition(&self.root, &name, file.project.as_deref());
            return Err(e);
        }
        Ok(JobInfo::derive(
            &file,
            self.read_state(&name).as_ref(),
            self.label(),
        ))
    }

    fn replace(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        let spec = &self.placed(spec)?;
        let name = spec.name.clone();
        let _job = self.lock_job(&name)?;
        let old = self.mark_stopped(&name)?;
        let position = self.schedule_position(&name);
        self.stop_unlocked(
            &name,
            old.as_ref().map(|f| &f.spec),
            &StopOptions::default(),
            None,
        )?;
        let mut file = self.new_file(spec, options);
        let same_schedule = old.as_ref().is_some_and(|old| {
            old.spec.schedule == file.spec.schedule && old.spec.timezone == file.spec.timezone
        });
        if same_schedule {
            file.resume = position;
        }
        write_json(&self.root.job_file(&name), &file)?;
        self.bring_up(&name, options.desired, &|| {})?;
        Ok(JobInfo::derive(
            &file,
            self.read_state(&name).as_ref(),
            self.label(),
        ))
    }

    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError> {
        Ok(self.read_file(name)?.spec)
    }

    fn start(&self, name: &str) -> Result<Outcome, ExecutorError> {
        let _job = self.lock_job(name)?;
        let mut file = self.set_desired(name, DesiredState::Running)?;
        // A report that cannot be read is an error only while its supervisor runs
        // (see `state`): nothing to start then, and nothing of the job may be taken
        // for leftovers (found by the breaker).
        let report = self.report(name).map_err(|e| ExecutorError::Supervisor {
            name: name.into(),
            message: format!(
                "its supervisor is running, but its report cannot be read ({e}); `mrsm stop jobs {name}` stops it"
            ),
        })?;
        if let Some(live) = report.filter(reports_a_live_job) {
            match live.phase {
                Phase::Paused => {
                    wake(live.supervisor);
                    return match self.request(name, &Request::Resume, Duration::from_secs(10))? {
                        Response::Refused { message, .. } => Err(ExecutorError::Supervisor {
                            name: name.into(),
                            message,
                        }),
                        _ => Ok(Outcome::Resumed { name: name.into() }),
                    };
                }
                // A stop under way is let finish, then the job starts again.
                Phase::Stopping => {
                    let supervisor = live.supervisor;
                    let grace = file.spec.stop.timeout + STOP_SLACK;
                    if !wait_for(grace, || !supervisor.is_alive()) {
                        return Err(ExecutorError::Supervisor {
                            name: name.into(),
                            message: format!(
                                "it is still stopping (supervisor pid {})",
                                supervisor.pid
                            ),
                        });
                    }
                }
                Phase::Running | Phase::Exited => {
                    // Its report may be a moment behind: a supervisor that has just
                    // finished the job (draining the last output) no longer answers.
                    match self.request(name, &Request::Status, Duration::from_secs(10)) {
                        Ok(Response::State { state }) if state.phase != Phase::Exited => {
                            return Ok(Outcome::AlreadyRunning { name: name.into() })
                        }
                        _ => {
                            let supervisor = live.supervisor;
                            wait_for(STOP_SLACK, || !supervisor.is_alive());
                        }
                    }
                }
            }
        }
        let last = self.read_state(name);
        if let Some(supervisor) = self.supervisor_of(name) {
            let stop = file.spec.stop;
            self.clean_leftovers(name, supervisor, stop.signal.0, stop.timeout);
        }
        // A job whose supervisor was killed continues its schedule; one that was
        // stopped or had finished starts it afresh, as a new job would.
        let died = last.as_ref().is_some_and(|s| s.phase != Phase::Exited);
        let resume = last.and_then(|s| s.schedule).filter(|_| died);
        if file.resume != resume {
            file.resume = resume;
            write_json(&self.root.job_file(name), &file)?;
        }
        // A supervisor still finishing its exit holds the job's lock for a moment.
        let finishing = self.read_state(name).map(|s| s.supervisor);
        if let Some(previous) = finishing {
            wait_for(STOP_SLACK, || !previous.is_alive());
        }
        self.launch(name, &|| {})?;
        Ok(Outcome::Started { name: name.into() })
    }

    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError> {
        let _job = self.lock_job(name)?;
        let before = self.read_file(name)?.desired;
        let Some(live) = self.live_supervisor(name) else {
            return Err(ExecutorError::NotRunning(name.into()));
        };
        self.set_desired(name, DesiredState::Paused)?;
        // A supervisor stopped from outside (SIGSTOP) could not answer.
        wake(live.supervisor);
        let refused = match self.request(name, &Request::Pause, Duration::from_secs(10)) {
            // Not paused (Slurm refused to suspend its steps): it runs on.
            Ok(Response::Refused { message, .. }) => ExecutorError::Supervisor {
                name: name.into(),
                message,
            },
            Ok(_) => return Ok(Outcome::Paused { name: name.into() }),
            Err(e) => e,
        };
        // Not paused: what it is meant to do stays as it was.
        self.set_desired(name, before)?;
        Err(refused)
    }

    fn stop(&self, name: &str, options: &StopOptions) -> Result<Outcome, ExecutorError> {
        let _job = self.lock_job(name)?;
        let file = self.mark_stopped(name)?;
        let outcome = self.stop_unlocked(name, file.as_ref().map(|f| &f.spec), options, None);
        // That it is to stay stopped reaches the disk before the stop is reported;
        // many stops at once share the disk's round trips.
        if file.is_some() {
            let _ = flush_to_disk(&self.root.job_file(name));
        }
        outcome
    }

    fn delete(&self, name: &str, options: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        let job = self.lock_job(name)?;
        if options.purge && !self.root.job_file(name).exists() && self.has_kept_data(name) {
            if let Some(vacant) = SupervisorLock::vacant(&self.root, name)? {
                supervisor::remove_job_files(&self.root, name);
                job.remove_files(&self.root, name, vacant);
            }
            return Ok(Outcome::KeptDataDeleted { name: name.into() });
        }
        let file = self.mark_stopped(name)?;
        let project = file.as_ref().and_then(|f| f.project.clone());
        // Asked from inside the job, this command is one of the processes the stop
        // ends: the supervisor removes the files itself once the job is over.
        let removal = match options.purge {
            true => supervisor::Removal::All,
            false => supervisor::Removal::Definition,
        };
        let inside = self.asked_from_inside(name).then_some(removal);
        self.stop_unlocked(name, file.as_ref().map(|f| &f.spec), &options.stop, inside)?;
        // No supervisor of the job may start while its files go (verbs wait for
        // this one; a supervisor started by hand may not): one that runs keeps them,
        // since removing them would leave it running unseen.
        let Some(vacant) = SupervisorLock::vacant(&self.root, name)? else {
            let again = self.live_lock_holder(name).map_or(0, |s| s.pid);
            return Err(ExecutorError::Supervisor {
                name: name.into(),
                message: format!(
                    "it was started again while it was being deleted (supervisor pid {again}); nothing was deleted"
                ),
            });
        };
        if options.purge {
            supervisor::remove_job_files(&self.root, name);
            job.remove_files(&self.root, name, vacant);
            Ok(Outcome::Deleted {
                name: name.into(),
                kept: false,
            })
        } else {
            supervisor::remove_job_definition(&self.root, name, project.as_deref());
            Ok(Outcome::Deleted {
                name: name.into(),
                kept: true,
            })
        }
    }

    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError> {
        let file = match self.definition(name)? {
            // Another executor's of the same root (local and slurm).
            Definition::Readable(file) if !self.holds(&file) => {
                return Err(ExecutorError::NotFound(name.into()))
            }
            Definition::Readable(file) => file,
            // Which executor of the root holds a job whose definition cannot be read
            // is unknown: `local` shows it, once (the verbs act on any job of the root).
            Definition::Broken(_) if self.slurm.is_some() => {
                return Err(ExecutorError::NotFound(name.into()))
            }
            Definition::Broken(reason) => {
                return Ok(JobInfo::broken(
                    name,
                    format!("{reason}; `mrsm delete jobs {name}` removes it"),
                    self.supervisor_of(name),
                    self.label(),
                ))
            }
        };
        match self.report(name) {
            Ok(state) => Ok(JobInfo::derive(&file, state.as_ref(), self.label_of(&file))),
            Err(e) => {
                let supervisor = SupervisorLock::holder(&self.root, name);
                let running = match supervisor.filter(|s| s.is_alive()) {
                    Some(s) => format!("its supervisor (pid {}) is running", s.pid),
                    None => "no supervisor is running".to_string(),
                };
                let mut info = JobInfo::broken(
                    name,
                    format!("{e}; {running}; `mrsm stop jobs {name}` or `mrsm delete jobs {name}` still work"),
                    supervisor,
                    self.label(),
                );
                info.command = file.spec.shown_command().to_vec();
                info.schedule = file.spec.schedule.clone();
                info.desired = file.desired;
                info.project = file.project.clone();
                info.spec_hash = file.spec_hash.clone();
                Ok(info)
            }
        }
    }

    fn list(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        // A directory without a definition (a deleted job's kept history) is
        // `NotFound` below.
        let names = self.root.job_dir_names()?;
        // Each job's files are read on its own, so the reading is shared out among
        // the machine's cores.
        let found =
            crate::parallel::each_on(crate::parallel::cores(), &names, |name| self.get(name));
        let mut jobs = Vec::new();
        for (name, got) in names.iter().zip(found) {
            match got {
                // Whose a job is that cannot be read is unknown: every listing shows it.
                Ok(info)
                    if project.is_some_and(|p| info.project.as_deref() != Some(p))
                        && !(info.status == crate::job::JobStatus::Broken
                            && info.project.is_none()) => {}
                Ok(info) => jobs.push(info),
                // Deleted meanwhile.
                Err(ExecutorError::NotFound(_)) => {}
                // A directory whose name is not a job's: not ours to list.
                Err(ExecutorError::Spec(_)) => {}
                // Whose it is cannot be read: every listing shows it.
                Err(e) => jobs.push(JobInfo::broken(name, e.to_string(), None, self.label())),
            }
        }
        Ok(jobs)
    }

    fn kept_jobs(&self, project: Option<&str>) -> Result<Vec<String>, ExecutorError> {
        Ok(self
            .kept()
            .into_iter()
            .filter(|(_, kept)| project.is_none() || kept.project.as_deref() == project)
            .map(|(name, _)| name)
            .collect())
    }

    fn runs(&self, name: &str) -> Result<RunHistory, ExecutorError> {
        // A deleted job's kept history can still be read.
        if !self.has_kept_data(name) {
            self.definition(name)?;
        }
        Ok(read_runs(&self.root.runs_file(name))?)
    }

    fn logs(&self, name: &str, selection: &Selection) -> Result<Vec<LogLine>, ExecutorError> {
        if selection.tail.is_some() {
            return Ok(self.tail_logs(name, selection, usize::MAX)?.lines);
        }
        self.log_readable(name)?;
        let mut follower = Follower::from_start(&self.root.log_file(name));
        Ok(selection.apply(drain(name, &mut follower, &mut vec![0u8; 64 * 1024])))
    }

    fn read_logs(
        &self,
        name: &str,
        cursor: crate::logs::Cursor,
        max: usize,
    ) -> Result<(Vec<LogLine>, crate::logs::Cursor), ExecutorError> {
        validate_name(name).map_err(crate::job::SpecError::from)?;
        if !self.root.job_file(name).exists() && !self.has_kept_data(name) {
            return Err(ExecutorError::NotFound(name.into()));
        }
        Ok(crate::logs::read_page(
            name,
            &self.root.log_file(name),
            cursor,
            max,
        ))
    }

    fn follow_logs_when_ready(
        &self,
        name: &str,
        from_start: bool,
        ready: &mut dyn FnMut(),
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        self.read_file(name)?;
        let path = self.root.log_file(name);
        // Its log, and its report (which says when it ended).
        let activity = Activity::watch(&[self.root.logs_dir(), self.root.job_dir(name)]);
        let grabber = Grabber::start(activity.clone());
        let mut follower = if from_start {
            Follower::from_start(&path)
        } else {
            Follower::from_end(&path)
        };
        grabber.watch(&follower);
        ready();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let mark = activity.seen();
            // Whether the job was still running *before* reading: lines written
            // before it stopped are then all read.
            let running = self
                .live_supervisor(name)
                .is_some_and(|s| s.phase != Phase::Exited);
            // Once it stopped, everything left is read, one bounded batch at a time.
            let mut idle = true;
            loop {
                let lines = drain_some(name, &mut follower, &mut buf);
                if lines.is_empty() {
                    break;
                }
                idle = false;
                for line in lines {
                    if !on_line(line) {
                        return Ok(());
                    }
                }
                if running {
                    break;
                }
            }
            if !running {
                return Ok(());
            }
            if idle {
                activity.wait(mark, Duration::from_millis(100));
            }
        }
    }

    fn send_input(&self, name: &str, data: &[u8], eof: bool) -> Result<(), ExecutorError> {
        self.read_file(name)?;
        if self.live_supervisor(name).is_none() {
            return Err(ExecutorError::NotRunning(name.into()));
        }
        let request = Request::Stdin {
            data: data.to_vec(),
            eof,
        };
        match self.request(name, &request, Duration::from_secs(10))? {
            Response::Refused { message, .. } => Err(ExecutorError::Supervisor {
                name: name.into(),
                message,
            }),
            Response::Busy { message } => Err(ExecutorError::Busy {
                name: name.into(),
                message,
            }),
            _ => Ok(()),
        }
    }
}
