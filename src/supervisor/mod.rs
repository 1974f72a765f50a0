//! The process that runs one job (`mrsm supervise NAME`, started detached in its own
//! session): it runs the chain's steps, each in its own process group, pipes their
//! output into the job's log, fires the schedule, applies the restart and overlap
//! policies, records every finished run, and answers control requests on the job's
//! Unix socket. It is a child subreaper, so no grandchild escapes it; every run ends
//! only once the processes it started are gone (what a run leaves behind is stopped
//! before the next run starts), and the job ends only when no process of it is left.
//! Steps die with their supervisor (a parent-death signal), and a supervisor cleans
//! up what a killed predecessor left.

mod cluster;
mod control;
pub mod foreground;
mod policy;
mod protocol;
mod requests;
mod runs;
mod signals;
mod steps;
mod stopping;

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
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

pub use crate::job::RunHistory;
pub use policy::{
    on_fire, should_restart, Backoff, FireDecision, BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET_AFTER,
};
pub use protocol::{call, Removal, Request, Response, BUSY, READY};
pub use runs::{read_runs, RunLog, KEEP_RUNS};
pub use signals::{job_alive, signal_each, signal_job, signal_processes};

use crate::job::{
    DesiredState, JobFile, Phase, RunRecord, RunResult, ScheduleResume, StepProcess,
    SupervisorState, Trigger,
};
use crate::logs::{LogWriter, Stream};
use crate::schedule::FireTimes;
use crate::store::proc::{environ_var, leftovers, own_processes, ProcStat};
use crate::store::{
    read_json, write_json_even_when_full, JobLock, ProcessIdentity, Root, SupervisorLock,
};
pub use cluster::SlurmRunner;
use control::Control;
use steps::StepAt;
use steps::{spawn_step, SharedLog, StepChild};
pub use steps::{Direct, Placed, StepRunner, JOB_TAGS};

/// How often processes that are being stopped are checked.
const STOP_POLL: Duration = Duration::from_millis(10);
/// How long a step's exit is held back for its pumps to log what it wrote (they
/// normally reach end-of-file well under a millisecond after it exits).
const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// When a step's pipes are held open by processes it left behind, how long its exit
/// waits once the pipes are empty: long enough for a pump to log a last line that
/// has no newline (it waits 100 ms for one).
const DRAIN_PARTIAL: Duration = Duration::from_millis(150);
/// How often a held-back exit is checked.
const DRAIN_POLL: Duration = Duration::from_millis(1);
/// The start of the refusal a client may wait on and try again: the step has not
/// read the input it was given yet.
pub const INPUT_NOT_READ: &str = "the step has not read its input yet";

/// How often a job with running steps checks whether its log can be written.
const LOG_CHECK: Duration = Duration::from_secs(1);
/// How long a killed predecessor's processes may take to vanish after SIGKILL.
const PREDECESSOR_GONE: Duration = Duration::from_secs(2);

/// Runs the supervisor of job `name` until the job is over. Called in the detached
/// process; prints `ready` on standard output once it answers on its socket (or
/// `busy` when another supervisor of the job is alive).
pub fn run(root: Root, name: &str) -> anyhow::Result<()> {
    // Its own session (the launcher makes it one; one started by hand becomes one
    // here), so a terminal's Ctrl-C or hang-up never reaches the job.
    let _ = nix::unistd::setsid();
    crate::job::validate_name(name)?;
    root.verify()?;
    let me = ProcessIdentity::current().context("reading /proc/self")?;
    let predecessor = SupervisorLock::holder(&root, name).filter(|p| *p != me);
    // One supervisor per job, ever: held for this process's whole life.
    let Some(lock) = SupervisorLock::try_acquire(&root, name, me)? else {
        say(protocol::BUSY);
        return Ok(());
    };
    if let Some(predecessor) = predecessor {
        kill_leftovers_of(predecessor, &root, name);
    }
    let file: JobFile = read_json(&root.job_file(name))?
        .with_context(|| format!("job {name:?} has no definition"))?;
    // Asked to stay stopped since it was launched (a `stop` that came while it was
    // starting): it does not start the job. Nothing launches a job meant to be
    // stopped otherwise (`start` records that it is to run first).
    if file.desired == DesiredState::Stopped {
        say(protocol::BUSY);
        return Ok(());
    }
    nix::sys::prctl::set_child_subreaper(true).context("becoming a child subreaper")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let project = file.project.clone();
    let remove = runtime.block_on(async {
        let supervisor = Supervisor::new(root.clone(), file, me)?;
        supervisor.serve().await
    })?;
    // A job that deletes itself once finished (`--rm`), or was deleted from inside,
    // once the verb that started or deleted it (if any) is over; a verb that still
    // holds the job after a while decides what becomes of it.
    if let Some(removal) = remove {
        if let Some(job) = wait_for_job_lock(&root, name, RM_LOCK_WAIT) {
            drop(lock);
            if let Ok(Some(vacant)) = SupervisorLock::vacant(&root, name) {
                match removal {
                    Removal::All => {
                        remove_job_files(&root, name);
                        job.remove_files(&root, name, vacant);
                    }
                    Removal::Definition => {
                        remove_job_definition(&root, name, project.as_deref());
                    }
                }
            }
        }
    }
    Ok(())
}

