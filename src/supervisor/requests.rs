//! The supervisor's answers to control requests (status, pause, resume, input,
//! stop), kept apart from running the job.

use super::*;

/// How long a pause waits for the job's processes to show as stopped.
const PAUSE_SETTLE: Duration = Duration::from_secs(1);

impl Supervisor {
    pub(super) fn on_request(&mut self, request: Request, reply: oneshot::Sender<Response>) {
        let response = match request {
            Request::Status => Response::State {
                state: Box::new(self.state.clone()),
            },
            Request::Pause => self.pause(),
            Request::Resume => self.resume(),
            Request::Stdin { data, eof } => self.write_stdin(data, eof),
            Request::Stop {
                signal,
                timeout_ms,
                then_remove,
            } => {
                if then_remove.is_some() {
                    self.remove_at_exit = then_remove;
                }
                self.begin_stop(
                    signal.map(|s| s.0),
                    timeout_ms.map(Duration::from_millis),
                    Some(reply),
                    StopCause::Request,
                );
                return;
            }
        };
        let _ = reply.send(response);
    }

    fn write_stdin(&mut self, data: Vec<u8>, eof: bool) -> Response {
        let step = self
            .runs
            .iter_mut()
            .rev()
            .filter(|r| !r.replaced)
            .find_map(|r| r.child.as_mut());
        let Some(child) = step else {
            return Response::Refused {
                message: "no step is running to read it".into(),
            };
        };
        let Some(stdin) = child.stdin.as_ref() else {
            return Response::Refused {
                message: "the step's input is closed".into(),
            };
        };
        let waiting = child
            .stdin_pending
            .load(std::sync::atomic::Ordering::SeqCst);
        if waiting > 0 && waiting + data.len() > steps::STDIN_LIMIT {
            return Response::Busy {
                message: format!("{INPUT_NOT_READ} ({waiting} bytes are waiting)"),
            };
        }
        child
            .stdin_pending
            .fetch_add(data.len(), std::sync::atomic::Ordering::SeqCst);
        if !data.is_empty() && stdin.send(data).is_err() {
            return Response::Refused {
                message: "the step's input is closed".into(),
            };
        }
        if eof {
            child.stdin = None;
        }
        Response::Done {
            message: "written".into(),
        }
    }

    /// The steps running now.
    fn live_steps(&self) -> Vec<StepAt> {
        self.runs
            .iter()
            .filter(|r| r.child.is_some())
            .map(|r| StepAt {
                run: r.id,
                step: r.step + 1,
            })
            .collect()
    }

    fn pause(&mut self) -> Response {
        match self.state.phase {
            Phase::Paused => Response::Done {
                message: "already paused".into(),
            },
            Phase::Running => {
                if let Err(message) = self.runner.suspend(&self.live_steps()) {
                    self.sys(&format!("not paused: {message}"));
                    return Response::Refused { message };
                }
                // A process of the job that holds one of the root's locks (a verb a
                // step runs: perhaps this very pause) is left to finish, and stopped
                // once it has let go (see `keep_paused`).
                let spared = crate::store::lock_holders(&self.root);
                signals::pause_sparing(self.state.supervisor, self.name(), &spared);
                // A stop signal takes effect when its process is next scheduled:
                // the answer waits until every process is stopped (or a while).
                signals::wait_until_stopped(
                    self.state.supervisor,
                    self.name(),
                    &spared,
                    PAUSE_SETTLE,
                );
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

    /// While paused: stops what was left running because it held one of the root's
    /// locks, once it has let go.
    pub(super) fn keep_paused(&mut self) {
        if self.state.phase != Phase::Paused {
            return;
        }
        let spared = crate::store::lock_holders(&self.root);
        signals::pause_sparing(self.state.supervisor, self.name(), &spared);
    }

    fn resume(&mut self) -> Response {
        match self.state.phase {
            Phase::Paused => {
                signal_job(self.state.supervisor, self.name(), Signal::SIGCONT);
                if let Err(message) = self.runner.resume(&self.live_steps()) {
                    self.sys(&message);
                }
                self.state.phase = Phase::Running;
                self.state.paused = None;
                self.sys("resumed");
                if self.next_fire.is_some_and(|f| f <= Timestamp::now()) {
                    self.advance_schedule(false);
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
}
