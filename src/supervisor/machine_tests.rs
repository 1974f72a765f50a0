//! The supervisor's rules, tested on the machine alone: a fake child stands for
//! each step's process (its pid, its exit, the processes it leaves), time moves
//! only when a test says so, and nothing is spawned, signalled or written.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::machine::*;
use crate::control::{Refusal, Removal, Response};
use crate::job::{
    OverlapPolicy, Phase, RestartPolicy, RunEnd, RunRecord, SignalName, StepExit, StepProcess,
    SupervisorState, Trigger,
};
use crate::store::ProcessIdentity;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

fn sig(name: &str) -> SignalName {
    name.parse().expect("a signal")
}

fn config(steps: &[&str]) -> Config {
    Config {
        steps: steps.iter().map(|s| s.to_string()).collect(),
        restart: RestartPolicy::Never,
        overlap: OverlapPolicy::Skip,
        stop_signal: sig("TERM"),
        stop_timeout: 10 * S,
        kill_slack: Duration::ZERO,
        schedule: None,
        timezone: None,
        resume: None,
        rm: false,
        after: false,
    }
}

fn t0() -> Timestamp {
    "2026-01-01T00:00:00Z".parse().expect("a timestamp")
}

fn state(phase: Phase) -> SupervisorState {
    SupervisorState {
        supervisor: ProcessIdentity {
            pid: 1,
            start_ticks: 1,
        },
        phase,
        began: t0(),
        paused: None,
        ended: None,
        steps: Vec::new(),
        restarts: 0,
        next_fire: None,
        last_result: None,
        last_run: 0,
        schedule: None,
        log_trouble: None,
        signalled: None,
        ending: Vec::new(),
        health: None,
        after: Default::default(),
    }
}

/// The machine with a fake world around it: steps start as pids counted from 100,
/// a look counts the processes a test says each run has, and every effect is kept.
struct Sim {
    m: Machine,
    now: Now,
    next_pid: i32,
    /// Processes each run has beyond its step (what a look finds).
    procs: BTreeMap<u64, usize>,
    /// Processes of the job in no run.
    stray: usize,
    /// Spawns are left unanswered (to land events while a step starts).
    hold_spawns: bool,
    /// Spawns fail with this message.
    fail_spawns: Option<String>,
    /// Pauses of the steps' work elsewhere fail with this message.
    fail_suspend: Option<String>,
    effects: Vec<Effect>,
    /// Spawns asked for and not answered yet.
    pending: Vec<StepAt>,
}

impl Sim {
    fn new(config: Config) -> Sim {
        Sim::with_state(config, state(Phase::Running))
    }