/// How long a job that deletes itself waits for a verb under way on it.
const RM_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The job's lock once no verb holds it, within `wait`.
fn wait_for_job_lock(root: &Root, name: &str, wait: Duration) -> Option<JobLock> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match JobLock::try_acquire(root, name) {
            Ok(Some(lock)) => return Some(lock),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(STOP_POLL);
            }
            _ => return None,
        }
    }
}

/// What runs the job's steps: the cluster for a job with Slurm options, else this
/// machine.
fn runner_for(root: &Root, file: &JobFile) -> Box<dyn StepRunner> {
    match &file.spec.slurm {
        Some(options) => Box::new(SlurmRunner::new(
            options.clone(),
            root.job_dir(&file.spec.name),
            root.dir(),
        )),
        None => Box::new(steps::Direct),
    }
}

/// Kills what a supervisor that died without cleaning up left running (its steps die
/// with it, but their own children may not). The launcher normally does this with a
/// grace period first; this is the last line of defence.
fn kill_leftovers_of(predecessor: ProcessIdentity, root: &Root, name: &str) {
    if predecessor.is_alive() {
        return;
    }
    let deadline = std::time::Instant::now() + PREDECESSOR_GONE;
    loop {
        let left = leftovers(predecessor, root.dir(), name);
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return;
        }
        signal_processes(&left, Signal::SIGKILL);
        std::thread::sleep(STOP_POLL);
    }
}

/// Records the runs a killed predecessor had in progress, so the history shows them
/// (failed, with the reason) instead of a silent hole; the last one's result.
fn record_interrupted(runs_log: &mut RunLog, killed: &SupervisorState) -> Option<RunResult> {
    let mut last = None;
    let mut seen = std::collections::BTreeSet::new();
    let recorded = runs_log.last_run();
    for step in killed.steps.iter().filter(|s| s.run > recorded) {
        if !seen.insert(step.run) {
            continue;
        }
        let record = RunRecord {
            run: step.run,
            trigger: step.trigger.unwrap_or(Trigger::Start),
            started: step.started.unwrap_or(killed.began),
            ended: Timestamp::now(),
            result: RunResult {
                ok: false,
                exit_code: None,
                signal: Some(Signal::SIGKILL.as_str().to_string()),
                message: format!(
                    "interrupted at step {}: its supervisor (pid {}) was killed",
                    step.step, killed.supervisor.pid
                ),
                failed_step: Some(step.step),
                stopped: false,
                not_started: false,
            },
            slurm_jobs: step.slurm_job.iter().cloned().collect(),
        };
        if let Err(e) = runs_log.append(&record) {
            err!("mrsm supervisor: {e}");
        }
        last = Some(record.result);
    }
    last
}

/// Records the end of a job whose supervisor was killed, as a stop of it does: the
/// runs it had in progress (interrupted), and a report that says it is over, so the
/// job's last result is the run that was cut short and nothing takes it for a job
/// that died meaning to run. Nothing is done while a supervisor of the job lives.
pub fn record_killed_end(root: &Root, name: &str) {
    let Ok(Some(mut state)) = read_json::<SupervisorState>(&root.state_file(name)) else {
        return;
    };
    if state.phase == Phase::Exited || state.supervisor.is_alive() {
        return;
    }
    let mut runs_log = RunLog::open(&root.runs_file(name));
    if let Some(result) = record_interrupted(&mut runs_log, &state) {
        state.last_result = Some(result);
    }
    state.phase = Phase::Exited;
    state.ended = Some(Timestamp::now());
    state.steps.clear();
    state.next_fire = None;
    if let Err(e) = write_json_even_when_full(&root.state_file(name), &state) {
        err!("warning: job {name:?}: {e}");
    }
}

/// Ending a run's processes: the stop signal was sent; SIGKILL at the deadline.
struct Cleanup {
    deadline: Instant,
    killed: bool,
}

struct Run {
    id: u64,
    trigger: Trigger,
    started: Timestamp,
    began_at: Instant,
    /// 0-based index of the running (or last) step.
    step: usize,
    /// The running step; `None` once it has exited.
    child: Option<StepChild>,
    /// The process group of each step started, to find what the run left behind.
    groups: Vec<i32>,
    /// Set when a `replace` fire ended this run early.
    replaced: bool,
    /// How the run ended, once its steps are over; it is recorded when none of its
    /// processes is left.
    outcome: Option<RunResult>,
    cleanup: Option<Cleanup>,
    /// Where its steps ran beyond this machine (Slurm job ids), in order.
    placed: Vec<String>,
    /// None of its processes was found at the last look. A run ends only after two
    /// such looks in a row: a process that forks and exits (a daemon re-spawning
    /// itself) can be missed by one.
    quiet: bool,
}

