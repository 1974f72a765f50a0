//! The supervisor's driver: the only part of it that reads the clock, reaps
//! children, looks at `/proc`, signals processes, starts steps and writes files. It
//! turns what happens (a SIGCHLD, a timer, a request on the control socket, a
//! signal) into events for the [`Machine`] and carries out the effects it returns.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::control::{self, Control};
use super::health::{ProbeDone, Probing};
use super::machine::{
    Config, Drain, Effect, Event, Exit, Machine, Now, ReplyTo, Send, StepAt, LOG_CHECK,
};
use super::runs::RunLog;
use super::side::SideExits;
use super::signal_feed::Signals;
use super::signals::{self, signal_job, signal_processes};
use super::steps::{self, spawn_step, JobLog, SharedLog, StepChild, StepRunner};
use crate::control::{self as protocol, Refusal, Removal, Request, Response};
use crate::job::{JobFile, SignalName, SupervisorState};
use crate::logs::{LogTrouble, LogWriter, Stream};
use crate::store::proc::ProcStat;
use crate::store::{write_json_even_when_full, ProcessIdentity, Root};

/// The start of the refusal a client may wait on and try again: the step has not
/// read the input it was given yet.
pub const INPUT_NOT_READ: &str = "the step has not read its input yet";

/// How long a pause waits for the job's processes to show as stopped.
const PAUSE_SETTLE: Duration = Duration::from_secs(1);

/// A running supervisor: the machine and what carries out its effects.
pub(super) struct Supervisor {
    root: Root,
    file: JobFile,
    me: ProcessIdentity,
    machine: Machine,
    log: SharedLog,
    runs_log: RunLog,
    /// The pipes of each step's process, by pid.
    children: HashMap<i32, StepChild>,
    /// Output pumps, awaited before exiting so no line is lost.
    pumps: Vec<tokio::task::JoinHandle<()>>,
    runner: Box<dyn StepRunner>,
    /// Clients waiting for an answer.
    waiting: HashMap<ReplyTo, oneshot::Sender<Response>>,
    next_reply: ReplyTo,
    /// Answers to send once the report is written.
    answers: Vec<(ReplyTo, Response)>,
    /// The monotonic clock's origin.
    start: Instant,
    log_trouble: Option<LogTrouble>,
    /// When the log's trouble was last saved in the report.
    log_saved: Instant,
    /// The report is to be written again (asked by SIGUSR1).
    touched: bool,
    /// The job's health probes, if it has a check; their outcomes arrive on
    /// `probe_rx` (taken by `serve`).
    probing: Option<Probing>,
    probe_rx: Option<mpsc::Receiver<ProbeDone>>,
    /// Where the reaper hands over the exits of probes and hooks.
    side_exits: SideExits,
    /// Hooks going (killed by a stop, awaited at the end).
    hooks: Vec<tokio::task::JoinHandle<()>>,
    /// The upstream jobs' histories, for a job with `after:`.
    upstreams: Option<super::after::Upstreams>,
}

#[path = "driver_after.rs"]
mod after;
#[path = "driver_health.rs"]
mod health;
#[path = "driver_hooks.rs"]
mod hooks;
#[path = "driver_look.rs"]
mod look;

impl Supervisor {
    pub(super) fn new(
        root: Root,
        file: JobFile,
        me: ProcessIdentity,
        state: SupervisorState,
        log: LogWriter,
        runs_log: RunLog,
        runner: Box<dyn StepRunner>,
    ) -> Supervisor {
        let spec = &file.spec;
        let config = Config {
            steps: (0..spec.command.len())
                .map(|i| spec.shown_step(i).into_owned())
                .collect(),
            restart: spec.restart,
            overlap: spec.overlap,
            stop_signal: spec.stop.signal,
            stop_timeout: spec.stop.timeout,
            kill_slack: runner.kill_slack(),
            schedule: spec.schedule.clone(),
            timezone: spec.timezone.clone(),
            resume: file.resume,
            rm: spec.rm,
            after: spec.after.is_some(),
        };
        let log_trouble = state.log_trouble.clone();
        let (probing, probe_rx) = spec.health.clone().map(Probing::new).unzip();
        Supervisor {
            probing,
            probe_rx,
            side_exits: SideExits::default(),
            hooks: Vec::new(),
            upstreams: spec.after.as_ref().map(|_| Default::default()),
            machine: Machine::new(config, state),
            root,
            file,
            me,
            log: JobLog::shared(log),
            runs_log,
            children: HashMap::new(),
            pumps: Vec::new(),
            runner,
            waiting: HashMap::new(),
            next_reply: 0,
            answers: Vec::new(),
            start: Instant::now(),
            log_trouble,
            log_saved: Instant::now(),
            touched: false,
        }
    }