    fn with_state(config: Config, state: SupervisorState) -> Sim {
        Sim {
            m: Machine::new(config, state),
            now: Now {
                mono: Duration::ZERO,
                wall: t0(),
            },
            next_pid: 100,
            procs: BTreeMap::new(),
            stray: 0,
            hold_spawns: false,
            fail_spawns: None,
            fail_suspend: None,
            effects: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Hands `event` to the machine, answering its effects as the driver would.
    fn ev(&mut self, event: Event) -> Vec<Effect> {
        let started = self.effects.len();
        let mut queue = vec![event];
        while !queue.is_empty() {
            let event = queue.remove(0);
            let effects = self.m.handle(event, self.now);
            for effect in effects {
                match &effect {
                    Effect::Spawn { at, .. } if !self.hold_spawns => {
                        queue.push(self.answer_spawn(*at));
                    }
                    Effect::Spawn { at, .. } => self.pending.push(*at),
                    Effect::Look => queue.push(self.seen()),
                    Effect::Suspend { to, .. } => queue.push(Event::Suspended {
                        to: *to,
                        result: self.fail_suspend.clone().map_or(Ok(()), Err),
                    }),
                    _ => {}
                }
                self.effects.push(effect);
            }
        }
        self.effects[started..].to_vec()
    }

    fn answer_spawn(&mut self, at: StepAt) -> Event {
        if let Some(message) = self.fail_spawns.clone() {
            return Event::SpawnFailed {
                run: at.run,
                message,
            };
        }
        self.next_pid += 1;
        Event::Spawned {
            run: at.run,
            process: ProcessIdentity {
                pid: self.next_pid,
                start_ticks: 7,
            },
        }
    }

    /// Answers the spawns held back.
    fn release_spawns(&mut self) -> Vec<Effect> {
        self.hold_spawns = false;
        let pending = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        for at in pending {
            let event = self.answer_spawn(at);
            out.extend(self.ev(event));
        }
        out
    }

    fn seen(&self) -> Event {
        let (runs, job) = self.m.look();
        let counts: BTreeMap<u64, usize> = runs
            .iter()
            .map(|r| (*r, self.procs.get(r).copied().unwrap_or(0)))
            .collect();
        let live = self.m.live_steps().len();
        let alive = live + self.procs.values().sum::<usize>() + self.stray > 0;
        Event::Seen {
            runs: counts,
            job_alive: job.then_some(alive),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now.mono += by;
        self.now.wall = self
            .now
            .wall
            .checked_add(jiff::SignedDuration::try_from(by).expect("small"))
            .expect("in range");
    }

    /// The pid of run `run`'s running step.
    fn pid(&self, run: u64) -> i32 {
        self.m
            .report()
            .steps
            .iter()
            .find(|s: &&StepProcess| s.run == run)
            .map(|s| s.process.pid)
            .unwrap_or_else(|| panic!("run {run} has no step running"))
    }

    /// The step of run `run` exits with `exit` and its output is at its end; then
    /// a look, as the driver's next turn makes.
    fn exit(&mut self, run: u64, exit: Exit) -> Vec<Effect> {
        let mut out = self.exit_logged(run, exit);
        out.extend(self.look());
        out
    }

    /// The step of run `run` exits with `exit`; its pid (its output not drained).
    fn exited(&mut self, run: u64, exit: Exit) -> i32 {
        let pid = self.pid(run);
        self.ev(Event::ChildExited {
            pid,
            exit,
            placed: None,
        });
        pid
    }

    /// The step of run `run` exits with `exit` and its output is at its end (the
    /// look its end asks for included, not the driver's next one).
    fn exit_logged(&mut self, run: u64, exit: Exit) -> Vec<Effect> {
        let started = self.effects.len();
        let pid = self.exited(run, exit);
        self.ev(Event::Output(vec![(pid, Drain::Ended)]));
        self.effects[started..].to_vec()
    }

    /// A look at the processes (the driver makes one at every turn).
    fn look(&mut self) -> Vec<Effect> {
        let event = self.seen();
        self.ev(event)
    }

    fn records(&self) -> Vec<RunRecord> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Record(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        notes(&self.effects)
    }

    fn spawns(&self) -> Vec<StepAt> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Spawn { at, .. } => Some(*at),
                _ => None,
            })
            .collect()
    }

    fn replies(&self) -> Vec<(ReplyTo, Response)> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Reply { to, response } => Some((*to, response.clone())),
                _ => None,
            })
            .collect()
    }
}

fn notes(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Note(n) => Some(n.clone()),
            _ => None,
        })
        .collect()
}

fn at(run: u64, step: usize) -> StepAt {
    StepAt { run, step }
}

fn ok() -> Exit {
    Exit::Code(0)
}

fn done(message: &str) -> Response {
    Response::Done {
        message: message.into(),
    }
}

fn stop(to: ReplyTo) -> Event {
    Event::Stop {
        to,
        signal: None,
        timeout: None,
        then_remove: None,
    }
}

/// A job that ran once to success: started, its step exited 0.
fn ran_once(config: Config) -> Sim {
    let mut sim = Sim::new(config);
    sim.ev(Event::Begin);
    sim.exit(1, ok());
    sim
}

#[test]
fn a_single_step_that_succeeds_is_recorded_and_the_job_ends() {
    let sim = ran_once(config(&["true"]));
    let records = sim.records();
    assert_eq!(records.len(), 1);
    assert!(records[0].result.ok(), "{records:?}");
    assert_eq!(records[0].result.message, "exited with status 0");
    assert_eq!(records[0].trigger, Trigger::Start);
    assert!(sim.m.done());
    assert_eq!(sim.m.report().phase, Phase::Exited);
    assert_eq!(sim.m.report().last_result, Some(records[0].result.clone()));
}