/// A step that has exited, held back until its output is in the log.
struct Exit {
    pid: i32,
    code: Option<i32>,
    signal: Option<Signal>,
    since: Instant,
}

/// Why the whole job is being stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StopCause {
    /// A client asked (`mrsm stop`, a replace, a delete).
    Request,
    /// The supervisor itself got this signal from outside mrsm: the job did not end
    /// by itself or by a user's stop, so the reconciler starts it again.
    Signal(Signal),
    /// The job's chain ended with processes left behind: cleaning up.
    ChainEnded,
}

struct Stopping {
    signal: Signal,
    deadline: Instant,
    killed: bool,
    waiters: Vec<oneshot::Sender<Response>>,
    cause: StopCause,
}

impl Stopping {
    /// Asked for (a client or a signal), rather than cleaning up after the job's
    /// chain ended with processes left behind.
    fn requested(&self) -> bool {
        self.cause != StopCause::ChainEnded
    }
}

struct Supervisor {
    root: Root,
    file: JobFile,
    log: SharedLog,
    runs_log: RunLog,
    state: SupervisorState,
    schedule: Option<FireTimes>,
    /// The `now` the schedule is read against.
    schedule_anchor: Option<Timestamp>,
    /// The schedule's next fire (kept while paused or stopping; fires only happen
    /// while running).
    next_fire: Option<Timestamp>,
    runs: Vec<Run>,
    exits: Vec<Exit>,
    next_run_id: u64,
    /// The schedule's next fire was already due when the supervisor began (a start
    /// in the past, a schedule continued after a killed supervisor): a catch-up.
    catch_up: bool,
    /// A run to start once the current ones are over (a queued or replacing fire).
    queued: Option<Trigger>,
    restart_at: Option<Instant>,
    backoff: Backoff,
    stopping: Option<Stopping>,
    /// When the log's trouble was last saved in the state.
    log_saved: Instant,
    /// Output pumps, awaited before exiting so no line is lost.
    pumps: Vec<tokio::task::JoinHandle<()>>,
    /// What runs each step's command.
    runner: Box<dyn StepRunner>,
    done: bool,
    /// The report changed since it was last written.
    state_dirty: bool,
    /// What of the job goes once it is over (a delete asked from inside the job).
    remove_at_exit: Option<Removal>,
}

impl Supervisor {
    fn new(root: Root, file: JobFile, me: ProcessIdentity) -> anyhow::Result<Supervisor> {
        let name = file.spec.name.as_str();
        let previous: Option<SupervisorState> = read_json(&root.state_file(name)).ok().flatten();
        let mut log = LogWriter::open(
            &root.log_file(name),
            file.spec.logs.max_size,
            file.spec.logs.keep,
        )
        .map_err(|e| crate::store::StoreError::io("opening", &root.log_file(name), e))?
        // A record also fits in one log file.
        .with_max_line(file.spec.logs.max_line.min(file.spec.logs.max_size));
        // Output an earlier supervisor dropped and could not report is reported by
        // this one's first write that works.
        if let Some(earlier) = previous.as_ref().and_then(|p| p.log_trouble.clone()) {
            log.carry(earlier);
        }
        let mut runs_log = RunLog::open(&root.runs_file(name));
        // The last result shown is the interrupted run's, not the one before it.
        let interrupted = previous
            .as_ref()
            .filter(|p| p.phase != Phase::Exited && p.supervisor != me && !p.supervisor.is_alive())
            .and_then(|killed| record_interrupted(&mut runs_log, killed));
        let last_run = runs_log
            .last_run()
            .max(previous.as_ref().map_or(0, |p| p.last_run));
        // A job meant to be paused starts paused: nothing of it runs, and no fire is
        // taken, before a resume.
        let paused = file.desired == DesiredState::Paused;
        let runner = runner_for(&root, &file);
        Ok(Supervisor {
            state: SupervisorState {
                supervisor: me,
                phase: if paused {
                    Phase::Paused
                } else {
                    Phase::Running
                },
                began: Timestamp::now(),
                paused: paused.then(Timestamp::now),
                ended: None,
                steps: Vec::new(),
                restarts: 0,
                next_fire: None,
                last_result: interrupted.or_else(|| previous.and_then(|p| p.last_result)),
                last_run,
                schedule: None,
                log_trouble: None,
                signalled: None,
            },
            root,
            file,
            log: Arc::new(Mutex::new(log)),
            runs_log,
            schedule: None,
            schedule_anchor: None,
            next_fire: None,
            runs: Vec::new(),
            exits: Vec::new(),
            next_run_id: last_run + 1,
            queued: None,
            catch_up: false,
            restart_at: None,
            backoff: Backoff::default(),
            stopping: None,
            log_saved: Instant::now(),
            pumps: Vec::new(),
            runner,
            done: false,
            state_dirty: true,
            remove_at_exit: None,
        })
    }

