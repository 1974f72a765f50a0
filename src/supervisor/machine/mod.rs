//! The supervisor's decisions, as a pure function of what happened: `(machine,
//! event, now) → effects`. Events are what the driver saw (a step started or
//! exited, its output drained, the processes it found, a timer, a request, a
//! signal); effects are what it is to do (start a step, signal a run or the job,
//! record a run, log a note, answer a client, look at the processes again). It reads
//! no clock and touches no process or file: the driver (`supervisor/mod.rs`) is the
//! only code that does, so every rule here is tested without either
//! (`machine_tests.rs`).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::policy::{on_fire, should_restart, Backoff, FireDecision};
use crate::control::{Refusal, Removal, Response};
use crate::job::{
    OverlapPolicy, Phase, RestartPolicy, RunEnd, RunRecord, RunResult, ScheduleResume, SignalName,
    StepExit, StepProcess, SupervisorState, Trigger,
};
use crate::schedule::FireTimes;
use crate::store::ProcessIdentity;

mod control;
mod runs;

/// How often processes that are being stopped are looked at.
pub const STOP_POLL: Duration = Duration::from_millis(10);
/// How long a step's exit is held back for its output to reach the log (it
/// normally does well under a millisecond after the step exits).
pub const DRAIN_LIMIT: Duration = Duration::from_secs(2);
/// When a step's pipes are held open by processes it left behind, how long its exit
/// waits once the pipes are empty: long enough for a last line without a newline
/// (a pump waits 100 ms for one).
pub const DRAIN_PARTIAL: Duration = Duration::from_millis(150);
/// How often a held-back exit is checked.
pub const DRAIN_POLL: Duration = Duration::from_millis(1);
/// How often a supervisor whose log is in trouble saves the log's counts in the
/// report, a paused one stops what it spared, and one with a run going and a fire
/// pending looks at the wall clock.
pub const LOG_CHECK: Duration = Duration::from_secs(1);

/// Monotonic time since the supervisor began: the only clock the machine knows,
/// and only as given to it.
pub type Mono = Duration;

/// When an event happens: on the monotonic clock (delays) and the wall clock
/// (records and the schedule).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub mono: Mono,
    pub wall: Timestamp,
}

/// Which step of which run a command is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepAt {
    pub run: u64,
    /// 1-based, as users count steps.
    pub step: usize,
}

/// Where a step runs (or ran) beyond this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The id the other system gave it (a Slurm job id), for the run's record.
    pub id: String,
    /// While it runs: why it has not started yet (it waits in a queue). Once it
    /// has ended: how it ended there, when that says more than the exit status.
    pub note: Option<String>,
}

/// How a step's process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(SignalName),
}

/// Where a step's output stands once the step has exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drain {
    /// Its pumps reached end-of-file: everything it wrote is in the log.
    Ended,
    /// Nothing is waiting in its pipes, but something it left holds them open.
    Empty,
    /// Output is still waiting to be read.
    Flowing,
}

/// A signal the machine asks for, named without the operating system's types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Send {
    /// The stop signal (the job's own, or one a request gave).
    Stop(SignalName),
    /// SIGCONT: stopped processes act on a signal only once continued.
    Continue,
    /// SIGKILL, once the grace period is over.
    Kill,
}

/// Identifies a client waiting for an answer.
pub type ReplyTo = u64;

/// What the driver saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The supervisor is up: start the chain, or arm the schedule.
    Begin,
    /// The step asked for by [`Effect::Spawn`] runs as `process`.
    Spawned { run: u64, process: ProcessIdentity },
    /// The step asked for could not start; `message` says why.
    SpawnFailed { run: u64, message: String },
    /// A step's process exited (where it ran beyond this machine, if it did).
    ChildExited {
        pid: i32,
        exit: Exit,
        placed: Option<Placed>,
    },
    /// Where the output of each exited step stands ([`Machine::draining`]).
    Output(Vec<(i32, Drain)>),
    /// The processes found, as asked by [`Machine::look`]: how many each run has,
    /// and (when asked) whether any process of the job is left.
    Seen {
        runs: BTreeMap<u64, usize>,
        job_alive: Option<bool>,
    },
    /// A timer went off (restart delay, schedule fire, a poll).
    Tick,
    /// A client asks to pause the job.
    Pause(ReplyTo),
    /// The driver paused the steps ([`Effect::Suspend`]), or could not.
    Suspended {
        to: ReplyTo,
        result: Result<(), String>,
    },
    /// A client asks to resume the job.
    Resume(ReplyTo),
    /// A client asks to stop the job (with its own signal and grace period).
    Stop {
        to: ReplyTo,
        signal: Option<SignalName>,
        timeout: Option<Duration>,
        then_remove: Option<Removal>,
    },
    /// The supervisor got this signal from outside mrsm.
    Signalled(SignalName),
    /// Run `run` turned unhealthy and its check is a liveness one: it is stopped
    /// (a failure, restarted under the restart policy).
    Unhealthy { run: u64 },
    /// What the upstream jobs' new runs call for (`after:`), fed while idle.
    Upstream(crate::job::Take),
}

