//! The process that runs one job (`mrsm supervise NAME`, started detached in its own
//! session): it runs the chain's steps, each in its own process group, pipes their
//! output into the job's log, fires the schedule, applies the restart and overlap
//! policies, records every finished run, and answers control requests on the job's
//! Unix socket. It is a child subreaper, so no grandchild escapes it, and it exits only
//! when no process of the job is left.

mod protocol;
mod runs;
mod signals;
mod steps;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use protocol::{call, Request, Response};
pub use runs::{read_runs, RunLog, KEEP_RUNS};
pub use signals::{job_alive, signal_job, signal_processes};

use crate::job::{
    JobFile, OverlapPolicy, Phase, RestartPolicy, RunRecord, RunResult, StepProcess,
    SupervisorState, Trigger,
};
use crate::logs::{LogWriter, Stream};
use crate::schedule::FireTimes;
use crate::store::{read_json, write_json, ProcessIdentity, Root};
use steps::{spawn_step, SharedLog, StepChild};

/// Restart backoff: first delay, cap, and how long a run must last to reset it.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);
/// How often a stopping job is checked for leftover processes.
const STOP_POLL: Duration = Duration::from_millis(10);

/// Runs the supervisor of job `name` until the job is over. Called in the detached
/// process; prints `ready` on standard output once it answers on its socket.
pub fn run(root: Root, name: &str) -> anyhow::Result<()> {
    // One supervisor per job, ever: held for this process's whole life.
    let lock_path = root.job_dir(name).join("supervisor.lock");
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    let _lock =
        match nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err(_) => {
                let mut out = std::io::stdout();
                let _ = out.write_all(b"busy\n");
                let _ = out.flush();
                return Ok(());
            }
        };
    nix::sys::prctl::set_child_subreaper(true).context("becoming a child subreaper")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async {
        let supervisor = Supervisor::new(root, name)?;
        supervisor.serve().await
    })
}

type Control = (Request, oneshot::Sender<Response>);

struct Run {
    id: u64,
    trigger: Trigger,
    started: Timestamp,
    began_at: Instant,
    /// 0-based index of the running step.
    step: usize,
    child: StepChild,
    /// Set when a `replace` fire ended this run early.
    replaced: bool,
}

struct Stopping {
    signal: Signal,
    deadline: Instant,
    killed: bool,
    waiters: Vec<oneshot::Sender<Response>>,
    /// Asked for (a client or a signal), rather than cleaning up after the job's
    /// chain ended with processes left behind.
    requested: bool,
}

/// A replaced run's process group, killed if still there at the deadline.
struct PendingKill {
    group: i32,
    deadline: Instant,
}

struct Supervisor {
    root: Root,
    file: JobFile,
    log: SharedLog,
    runs_log: RunLog,
    state: SupervisorState,
    schedule: Option<FireTimes>,
    next_fire: Option<Timestamp>,
    runs: Vec<Run>,
    next_run_id: u64,
    queued: bool,
    restart_at: Option<Instant>,
    backoff: Duration,
    stopping: Option<Stopping>,
    pending_kills: Vec<PendingKill>,
    /// Output pumps, awaited before exiting so no line is lost.
    pumps: Vec<tokio::task::JoinHandle<()>>,
    done: bool,
}

