//! The machine's rules for runs: starting a chain's steps, their exits once their
//! output is in the log, what a run leaves behind, and what follows a run.

use crate::job::Take;
use std::collections::BTreeMap;
use std::time::Duration;

use super::*;

impl Machine {
    pub(super) fn start_run(&mut self, trigger: Trigger, now: Now) {
        let id = self.next_run_id;
        self.next_run_id += 1;
        self.state.last_run = id;
        self.note(format!("run {id} started ({})", trigger_word(trigger)));
        self.runs.push(Run {
            id,
            trigger,
            started: now.wall,
            began: now.mono,
            phase: RunPhase::Starting { step: 0 },
            groups: Vec::new(),
            replaced: false,
            unhealthy: false,
            cleanup: None,
            placed: Vec::new(),
            after: Vec::new(),
            planned: None,
        });
        self.start_step(id, 0);
    }

    /// Upstream runs (`after:`) were taken: the history moves past them, and those
    /// that trigger start a run (only ever fed while no run goes).
    pub(super) fn upstream(&mut self, take: Take, now: Now) {
        let (links, run) = match take {
            Take::Nothing => return,
            Take::Skip(links) => (links, false),
            Take::Run(links) => (links, true),
            Take::Rewind(jobs) => {
                for job in jobs {
                    let was = self.state.after.insert(job.clone(), 0).unwrap_or_default();
                    self.note(format!(
                        "{job}'s run history starts over (below run {was}, the last taken): its runs are taken from its first"
                    ));
                }
                self.save();
                return;
            }
        };
        for link in &links {
            self.state.after.insert(link.job.clone(), link.run);
        }
        self.save();
        let said: Vec<String> = links
            .iter()
            .map(|l| format!("{} run {}", l.job, l.run))
            .collect();
        if !run {
            self.note(format!(
                "{} did not succeed: nothing to run",
                said.join(", ")
            ));
            return;
        }
        if !self.idle() {
            return;
        }
        self.note(format!("after {}", said.join(", ")));
        self.start_run(Trigger::After, now);
        if let Some(started) = self.runs.last_mut() {
            started.after = links;
        }
    }

    pub(super) fn start_step(&mut self, run: u64, step: usize) {
        if let Some(r) = self.runs.iter_mut().find(|r| r.id == run) {
            r.phase = RunPhase::Starting { step };
        }
        self.effects.push(Effect::Spawn {
            at: StepAt {
                run,
                step: step + 1,
            },
            paused: self.state.phase == Phase::Paused,
        });
        self.save();
    }

    pub(super) fn index_of(&self, run: u64) -> Option<usize> {
        self.runs.iter().position(|r| r.id == run)
    }

    pub(super) fn spawned(&mut self, run: u64, process: ProcessIdentity) {
        let Some(index) = self.index_of(run) else {
            return;
        };
        let r = &mut self.runs[index];
        let RunPhase::Starting { step } = r.phase else {
            return;
        };
        r.phase = RunPhase::Running {
            step,
            child: process,
        };
        r.groups.push(process.pid);
        // A stop (of the job, or of this run) that came while the step started
        // reaches it too.
        let signal = match (&self.stopping, r.cleanup) {
            (Some(stopping), _) => Some(stopping.signal),
            (None, Some(_)) => Some(self.config.stop_signal),
            (None, None) => None,
        };
        if let Some(signal) = signal {
            self.effects.push(Effect::SignalRun {
                run,
                send: Send::Stop(signal),
            });
            self.effects.push(Effect::SignalRun {
                run,
                send: Send::Continue,
            });
        }
    }

    pub(super) fn spawn_failed(&mut self, run: u64, message: String, now: Now) {
        let Some(index) = self.index_of(run) else {
            return;
        };
        let RunPhase::Starting { step } = self.runs[index].phase else {
            return;
        };
        self.note(format!("run {run} {message}"));
        let result = RunResult::new(RunEnd::NotStarted { step: step + 1 }, message);
        // A run none of whose steps started has no process to wait for: it is
        // recorded at once, so a job whose first step cannot start says so before
        // its launcher returns (`run -d` reports it).
        let nothing_started = self.runs[index].groups.is_empty();
        self.end_run(index, result, now.wall);
        if nothing_started {
            self.finalize(index, now);
        }
    }

    pub(super) fn child_exited(&mut self, pid: i32, exit: Exit, placed: Option<Placed>, now: Now) {
        for r in &mut self.runs {
            if let RunPhase::Running { step, child } = r.phase {
                if child.pid == pid {
                    r.phase = RunPhase::Draining {
                        step,
                        child,
                        exit,
                        placed,
                        since: now.mono,
                        output: Drain::Flowing,
                    };
                    return;
                }
            }
        }
        // Others are orphaned grandchildren, reaped as subreaper.
    }