#[test]
fn a_chain_advances_to_its_next_step_when_one_succeeds() {
    let mut sim = Sim::new(config(&["a", "b", "c"]));
    sim.ev(Event::Begin);
    assert_eq!(sim.spawns(), [at(1, 1)]);
    sim.exit(1, ok());
    assert_eq!(sim.spawns(), [at(1, 1), at(1, 2)]);
    assert!(sim.records().is_empty(), "the run goes on");
    sim.exit(1, ok());
    sim.exit(1, ok());
    assert_eq!(sim.spawns(), [at(1, 1), at(1, 2), at(1, 3)]);
    let records = sim.records();
    assert_eq!(records.len(), 1);
    assert!(records[0].result.ok());
    assert_eq!(records[0].result.message, "all 3 steps succeeded");
}

#[test]
fn a_failure_at_step_k_ends_the_run_there_with_its_code() {
    let mut sim = Sim::new(config(&["a", "b", "c"]));
    sim.ev(Event::Begin);
    sim.exit(1, ok());
    sim.exit(1, Exit::Code(3));
    assert_eq!(sim.spawns().len(), 2, "step 3 never starts");
    let result = &sim.records()[0].result;
    assert_eq!(
        result.end,
        RunEnd::Failed {
            step: 2,
            exit: StepExit::Code(3)
        }
    );
    assert_eq!(result.message, "step 2/3 (\"b\") exited with status 3");
    assert!(!result.stopped() && !result.not_started());
}

#[test]
fn a_step_killed_by_a_signal_records_the_signal() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.exit(1, Exit::Signal(sig("KILL")));
    let result = &sim.records()[0].result;
    assert_eq!(
        result.end,
        RunEnd::Failed {
            step: 1,
            exit: StepExit::Signal("SIGKILL".into())
        }
    );
    assert_eq!(result.message, "step 1/1 (\"a\") killed by SIGKILL");
}

#[test]
fn a_first_step_that_cannot_start_is_recorded_at_once() {
    let mut sim = Sim::new(config(&["nope"]));
    sim.fail_spawns = Some("step 1/1 (\"nope\") could not start: not found".into());
    sim.ev(Event::Begin);
    let records = sim.records();
    assert_eq!(records.len(), 1, "recorded without waiting for a look");
    assert!(records[0].result.not_started());
    assert_eq!(records[0].result.failed_step(), Some(1));
    assert!(sim.m.done());
}

#[test]
fn a_later_step_that_cannot_start_waits_for_what_the_run_started() {
    let mut sim = Sim::new(config(&["a", "b"]));
    sim.ev(Event::Begin);
    sim.procs.insert(1, 1); // step 1 left a process behind
    sim.fail_spawns = Some("cannot".into());
    sim.exit_logged(1, ok());
    assert!(sim.records().is_empty(), "its leftover is still there");
    sim.procs.clear();
    sim.look();
    sim.look();
    assert_eq!(sim.records().len(), 1);
    assert!(sim.records()[0].result.not_started());
}

#[test]
fn a_run_is_recorded_only_after_two_quiet_looks() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.exit_logged(1, ok());
    // The look the end of its steps asked for was the first quiet one.
    assert!(sim.records().is_empty(), "one quiet look is not enough");
    sim.look();
    assert_eq!(sim.records().len(), 1);
}

#[test]
fn a_process_seen_between_quiet_looks_starts_the_count_again() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.exit_logged(1, ok());
    // A daemon that forked as the last look was made.
    sim.procs.insert(1, 1);
    sim.look();
    sim.procs.clear();
    sim.look();
    assert!(
        sim.records().is_empty(),
        "one quiet look since the process went"
    );
    sim.look();
    assert_eq!(sim.records().len(), 1);
}