impl Supervisor {
    fn new(root: Root, name: &str) -> anyhow::Result<Supervisor> {
        let file: JobFile = read_json(&root.job_file(name))?
            .with_context(|| format!("job {name:?} has no definition"))?;
        let identity = ProcessIdentity::current().context("reading /proc/self")?;
        let previous: Option<SupervisorState> = read_json(&root.state_file(name)).ok().flatten();
        let log = LogWriter::open(
            &root.log_file(name),
            file.spec.logs.max_size,
            file.spec.logs.keep,
        )
        .with_context(|| format!("opening {}", root.log_file(name).display()))?
        .with_max_line(file.spec.logs.max_line);
        let runs_log = RunLog::open(&root.runs_file(name));
        Ok(Supervisor {
            state: SupervisorState {
                supervisor: identity,
                phase: Phase::Running,
                began: Timestamp::now(),
                paused: None,
                ended: None,
                steps: Vec::new(),
                restarts: 0,
                next_fire: None,
                last_result: previous.and_then(|p| p.last_result),
            },
            root,
            file,
            log: Arc::new(Mutex::new(log)),
            runs_log,
            schedule: None,
            next_fire: None,
            runs: Vec::new(),
            next_run_id: 1,
            queued: false,
            restart_at: None,
            backoff: BACKOFF_FIRST,
            stopping: None,
            pending_kills: Vec::new(),
            pumps: Vec::new(),
            done: false,
        })
    }

    fn name(&self) -> &str {
        &self.file.spec.name
    }

