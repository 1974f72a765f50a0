//! The local executor's supervisors: asking one over its socket, launching one and
//! waiting until it answers, stopping one (its job's processes with it), and cleaning
//! up what a killed one left.

use super::*;

impl LocalExecutor {
    pub(super) fn request(
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
    pub(super) fn launch(&self, name: &str, meanwhile: &dyn Fn()) -> Result<(), ExecutorError> {
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
            // Every verb that launches has seen to a dead predecessor's leftovers.
            (supervisor::PREDECESSOR_CHECKED_VARIABLE, "1".into()),
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
        let removed: Vec<&str> = supervisor::JOB_TAGS
            .iter()
            .chain(&LAUNCHER_ONLY)
            .copied()
            .collect();
        // Launched from inside a systemd job's unit (a step running `mrsm run -d`,
        // `mrsm serve` run as such a job): the supervisor leaves the unit's cgroup
        // for a scope of its own, or it would die whenever that unit stops.
        let scope = format!(
            "--unit=mrsm-{name}-{}.scope",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let supervise = [
            self.supervisor_bin.as_os_str(),
            std::ffi::OsStr::new("supervise"),
            std::ffi::OsStr::new(name),
        ];
        let mut argv: Vec<&std::ffi::OsStr> = Vec::new();
        let program: &Path = match crate::systemd::inside_job_unit() {
            true => {
                argv.extend(
                    ["--user", "--scope", "--quiet", "--collect", &scope, "--"]
                        .map(std::ffi::OsStr::new),
                );
                argv.extend(supervise);
                Path::new("systemd-run")
            }
            false => {
                argv.extend(&supervise[1..]);
                &self.supervisor_bin
            }
        };
        let pid = crate::executor::spawn::spawn_in_new_session(
            program,
            &argv,
            &removed,
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
        if line == crate::control::BUSY {
            // Another supervisor of this job is already running: nothing to do.
            let _ = reap();
            return Ok(());
        }
        if line == crate::control::READY {
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

    /// Starts job `file`'s supervisor unless it is to stay stopped (here, or as its
    /// systemd unit), and pauses it when asked.
    pub(super) fn bring_up(
        &self,
        file: &JobFile,
        meanwhile: &dyn Fn(),
    ) -> Result<(), ExecutorError> {
        let name = file.spec.name.as_str();
        let desired = file.desired;
        if units::on_systemd(file) {
            self.bring_up_unit(file, meanwhile)?;
        } else if desired == DesiredState::Stopped {
            return Ok(());
        } else {
            self.launch(name, meanwhile)?;
        }
        if desired == DesiredState::Paused {
            self.request(name, &Request::Pause, Duration::from_secs(10))?;
        }
        Ok(())
    }

    /// What a dead supervisor of the job left running, daemons that left its
    /// session included, but never what a newer supervisor of the job runs.
    pub(super) fn leftovers(&self, name: &str, supervisor: ProcessIdentity) -> Vec<ProcStat> {
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
    pub(super) fn clean_leftovers(
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
    pub(super) fn asked_from_inside(&self, name: &str) -> bool {
        std::env::var_os(crate::store::proc::JOB_VARIABLE).is_some_and(|j| j == name)
            && std::env::var_os("MRSM_ROOT_DIR")
                .is_some_and(|r| std::path::Path::new(&r) == self.root.dir())
    }

    /// Stops the job's supervisor and every process of it. `stop` settings come from
    /// the definition when it could be read; `then_remove` asks the supervisor to
    /// remove the job's files itself once it is over.
    pub(super) fn stop_unlocked(
        &self,
        name: &str,
        spec: Option<&JobSpec>,
        options: &StopOptions,
        then_remove: Option<crate::control::Removal>,
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
        if self.cluster().is_some() || spec.is_some_and(|s| s.slurm.is_some()) {
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
        // Whatever a supervisor killed meanwhile could not stop, nor record: one
        // still dying of a SIGKILL when this stop looked is ended as a dead one is.
        if !answered {
            self.clean_leftovers(name, supervisor, Signal::SIGKILL, Duration::ZERO);
            supervisor::record_killed_end(&self.root, name);
        }
        Ok(Outcome::Stopped { name: name.into() })
    }
}

/// What a launched supervisor does not inherit from its launcher beside the marks
/// of the job it may be launched from (`JOB_TAGS`): what systemd gave a service it
/// may be launched from (it would answer systemd in that service's name).
const LAUNCHER_ONLY: [&str; 2] = ["NOTIFY_SOCKET", crate::systemd::UNIT_VARIABLE];

/// Continues a supervisor that was stopped from outside (SIGSTOP), which could not
/// answer otherwise.
pub(super) fn wake(supervisor: ProcessIdentity) {
    if supervisor.is_alive() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(supervisor.pid), Signal::SIGCONT);
    }
}

/// Whether a report comes from a supervisor that is alive and has not recorded the
/// end of its job.
pub(super) fn reports_a_live_job(state: &SupervisorState) -> bool {
    state.phase != Phase::Exited && state.supervisor.is_alive()
}

/// Kills a supervisor and every process of its session, and waits until they are
/// gone. Its processes are found while it is still alive (a dying process hands its
/// children over before it is gone), then found again by session until none is left.
///
/// Process by process, never by group: a program given as the supervisor
/// (`MRSM_BIN`) that put its processes back into the launcher's process group
/// must not have that group stopped with it.
pub(super) fn kill_session(supervisor: ProcessIdentity) {
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