#[test]
fn what_a_run_leaves_is_stopped_then_killed_after_the_grace_period() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.procs.insert(1, 2);
    let out = sim.exit(1, ok());
    assert!(
        out.contains(&Effect::SignalRun {
            run: 1,
            send: Send::Stop(sig("TERM"))
        }),
        "{out:?}"
    );
    assert!(notes(&out)
        .iter()
        .any(|n| n == "run 1 left 2 process(es) running; stopping them with SIGTERM"));
    sim.advance(9 * S);
    let out = sim.look();
    assert!(!out.iter().any(|e| matches!(
        e,
        Effect::SignalRun {
            send: Send::Kill,
            ..
        }
    )));
    sim.advance(S);
    let out = sim.look();
    assert!(out.contains(&Effect::SignalRun {
        run: 1,
        send: Send::Kill
    }));
    assert_eq!(notes(&out), ["run 1: grace period over: SIGKILL"]);
    // Killed again at every look while they last, said once.
    let out = sim.look();
    assert!(notes(&out).is_empty());
    sim.procs.clear();
    sim.look();
    sim.look();
    assert_eq!(sim.records().len(), 1);
    assert!(
        sim.records()[0].result.ok(),
        "leftovers do not fail the run"
    );
}

/// A job on a schedule with `overlap`, whose first run is still going when the
/// second fire comes.
fn busy_at_second_fire(overlap: OverlapPolicy) -> Sim {
    let mut c = config(&["a"]);
    c.schedule = Some("every 10 seconds".into());
    c.overlap = overlap;
    let mut sim = Sim::new(c);
    sim.ev(Event::Begin);
    to_next_fire(&mut sim);
    assert_eq!(sim.spawns(), [at(1, 1)], "the first fire starts run 1");
    to_next_fire(&mut sim);
    sim
}

fn to_next_fire(sim: &mut Sim) -> Vec<Effect> {
    let fire = sim.m.report().next_fire.expect("a next fire");
    let ahead = fire.duration_since(sim.now.wall);
    sim.advance(Duration::try_from(ahead).unwrap_or_default());
    sim.ev(Event::Tick)
}

#[test]
fn overlap_skip_ignores_a_fire_while_a_run_goes_on() {
    let sim = busy_at_second_fire(OverlapPolicy::Skip);
    assert_eq!(sim.spawns().len(), 1);
    assert!(sim
        .notes()
        .contains(&"fire skipped: run 1 is still going".to_string()));
}

#[test]
fn overlap_allow_starts_a_second_run_beside_the_first() {
    let sim = busy_at_second_fire(OverlapPolicy::Allow);
    assert_eq!(sim.spawns(), [at(1, 1), at(2, 1)]);
    assert_eq!(sim.m.live_steps().len(), 2);
}

#[test]
fn overlap_queue_starts_one_run_once_the_current_one_is_over() {
    let mut sim = busy_at_second_fire(OverlapPolicy::Queue);
    to_next_fire(&mut sim); // a third fire merges with the queued one
    assert_eq!(sim.spawns().len(), 1);
    assert_eq!(
        sim.notes()
            .iter()
            .filter(|n| n.starts_with("fire queued"))
            .count(),
        1
    );
    sim.exit(1, ok());
    sim.look();
    assert_eq!(sim.spawns(), [at(1, 1), at(2, 1)]);
    assert_eq!(sim.records()[0].run, 1);
    assert!(sim.notes().contains(&"run 2 started (queued fire)".into()));
}

#[test]
fn overlap_replace_stops_the_run_and_starts_a_new_one_after_it() {
    let mut sim = busy_at_second_fire(OverlapPolicy::Replace);
    assert!(sim.effects.contains(&Effect::SignalRun {
        run: 1,
        send: Send::Stop(sig("TERM"))
    }));
    assert_eq!(sim.spawns().len(), 1, "not before run 1 is over");
    sim.exit(1, Exit::Signal(sig("TERM")));
    sim.look();
    let result = &sim.records()[0].result;
    assert!(result.stopped(), "{result:?}");
    assert!(result.message.starts_with("replaced by a newer fire"));
    assert_eq!(sim.spawns(), [at(1, 1), at(2, 1)]);
}