    async fn serve(mut self) -> anyhow::Result<()> {
        let socket = self.root.control_socket(self.name());
        let _ = std::fs::remove_file(&socket);
        let listener =
            UnixListener::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
        let (ctrl_tx, mut ctrl_rx) = mpsc::channel::<Control>(16);
        let in_flight = Arc::new(AtomicUsize::new(0));
        tokio::spawn(accept_loop(listener, ctrl_tx, in_flight.clone()));
        let mut sigchld = signal(SignalKind::child())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sighup = signal(SignalKind::hangup())?;

        self.begin();
        self.save_state();
        announce_ready();

        while !self.done {
            let wake = self.next_wake();
            tokio::select! {
                Some((request, reply)) = ctrl_rx.recv() => self.on_request(request, reply),
                _ = sigchld.recv() => self.reap(),
                _ = sigterm.recv() => self.begin_stop(None, None, None),
                _ = sigint.recv() => self.begin_stop(None, None, None),
                _ = sighup.recv() => self.begin_stop(None, None, None),
                _ = sleep_until(wake) => self.on_timer(),
            }
        }
        let _ = std::fs::remove_file(&socket);
        // Every process of the job is gone, so the pipes are at end-of-file: drain
        // them before exiting.
        for pump in self.pumps.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
        }
        // Let answers already handed over reach their clients.
        let deadline = Instant::now() + Duration::from_secs(1);
        while in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if self.file.spec.rm && !self.stopping.as_ref().is_some_and(|s| s.requested) {
            remove_job_files(&self.root, self.name());
        }
        Ok(())
    }

    /// The first thing the job does: arm the schedule, or start the chain.
    fn begin(&mut self) {
        let Some(text) = self.file.spec.schedule.clone() else {
            self.start_run(Trigger::Start);
            return;
        };
        let fires = crate::schedule::parse_schedule(&text)
            .and_then(|s| match &self.file.spec.timezone {
                Some(tz) => s.in_zone(tz),
                None => Ok(s),
            })
            .and_then(|s| s.fire_times(Timestamp::now()));
        match fires {
            Ok(mut fires) => {
                self.next_fire = fires.next();
                self.schedule = Some(fires);
                if self.next_fire.is_none() {
                    self.sys(&format!("schedule {text:?} never fires"));
                    self.finish(Some(RunResult {
                        ok: true,
                        exit_code: None,
                        signal: None,
                        message: "the schedule never fires".into(),
                        failed_step: None,
                    }));
                }
            }
            Err(e) => {
                self.sys(&format!("bad schedule: {e}"));
                self.finish(Some(RunResult {
                    ok: false,
                    exit_code: None,
                    signal: None,
                    message: format!("bad schedule: {e}"),
                    failed_step: None,
                }));
            }
        }
    }

    fn sys(&self, message: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.append(Timestamp::now(), Stream::Sys, message.as_bytes());
            log.flush();
        }
    }

    fn save_state(&mut self) {
        self.state.steps = self
            .runs
            .iter()
            .map(|r| StepProcess {
                run: r.id,
                step: r.step + 1,
                process: r.child.process,
            })
            .collect();
        self.state.next_fire = self
            .next_fire
            .filter(|_| self.state.phase == Phase::Running);
        let path = self.root.state_file(self.name());
        if let Err(e) = write_json(&path, &self.state) {
            eprintln!("mrsm supervisor: {e}");
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut consider = |at: Instant| wake = Some(wake.map_or(at, |w| w.min(at)));
        if self.stopping.is_some() {
            consider(Instant::now() + STOP_POLL);
        }
        if let Some(at) = self.restart_at {
            consider(at);
        }
        for k in &self.pending_kills {
            consider(k.deadline);
        }
        if let (Some(fire), Phase::Running) = (self.next_fire, self.state.phase) {
            consider(instant_of(fire));
        }
        wake
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        if self.stopping.is_some() {
            self.poll_stop();
            return;
        }
        let due: Vec<i32> = self
            .pending_kills
            .iter()
            .filter(|k| k.deadline <= now)
            .map(|k| k.group)
            .collect();
        self.pending_kills.retain(|k| k.deadline > now);
        for group in due {
            let _ = nix::sys::signal::killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
        if self.restart_at.is_some_and(|at| at <= now) {
            self.restart_at = None;
            self.state.restarts += 1;
            self.start_run(Trigger::Restart);
            self.save_state();
        }
        if let Some(fire) = self.next_fire {
            if self.state.phase == Phase::Running && fire <= Timestamp::now() {
                self.fire();
                self.advance_schedule();
                self.save_state();
            }
        }
    }

    /// Moves the schedule past now, skipping fires missed while busy or paused.
    fn advance_schedule(&mut self) {
        let now = Timestamp::now();
        let Some(fires) = self.schedule.as_mut() else {
            return;
        };
        self.next_fire = fires.find(|&t| t > now);
        if self.next_fire.is_none() && self.runs.is_empty() && !self.queued {
            self.sys("the schedule has no more fires");
            self.finish(None);
        }
    }

    fn fire(&mut self) {
        let active: Vec<u64> = self
            .runs
            .iter()
            .filter(|r| !r.replaced)
            .map(|r| r.id)
            .collect();
        if active.is_empty() {
            self.start_run(Trigger::Schedule);
            return;
        }
        match self.file.spec.overlap {
            OverlapPolicy::Skip => {
                self.sys(&format!("fire skipped: run {} is still going", active[0]))
            }
            OverlapPolicy::Queue => {
                if !self.queued {
                    self.sys(&format!("fire queued behind run {}", active[0]));
                }
                self.queued = true;
            }
            OverlapPolicy::Allow => self.start_run(Trigger::Schedule),
            OverlapPolicy::Replace => {
                let grace = self.file.spec.stop.timeout;
                let stop = self.file.spec.stop.signal.0;
                for run in self.runs.iter_mut().filter(|r| !r.replaced) {
                    run.replaced = true;
                    let group = run.child.process.pid;
                    let _ = nix::sys::signal::killpg(Pid::from_raw(group), stop);
                    let _ = nix::sys::signal::killpg(Pid::from_raw(group), Signal::SIGCONT);
                    self.pending_kills.push(PendingKill {
                        group,
                        deadline: Instant::now() + grace,
                    });
                }
                self.sys(&format!("run {} replaced by a new fire", active[0]));
                self.start_run(Trigger::Schedule);
            }
        }
    }

    fn start_run(&mut self, trigger: Trigger) {
        let id = self.next_run_id;
        self.next_run_id += 1;
        let started = Timestamp::now();
        self.sys(&format!("run {id} started ({})", trigger_word(trigger)));
        match self.spawn(0, id) {
            Ok(child) => self.runs.push(Run {
                id,
                trigger,
                started,
                began_at: Instant::now(),
                step: 0,
                child,
                replaced: false,
            }),
            Err(result) => self.record_run(id, trigger, started, result),
        }
    }

    /// Starts step `index` of run `id`; a failure to start is the run's result.
    fn spawn(&mut self, index: usize, id: u64) -> Result<StepChild, RunResult> {
        let spec = &self.file.spec;
        let text = &spec.command[index];
        self.pumps.retain(|p| !p.is_finished());
        match spawn_step(spec, text, id, &self.log) {
            Ok((child, pumps)) => {
                self.pumps.extend(pumps);
                if self.state.phase == Phase::Paused {
                    let _ =
                        nix::sys::signal::killpg(Pid::from_raw(child.process.pid), Signal::SIGSTOP);
                }
                Ok(child)
            }
            Err(e) => Err(RunResult {
                ok: false,
                exit_code: None,
                signal: None,
                message: format!(
                    "step {} of {} ({text:?}) could not start: {e}",
                    index + 1,
                    spec.command.len()
                ),
                failed_step: Some(index + 1),
            }),
        }
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.on_exit(pid.as_raw(), Some(code), None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.on_exit(pid.as_raw(), None, Some(sig))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }

    fn on_exit(&mut self, pid: i32, code: Option<i32>, sig: Option<Signal>) {
        let Some(index) = self.runs.iter().position(|r| r.child.process.pid == pid) else {
            return; // an orphaned grandchild, reaped as subreaper
        };
        let steps = self.file.spec.command.len();
        let step = self.runs[index].step;
        let text = self.file.spec.command[step].clone();
        let success = code == Some(0);
        let how = match (code, sig) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("killed by {}", s.as_str()),
            _ => "ended".to_string(),
        };
        let id = self.runs[index].id;
        self.sys(&format!("run {id} step {}/{steps} {how}", step + 1));
        let carry_on =
            success && step + 1 < steps && !self.runs[index].replaced && self.stopping.is_none();
        if carry_on {
            match self.spawn(step + 1, id) {
                Ok(child) => {
                    let run = &mut self.runs[index];
                    run.step = step + 1;
                    run.child = child;
                }
                Err(result) => {
                    let run = self.runs.remove(index);
                    self.record_run(run.id, run.trigger, run.started, result);
                    self.after_run(run.began_at, false);
                }
            }
            self.save_state();
            return;
        }
        let run = self.runs.remove(index);
        let ok = success && step + 1 == steps;
        let message = if ok {
            match steps {
                1 => "exited with status 0".to_string(),
                n => format!("all {n} steps succeeded"),
            }
        } else if self.stopping.is_some() {
            format!(
                "stopped by request: step {}/{steps} ({text:?}) {how}",
                step + 1
            )
        } else if run.replaced {
            format!(
                "replaced by a newer fire: step {}/{steps} ({text:?}) {how}",
                step + 1
            )
        } else {
            format!("step {}/{steps} ({text:?}) {how}", step + 1)
        };
        let result = RunResult {
            ok,
            exit_code: code,
            signal: sig.map(|s| s.as_str().to_string()),
            message,
            failed_step: (!ok).then_some(step + 1),
        };
        self.record_run(run.id, run.trigger, run.started, result);
        self.after_run(run.began_at, ok);
        self.save_state();
    }

    fn record_run(&mut self, id: u64, trigger: Trigger, started: Timestamp, result: RunResult) {
        let record = RunRecord {
            run: id,
            trigger,
            started,
            ended: Timestamp::now(),
            result: result.clone(),
        };
        if let Err(e) = self.runs_log.append(&record) {
            eprintln!("mrsm supervisor: {e}");
        }
        self.state.last_result = Some(result);
    }

    /// What follows a finished run: the queue, a restart, or the end of the job.
    fn after_run(&mut self, began_at: Instant, ok: bool) {
        if self.stopping.is_some() {
            return;
        }
        if self.schedule.is_some() {
            if self.queued {
                self.queued = false;
                self.start_run(Trigger::Queue);
            } else if self.next_fire.is_none() && self.runs.is_empty() {
                self.finish(None);
            }
            return;
        }
        if !self.runs.is_empty() {
            return;
        }
        let restart = match self.file.spec.restart {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => !ok,
            RestartPolicy::Always => true,
        };
        if !restart {
            self.finish(None);
            return;
        }
        if began_at.elapsed() >= BACKOFF_RESET_AFTER {
            self.backoff = BACKOFF_FIRST;
        }
        let delay = self.backoff;
        self.restart_at = Some(Instant::now() + delay);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        self.sys(&format!(
            "restarting in {}",
            humantime::format_duration(delay)
        ));
    }

    /// The job is over on its own: stop what its chain left running, record the end
    /// and exit.
    fn finish(&mut self, result: Option<RunResult>) {
        if let Some(result) = result {
            self.state.last_result = Some(result);
        }
        if job_alive(self.state.supervisor) {
            self.sys("the chain has ended; stopping the processes it left behind");
            self.begin_stop(None, None, None);
            if let Some(stopping) = self.stopping.as_mut() {
                stopping.requested = false;
            }
            return;
        }
        self.state.phase = Phase::Exited;
        self.state.ended = Some(Timestamp::now());
        self.next_fire = None;
        self.done = true;
        self.save_state();
    }

    fn on_request(&mut self, request: Request, reply: oneshot::Sender<Response>) {
        let response = match request {
            Request::Status => Response::State {
                state: Box::new(self.state.clone()),
            },
            Request::Pause => self.pause(),
            Request::Resume => self.resume(),
            Request::Stdin { data, eof } => self.write_stdin(data, eof),
            Request::Stop { signal, timeout_ms } => {
                self.begin_stop(
                    signal.map(|s| s.0),
                    timeout_ms.map(Duration::from_millis),
                    Some(reply),
                );
                return;
            }
        };
        let _ = reply.send(response);
    }

    fn write_stdin(&mut self, data: String, eof: bool) -> Response {
        let Some(run) = self.runs.iter_mut().rev().find(|r| !r.replaced) else {
            return Response::Refused {
                message: "no step is running to read it".into(),
            };
        };
        let Some(stdin) = run.child.stdin.as_ref() else {
            return Response::Refused {
                message: "the step's input is closed".into(),
            };
        };
        if !data.is_empty() && stdin.send(data.into_bytes()).is_err() {
            return Response::Refused {
                message: "the step's input is closed".into(),
            };
        }
        if eof {
            run.child.stdin = None;
        }
        Response::Done {
            message: "written".into(),
        }
    }

    fn pause(&mut self) -> Response {
        match self.state.phase {
            Phase::Paused => Response::Done {
                message: "already paused".into(),
            },
            Phase::Running => {
                signal_job(self.state.supervisor, Signal::SIGSTOP);
                self.state.phase = Phase::Paused;
                self.state.paused = Some(Timestamp::now());
                self.sys("paused");
                self.save_state();
                Response::Done {
                    message: "paused".into(),
                }
            }
            Phase::Stopping | Phase::Exited => Response::Refused {
                message: "the job is stopping".into(),
            },
        }
    }

    fn resume(&mut self) -> Response {
        match self.state.phase {
            Phase::Paused => {
                signal_job(self.state.supervisor, Signal::SIGCONT);
                self.state.phase = Phase::Running;
                self.state.paused = None;
                self.sys("resumed");
                if self.next_fire.is_some_and(|f| f <= Timestamp::now()) {
                    self.advance_schedule();
                }
                self.save_state();
                Response::Done {
                    message: "resumed".into(),
                }
            }
            Phase::Running => Response::Done {
                message: "already running".into(),
            },
            Phase::Stopping | Phase::Exited => Response::Refused {
                message: "the job is stopping".into(),
            },
        }
    }

    fn begin_stop(
        &mut self,
        signal: Option<Signal>,
        timeout: Option<Duration>,
        reply: Option<oneshot::Sender<Response>>,
    ) {
        if let Some(stopping) = self.stopping.as_mut() {
            stopping.waiters.extend(reply);
            return;
        }
        let signal = signal.unwrap_or(self.file.spec.stop.signal.0);
        let timeout = timeout.unwrap_or(self.file.spec.stop.timeout);
        self.sys(&format!("stopping with {}", signal.as_str()));
        let me = self.state.supervisor;
        signal_job(me, signal);
        // Stopped processes act on the signal only once continued.
        signal_job(me, Signal::SIGCONT);
        self.restart_at = None;
        self.next_fire = None;
        self.queued = false;
        self.state.phase = Phase::Stopping;
        self.state.paused = None;
        self.stopping = Some(Stopping {
            signal,
            deadline: Instant::now() + timeout,
            killed: false,
            waiters: reply.into_iter().collect(),
            requested: true,
        });
        self.save_state();
        self.poll_stop();
    }

    fn poll_stop(&mut self) {
        self.reap();
        let me = self.state.supervisor;
        let left = job_alive(me);
        let Some(stopping) = self.stopping.as_mut() else {
            return;
        };
        if !left && self.runs.is_empty() {
            let message = format!("stopped with {}", stopping.signal.as_str());
            for waiter in stopping.waiters.drain(..) {
                let _ = waiter.send(Response::Done {
                    message: message.clone(),
                });
            }
            self.sys(&message);
            self.state.phase = Phase::Exited;
            self.state.ended = Some(Timestamp::now());
            self.done = true;
            self.save_state();
            return;
        }
        if !stopping.killed && Instant::now() >= stopping.deadline {
            stopping.killed = true;
            self.sys("grace period over: SIGKILL");
            signal_job(me, Signal::SIGKILL);
        }
    }
}

fn trigger_word(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Start => "start",
        Trigger::Restart => "restart",
        Trigger::Schedule => "schedule",
        Trigger::Queue => "queued fire",
    }
}