/// What the driver is to do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A line in the job's log.
    Note(String),
    /// Start a step (stopped from the start, when the job is paused); answered by
    /// [`Event::Spawned`] or [`Event::SpawnFailed`].
    Spawn { at: StepAt, paused: bool },
    /// Signal every process of a run.
    SignalRun { run: u64, send: Send },
    /// Signal every process of the job.
    SignalJob(Send),
    /// Look at the processes now ([`Machine::look`]) and say what was seen.
    Look,
    /// Append a finished run to the history.
    Record(RunRecord),
    /// Answer a client.
    Reply { to: ReplyTo, response: Response },
    /// Pause these steps (stop their processes); answered by [`Event::Suspended`].
    Suspend { to: ReplyTo, steps: Vec<StepAt> },
    /// Continue these steps after a pause.
    Continue(Vec<StepAt>),
}

/// What the machine needs to know of the job.
#[derive(Clone, Debug)]
pub struct Config {
    /// Each step as shown to users, in order (at least one).
    pub steps: Vec<String>,
    pub restart: RestartPolicy,
    pub overlap: OverlapPolicy,
    pub stop_signal: SignalName,
    pub stop_timeout: Duration,
    /// What a stop waits beyond the grace period for the steps' runner.
    pub kill_slack: Duration,
    /// The schedule's text, in its zone.
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    /// The previous definition's schedule, continued.
    pub resume: Option<ScheduleResume>,
    /// The job deletes itself once finished (`--rm`).
    pub rm: bool,
    /// The job runs after other jobs' runs (`after:`): it waits for them, never
    /// starting or restarting by itself.
    pub after: bool,
}

/// Where a run stands: one value, so a run cannot be both running a step and over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// Step `step` (0-based) is being started.
    Starting { step: usize },
    /// Step `step` runs as `child`.
    Running { step: usize, child: ProcessIdentity },
    /// Step `step` exited; its exit is held back until its output is in the log.
    Draining {
        step: usize,
        child: ProcessIdentity,
        exit: Exit,
        placed: Option<Placed>,
        since: Mono,
        output: Drain,
    },
    /// Its steps are over; it is recorded once none of its processes is left, seen
    /// at two looks in a row (`quiet` after the first: a process that forks and
    /// exits can be missed by one).
    Ended {
        result: RunResult,
        quiet: bool,
        /// When its steps were over.
        at: Timestamp,
    },
}

/// Ending a run's processes: the stop signal was sent; SIGKILL at the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cleanup {
    deadline: Mono,
    killed: bool,
}

/// One run of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: u64,
    pub trigger: Trigger,
    pub started: Timestamp,
    began: Mono,
    pub phase: RunPhase,
    /// The process group of each step started, to find what the run left behind.
    pub groups: Vec<i32>,
    /// A `replace` fire ended it early.
    replaced: bool,
    /// Its liveness probe ended it.
    unhealthy: bool,
    /// The upstream runs that triggered it (`after:`).
    after: Vec<crate::job::AfterLink>,
    cleanup: Option<Cleanup>,
    /// Where its steps ran beyond this machine (Slurm job ids), in order.
    placed: Vec<String>,
    /// The fire time it was planned for (a scheduled run started on its fire).
    planned: Option<Timestamp>,
}

impl Run {
    /// The step's process while it has one.
    fn child(&self) -> Option<(usize, ProcessIdentity)> {
        match &self.phase {
            RunPhase::Running { step, child } | RunPhase::Draining { step, child, .. } => {
                Some((*step, *child))
            }
            _ => None,
        }
    }