    fn name(&self) -> &str {
        &self.file.spec.name
    }

    fn now(&self) -> Now {
        Now {
            mono: self.start.elapsed(),
            wall: Timestamp::now(),
        }
    }

    /// Runs the job until it is over; what of its files is to be removed now, and
    /// whether it finished on its own (no stop asked for).
    pub(super) async fn serve(mut self) -> anyhow::Result<(Option<Removal>, bool)> {
        let socket = self.root.control_socket(self.name());
        let listener =
            control::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
        let (ctrl_tx, mut ctrl_rx) = mpsc::channel::<Control>(16);
        let in_flight = Arc::new(AtomicUsize::new(0));
        tokio::spawn(control::accept_loop(listener, ctrl_tx, in_flight.clone()));
        // SIGUSR1 also says a step learned where it runs (its Slurm job id).
        let signals = Signals::open().context("taking the supervisor's signals")?;

        self.feed(Event::Begin);
        self.settle();
        super::say(protocol::READY);
        super::release_stdout();
        super::give_back_startup_memory();

        let log = self.log.clone();
        let mut probe_rx = self.probe_rx.take();
        while !self.machine.done() {
            let wake = self.next_wake();
            tokio::select! {
                Some(done) = health::next_probe(&mut probe_rx) => self.on_probe(done),
                // The log's trouble came or went: `settle` below looks.
                () = log.changed() => {}
                Some((request, reply)) = ctrl_rx.recv() => self.on_request(request, reply),
                Ok(signal) = signals.next() => self.on_signal(signal),
                _ = sleep_until(wake) => self.on_timer(),
            }
            self.settle();
        }
        // A probe still going is killed with what it started; hooks of a job that
        // finished on its own are let finish (each has its timeout).
        self.probing = None;
        self.await_hooks().await;
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
        if trouble != self.log_trouble {
            self.log_trouble = trouble;
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
        Ok((self.machine.removal(), self.machine.finished_on_its_own()))
    }

    /// After an event: the report is written if it changed, then the answers go
    /// out (a client told "paused" finds the report saying so).
    fn settle(&mut self) {
        // What the supervisor itself wrote to the log (its notes) may have found
        // the disk full, or room again.
        self.check_log();
        self.follow_health();
        self.end_hooks_on_stop();
        self.take_upstream_runs();
        if self.machine.take_dirty() || std::mem::take(&mut self.touched) {
            self.write_state();
        }
        for (to, response) in self.answers.drain(..) {
            if let Some(reply) = self.waiting.remove(&to) {
                let _ = reply.send(response);
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let now = self.start.elapsed();
        let (mut mono, fire) = self.machine.next_wake(now);
        // While the log is in trouble, its counts are saved every so often.
        // Otherwise an idle job's supervisor sleeps until something happens.
        if self.log_trouble.is_some() {
            let check = now + LOG_CHECK;
            mono = Some(mono.map_or(check, |at| at.min(check)));
        }
        let at_mono = mono.map(|at| self.start + at);
        let at_mono = match (at_mono, self.next_upstream_look()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let at_mono = match (at_mono, self.probing.as_ref().and_then(Probing::due)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let at_fire = fire.map(instant_of);
        match (at_mono, at_fire) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Hands `event` to the machine and carries out its effects, and those of the
    /// events they lead to, in order.
    fn feed(&mut self, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            let effects = self.machine.handle(event, self.now());
            let mut look = false;
            // Signals in a row go to the processes of one look (a stop signal and
            // the SIGCONT that lets stopped processes act on it).
            let mut scanned: Option<Vec<ProcStat>> = None;
            for effect in effects {
                match effect {
                    Effect::Look => look = true,
                    other => self.apply(other, &mut queue, &mut scanned),
                }
            }
            if look {
                queue.push_back(self.seen());
            }
        }
        self.children
            .retain(|pid, _| self.machine.step_of(*pid).is_some());
    }

    /// Carries out one effect; `scanned` holds the job's processes as the last
    /// signal found them, for the next signal of the same batch.
    fn apply(
        &mut self,
        effect: Effect,
        queue: &mut VecDeque<Event>,
        scanned: &mut Option<Vec<ProcStat>>,
    ) {
        let signal = matches!(effect, Effect::SignalRun { .. } | Effect::SignalJob(_));
        if !signal {
            *scanned = None;
        }
        match effect {
            Effect::Note(message) => self.sys(&message),
            Effect::Spawn { at, paused } => {
                if at.step == 1 {
                    self.save_taken_upstream_runs();
                    self.hook_on_start(at.run);
                }
                queue.push_back(self.spawn(at, paused));
            }
            Effect::SignalRun { run, send } => {
                let procs = scanned.get_or_insert_with(|| self.job_processes());
                signal_processes(&self.of_run(run, procs), self.signal(send));
            }
            Effect::SignalJob(Send::Kill) => {
                signal_job(self.me, self.name(), Signal::SIGKILL);
            }
            Effect::SignalJob(send) => {
                let procs = scanned.get_or_insert_with(|| self.job_processes());
                signal_processes(procs, self.signal(send));
            }
            Effect::Look => queue.push_back(self.seen()),
            Effect::Record(record) => {
                if let Err(e) = self.runs_log.append(&record) {
                    err!("mrsm supervisor: {e}");
                }
                self.hook_after(&record);
            }
            Effect::Reply { to, response } => self.answers.push((to, response)),
            Effect::Suspend { to, steps } => {
                let result = self.suspend(&steps);
                queue.push_back(Event::Suspended { to, result });
            }
            Effect::Continue(steps) => {
                signal_job(self.me, self.name(), Signal::SIGCONT);
                if let Err(message) = self.runner.resume(&steps) {
                    self.sys(&message);
                }
            }
        }
    }

    fn signal(&self, send: Send) -> Signal {
        match send {
            Send::Stop(SignalName(signal)) => signal,
            Send::Continue => Signal::SIGCONT,
            Send::Kill => Signal::SIGKILL,
        }
    }

    /// Holds the steps' work elsewhere, then stops every process of the job but
    /// those holding one of the root's locks (a verb a step runs: perhaps this very
    /// pause), which are stopped once they let go (see `keep_paused`).
    fn suspend(&mut self, steps: &[StepAt]) -> Result<(), String> {
        self.runner.suspend(steps)?;
        let spared = crate::store::lock_holders(&self.root);
        signals::pause_sparing(self.me, self.name(), &spared);
        // A stop signal takes effect when its process is next scheduled: the
        // answer waits until every process is stopped (or a while).
        signals::wait_until_stopped(self.me, self.name(), &spared, PAUSE_SETTLE);
        Ok(())
    }

    /// Starts a step; what came of it, as the event that says so.
    fn spawn(&mut self, at: StepAt, paused: bool) -> Event {
        let spec = &self.file.spec;
        let index = at.step - 1;
        let text = &spec.command[index];
        self.pumps.retain(|p| !p.is_finished());
        match spawn_step(self.runner.as_ref(), spec, text, at, &self.log, paused) {
            Ok((child, pumps)) => {
                self.pumps.extend(pumps);
                let process = child.process;
                self.children.insert(process.pid, child);
                Event::Spawned {
                    run: at.run,
                    process,
                }
            }
            Err(e) => Event::SpawnFailed {
                run: at.run,
                message: format!(
                    "step {}/{} ({:?}) could not start: {}",
                    at.step,
                    spec.command.len(),
                    spec.shown_step(index),
                    steps::why_not_started(spec, index, &e)
                ),
            },
        }
    }

    fn on_children(&mut self) {
        self.reap();
        let draining = self.machine.draining();
        if !draining.is_empty() {
            let outputs = draining
                .into_iter()
                .map(|pid| (pid, self.drain_of(pid)))
                .collect();
            self.feed(Event::Output(outputs));
        }
        let (runs, job) = self.machine.look();
        if !runs.is_empty() || job {
            let seen = self.seen();
            self.feed(seen);
        }
    }

    fn drain_of(&self, pid: i32) -> Drain {
        match self.children.get(&pid) {
            Some(c) if c.output_ended() => Drain::Ended,
            Some(c) if c.output_drained() => Drain::Empty,
            Some(_) => Drain::Flowing,
            None => Drain::Ended,
        }
    }

    /// Collects exited children: a step's exit goes to the machine (held there
    /// until its output is logged); others are orphans, reaped as subreaper.
    fn reap(&mut self) {
        loop {
            let (pid, exit) = match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => (pid.as_raw(), Exit::Code(code)),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    (pid.as_raw(), Exit::Signal(SignalName(sig)))
                }
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            };
            let Some(at) = self.machine.step_of(pid) else {
                self.side_exits.exited(pid, exit);
                continue;
            };
            let placed = self.runner.ended(at);
            self.feed(Event::ChildExited { pid, exit, placed });
        }
    }

    fn on_timer(&mut self) {
        self.on_children();
        self.keep_paused();
        self.feed(Event::Tick);
        self.probe_if_due();
    }

    fn on_signal(&mut self, signal: Signal) {
        match signal {
            Signal::SIGCHLD => self.on_children(),
            Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP => self.signalled(signal),
            Signal::SIGUSR1 => self.touched = true,
            // SIGUSR2 and SIGALRM would have ended it abruptly: taken and ignored.
            _ => {}
        }
    }

    fn signalled(&mut self, signal: Signal) {
        self.feed(Event::Signalled(SignalName(signal)));
        self.on_children();
    }

    /// While paused: stops what was left running because it held one of the root's
    /// locks, once it has let go.
    fn keep_paused(&mut self) {
        if self.machine.report_phase() != crate::job::Phase::Paused {
            return;
        }
        let spared = crate::store::lock_holders(&self.root);
        signals::pause_sparing(self.me, self.name(), &spared);
    }

    /// Records in the report whether the log is losing output (a full disk), so
    /// `show jobs` can say so while it lasts.
    fn check_log(&mut self) {
        let trouble = self.log.lock().ok().and_then(|log| log.health().cloned());
        // `log_trouble` is what the report says: it changes when the trouble came
        // or went, and its counts at most every LOG_CHECK.
        let came_or_went = trouble.is_some() != self.log_trouble.is_some();
        let counts_moved = trouble != self.log_trouble && self.log_saved.elapsed() >= LOG_CHECK;
        if came_or_went || counts_moved {
            self.log_trouble = trouble;
            self.log_saved = Instant::now();
            self.touched = true;
        }
    }

    fn sys(&self, message: &str) {
        if let Ok(mut log) = self.log.lock() {
            log.append(Timestamp::now(), Stream::Sys, message.as_bytes());
            log.flush();
        }
    }

    /// The report, with where each step runs beyond this machine.
    fn report(&self) -> SupervisorState {
        let mut state = self.machine.report();
        state.health = self.probing.as_ref().and_then(Probing::health);
        for step in &mut state.steps {
            let placed = self.runner.placed(StepAt {
                run: step.run,
                step: step.step,
            });
            step.slurm_job = placed.as_ref().map(|p| p.id.clone());
            step.waiting = placed.and_then(|p| p.note);
        }
        state.log_trouble = self.log_trouble.clone();
        state
    }

    fn write_state(&mut self) {
        let path = self.root.state_file(self.name());
        if let Err(e) = write_json_even_when_full(&path, &self.report()) {
            err!("mrsm supervisor: {e}");
        }
    }

    fn on_request(&mut self, request: Request, reply: oneshot::Sender<Response>) {
        let to = self.next_reply;
        self.next_reply += 1;
        let event = match request {
            Request::Status => {
                let _ = reply.send(Response::State {
                    state: Box::new(self.report()),
                });
                return;
            }
            Request::Stdin { data, eof } => {
                let _ = reply.send(self.write_stdin(data, eof));
                return;
            }
            Request::Pause => Event::Pause(to),
            Request::Resume => Event::Resume(to),
            Request::Stop {
                signal,
                timeout_ms,
                then_remove,
            } => Event::Stop {
                to,
                signal,
                timeout: timeout_ms.map(Duration::from_millis),
                then_remove,
            },
        };
        self.waiting.insert(to, reply);
        self.feed(event);
    }

    fn write_stdin(&mut self, data: Vec<u8>, eof: bool) -> Response {
        let child = self
            .machine
            .input_step()
            .and_then(|pid| self.children.get_mut(&pid));
        let Some(child) = child else {
            return refused(Refusal::NoStep, "no step is running to read it");
        };
        let Some(stdin) = child.stdin.as_ref() else {
            return refused(Refusal::InputClosed, "the step's input is closed");
        };
        let waiting = child.stdin_pending.load(Ordering::SeqCst);
        if waiting > 0 && waiting + data.len() > steps::STDIN_LIMIT {
            return Response::Busy {
                message: format!("{INPUT_NOT_READ} ({waiting} bytes are waiting)"),
            };
        }
        child.stdin_pending.fetch_add(data.len(), Ordering::SeqCst);
        if !data.is_empty() && stdin.send(data).is_err() {
            return refused(Refusal::InputClosed, "the step's input is closed");
        }
        if eof {
            child.stdin = None;
        }
        Response::Done {
            message: "written".into(),
        }
    }
}

fn refused(code: Refusal, message: &str) -> Response {
    Response::Refused {
        code,
        message: message.into(),
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
