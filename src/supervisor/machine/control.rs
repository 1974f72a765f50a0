//! The machine's rules for the job as a whole: the schedule and its fires, the
//! restart delay, pause and resume, and stopping.

use std::time::Duration;

use super::*;

impl Machine {
    /// Arms the schedule (continuing the previous definition's when the job was
    /// replaced without changing it), or starts the chain.
    pub(super) fn begin(&mut self, now: Now) {
        if self.config.after {
            self.note("waiting for the runs it comes after");
            self.save();
            return;
        }
        let Some(text) = self.config.schedule.clone() else {
            self.start_run(Trigger::Start, now);
            return;
        };
        let resume = self.config.resume;
        let anchor = resume.map_or(now.wall, |r| r.anchor);
        let fires = crate::schedule::parse_schedule(&text)
            .and_then(|s| match &self.config.timezone {
                Some(tz) => s.in_zone(tz),
                None => Ok(s),
            })
            .and_then(|s| s.fire_times(anchor));
        let mut fires = match fires {
            Ok(fires) => fires,
            Err(e) => {
                self.note(format!("bad schedule: {e}"));
                self.finish(Some(RunResult::new(
                    RunEnd::Aborted,
                    format!("bad schedule: {e}"),
                )));
                return;
            }
        };
        if let Some(r) = resume {
            fires = fires.resume_at(r.next_fire.unwrap_or(now.wall));
        }
        self.next_fire = fires.next();
        self.catch_up = self.next_fire.is_some_and(|f| f <= now.wall);
        self.schedule = Some(fires);
        self.schedule_anchor = Some(anchor);
        if let (Some(_), Some(next)) = (resume, self.next_fire) {
            self.note(format!(
                "schedule continued from the previous definition: next fire {next}"
            ));
        }
        if self.next_fire.is_none() {
            self.note(format!("schedule {text:?} never fires"));
            self.finish(Some(RunResult::new(
                RunEnd::NothingToRun,
                "the schedule never fires",
            )));
        }
    }

    pub(super) fn tick(&mut self, now: Now) {
        if self.stopping.is_some() {
            return;
        }
        if self.restart_at.is_some_and(|at| at <= now.mono) {
            self.restart_at = None;
            self.state.restarts += 1;
            self.start_run(Trigger::Restart, now);
            self.save();
        }
        if let Some(fire) = self.next_fire {
            if self.state.phase == Phase::Running && fire <= now.wall {
                let catching_up = std::mem::take(&mut self.catch_up);
                self.fire(now);
                self.advance_schedule(catching_up, now);
                self.save();
            }
        }
    }