    fn ended(&self) -> bool {
        matches!(self.phase, RunPhase::Ended { .. })
    }
}

/// Why the whole job is being stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopCause {
    /// A client asked (`mrsm stop`, a replace, a delete).
    Request,
    /// The supervisor got this signal from outside mrsm: the job did not end by
    /// itself or by a user's stop, so the reconciler starts it again.
    Signal(SignalName),
    /// The chain ended with processes left behind: cleaning up.
    ChainEnded,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Stopping {
    signal: SignalName,
    deadline: Mono,
    killed: bool,
    waiters: Vec<ReplyTo>,
    cause: StopCause,
}

impl Stopping {
    /// Asked for, rather than cleaning up after the chain ended.
    fn requested(&self) -> bool {
        self.cause != StopCause::ChainEnded
    }
}

/// The supervisor of one job, as data.
#[derive(Clone, Debug)]
pub struct Machine {
    config: Config,
    /// The report (`state.json`), but for its steps, which [`Machine::report`] adds.
    state: SupervisorState,
    runs: Vec<Run>,
    next_run_id: u64,
    schedule: Option<FireTimes>,
    schedule_anchor: Option<Timestamp>,
    /// The schedule's next fire (kept while paused or stopping; fires happen only
    /// while running).
    next_fire: Option<Timestamp>,
    /// The next fire was already due when the supervisor began: a catch-up.
    catch_up: bool,
    /// A run to start once the current ones are over (a queued or replacing fire).
    queued: Option<Trigger>,
    restart_at: Option<Mono>,
    backoff: Backoff,
    stopping: Option<Stopping>,
    /// The chain is over; waiting to know whether processes are left.
    finishing: bool,
    done: bool,
    dirty: bool,
    remove_at_exit: Option<Removal>,
    effects: Vec<Effect>,
}

impl Machine {
    /// A machine whose report starts as `state` (the supervisor, its phase, the last
    /// result and run), numbering runs after `state.last_run`.
    pub fn new(config: Config, state: SupervisorState) -> Machine {
        Machine {
            next_run_id: state.last_run + 1,
            config,
            state,
            runs: Vec::new(),
            schedule: None,
            schedule_anchor: None,
            next_fire: None,
            catch_up: false,
            queued: None,
            restart_at: None,
            backoff: Backoff::default(),
            stopping: None,
            finishing: false,
            done: false,
            dirty: true,
            remove_at_exit: None,
            effects: Vec::new(),
        }
    }

    /// Handles one event; what the driver is to do about it, in order.
    pub fn handle(&mut self, event: Event, now: Now) -> Vec<Effect> {
        match event {
            Event::Begin => self.begin(now),
            Event::Spawned { run, process } => self.spawned(run, process),
            Event::SpawnFailed { run, message } => self.spawn_failed(run, message, now),
            Event::ChildExited { pid, exit, placed } => self.child_exited(pid, exit, placed, now),
            Event::Output(outputs) => self.outputs(outputs, now),
            Event::Seen { runs, job_alive } => self.seen(&runs, job_alive, now),
            Event::Tick => self.tick(now),
            Event::Pause(to) => self.pause(to),
            Event::Suspended { to, result } => self.suspended(to, result, now),
            Event::Resume(to) => self.resume(to, now),
            Event::Stop {
                to,
                signal,
                timeout,
                then_remove,
            } => {
                if then_remove.is_some() {
                    self.remove_at_exit = then_remove;
                }
                self.begin_stop(signal, timeout, Some(to), StopCause::Request, now);
            }
            Event::Signalled(signal) => {
                self.begin_stop(None, None, None, StopCause::Signal(signal), now)
            }
            Event::Unhealthy { run } => self.unhealthy(run, now),
            Event::Upstream(take) => self.upstream(take, now),
        }
        std::mem::take(&mut self.effects)
    }

    /// The job is over: the driver exits.
    pub fn done(&self) -> bool {
        self.done
    }