#[test]
fn on_failure_restarts_after_a_doubling_delay() {
    let mut c = config(&["a"]);
    c.restart = RestartPolicy::OnFailure;
    let mut sim = Sim::new(c);
    sim.ev(Event::Begin);
    let mut delays = Vec::new();
    for run in 1..=4 {
        sim.exit(run, Exit::Code(1));
        sim.look();
        let (wake, _) = sim.m.next_wake(sim.now.mono);
        let wake = wake.expect("a restart is due");
        delays.push(wake - sim.now.mono);
        sim.advance(wake - sim.now.mono - MS);
        sim.ev(Event::Tick);
        assert_eq!(sim.spawns().len() as u64, run, "not before the delay");
        sim.advance(MS);
        sim.ev(Event::Tick);
        assert_eq!(sim.spawns().len() as u64, run + 1);
    }
    assert_eq!(delays, [S, 2 * S, 4 * S, 8 * S]);
    assert_eq!(sim.m.report().restarts, 4);
    assert!(!sim.m.done());
}

#[test]
fn on_failure_does_not_restart_a_run_that_succeeded() {
    let mut c = config(&["a"]);
    c.restart = RestartPolicy::OnFailure;
    let sim = ran_once(c);
    assert!(sim.m.done());
    assert_eq!(sim.spawns().len(), 1);
}

#[test]
fn always_restarts_and_a_healthy_run_resets_the_delay() {
    let mut c = config(&["a"]);
    c.restart = RestartPolicy::Always;
    let mut sim = Sim::new(c);
    sim.ev(Event::Begin);
    sim.exit(1, ok());
    sim.look();
    assert!(sim.notes().contains(&"restarting in 1s".into()));
    sim.advance(S);
    sim.ev(Event::Tick);
    sim.exit(2, ok());
    sim.look();
    assert!(sim.notes().contains(&"restarting in 2s".into()));
    sim.advance(2 * S);
    sim.ev(Event::Tick);
    sim.advance(60 * S); // run 3 is healthy
    sim.exit(3, ok());
    sim.look();
    assert_eq!(
        sim.notes().last().map(String::as_str),
        Some("restarting in 1s")
    );
}

#[test]
fn restart_never_ends_the_job_after_a_failure() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.exit(1, Exit::Code(1));
    sim.look();
    assert!(sim.m.done());
    assert_eq!(sim.spawns().len(), 1);
}

#[test]
fn a_pause_holds_fires_and_a_resume_skips_those_missed() {
    let mut c = config(&["a"]);
    c.schedule = Some("every 10 seconds".into());
    let mut sim = Sim::new(c);
    sim.ev(Event::Begin);
    let out = sim.ev(Event::Pause(7));
    assert!(out.contains(&Effect::Reply {
        to: 7,
        response: done("paused")
    }));
    assert_eq!(sim.m.report().phase, Phase::Paused);
    assert_eq!(sim.m.report().next_fire, None, "not shown while paused");
    let (_, fire) = sim.m.next_wake(sim.now.mono);
    assert_eq!(fire, None, "no wake for a fire while paused");
    sim.advance(35 * S);
    sim.ev(Event::Tick);
    assert!(sim.spawns().is_empty(), "fires are held");
    sim.ev(Event::Resume(8));
    assert!(sim.spawns().is_empty(), "missed fires are skipped, not run");
    let next = sim.m.report().next_fire.expect("a next fire");
    assert!(next > sim.now.wall, "{next} is after the resume");
    to_next_fire(&mut sim);
    assert_eq!(sim.spawns().len(), 1);
}

#[test]
fn a_step_started_while_paused_starts_stopped() {
    let mut sim = Sim::with_state(config(&["a"]), state(Phase::Paused));
    let out = sim.ev(Event::Begin);
    assert!(out.contains(&Effect::Spawn {
        at: at(1, 1),
        paused: true
    }));
}