    fn name(&self) -> &str {
        &self.file.spec.name
    }

    /// Runs the job until it is over; what of its files is to be removed now (a
    /// job that deletes itself once finished, or a delete asked from inside it).
    async fn serve(mut self) -> anyhow::Result<Option<Removal>> {
        let socket = self.root.control_socket(self.name());
        let listener =
            control::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
        let (ctrl_tx, mut ctrl_rx) = mpsc::channel::<Control>(16);
        let in_flight = Arc::new(AtomicUsize::new(0));
        tokio::spawn(control::accept_loop(listener, ctrl_tx, in_flight.clone()));
        let mut sigchld = signal(SignalKind::child())?;
        let mut sigterm = signal(SignalKind::terminate())?;
        let mut sigint = signal(SignalKind::interrupt())?;
        let mut sighup = signal(SignalKind::hangup())?;
        // Signals that would kill it abruptly (no stop, no cleanup) are caught and
        // ignored; a handled signal is back to its default in the steps it starts.
        // SIGUSR1 also says a step learned where it runs (its Slurm job id).
        let mut sigusr1 = signal(SignalKind::user_defined1())?;
        let _sigusr2 = signal(SignalKind::user_defined2())?;
        let _sigalrm = signal(SignalKind::alarm())?;

        self.begin();
        self.write_state();
        say(protocol::READY);
        release_stdout();
        give_back_startup_memory();

        while !self.done {
            let wake = self.next_wake();
            tokio::select! {
                Some((request, reply)) = ctrl_rx.recv() => self.on_request(request, reply),
                _ = sigchld.recv() => self.on_children(),
                _ = sigterm.recv() => self.stop_on_signal(Signal::SIGTERM),
                _ = sigint.recv() => self.stop_on_signal(Signal::SIGINT),
                _ = sighup.recv() => self.stop_on_signal(Signal::SIGHUP),
                _ = sigusr1.recv() => self.save_state(),
                _ = sleep_until(wake) => self.on_timer(),
            }
            if self.state_dirty {
                self.write_state();
            }
        }
        let _ = std::fs::remove_file(&socket);
        // Every process of the job is gone, so the pipes are at end-of-file: drain
        // them before recording the end, so a job reported stopped has all of its
        // output in its log.
        for pump in self.pumps.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), pump).await;
        }
        // What the log could not report (the disk still full) is left for the next
        // supervisor of the job to report.
        let trouble = self.log.lock().ok().and_then(|l| l.health().cloned());
        if self.state_dirty || trouble != self.state.log_trouble {
            self.state.log_trouble = trouble;
            self.write_state();
        }
        // Let answers already handed over reach their clients.
        let deadline = Instant::now() + Duration::from_secs(1);
        let mut turns = 0u32;
        while in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            // An answer handed over is usually written at the next turn of the
            // runtime; a client slow to read gets the rest of the second.
            turns += 1;
            if turns <= 16 {
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let finished = !self.stopping.as_ref().is_some_and(Stopping::requested);
        Ok(match self.file.spec.rm && finished {
            true => Some(Removal::All),
            false => self.remove_at_exit,
        })
    }

    /// The first thing the job does: arm the schedule (continuing the previous
    /// definition's when the job was replaced without changing it), or start the
    /// chain.
    fn begin(&mut self) {
        let Some(text) = self.file.spec.schedule.clone() else {
            self.start_run(Trigger::Start);
            return;
        };
        let now = Timestamp::now();
        let resume = self.file.resume;
        let anchor = resume.map_or(now, |r| r.anchor);
        let fires = crate::schedule::parse_schedule(&text)
            .and_then(|s| match &self.file.spec.timezone {
                Some(tz) => s.in_zone(tz),
                None => Ok(s),
            })
            .and_then(|s| s.fire_times(anchor));
        match fires {
            Ok(fires) => {
                let mut fires = match resume {
                    Some(r) => fires.resume_at(r.next_fire.unwrap_or(now)),
                    None => fires,
                };
                self.next_fire = fires.next();
                self.catch_up = self.next_fire.is_some_and(|f| f <= now);
                self.schedule = Some(fires);
                self.schedule_anchor = Some(anchor);
                if let (Some(_), Some(next)) = (resume, self.next_fire) {
                    self.sys(&format!(
                        "schedule continued from the previous definition: next fire {next}"
                    ));
                }
                if self.next_fire.is_none() {
                    self.sys(&format!("schedule {text:?} never fires"));
                    self.finish(Some(RunResult {
                        ok: true,
                        exit_code: None,
                        signal: None,
                        message: "the schedule never fires".into(),
                        failed_step: None,
                        stopped: false,
                        not_started: false,
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
                    stopped: false,
                    not_started: false,
                }));
            }
        }
    }

    /// Records in the state whether the log is losing output (a full disk), so
    /// `show jobs` can say so while it lasts.
    fn check_log(&mut self) {
        let trouble = self.log.lock().ok().and_then(|log| log.health().cloned());
        let came_or_went = trouble.is_some() != self.state.log_trouble.is_some();
        let counts_moved =
            trouble != self.state.log_trouble && self.log_saved.elapsed() >= LOG_CHECK;
        self.state.log_trouble = trouble;
        if came_or_went || counts_moved {
            self.log_saved = Instant::now();
            self.save_state();
        }
    }

    fn sys(&self, message: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.append(Timestamp::now(), Stream::Sys, message.as_bytes());
            log.flush();
        }
    }

    /// Notes that the report changed; it is written once the event at hand is
    /// handled (before any answer to a request goes out), so a step's exit, its run's
    /// record and the end of a stop cost one write, not three.
    fn save_state(&mut self) {
        self.state_dirty = true;
    }

    fn write_state(&mut self) {
        self.state_dirty = false;
        self.state.steps = self
            .runs
            .iter()
            .filter_map(|r| {
                let placed = self.runner.placed(StepAt {
                    run: r.id,
                    step: r.step + 1,
                });
                r.child.as_ref().map(|c| StepProcess {
                    run: r.id,
                    step: r.step + 1,
                    process: c.process,
                    trigger: Some(r.trigger),
                    started: Some(r.started),
                    slurm_job: placed.as_ref().map(|p| p.id.clone()),
                    waiting: placed.and_then(|p| p.note),
                })
            })
            .collect();
        self.state.next_fire = self
            .next_fire
            .filter(|_| self.state.phase == Phase::Running);
        self.state.schedule = self.schedule_anchor.map(|anchor| ScheduleResume {
            anchor,
            next_fire: self.next_fire,
        });
        let path = self.root.state_file(self.name());
        if let Err(e) = write_json_even_when_full(&path, &self.state) {
            err!("mrsm supervisor: {e}");
        }
    }

    /// Whether processes are being stopped (checked every few milliseconds).
    fn stopping_anything(&self) -> bool {
        self.stopping.is_some()
            || self
                .runs
                .iter()
                .any(|r| r.outcome.is_some() || r.cleanup.is_some())
    }

    fn next_wake(&self) -> Option<Instant> {
        let mut wake: Option<Instant> = None;
        let mut consider = |at: Instant| wake = Some(wake.map_or(at, |w| w.min(at)));
        if !self.exits.is_empty() {
            consider(Instant::now() + DRAIN_POLL);
        }
        if self.stopping_anything() {
            consider(Instant::now() + STOP_POLL);
        }
        if let Some(at) = self.restart_at {
            consider(at);
        }
        if !self.runs.is_empty() {
            consider(Instant::now() + LOG_CHECK);
        }
        if let (Some(fire), Phase::Running) = (self.next_fire, self.state.phase) {
            consider(instant_of(fire));
        }
        wake
    }

    fn on_children(&mut self) {
        self.reap();
        self.poll_runs();
        if self.stopping.is_some() {
            self.poll_stop();
        }
    }

    fn on_timer(&mut self) {
        self.on_children();
        self.check_log();
        self.keep_paused();
        if self.stopping.is_some() {
            return;
        }
        let now = Instant::now();
        if self.restart_at.is_some_and(|at| at <= now) {
            self.restart_at = None;
            self.state.restarts += 1;
            self.start_run(Trigger::Restart);
            self.save_state();
        }
        if let Some(fire) = self.next_fire {
            if self.state.phase == Phase::Running && fire <= Timestamp::now() {
                let catching_up = std::mem::take(&mut self.catch_up);
                self.fire();
                self.advance_schedule(catching_up);
                self.save_state();
            }
        }
    }

    /// Moves the schedule past now, skipping fires missed while busy or paused.
    /// Right after a catch-up fire (one already due when the supervisor began: a
    /// start in the past, a schedule continued after its supervisor was killed), a
    /// next fire a moment away ([`crate::schedule::coalesced`]) is run with it: one
    /// run, not two a moment apart.
    fn advance_schedule(&mut self, caught_up: bool) {
        let Some(fires) = self.schedule.take() else {
            return;
        };
        let now = Timestamp::now();
        let after_now = now
            .checked_add(jiff::SignedDuration::from_micros(1))
            .unwrap_or(Timestamp::MAX);
        let mut fires = fires.resume_at(after_now);
        self.next_fire = fires.next();
        if let (true, Some(next)) = (caught_up, self.next_fire) {
            let mut ahead = fires.clone();
            let after = ahead.next();
            if crate::schedule::coalesced(now, next, after) {
                self.sys(&format!("fire at {next} coalesced with the one just taken"));
                self.next_fire = after;
                fires = ahead;
            }
        }
        self.schedule = Some(fires);
        if self.next_fire.is_none() && self.runs.is_empty() && self.queued.is_none() {
            self.sys("the schedule has no more fires");
            self.finish(None);
        }
    }

    fn fire(&mut self) {
        let busy = self.runs.first().map(|r| r.id);
        match on_fire(self.file.spec.overlap, busy.is_some()) {
            FireDecision::Start => self.start_run(Trigger::Schedule),
            FireDecision::Skip => {
                self.sys(&format!(
                    "fire skipped: run {} is still going",
                    busy.unwrap_or_default()
                ));
            }
            FireDecision::Queue => {
                if self.queued.is_none() {
                    self.sys(&format!(
                        "fire queued behind run {}",
                        busy.unwrap_or_default()
                    ));
                }
                self.queued = Some(Trigger::Queue);
            }
            FireDecision::Replace => {
                for index in 0..self.runs.len() {
                    if !self.runs[index].replaced {
                        self.runs[index].replaced = true;
                        self.sys(&format!(
                            "run {} replaced by a new fire: stopping it first",
                            self.runs[index].id
                        ));
                        self.stop_run(index);
                    }
                }
                self.queued = Some(Trigger::Schedule);
            }
        }
    }

    fn start_run(&mut self, trigger: Trigger) {
        let id = self.next_run_id;
        self.next_run_id += 1;
        self.state.last_run = id;
        self.sys(&format!("run {id} started ({})", trigger_word(trigger)));
        self.runs.push(Run {
            id,
            trigger,
            started: Timestamp::now(),
            began_at: Instant::now(),
            step: 0,
            child: None,
            groups: Vec::new(),
            replaced: false,
            outcome: None,
            cleanup: None,
            placed: Vec::new(),
            quiet: false,
        });
        let index = self.runs.len() - 1;
        self.start_step(index, 0);
    }

    /// Starts step `step` of run `index`; a step that cannot start ends the run as
    /// failed, with the reason in the log.
    fn start_step(&mut self, index: usize, step: usize) {
        let id = self.runs[index].id;
        match self.spawn(step, id) {
            Ok(child) => {
                let run = &mut self.runs[index];
                run.step = step;
                run.groups.push(child.process.pid);
                run.child = Some(child);
            }
            Err(result) => {
                self.runs[index].step = step;
                self.sys(&format!("run {id} {}", result.message));
                // A run none of whose steps started has no process to wait for: it
                // is recorded at once, so a job whose first step cannot start says
                // so before its launcher returns (`run -d` reports it).
                let nothing_started = self.runs[index].groups.is_empty();
                self.end_run(index, result);
                if nothing_started {
                    self.finalize(index);
                }
            }
        }
    }

    /// Starts step `index` of run `id`; a failure to start is the run's result.
    fn spawn(&mut self, index: usize, id: u64) -> Result<StepChild, RunResult> {
        let spec = &self.file.spec;
        let text = &spec.command[index];
        self.pumps.retain(|p| !p.is_finished());
        let paused = self.state.phase == Phase::Paused;
        let at = StepAt {
            run: id,
            step: index + 1,
        };
        match spawn_step(self.runner.as_ref(), spec, text, at, &self.log, paused) {
            Ok((child, pumps)) => {
                self.pumps.extend(pumps);
                Ok(child)
            }
            Err(e) => Err(RunResult {
                ok: false,
                exit_code: None,
                signal: None,
                message: format!(
                    "step {}/{} ({:?}) could not start: {}",
                    index + 1,
                    spec.command.len(),
                    spec.shown_step(index),
                    steps::why_not_started(spec, index, &e)
                ),
                failed_step: Some(index + 1),
                stopped: false,
                not_started: true,
            }),
        }
    }

    /// Collects exited children; a step's exit is handled once its output is logged.
    fn reap(&mut self) {
        loop {
            let (pid, code, signal) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), Some(code), None),
                Ok(WaitStatus::Signaled(pid, sig, _)) => (pid.as_raw(), None, Some(sig)),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            };
            let ours = self
                .runs
                .iter()
                .any(|r| r.child.as_ref().is_some_and(|c| c.process.pid == pid));
            // Others are orphaned grandchildren, reaped as subreaper.
            if ours {
                self.exits.push(Exit {
                    pid,
                    code,
                    signal,
                    since: Instant::now(),
                });
            }
        }
        self.handle_exits();
    }

    /// Handles the exits of steps whose output has been logged (so a step's exit
    /// note follows its last lines), in the order they happened.
    fn handle_exits(&mut self) {
        while let Some(exit) = self.exits.first() {
            let waited = exit.since.elapsed();
            let logged = self.runs.iter().any(|r| {
                r.child.as_ref().is_some_and(|c| {
                    c.process.pid == exit.pid
                        && (c.output_ended() || (waited >= DRAIN_PARTIAL && c.output_drained()))
                })
            });
            if !logged && waited < DRAIN_LIMIT {
                return;
            }
            let exit = self.exits.remove(0);
            self.on_exit(exit.pid, exit.code, exit.signal);
        }
    }

    fn on_exit(&mut self, pid: i32, code: Option<i32>, sig: Option<Signal>) {
        let Some(index) = self
            .runs
            .iter()
            .position(|r| r.child.as_ref().is_some_and(|c| c.process.pid == pid))
        else {
            return; // an orphaned grandchild, reaped as subreaper
        };
        self.runs[index].child = None;
        let steps = self.file.spec.command.len();
        let step = self.runs[index].step;
        let text = self.file.spec.shown_step(step).into_owned();
        let success = code == Some(0);
        let mut how = match (code, sig) {
            (Some(c), _) => format!("exited with status {c}"),
            (None, Some(s)) => format!("killed by {}", s.as_str()),
            _ => "ended".to_string(),
        };
        let id = self.runs[index].id;
        if let Some(placed) = self.runner.ended(StepAt {
            run: id,
            step: step + 1,
        }) {
            if let Some(note) = placed.note {
                how = format!("{how} ({note})");
            }
            self.runs[index].placed.push(placed.id);
        }
        let replaced = self.runs[index].replaced;
        self.sys(&format!("run {id} step {}/{steps} {how}", step + 1));
        if success && step + 1 < steps && !replaced && self.stopping.is_none() {
            self.start_step(index, step + 1);
            self.save_state();
            return;
        }
        let ok = success && step + 1 == steps;
        let message = if ok {
            match (steps, self.runs[index].placed.as_slice()) {
                (1, _) => how.clone(),
                (n, []) => format!("all {n} steps succeeded"),
                (n, ids) => format!("all {n} steps succeeded (Slurm jobs {})", ids.join(", ")),
            }
        } else if let Some(stopping) = &self.stopping {
            let by = match stopping.cause {
                StopCause::Signal(signal) => {
                    format!("its supervisor got {} from outside mrsm", signal.as_str())
                }
                StopCause::Request | StopCause::ChainEnded => "request".to_string(),
            };
            format!(
                "stopped by {by}: step {}/{steps} ({text:?}) {how}",
                step + 1
            )
        } else if replaced {
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
            stopped: !ok && (self.stopping.as_ref().is_some_and(Stopping::requested) || replaced),
            not_started: false,
        };
        self.end_run(index, result);
        self.save_state();
    }

    /// Every live process that run `run` started: its steps' process groups, and
    /// whatever inherited its run number (daemons that left the group included).
    /// A process with no run number (one that cleared its environment) that is in no
    /// other run's group is counted as this run's: the supervisor is a subreaper, so
    /// all of them are the job's, and none may outlive the run it came from.
    fn run_processes(&self, run: &Run) -> Vec<ProcStat> {
        let id = run.id.to_string();
        let others: Vec<&Run> = self.runs.iter().filter(|r| r.id != run.id).collect();
        own_processes(self.state.supervisor, self.name())
            .into_iter()
            .filter(|p| {
                if run.groups.contains(&p.pgrp) {
                    return true;
                }
                match environ_var(p.pid, steps::RUN_VARIABLE) {
                    Some(number) => number == id.as_bytes(),
                    None => !others.iter().any(|o| o.groups.contains(&p.pgrp)),
                }
            })
            .collect()
    }

    /// Sends the stop signal to every process of run `index`, SIGKILL following at the
    /// end of the grace period.
    fn stop_run(&mut self, index: usize) {
        let procs = self.run_processes(&self.runs[index]);
        let signal = self.file.spec.stop.signal.0;
        signal_processes(&procs, signal);
        // Stopped processes act on the signal only once continued.
        signal_processes(&procs, Signal::SIGCONT);
        let grace = self.file.spec.stop.timeout + self.runner.kill_slack();
        self.runs[index].cleanup.get_or_insert(Cleanup {
            deadline: Instant::now() + grace,
            killed: false,
        });
    }

    /// The steps of run `index` are over: it is recorded once none of its processes
    /// is left, and what it left behind is stopped first.
    fn end_run(&mut self, index: usize, result: RunResult) {
        self.runs[index].outcome = Some(result);
        let leftovers = self.run_processes(&self.runs[index]);
        if leftovers.is_empty() {
            // Looked at once more before it is recorded (see `quiet`).
            self.runs[index].quiet = true;
            return;
        }
        if self.stopping.is_some() || self.runs[index].cleanup.is_some() {
            return; // already being stopped
        }
        let id = self.runs[index].id;
        self.sys(&format!(
            "run {id} left {} process(es) running; stopping them with {}",
            leftovers.len(),
            self.file.spec.stop.signal
        ));
        self.stop_run(index);
    }

    /// Records ended runs whose processes are all gone, and kills those of runs whose
    /// grace period is over.
    fn poll_runs(&mut self) {
        let mut index = 0;
        while index < self.runs.len() {
            let run = &self.runs[index];
            if run.outcome.is_none() && run.cleanup.is_none() {
                index += 1;
                continue;
            }
            let procs = self.run_processes(run);
            if run.outcome.is_some() && procs.is_empty() {
                if run.quiet {
                    self.finalize(index);
                    continue;
                }
                self.runs[index].quiet = true;
                index += 1;
                continue;
            }
            let id = run.id;
            self.runs[index].quiet = false;
            if let Some(cleanup) = self.runs[index].cleanup.as_mut() {
                // Past the deadline, whatever is found is killed, every time it is
                // looked for (a process may spawn a copy of itself as it dies).
                if Instant::now() >= cleanup.deadline {
                    signal_processes(&procs, Signal::SIGKILL);
                    if !cleanup.killed {
                        cleanup.killed = true;
                        self.sys(&format!("run {id}: grace period over: SIGKILL"));
                    }
                }
            }
            index += 1;
        }
    }

    /// Records run `index` and decides what follows it.
    fn finalize(&mut self, index: usize) {
        let mut run = self.runs.remove(index);
        let result = run.outcome.take().unwrap_or_else(|| RunResult {
            ok: false,
            exit_code: None,
            signal: None,
            message: "ended".into(),
            failed_step: None,
            stopped: false,
            not_started: false,
        });
        let ok = result.ok;
        self.record_run(&run, result);
        self.after_run(run.began_at, ok);
        self.save_state();
    }

    fn record_run(&mut self, run: &Run, result: RunResult) {
        let record = RunRecord {
            run: run.id,
            trigger: run.trigger,
            started: run.started,
            ended: Timestamp::now(),
            result: result.clone(),
            slurm_jobs: run.placed.clone(),
        };
        if let Err(e) = self.runs_log.append(&record) {
            err!("mrsm supervisor: {e}");
        }
        self.state.last_result = Some(result);
    }

    /// What follows a finished run: a queued one, a restart, or the end of the job.
    fn after_run(&mut self, began_at: Instant, ok: bool) {
        if self.stopping.is_some() || !self.runs.is_empty() {
            return;
        }
        if let Some(trigger) = self.queued.take() {
            self.start_run(trigger);
            return;
        }
        if self.schedule.is_some() {
            if self.next_fire.is_none() {
                self.finish(None);
            }
            return;
        }
        if !should_restart(self.file.spec.restart, ok) {
            self.finish(None);
            return;
        }
        let delay = self.backoff.delay_after(began_at.elapsed());
        self.restart_at = Some(Instant::now() + delay);
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
        if job_alive(self.state.supervisor, self.name()) {
            self.sys("the chain has ended; stopping the processes it left behind");
            self.begin_stop(None, None, None, StopCause::ChainEnded);
            return;
        }
        self.state.phase = Phase::Exited;
        self.state.ended = Some(Timestamp::now());
        self.next_fire = None;
        self.done = true;
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

/// Tells the launching command something (`ready`, `busy`) on standard output.
fn say(word: &str) {
    let mut out = std::io::stdout();
    let _ = out.write_all(word.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Returns the heap pages that starting up used and freed (parsing the definition
/// and the report, the first log and state writes) to the system: a supervisor runs
/// as long as its job, and what it keeps is paid once per job.
fn give_back_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own heap.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Lets go of the launcher's pipe, so it sees end-of-file once it has read `ready`.
fn release_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = null.as_raw_fd();
    }
}

/// What is left of a deleted job whose logs and run history were kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kept {
    /// The project that owned the job (none for jobs made by `mrsm run`).
    pub project: Option<String>,
    pub deleted: Timestamp,
}

/// Removes what defines and runs a job, keeping its run history (`runs.jsonl`) and
/// its log files, so a job declared again under the same name continues them; a
/// `kept.json` says whose they were.
pub fn remove_job_definition(root: &Root, name: &str, project: Option<&str>) {
    let dir = root.job_dir(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let history = [
        root.runs_file(name),
        crate::store::older_runs_file(&root.runs_file(name)),
    ];
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if history.contains(&path) {
            continue;
        }
        // The steps' notes of a cluster job (`slurm/`) go with the definition.
        match entry.file_type().is_ok_and(|t| t.is_dir()) {
            true => {
                let _ = std::fs::remove_dir_all(&path);
            }
            false => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let kept = Kept {
        project: project.map(str::to_string),
        deleted: Timestamp::now(),
    };
    // Best effort, and not waited onto the disk (it is written under the root lock,
    // once per job of a `down`): without it the data is still reachable by the
    // job's name.
    let _ = crate::store::write_json_unflushed(&root.kept_file(name), &kept);
}

/// Jobs deleted with their logs and run history kept, and whose they were.
pub fn kept_jobs(root: &Root) -> Vec<(String, Kept)> {
    let Ok(entries) = std::fs::read_dir(root.jobs_dir()) else {
        return Vec::new();
    };
    let mut kept: Vec<(String, Kept)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !root.job_file(name).exists())
        .filter_map(|name| {
            let k = read_json::<Kept>(&root.kept_file(&name)).ok().flatten()?;
            Some((name, k))
        })
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    kept
}

/// Removes a job's directory and its log files.
pub fn remove_job_files(root: &Root, name: &str) {
    // Logs first: once the job's directory is gone, nothing of the job is left.
    crate::logs::remove_log(&root.log_file(name));
    let _ = std::fs::remove_dir_all(root.job_dir(name));
}