    /// Handles the exits of steps whose output is in the log (so a step's exit note
    /// follows its last lines), in the order they happened.
    pub(super) fn outputs(&mut self, outputs: Vec<(i32, Drain)>, now: Now) {
        for (pid, drain) in outputs {
            for r in &mut self.runs {
                if let RunPhase::Draining { child, output, .. } = &mut r.phase {
                    if child.pid == pid {
                        *output = drain;
                    }
                }
            }
        }
        loop {
            let first = self
                .runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| match &r.phase {
                    RunPhase::Draining { since, output, .. } => Some((*since, i, *output)),
                    _ => None,
                })
                .min_by_key(|(since, i, _)| (*since, *i));
            let Some((since, index, output)) = first else {
                return;
            };
            let waited = now.mono.saturating_sub(since);
            let logged =
                output == Drain::Ended || (output == Drain::Empty && waited >= DRAIN_PARTIAL);
            if !logged && waited < DRAIN_LIMIT {
                return;
            }
            self.step_over(index, now);
        }
    }

    /// Step of run `index` is over and its output logged: the next step, or the
    /// end of the run.
    pub(super) fn step_over(&mut self, index: usize, now: Now) {
        let RunPhase::Draining {
            step, exit, placed, ..
        } = self.runs[index].phase.clone()
        else {
            return;
        };
        let steps = self.config.steps.len();
        let text = self.config.steps.get(step).cloned().unwrap_or_default();
        let success = exit == Exit::Code(0);
        let mut how = match exit {
            Exit::Code(c) => format!("exited with status {c}"),
            Exit::Signal(s) => format!("killed by {s}"),
        };
        if let Some(placed) = placed {
            if let Some(note) = placed.note {
                how = format!("{how} ({note})");
            }
            self.runs[index].placed.push(placed.id);
        }
        let id = self.runs[index].id;
        let replaced = self.runs[index].replaced;
        let unhealthy = self.runs[index].unhealthy;
        self.note(format!("run {id} step {}/{steps} {how}", step + 1));
        if success && step + 1 < steps && !replaced && !unhealthy && self.stopping.is_none() {
            self.start_step(id, step + 1);
            return;
        }
        let ok = success && step + 1 == steps && !unhealthy;
        let message = if ok {
            match (steps, self.runs[index].placed.as_slice()) {
                (1, _) => how.clone(),
                (n, []) => format!("all {n} steps succeeded"),
                (n, ids) => format!("all {n} steps succeeded (Slurm jobs {})", ids.join(", ")),
            }
        } else if let Some(stopping) = &self.stopping {
            let by = match stopping.cause {
                StopCause::Signal(signal) => {
                    format!("{signal} to its supervisor from outside mrsm")
                }
                StopCause::Request | StopCause::ChainEnded => "request".to_string(),
            };
            format!(
                "stopped by {by}: step {}/{steps} ({text:?}) {how}",
                step + 1
            )
        } else if unhealthy {
            format!(
                "stopped as unhealthy by its liveness probe: step {}/{steps} ({text:?}) {how}",
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
        let stopped = self.stopping.as_ref().is_some_and(Stopping::requested) || replaced;
        let exit = match exit {
            Exit::Code(code) => StepExit::Code(code),
            Exit::Signal(signal) => StepExit::Signal(signal.to_string()),
        };
        let step = step + 1;
        let end = match (ok, stopped) {
            (true, _) => RunEnd::Succeeded,
            (false, true) => RunEnd::Stopped { step, exit },
            (false, false) => RunEnd::Failed { step, exit },
        };
        let result = RunResult::new(end, message);
        self.end_run(index, result, now.wall);
    }

    /// The steps of run `index` are over: it is recorded once none of its
    /// processes is left (what it left behind is stopped first), seen at a look.
    pub(super) fn end_run(&mut self, index: usize, result: RunResult, at: Timestamp) {
        self.runs[index].phase = RunPhase::Ended {
            result,
            quiet: false,
            at,
        };
        self.effects.push(Effect::Look);
        self.save();
    }

    /// Sends the stop signal to every process of run `index`, SIGKILL following at
    /// the end of the grace period.
    pub(super) fn stop_run(&mut self, index: usize, now: Now) {
        let run = self.runs[index].id;
        self.effects.push(Effect::SignalRun {
            run,
            send: Send::Stop(self.config.stop_signal),
        });
        self.effects.push(Effect::SignalRun {
            run,
            send: Send::Continue,
        });
        let grace = self.config.stop_timeout + self.config.kill_slack;
        self.runs[index].cleanup.get_or_insert(Cleanup {
            deadline: now.mono + grace,
            killed: false,
        });
    }

    /// What a look found: ended runs with nothing left are recorded (at the second
    /// quiet look); what they left is stopped, and killed past the grace period;
    /// the job's stop or end goes on.
    pub(super) fn seen(
        &mut self,
        counts: &BTreeMap<u64, usize>,
        job_alive: Option<bool>,
        now: Now,
    ) {
        let mut index = 0;
        while index < self.runs.len() {
            let id = self.runs[index].id;
            let Some(&count) = counts.get(&id) else {
                index += 1;
                continue;
            };
            if let RunPhase::Ended { quiet, .. } = &mut self.runs[index].phase {
                if count == 0 {
                    if *quiet {
                        self.finalize(index, now);
                        continue;
                    }
                    *quiet = true;
                    index += 1;
                    continue;
                }
                *quiet = false;
                if self.stopping.is_none() && self.runs[index].cleanup.is_none() {
                    self.note(format!(
                        "run {id} left {count} process(es) running; stopping them with {}",
                        self.config.stop_signal
                    ));
                    self.stop_run(index, now);
                    index += 1;
                    continue;
                }
            }
            if count > 0 {
                if let Some(cleanup) = self.runs[index].cleanup.as_mut() {
                    // Past the deadline, whatever is found is killed, every time it
                    // is looked for (a process may spawn a copy of itself as it dies).
                    if now.mono >= cleanup.deadline {
                        let first = !cleanup.killed;
                        cleanup.killed = true;
                        self.effects.push(Effect::SignalRun {
                            run: id,
                            send: Send::Kill,
                        });
                        if first {
                            self.note(format!("run {id}: grace period over: SIGKILL"));
                        }
                    }
                }
            }
            index += 1;
        }
        if let Some(alive) = job_alive {
            if self.stopping.is_some() {
                self.poll_stop(alive, now);
            } else if std::mem::take(&mut self.finishing) {
                self.finished(alive, now);
            }
        }
    }

    /// Records run `index` and decides what follows it.
    pub(super) fn finalize(&mut self, index: usize, now: Now) {
        let run = self.runs.remove(index);
        let result = match run.phase {
            RunPhase::Ended { result, .. } => result,
            _ => RunResult::new(RunEnd::Aborted, "ended"),
        };
        let ok = result.ok();
        self.effects.push(Effect::Record(RunRecord {
            run: run.id,
            trigger: run.trigger,
            started: run.started,
            ended: now.wall,
            result: result.clone(),
            slurm_jobs: run.placed.clone(),
            after: run.after.clone(),
            planned: run.planned,
        }));
        self.state.last_result = Some(result);
        self.after_run(now.mono.saturating_sub(run.began), ok, now);
        self.save();
    }

    /// What follows a finished run: a queued one, a restart, or the end of the job.
    pub(super) fn after_run(&mut self, ran_for: Duration, ok: bool, now: Now) {
        if self.stopping.is_some() || !self.runs.is_empty() {
            return;
        }
        if let Some(trigger) = self.queued.take() {
            self.start_run(trigger, now);
            return;
        }
        if self.schedule.is_some() {
            if self.next_fire.is_none() {
                self.finish(None);
            }
            return;
        }
        // Waiting for the next upstream run.
        if self.config.after {
            return;
        }
        if !should_restart(self.config.restart, ok) {
            self.finish(None);
            return;
        }
        let delay = self.backoff.delay_after(ran_for);
        self.restart_at = Some(now.mono + delay);
        self.note(format!(
            "restarting in {}",
            humantime::format_duration(delay)
        ));
    }

    /// The job is over on its own: what its chain left running is stopped (known at
    /// the next look), then it ends.
    pub(super) fn finish(&mut self, result: Option<RunResult>) {
        if let Some(result) = result {
            self.state.last_result = Some(result);
        }
        self.finishing = true;
        self.effects.push(Effect::Look);
        self.save();
    }

    pub(super) fn finished(&mut self, job_alive: bool, now: Now) {
        if job_alive {
            self.note("the chain has ended; stopping the processes it left behind");
            self.begin_stop(None, None, None, StopCause::ChainEnded, now);
            return;
        }
        self.state.phase = Phase::Exited;
        self.state.ended = Some(now.wall);
        self.next_fire = None;
        self.done = true;
        self.save();
    }
}