#[test]
fn a_pause_the_cluster_refuses_leaves_the_job_running() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.fail_suspend = Some("scontrol: denied".into());
    let out = sim.ev(Event::Pause(1));
    assert!(out.contains(&Effect::Reply {
        to: 1,
        response: Response::Refused {
            code: Refusal::NotPaused,
            message: "scontrol: denied".into()
        }
    }));
    assert_eq!(sim.m.report().phase, Phase::Running);
    assert!(notes(&out).contains(&"not paused: scontrol: denied".into()));
}

#[test]
fn a_stop_waits_its_grace_period_then_kills() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    let out = sim.ev(stop(5));
    assert_eq!(
        &out[..3],
        [
            Effect::Note("stopping with SIGTERM".into()),
            Effect::SignalJob(Send::Stop(sig("TERM"))),
            Effect::SignalJob(Send::Continue),
        ]
    );
    assert_eq!(sim.m.report().phase, Phase::Stopping);
    sim.advance(10 * S - MS);
    let out = sim.look();
    assert!(!out.contains(&Effect::SignalJob(Send::Kill)));
    sim.advance(MS);
    let out = sim.look();
    assert!(out.contains(&Effect::SignalJob(Send::Kill)));
    assert!(notes(&out).contains(&"grace period over: SIGKILL".into()));
    sim.exit(1, Exit::Signal(sig("KILL")));
    sim.look();
    assert!(sim.m.done());
    assert!(sim.replies().contains(&(
        5,
        done("stopped with SIGKILL: SIGTERM did not end it within the grace period")
    )));
    let result = &sim.records()[0].result;
    assert!(result.stopped());
    assert!(
        result.message.starts_with("stopped by request"),
        "{result:?}"
    );
}

#[test]
fn a_stop_answers_every_client_that_asked_once_the_job_is_gone() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.ev(stop(1));
    sim.ev(Event::Stop {
        to: 2,
        signal: Some(sig("INT")),
        timeout: Some(S),
        then_remove: None,
    });
    assert!(sim.replies().is_empty(), "not before the job is gone");
    sim.exit(1, Exit::Signal(sig("TERM")));
    sim.look();
    assert_eq!(
        sim.replies(),
        [
            (1, done("stopped with SIGTERM")),
            (2, done("stopped with SIGTERM"))
        ]
    );
    assert_eq!(sim.m.removal(), None, "a stop is not a finish");
}

#[test]
fn a_stop_that_lands_while_a_step_starts_reaches_that_step() {
    let mut sim = Sim::new(config(&["a"]));
    sim.hold_spawns = true;
    sim.ev(Event::Begin);
    sim.ev(stop(1));
    let out = sim.release_spawns();
    assert!(
        out.contains(&Effect::SignalRun {
            run: 1,
            send: Send::Stop(sig("TERM"))
        }),
        "{out:?}"
    );
    sim.exit(1, Exit::Signal(sig("TERM")));
    sim.look();
    assert!(sim.m.done());
    assert_eq!(sim.replies(), [(1, done("stopped with SIGTERM"))]);
}

#[test]
fn a_chain_does_not_go_on_to_its_next_step_while_stopping() {
    let mut sim = Sim::new(config(&["a", "b"]));
    sim.ev(Event::Begin);
    sim.ev(stop(1));
    sim.exit(1, ok());
    sim.look();
    assert_eq!(sim.spawns().len(), 1);
    assert!(sim.m.done());
}

#[test]
fn a_signal_from_outside_stops_the_job_and_says_so() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.ev(Event::Signalled(sig("TERM")));
    sim.exit(1, Exit::Signal(sig("TERM")));
    sim.look();
    assert!(sim.m.done());
    let report = sim.m.report();
    assert_eq!(report.signalled.as_deref(), Some("SIGTERM"));
    let result = &sim.records()[0].result;
    assert!(result.stopped());
    assert!(result
        .message
        .starts_with("stopped by SIGTERM to its supervisor from outside mrsm"));
}

#[test]
fn a_pause_or_resume_while_stopping_is_refused_with_its_code() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.ev(stop(1));
    let refusal = Response::Refused {
        code: Refusal::Stopping,
        message: "the job is stopping".into(),
    };
    assert!(sim.ev(Event::Pause(2)).contains(&Effect::Reply {
        to: 2,
        response: refusal.clone()
    }));
    assert!(sim.ev(Event::Resume(3)).contains(&Effect::Reply {
        to: 3,
        response: refusal
    }));
}