    pub(super) fn fire(&mut self, now: Now) {
        let busy = self.runs.first().map(|r| r.id);
        match on_fire(self.config.overlap, busy.is_some()) {
            FireDecision::Start => {
                self.start_run(Trigger::Schedule, now);
                if let Some(run) = self.runs.last_mut() {
                    run.planned = self.next_fire;
                }
            }
            FireDecision::Skip => {
                self.note(format!(
                    "fire skipped: run {} is still going",
                    busy.unwrap_or_default()
                ));
            }
            FireDecision::Queue => {
                if self.queued.is_none() {
                    self.note(format!(
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
                        let id = self.runs[index].id;
                        self.note(format!(
                            "run {id} replaced by a new fire: stopping it first"
                        ));
                        self.stop_run(index, now);
                    }
                }
                self.queued = Some(Trigger::Schedule);
            }
        }
    }

    /// Moves the schedule past now, skipping fires missed while busy or paused.
    /// Right after a catch-up fire, a next fire a moment away
    /// ([`crate::schedule::coalesced`]) is run with it: one run, not two.
    pub(super) fn advance_schedule(&mut self, caught_up: bool, now: Now) {
        let Some(fires) = self.schedule.take() else {
            return;
        };
        let after_now = now
            .wall
            .checked_add(jiff::SignedDuration::from_micros(1))
            .unwrap_or(Timestamp::MAX);
        let mut fires = fires.resume_at(after_now);
        self.next_fire = fires.next();
        if let (true, Some(next)) = (caught_up, self.next_fire) {
            let mut ahead = fires.clone();
            let after = ahead.next();
            if crate::schedule::coalesced(now.wall, next, after) {
                self.note(format!("fire at {next} coalesced with the one just taken"));
                self.next_fire = after;
                fires = ahead;
            }
        }
        self.schedule = Some(fires);
        if self.next_fire.is_none() && self.runs.is_empty() && self.queued.is_none() {
            self.note("the schedule has no more fires");
            self.finish(None);
        }
    }

    pub(super) fn pause(&mut self, to: ReplyTo) {
        match self.state.phase {
            Phase::Paused => self.reply(to, done("already paused")),
            Phase::Running => self.effects.push(Effect::Suspend {
                to,
                steps: self.live_steps(),
            }),
            Phase::Stopping | Phase::Exited => self.reply(to, stopping_refusal()),
        }
    }

    pub(super) fn suspended(&mut self, to: ReplyTo, result: Result<(), String>, now: Now) {
        if let Err(message) = result {
            self.note(format!("not paused: {message}"));
            self.reply(
                to,
                Response::Refused {
                    code: Refusal::NotPaused,
                    message,
                },
            );
            return;
        }
        if self.state.phase != Phase::Running {
            self.reply(to, stopping_refusal());
            return;
        }
        self.state.phase = Phase::Paused;
        self.state.paused = Some(now.wall);
        self.note("paused");
        self.save();
        self.reply(to, done("paused"));
    }

    pub(super) fn resume(&mut self, to: ReplyTo, now: Now) {
        match self.state.phase {
            Phase::Paused => {
                self.effects.push(Effect::Continue(self.live_steps()));
                self.state.phase = Phase::Running;
                self.state.paused = None;
                self.note("resumed");
                if self.next_fire.is_some_and(|f| f <= now.wall) {
                    self.advance_schedule(false, now);
                }
                self.save();
                self.reply(to, done("resumed"));
            }
            Phase::Running => self.reply(to, done("already running")),
            Phase::Stopping | Phase::Exited => self.reply(to, stopping_refusal()),
        }
    }

    pub(super) fn begin_stop(
        &mut self,
        signal: Option<SignalName>,
        timeout: Option<Duration>,
        to: Option<ReplyTo>,
        cause: StopCause,
        now: Now,
    ) {
        if let Some(stopping) = self.stopping.as_mut() {
            stopping.waiters.extend(to);
            return;
        }
        self.finishing = false;
        let signal = signal.unwrap_or(self.config.stop_signal);
        // A request may ask for more than a stop can wait: held to the longest.
        let timeout = timeout
            .unwrap_or(self.config.stop_timeout)
            .min(crate::job::MAX_STOP_TIMEOUT)
            + self.config.kill_slack;
        self.note(format!("stopping with {signal}"));
        self.effects.push(Effect::SignalJob(Send::Stop(signal)));
        self.effects.push(Effect::SignalJob(Send::Continue));
        self.restart_at = None;
        self.queued = None;
        self.state.phase = Phase::Stopping;
        self.state.paused = None;
        self.stopping = Some(Stopping {
            signal,
            deadline: now.mono + timeout,
            killed: false,
            waiters: to.into_iter().collect(),
            cause,
        });
        self.save();
        self.effects.push(Effect::Look);
    }

    pub(super) fn poll_stop(&mut self, job_alive: bool, now: Now) {
        let runs_left = !self.runs.is_empty();
        let Some(stopping) = self.stopping.as_mut().filter(|_| !self.done) else {
            return;
        };
        if !job_alive && !runs_left {
            let message = if stopping.killed {
                format!(
                    "stopped with SIGKILL: {} did not end it within the grace period",
                    stopping.signal
                )
            } else {
                format!("stopped with {}", stopping.signal)
            };
            let waiters = std::mem::take(&mut stopping.waiters);
            if let StopCause::Signal(by) = stopping.cause {
                self.state.signalled = Some(by.to_string());
            }
            for to in waiters {
                self.reply(to, done(&message));
            }
            self.note(message);
            self.state.phase = Phase::Exited;
            self.state.ended = Some(now.wall);
            self.done = true;
            self.save();
            return;
        }
        // Past the deadline, whatever is found is killed, every time it is looked
        // for (a process may start others as it dies).
        if now.mono >= stopping.deadline {
            let first = !stopping.killed;
            stopping.killed = true;
            if first {
                self.note("grace period over: SIGKILL");
            }
            self.effects.push(Effect::SignalJob(Send::Kill));
        }
    }
}