/// The monotonic instant of a wall-clock time (now if it is past).
fn instant_of(t: Timestamp) -> Instant {
    let ahead = t.duration_since(Timestamp::now());
    match Duration::try_from(ahead) {
        Ok(d) => Instant::now() + d,
        Err(_) => Instant::now(),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Tells the launching command that the job is up, then lets go of its pipe.
fn announce_ready() {
    let mut out = std::io::stdout();
    let _ = out.write_all(b"ready\n");
    let _ = out.flush();
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = null.as_raw_fd();
    }
}

/// Removes what defines and runs a job, keeping its run history (`runs.jsonl`) and
/// its log files, so a job declared again under the same name continues them.
pub fn remove_job_definition(root: &Root, name: &str) {
    let dir = root.job_dir(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let history = root.runs_file(name);
    for entry in entries.filter_map(|e| e.ok()) {
        if entry.path() != history {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Removes a job's directory and its log files.
pub fn remove_job_files(root: &Root, name: &str) {
    let _ = std::fs::remove_dir_all(root.job_dir(name));
    for file in crate::logs::log_files(&root.log_file(name)) {
        let _ = std::fs::remove_file(file);
    }
}

async fn accept_loop(
    listener: UnixListener,
    tx: mpsc::Sender<Control>,
    in_flight: Arc<AtomicUsize>,
) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_connection(stream, tx.clone(), in_flight.clone()));
        }
    }
}

async fn serve_connection(
    stream: UnixStream,
    tx: mpsc::Sender<Control>,
    in_flight: Arc<AtomicUsize>,
) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        in_flight.fetch_add(1, Ordering::SeqCst);
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                if tx.send((request, reply_tx)).await.is_err() {
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
                reply_rx.await.unwrap_or(Response::Refused {
                    message: "the supervisor is exiting".into(),
                })
            }
            Err(e) => Response::Refused {
                message: format!("bad request: {e}"),
            },
        };
        let mut bytes = serde_json::to_vec(&response).unwrap_or_default();
        bytes.push(b'\n');
        let _ = write.write_all(&bytes).await;
        in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}