#[test]
fn a_chain_that_ends_with_processes_left_stops_them_and_finishes() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.stray = 1; // a daemon in no run's group
    sim.exit(1, ok());
    sim.look();
    assert!(sim
        .notes()
        .contains(&"the chain has ended; stopping the processes it left behind".into()));
    assert!(!sim.m.done());
    sim.stray = 0;
    sim.look();
    assert!(sim.m.done());
    assert!(sim.records()[0].result.ok());
    assert_eq!(sim.m.removal(), None);
    assert_eq!(sim.m.report().signalled, None);
}

#[test]
fn an_exit_waits_for_its_output_then_for_a_limit() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    let pid = sim.exited(1, ok());
    sim.ev(Event::Output(vec![(pid, Drain::Flowing)]));
    let exited = |sim: &Sim| sim.notes().iter().any(|n| n.contains("exited"));
    assert!(!exited(&sim), "held while output flows");
    // Empty pipes held open by what it left: a last partial line may still come.
    sim.advance(DRAIN_PARTIAL - MS);
    sim.ev(Event::Output(vec![(pid, Drain::Empty)]));
    assert!(!exited(&sim), "held for a partial line's wait");
    sim.advance(MS);
    assert_eq!(
        sim.m.next_wake(sim.now.mono).0,
        Some(sim.now.mono + DRAIN_POLL)
    );
    sim.ev(Event::Output(vec![(pid, Drain::Flowing)]));
    assert!(!exited(&sim));
    // Empty and past the partial line's wait: let go.
    sim.ev(Event::Output(vec![(pid, Drain::Empty)]));
    assert!(exited(&sim));
    // Output that never stops flowing is let go at the limit.
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    let pid = sim.exited(1, ok());
    sim.advance(DRAIN_LIMIT - MS);
    sim.ev(Event::Output(vec![(pid, Drain::Flowing)]));
    assert!(!exited(&sim));
    sim.advance(MS);
    sim.ev(Event::Output(vec![(pid, Drain::Flowing)]));
    assert!(exited(&sim));
}

#[test]
fn a_schedule_that_cannot_be_read_ends_the_job_without_a_run() {
    let mut c = config(&["a"]);
    c.schedule = Some("every 1 fortnight".into());
    let mut sim = Sim::new(c);
    sim.ev(Event::Begin);
    assert!(sim.m.done());
    let last = sim.m.report().last_result.expect("a result");
    assert!(!last.ok());
    assert!(last.message.starts_with("bad schedule"), "{last:?}");
    assert!(sim.spawns().is_empty() && sim.records().is_empty());
}

#[test]
fn a_job_that_deletes_itself_is_removed_when_it_finishes_not_when_stopped() {
    let mut c = config(&["a"]);
    c.rm = true;
    let sim = ran_once(c.clone());
    assert_eq!(sim.m.removal(), Some(Removal::All));
    let mut sim = Sim::new(c);
    sim.ev(Event::Begin);
    sim.ev(stop(1));
    sim.exit(1, Exit::Signal(sig("TERM")));
    sim.look();
    assert_eq!(sim.m.removal(), None);
}

#[test]
fn input_goes_to_the_newest_run_not_one_being_replaced() {
    let sim = busy_at_second_fire(OverlapPolicy::Replace);
    // Run 1 is being replaced; run 2 has not started: no step takes input.
    assert_eq!(sim.m.input_step(), None);
    let sim = busy_at_second_fire(OverlapPolicy::Allow);
    assert_eq!(sim.m.input_step(), Some(sim.pid(2)));
}

