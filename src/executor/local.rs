//! The `local` executor: each job is a detached supervisor process on this machine,
//! found again through the files under the root directory.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::{CreateOptions, DeleteOptions, Executor, ExecutorError, StopOptions};
use crate::job::{
    validate_name, DesiredState, JobFile, JobInfo, JobSpec, Phase, RunRecord, SupervisorState,
};
use crate::logs::{drain, drain_some, Follower, Grabber, LogLine, Selection};
use crate::store::proc::job_processes;
use crate::store::{read_json, write_json, Root, RootLock};
use crate::supervisor::{self, call, read_runs, signal_processes, Request, Response};

/// How long a supervisor may take to say it is up.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Extra time allowed beyond a job's grace period for a stop to be confirmed.
const STOP_SLACK: Duration = Duration::from_secs(10);

/// Jobs run by detached supervisors on this machine.
pub struct LocalExecutor {
    root: Root,
    supervisor_bin: PathBuf,
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

impl LocalExecutor {
    /// The local executor over `root`, launching supervisors with the `mrsm` binary
    /// found by [`locate_mrsm_binary`].
    pub fn new(root: Root) -> LocalExecutor {
        LocalExecutor {
            root,
            supervisor_bin: locate_mrsm_binary(),
        }
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

    fn read_file(&self, name: &str) -> Result<JobFile, ExecutorError> {
        validate_name(name).map_err(crate::job::SpecError::from)?;
        read_json(&self.root.job_file(name))?.ok_or_else(|| ExecutorError::NotFound(name.into()))
    }

    fn read_state(&self, name: &str) -> Option<SupervisorState> {
        read_json(&self.root.state_file(name)).ok().flatten()
    }

    /// The job's supervisor if it is alive.
    fn live_supervisor(&self, name: &str) -> Option<SupervisorState> {
        self.read_state(name).filter(|s| s.supervisor.is_alive())
    }

    /// Records that the job is to stay stopped (under the root lock), before it is.
    fn mark_stopped(&self, name: &str) -> Result<JobFile, ExecutorError> {
        let _lock = RootLock::acquire(&self.root)?;
        self.set_desired(name, DesiredState::Stopped)
    }

    fn set_desired(&self, name: &str, desired: DesiredState) -> Result<JobFile, ExecutorError> {
        let mut file = self.read_file(name)?;
        if file.desired != desired {
            file.desired = desired;
            write_json(&self.root.job_file(name), &file)?;
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

    /// Starts `mrsm supervise NAME` in a new session and waits for it to say `ready`.
    fn launch(&self, name: &str) -> Result<(), ExecutorError> {
        let errors_path = self.root.supervisor_errors(name);
        let errors = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&errors_path)
            .map_err(|e| crate::store::StoreError::io("opening", &errors_path, e))?;
        let mut cmd = Command::new(&self.supervisor_bin);
        cmd.arg("supervise")
            .arg(name)
            .env("MRSM_ROOT_DIR", self.root.dir())
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(errors);
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
        let mut child = cmd.spawn().map_err(|e| ExecutorError::Supervisor {
            name: name.into(),
            message: format!("could not run {}: {e}", self.supervisor_bin.display()),
        })?;
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut line = String::new();
                let _ = BufReader::new(out).read_line(&mut line);
                let _ = tx.send(line);
            });
        }
        let line = rx.recv_timeout(READY_TIMEOUT).unwrap_or_default();
        if line.trim() == "busy" {
            // Another supervisor of this job is already running: nothing to do.
            let _ = child.wait();
            return Ok(());
        }
        if line.trim() == "ready" {
            // Reap it whenever it ends, so a long-lived caller collects no zombies.
            std::thread::spawn(move || child.wait());
            return Ok(());
        }
        let _ = child.kill();
        let _ = child.wait();
        let detail = std::fs::read_to_string(&errors_path).unwrap_or_default();
        let last = detail
            .lines()
            .last()
            .unwrap_or("it exited without saying why");
        Err(ExecutorError::Supervisor {
            name: name.into(),
            message: format!("the supervisor did not start: {last}"),
        })
    }