    /// The report changed since it was last taken.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The report as it stands, with the steps running now.
    pub fn report(&self) -> SupervisorState {
        let mut state = self.state.clone();
        state.steps = self
            .runs
            .iter()
            .filter_map(|r| {
                r.child().map(|(step, process)| StepProcess {
                    run: r.id,
                    step: step + 1,
                    process,
                    trigger: Some(r.trigger),
                    started: Some(r.started),
                    slurm_job: None,
                    waiting: None,
                    after: r.after.clone(),
                })
            })
            .collect();
        state.ending = self
            .runs
            .iter()
            .filter_map(|r| match &r.phase {
                RunPhase::Ended { result, at, .. } => Some(RunRecord {
                    run: r.id,
                    trigger: r.trigger,
                    started: r.started,
                    ended: *at,
                    result: result.clone(),
                    slurm_jobs: r.placed.clone(),
                    after: r.after.clone(),
                    planned: r.planned,
                }),
                _ => None,
            })
            .collect();
        state.next_fire = self.next_fire.filter(|_| state.phase == Phase::Running);
        state.schedule = self.schedule_anchor.map(|anchor| ScheduleResume {
            anchor,
            next_fire: self.next_fire,
        });
        state
    }

    /// Whether the job ended without a stop being asked for (its chain or schedule
    /// is over).
    pub fn finished_on_its_own(&self) -> bool {
        !self.stopping.as_ref().is_some_and(Stopping::requested)
    }

    /// What of the job goes once it is over: everything for a job that deletes
    /// itself and finished on its own, else what a delete from inside asked.
    pub fn removal(&self) -> Option<Removal> {
        match self.config.rm && self.finished_on_its_own() {
            true => Some(Removal::All),
            false => self.remove_at_exit,
        }
    }

    /// The runs whose processes the driver is to count at a look, each with the
    /// process groups of its steps, and whether to say if the job has any process.
    pub fn look(&self) -> (Vec<u64>, bool) {
        let runs = self
            .runs
            .iter()
            .filter(|r| r.ended() || r.cleanup.is_some())
            .map(|r| r.id)
            .collect();
        let job = (self.stopping.is_some() || self.finishing) && !self.done;
        (runs, job)
    }

    /// Every run and the process groups of its steps (what the driver counts a
    /// run's processes by).
    pub fn groups(&self) -> impl Iterator<Item = (u64, &[i32])> {
        self.runs.iter().map(|r| (r.id, r.groups.as_slice()))
    }

    /// The steps that exited and whose output is awaited.
    pub fn draining(&self) -> Vec<i32> {
        self.runs
            .iter()
            .filter_map(|r| match &r.phase {
                RunPhase::Draining { child, .. } => Some(child.pid),
                _ => None,
            })
            .collect()
    }

    /// The steps running now (for a pause, a resume, their placement).
    pub fn live_steps(&self) -> Vec<StepAt> {
        self.runs
            .iter()
            .filter_map(|r| {
                r.child().map(|(step, _)| StepAt {
                    run: r.id,
                    step: step + 1,
                })
            })
            .collect()
    }

    /// The step that input goes to: the newest run's (not one being replaced).
    pub fn input_step(&self) -> Option<i32> {
        self.runs
            .iter()
            .rev()
            .filter(|r| !r.replaced)
            .find_map(|r| r.child().map(|(_, c)| c.pid))
    }

    /// Which step `pid` is the process of (none for an orphan reaped as
    /// subreaper).
    pub fn step_of(&self, pid: i32) -> Option<StepAt> {
        self.runs.iter().find_map(|r| match r.child() {
            Some((step, c)) if c.pid == pid => Some(StepAt {
                run: r.id,
                step: step + 1,
            }),
            _ => None,
        })
    }

    /// The run health probes are about: the newest one going (not being
    /// replaced, not ended) while the job runs; none while it is paused or stopping.
    pub fn probed_run(&self) -> Option<u64> {
        if self.state.phase != Phase::Running || self.stopping.is_some() {
            return None;
        }
        self.runs
            .iter()
            .rev()
            .find(|r| !r.replaced && !r.unhealthy && r.cleanup.is_none() && !r.ended())
            .map(|r| r.id)
    }

    /// The last run of each upstream job taken (`after:`).
    pub fn taken(&self) -> &std::collections::BTreeMap<String, u64> {
        &self.state.after
    }

    /// Whether a run may start on an upstream's run now: none goes, none is due,
    /// and the job runs (not paused, not stopping or finishing).
    pub fn idle(&self) -> bool {
        self.runs.is_empty()
            && self.restart_at.is_none()
            && self.queued.is_none()
            && self.stopping.is_none()
            && !self.finishing
            && !self.done
            && self.state.phase == Phase::Running
    }