#[test]
fn a_killed_predecessor_s_runs_are_recorded_as_interrupted() {
    let mut killed = state(Phase::Running);
    killed.supervisor.pid = 4242;
    killed.last_run = 7;
    for (run, step) in [(6, 2), (7, 1), (7, 1)] {
        killed.steps.push(StepProcess {
            run,
            step,
            process: ProcessIdentity {
                pid: 900 + run as i32,
                start_ticks: 1,
            },
            trigger: Some(Trigger::Schedule),
            started: Some(t0()),
            slurm_job: None,
            waiting: None,
            after: Vec::new(),
        });
    }
    let later = t0() + jiff::SignedDuration::from_secs(60);
    // Run 6 was recorded already; run 7 twice in the report is one run.
    let records = interrupted_runs(&killed, 6, later);
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!((record.run, record.trigger), (7, Trigger::Schedule));
    assert_eq!(record.ended, later);
    assert_eq!(
        record.result.end,
        RunEnd::Failed {
            step: 1,
            exit: StepExit::Signal("SIGKILL".into())
        }
    );
    assert_eq!(
        record.result.message,
        "interrupted at step 1: its supervisor (pid 4242) was killed"
    );
}

#[test]
fn a_job_s_default_record_cap_is_the_log_writer_s() {
    assert_eq!(crate::job::DEFAULT_MAX_LINE, crate::logs::DEFAULT_MAX_LINE);
}

#[test]
fn a_signal_while_nothing_runs_ends_the_job_once() {
    let mut c = config(&["a"]);
    c.schedule = Some("every 1 hour".into());
    let mut sim = Sim::new(c);
    sim.ev(Event::Begin);
    sim.ev(Event::Signalled(sig("TERM")));
    assert!(sim.m.done());
    // The driver looks again after a signal: nothing more happens.
    sim.look();
    sim.ev(Event::Tick);
    let stopped = sim
        .notes()
        .iter()
        .filter(|n| *n == "stopped with SIGTERM")
        .count();
    assert_eq!(stopped, 1, "{:?}", sim.notes());
}

#[test]
fn a_run_cleaning_up_after_itself_is_in_the_report_for_a_successor() {
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    sim.procs.insert(1, 1); // it left a daemon behind
    sim.exit(1, ok());
    let report = sim.m.report();
    assert!(report.steps.is_empty(), "no step runs");
    assert_eq!(report.ending.len(), 1, "{report:?}");
    assert_eq!(report.ending[0].run, 1);
    assert!(report.ending[0].result.ok());
    // Killed now, its successor records the run as it ended.
    let records = interrupted_runs(&report, 0, t0() + jiff::SignedDuration::from_secs(9));
    assert_eq!(records, report.ending);
    // Once recorded by this supervisor, it is no longer ending.
    sim.procs.clear();
    sim.look();
    sim.look();
    assert!(sim.m.report().ending.is_empty());
}

#[test]
fn a_job_that_just_runs_sleeps_but_a_run_with_a_fire_pending_or_paused_is_looked_at() {
    // A plain job's run: nothing to wake for.
    let mut sim = Sim::new(config(&["a"]));
    sim.ev(Event::Begin);
    assert_eq!(sim.spawns().len(), 1);
    assert_eq!(sim.m.next_wake(sim.now.mono).0, None);
    // Paused with its run held: looked at (what the pause spared is stopped later).
    sim.ev(Event::Pause(7));
    assert_eq!(sim.m.next_wake(sim.now.mono).0, Some(LOG_CHECK));

    // A scheduled job between fires, running or paused: only the fire wakes it.
    let mut c = config(&["a"]);
    c.schedule = Some("every 10 seconds".into());
    let mut sim = Sim::new(c);
    sim.ev(Event::Begin);
    assert_eq!(sim.m.next_wake(sim.now.mono).0, None);
    sim.ev(Event::Pause(7));
    assert_eq!(sim.m.next_wake(sim.now.mono).0, None);
    sim.ev(Event::Resume(8));
    // A run going with the next fire pending: the clock is looked at every
    // LOG_CHECK, so a wall clock set forward past the fire is noticed.
    to_next_fire(&mut sim);
    assert_eq!(sim.spawns().len(), 1);
    assert_eq!(
        sim.m.next_wake(sim.now.mono).0,
        Some(sim.now.mono + LOG_CHECK)
    );
}