    /// Starts a freshly defined job's supervisor unless it is to stay stopped, and
    /// pauses it when asked.
    fn bring_up(&self, name: &str, desired: DesiredState) -> Result<(), ExecutorError> {
        if desired == DesiredState::Stopped {
            return Ok(());
        }
        self.launch(name)?;
        if desired == DesiredState::Paused {
            self.request(name, &Request::Pause, Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// Kills what a dead supervisor left behind, with the job's stop signal first.
    fn clean_leftovers(&self, state: &SupervisorState, signal: Signal, grace: Duration) {
        let leftovers = job_processes(state.supervisor);
        if leftovers.is_empty() {
            return;
        }
        signal_processes(&leftovers, signal);
        signal_processes(&leftovers, Signal::SIGCONT);
        let gone = wait_for(grace, || job_processes(state.supervisor).is_empty());
        if !gone {
            signal_processes(&job_processes(state.supervisor), Signal::SIGKILL);
            wait_for(Duration::from_secs(5), || {
                job_processes(state.supervisor).is_empty()
            });
        }
    }

    fn stop_unlocked(
        &self,
        file: &JobFile,
        options: &StopOptions,
    ) -> Result<String, ExecutorError> {
        let name = &file.spec.name;
        let signal = options.signal.unwrap_or(file.spec.stop.signal);
        let grace = options.timeout.unwrap_or(file.spec.stop.timeout);
        let Some(state) = self.read_state(name) else {
            return Ok(format!("job {name:?} was not running"));
        };
        if !state.supervisor.is_alive() {
            self.clean_leftovers(&state, signal.0, grace);
            return Ok(format!("job {name:?} was not running"));
        }
        let request = Request::Stop {
            signal: options.signal,
            timeout_ms: options.timeout.map(|t| t.as_millis() as u64),
        };
        match self.request(name, &request, grace + STOP_SLACK) {
            Ok(Response::Refused { message }) => {
                return Err(ExecutorError::Supervisor {
                    name: name.clone(),
                    message,
                })
            }
            Ok(_) => {}
            // It may have exited between our check and the call.
            Err(e) if state.supervisor.is_alive() => return Err(e),
            Err(_) => {}
        }
        let supervisor = state.supervisor;
        if !wait_for(STOP_SLACK, || !supervisor.is_alive()) {
            return Err(ExecutorError::Supervisor {
                name: name.clone(),
                message: format!("supervisor (pid {}) did not exit", supervisor.pid),
            });
        }
        Ok(format!("stopped job {name:?}"))
    }
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
        "local"
    }

    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        spec.validate()?;
        let name = spec.name.clone();
        let file = {
            let _lock = RootLock::acquire(&self.root)?;
            if self.root.job_file(&name).exists() {
                return Err(ExecutorError::AlreadyExists(name));
            }
            let file = new_job_file(spec, options);
            write_json(&self.root.job_file(&name), &file)?;
            file
        };
        // Launched without the root lock, so several jobs start at once; the
        // supervisor's own lock keeps a job from ever having two.
        if let Err(e) = self.bring_up(&name, options.desired) {
            supervisor::remove_job_files(&self.root, &name);
            return Err(e);
        }
        Ok(JobInfo::derive(
            &file,
            self.read_state(&name).as_ref(),
            self.label(),
        ))
    }

    fn replace(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        spec.validate()?;
        let name = spec.name.clone();
        let old = self.mark_stopped(&name)?;
        self.stop_unlocked(&old, &StopOptions::default())?;
        let file = new_job_file(spec, options);
        {
            let _lock = RootLock::acquire(&self.root)?;
            write_json(&self.root.job_file(&name), &file)?;
        }
        self.bring_up(&name, options.desired)?;
        Ok(JobInfo::derive(
            &file,
            self.read_state(&name).as_ref(),
            self.label(),
        ))
    }

    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError> {
        Ok(self.read_file(name)?.spec)
    }

    fn start(&self, name: &str) -> Result<String, ExecutorError> {
        let _lock = RootLock::acquire(&self.root)?;
        let file = self.set_desired(name, DesiredState::Running)?;
        match self.live_supervisor(name) {
            Some(s) if s.phase == Phase::Paused => {
                match self.request(name, &Request::Resume, Duration::from_secs(10))? {
                    Response::Refused { message } => Err(ExecutorError::Supervisor {
                        name: name.into(),
                        message,
                    }),
                    _ => Ok(format!("resumed job {name:?}")),
                }
            }
            Some(_) => Ok(format!("job {name:?} is already running")),
            None => {
                if let Some(old) = self.read_state(name) {
                    self.clean_leftovers(&old, file.spec.stop.signal.0, file.spec.stop.timeout);
                }
                self.launch(name)?;
                Ok(format!("started job {name:?}"))
            }
        }
    }

    fn pause(&self, name: &str) -> Result<String, ExecutorError> {
        let _lock = RootLock::acquire(&self.root)?;
        self.read_file(name)?;
        if self.live_supervisor(name).is_none() {
            return Err(ExecutorError::NotRunning(name.into()));
        }
        self.set_desired(name, DesiredState::Paused)?;
        match self.request(name, &Request::Pause, Duration::from_secs(10))? {
            Response::Refused { message } => Err(ExecutorError::Supervisor {
                name: name.into(),
                message,
            }),
            _ => Ok(format!("paused job {name:?}")),
        }
    }

    fn stop(&self, name: &str, options: &StopOptions) -> Result<String, ExecutorError> {
        let file = self.mark_stopped(name)?;
        self.stop_unlocked(&file, options)
    }

    fn delete(&self, name: &str, options: &DeleteOptions) -> Result<String, ExecutorError> {
        let file = self.mark_stopped(name)?;
        self.stop_unlocked(&file, &options.stop)?;
        let _lock = RootLock::acquire(&self.root)?;
        if options.purge {
            supervisor::remove_job_files(&self.root, name);
            Ok(format!("deleted job {name:?}"))
        } else {
            supervisor::remove_job_definition(&self.root, name);
            Ok(format!(
                "deleted job {name:?} (its logs and run history are kept)"
            ))
        }
    }

    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError> {
        let file = self.read_file(name)?;
        Ok(JobInfo::derive(
            &file,
            self.read_state(name).as_ref(),
            self.label(),
        ))
    }

    fn list(&self) -> Result<Vec<JobInfo>, ExecutorError> {
        let mut jobs = Vec::new();
        for name in self.root.job_names()? {
            match self.get(&name) {
                Ok(info) => jobs.push(info),
                // Deleted meanwhile.
                Err(ExecutorError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(jobs)
    }

    fn runs(&self, name: &str) -> Result<Vec<RunRecord>, ExecutorError> {
        self.read_file(name)?;
        Ok(read_runs(&self.root.runs_file(name))?)
    }

    fn logs(&self, name: &str, selection: &Selection) -> Result<Vec<LogLine>, ExecutorError> {
        self.read_file(name)?;
        let mut follower = Follower::from_start(&self.root.log_file(name));
        Ok(selection.apply(drain(name, &mut follower, &mut vec![0u8; 64 * 1024])))
    }

    fn follow_logs(
        &self,
        name: &str,
        from_start: bool,
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        self.read_file(name)?;
        let path = self.root.log_file(name);
        let grabber = Grabber::start();
        let mut follower = if from_start {
            Follower::from_start(&path)
        } else {
            Follower::from_end(&path)
        };
        grabber.watch(&follower);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
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
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn send_input(&self, name: &str, data: &str, eof: bool) -> Result<(), ExecutorError> {
        self.read_file(name)?;
        if self.live_supervisor(name).is_none() {
            return Err(ExecutorError::NotRunning(name.into()));
        }
        let request = Request::Stdin {
            data: data.to_string(),
            eof,
        };
        match self.request(name, &request, Duration::from_secs(10))? {
            Response::Refused { message } => Err(ExecutorError::Supervisor {
                name: name.into(),
                message,
            }),
            _ => Ok(()),
        }
    }
}
