//! Stopping the whole job: the stop signal to every process, SIGKILL when the grace
//! period is over, and the end of the supervisor once nothing of the job is left.

use super::*;

impl Supervisor {
    /// The supervisor got `signal` from outside mrsm: it stops the job as a stop
    /// request would, and records that the end was not the job's own.
    pub(super) fn stop_on_signal(&mut self, signal: Signal) {
        self.begin_stop(None, None, None, StopCause::Signal(signal));
    }

    pub(super) fn begin_stop(
        &mut self,
        signal: Option<Signal>,
        timeout: Option<Duration>,
        reply: Option<oneshot::Sender<Response>>,
        cause: StopCause,
    ) {
        if let Some(stopping) = self.stopping.as_mut() {
            stopping.waiters.extend(reply);
            return;
        }
        let signal = signal.unwrap_or(self.file.spec.stop.signal.0);
        // A request may ask for more than a stop can wait: held to the longest.
        let timeout = timeout
            .unwrap_or(self.file.spec.stop.timeout)
            .min(crate::job::MAX_STOP_TIMEOUT)
            + self.runner.kill_slack();
        self.sys(&format!("stopping with {}", signal.as_str()));
        let procs = own_processes(self.state.supervisor, self.name());
        signal_processes(&procs, signal);
        // Stopped processes act on the signal only once continued.
        signal_processes(&procs, Signal::SIGCONT);
        self.restart_at = None;
        self.queued = None;
        self.state.phase = Phase::Stopping;
        self.state.paused = None;
        self.stopping = Some(Stopping {
            signal,
            deadline: Instant::now() + timeout,
            killed: false,
            waiters: reply.into_iter().collect(),
            cause,
        });
        self.save_state();
        self.on_children();
    }

    pub(super) fn poll_stop(&mut self) {
        let me = self.state.supervisor;
        let left = job_alive(me, &self.file.spec.name);
        let Some(stopping) = self.stopping.as_mut() else {
            return;
        };
        if !left && self.runs.is_empty() {
            let message = if stopping.killed {
                format!(
                    "stopped with SIGKILL: {} did not end it within the grace period",
                    stopping.signal.as_str()
                )
            } else {
                format!("stopped with {}", stopping.signal.as_str())
            };
            for waiter in stopping.waiters.drain(..) {
                let _ = waiter.send(Response::Done {
                    message: message.clone(),
                });
            }
            if let StopCause::Signal(by) = stopping.cause {
                self.state.signalled = Some(by.as_str().to_string());
            }
            self.sys(&message);
            self.state.phase = Phase::Exited;
            self.state.ended = Some(Timestamp::now());
            self.done = true;
            return;
        }
        // Past the deadline, whatever is found is killed, every time it is looked
        // for (a process may start others as it dies).
        if Instant::now() >= stopping.deadline {
            let first = !stopping.killed;
            stopping.killed = true;
            if first {
                self.sys("grace period over: SIGKILL");
            }
            signal_job(me, &self.file.spec.name, Signal::SIGKILL);
        }
    }
}