    /// Stops run `run`, which its liveness probe found unhealthy.
    fn unhealthy(&mut self, run: u64, now: Now) {
        if self.stopping.is_some() {
            return;
        }
        let Some(index) = self
            .runs
            .iter()
            .position(|r| r.id == run && !r.ended() && r.cleanup.is_none())
        else {
            return;
        };
        self.runs[index].unhealthy = true;
        self.note(format!(
            "run {run} is unhealthy: stopping it (liveness probe)"
        ));
        self.stop_run(index, now);
    }

    /// The job's phase as reported.
    pub fn report_phase(&self) -> Phase {
        self.state.phase
    }

    /// When the driver is to wake next (on either clock), if ever.
    pub fn next_wake(&self, now: Mono) -> (Option<Mono>, Option<Timestamp>) {
        let mut wake: Option<Mono> = None;
        let mut consider = |at: Mono| wake = Some(wake.map_or(at, |w| w.min(at)));
        let draining = self
            .runs
            .iter()
            .any(|r| matches!(r.phase, RunPhase::Draining { .. }));
        if draining {
            consider(now + DRAIN_POLL);
        }
        let ending = self.runs.iter().any(|r| r.ended() || r.cleanup.is_some());
        if self.stopping.is_some() || ending {
            consider(now + STOP_POLL);
        }
        if let Some(at) = self.restart_at {
            consider(at);
        }
        // A run going while a fire is pending, or held by a pause: the driver looks
        // every LOG_CHECK (a wall clock set forward is noticed within it; what a
        // pause spared is stopped once it lets go). A job that just runs sleeps.
        let paused = self.state.phase == Phase::Paused;
        if !self.runs.is_empty() && (self.next_fire.is_some() || paused) {
            consider(now + LOG_CHECK);
        }
        let fire = self
            .next_fire
            .filter(|_| self.state.phase == Phase::Running);
        (wake, fire)
    }

    fn note(&mut self, message: impl Into<String>) {
        self.effects.push(Effect::Note(message.into()));
    }

    fn save(&mut self) {
        self.dirty = true;
    }

    fn reply(&mut self, to: ReplyTo, response: Response) {
        self.effects.push(Effect::Reply { to, response });
    }
}

fn done(message: &str) -> Response {
    Response::Done {
        message: message.into(),
    }
}

fn stopping_refusal() -> Response {
    Response::Refused {
        code: Refusal::Stopping,
        message: "the job is stopping".into(),
    }
}

/// The runs a killed predecessor had in progress (those after `recorded`, the last
/// run in the history): those whose steps were over as they ended (their leftovers
/// were being stopped), and those cut short, as failed records ending `now`. The
/// history shows them, with the reason, instead of a silent hole.
pub fn interrupted_runs(killed: &SupervisorState, recorded: u64, now: Timestamp) -> Vec<RunRecord> {
    let mut seen = std::collections::BTreeSet::new();
    let mut records: Vec<RunRecord> = killed
        .ending
        .iter()
        .filter(|r| r.run > recorded && seen.insert(r.run))
        .cloned()
        .collect();
    let cut_short = killed
        .steps
        .iter()
        .filter(|s| s.run > recorded && seen.insert(s.run))
        .map(|step| RunRecord {
            run: step.run,
            trigger: step.trigger.unwrap_or(Trigger::Start),
            started: step.started.unwrap_or(killed.began),
            ended: now,
            result: RunResult::new(
                RunEnd::Failed {
                    step: step.step,
                    exit: StepExit::Signal("SIGKILL".into()),
                },
                format!(
                    "interrupted at step {}: its supervisor (pid {}) was killed",
                    step.step, killed.supervisor.pid
                ),
            ),
            slurm_jobs: step.slurm_job.iter().cloned().collect(),
            after: step.after.clone(),
            planned: None,
        })
        .collect::<Vec<_>>();
    records.extend(cut_short);
    records.sort_by_key(|r| r.run);
    records
}

/// How a run's trigger is said in the log.
pub fn trigger_word(trigger: Trigger) -> &'static str {
    match trigger {
        Trigger::Start => "start",
        Trigger::Restart => "restart",
        Trigger::Schedule => "schedule",
        Trigger::Queue => "queued fire",
        Trigger::After => "after",
    }
}
