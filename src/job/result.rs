//! How a run ended, one value per case ([`RunEnd`]), for background runs (the
//! supervisor's records) and foreground ones (`mrsm run`) alike. On disk
//! (`runs.jsonl`, `state.json`) and on the wire it keeps the flat shape it always
//! had (`ok`, `exit_code`, `signal`, `message`, `failed_step`, `stopped`,
//! `not_started`), byte for byte.

use serde::{Deserialize, Serialize};

use super::spec::SignalName;

/// How a step that ran ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepExit {
    /// It exited with this status.
    Code(i32),
    /// A signal ended it (by name, e.g. `SIGKILL`).
    Signal(String),
}

impl StepExit {
    /// The exit status a shell would give (128 + N for signal N).
    pub fn status(&self) -> i32 {
        match self {
            StepExit::Code(code) => *code,
            StepExit::Signal(name) => {
                // A name that is no signal here (written elsewhere) is a plain failure.
                name.parse::<SignalName>().map_or(1, |s| 128 + s.0 as i32)
            }
        }
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every step succeeded.
    Succeeded,
    /// There was nothing to run, and nothing failed (a schedule that never fires).
    NothingToRun,
    /// Step `step` (1-based) ended by itself without succeeding.
    Failed { step: usize, exit: StepExit },
    /// Step `step` could not be started at all (a program not found, a missing
    /// directory).
    NotStarted { step: usize },
    /// A stop (asked for, or a replacing fire) ended step `step`: not a failure of
    /// the job's own.
    Stopped { step: usize, exit: StepExit },
    /// It ended before any step ran, without succeeding (a schedule that could
    /// not be read).
    Aborted,
}

impl RunEnd {
    /// The exit status a shell would give for the run.
    pub fn exit_status(&self) -> i32 {
        match self {
            RunEnd::Succeeded | RunEnd::NothingToRun => 0,
            RunEnd::Failed { exit, .. } | RunEnd::Stopped { exit, .. } => exit.status(),
            RunEnd::NotStarted { .. } => 127,
            RunEnd::Aborted => 1,
        }
    }
}

/// How a run (or a job) ended, and what users are told of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Flat", into = "Flat")]
pub struct RunResult {
    pub end: RunEnd,
    pub message: String,
}

impl RunResult {
    pub fn new(end: RunEnd, message: impl Into<String>) -> RunResult {
        RunResult {
            end,
            message: message.into(),
        }
    }

    /// It succeeded (or had nothing to run).
    pub fn ok(&self) -> bool {
        matches!(self.end, RunEnd::Succeeded | RunEnd::NothingToRun)
    }

    /// A stop ended it.
    pub fn stopped(&self) -> bool {
        matches!(self.end, RunEnd::Stopped { .. })
    }

    /// Its failing step could not start.
    pub fn not_started(&self) -> bool {
        matches!(self.end, RunEnd::NotStarted { .. })
    }

    /// Whether the run's first step could not start (a program not found, a
    /// directory missing): recorded before a new job is reported, so that what
    /// brought the job up can say so as its own error.
    pub fn first_step_not_started(&self) -> bool {
        self.not_started() && self.failed_step() == Some(1)
    }

    /// The step that failed, could not start, or was stopped (1-based).
    pub fn failed_step(&self) -> Option<usize> {
        match &self.end {
            RunEnd::Failed { step, .. }
            | RunEnd::Stopped { step, .. }
            | RunEnd::NotStarted { step } => Some(*step),
            _ => None,
        }
    }
}

/// The shape on disk and on the wire.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Flat {
    ok: bool,
    exit_code: Option<i32>,
    signal: Option<String>,
    message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failed_step: Option<usize>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    stopped: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    not_started: bool,
}

impl From<RunResult> for Flat {
    fn from(r: RunResult) -> Flat {
        let mut flat = Flat {
            ok: r.ok(),
            exit_code: None,
            signal: None,
            message: r.message,
            failed_step: None,
            stopped: false,
            not_started: false,
        };
        let (step, exit) = match r.end {
            RunEnd::Succeeded => {
                flat.exit_code = Some(0);
                return flat;
            }
            RunEnd::NothingToRun | RunEnd::Aborted => return flat,
            RunEnd::NotStarted { step } => {
                flat.failed_step = Some(step);
                flat.not_started = true;
                return flat;
            }
            RunEnd::Failed { step, exit } => (step, exit),
            RunEnd::Stopped { step, exit } => {
                flat.stopped = true;
                (step, exit)
            }
        };
        flat.failed_step = Some(step);
        match exit {
            StepExit::Code(code) => flat.exit_code = Some(code),
            StepExit::Signal(name) => flat.signal = Some(name),
        }
        flat
    }
}

impl From<Flat> for RunResult {
    fn from(f: Flat) -> RunResult {
        let exit = match (f.exit_code, f.signal) {
            (Some(code), _) => Some(StepExit::Code(code)),
            (None, Some(name)) => Some(StepExit::Signal(name)),
            (None, None) => None,
        };
        let end = match (f.ok, f.not_started, f.failed_step, exit) {
            (_, true, step, _) => RunEnd::NotStarted {
                step: step.unwrap_or(1),
            },
            (true, _, _, Some(_)) => RunEnd::Succeeded,
            (true, _, _, None) => RunEnd::NothingToRun,
            (false, _, step, Some(exit)) if f.stopped => RunEnd::Stopped {
                step: step.unwrap_or(1),
                exit,
            },
            (false, _, step, Some(exit)) => RunEnd::Failed {
                step: step.unwrap_or(1),
                exit,
            },
            (false, _, _, None) => RunEnd::Aborted,
        };
        RunResult {
            end,
            message: f.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{RunRecord, Trigger};

    fn record(end: RunEnd, message: &str) -> String {
        let record = RunRecord {
            run: 3,
            trigger: Trigger::Schedule,
            started: "2026-01-01T00:00:00Z".parse().expect("time"),
            ended: "2026-01-01T00:00:01Z".parse().expect("time"),
            result: RunResult::new(end, message),
            slurm_jobs: Vec::new(),
            after: Vec::new(),
            planned: None,
        };
        serde_json::to_string(&record).expect("json")
    }

    /// Each case's `runs.jsonl` line, as written before `RunEnd` existed, and read
    /// back to the same case.
    #[test]
    fn every_end_keeps_its_line_in_the_history() {
        let head = r#"{"run":3,"trigger":"schedule","started":"2026-01-01T00:00:00Z","ended":"2026-01-01T00:00:01Z","#;
        let cases = [
            (
                RunEnd::Succeeded,
                "all 2 steps succeeded",
                r#""ok":true,"exit_code":0,"signal":null,"message":"all 2 steps succeeded"}"#,
            ),
            (
                RunEnd::NothingToRun,
                "the schedule never fires",
                r#""ok":true,"exit_code":null,"signal":null,"message":"the schedule never fires"}"#,
            ),
            (
                RunEnd::Failed {
                    step: 2,
                    exit: StepExit::Code(3),
                },
                "step 2/2 exited with status 3",
                r#""ok":false,"exit_code":3,"signal":null,"message":"step 2/2 exited with status 3","failed_step":2}"#,
            ),
            (
                RunEnd::Failed {
                    step: 1,
                    exit: StepExit::Signal("SIGKILL".into()),
                },
                "interrupted",
                r#""ok":false,"exit_code":null,"signal":"SIGKILL","message":"interrupted","failed_step":1}"#,
            ),
            (
                RunEnd::NotStarted { step: 1 },
                "could not start",
                r#""ok":false,"exit_code":null,"signal":null,"message":"could not start","failed_step":1,"not_started":true}"#,
            ),
            (
                RunEnd::Stopped {
                    step: 1,
                    exit: StepExit::Signal("SIGTERM".into()),
                },
                "stopped by request",
                r#""ok":false,"exit_code":null,"signal":"SIGTERM","message":"stopped by request","failed_step":1,"stopped":true}"#,
            ),
            (
                RunEnd::Stopped {
                    step: 1,
                    exit: StepExit::Code(0),
                },
                "stopped by request",
                r#""ok":false,"exit_code":0,"signal":null,"message":"stopped by request","failed_step":1,"stopped":true}"#,
            ),
            (
                RunEnd::Aborted,
                "bad schedule",
                r#""ok":false,"exit_code":null,"signal":null,"message":"bad schedule"}"#,
            ),
        ];
        for (end, message, tail) in cases {
            let line = record(end.clone(), message);
            assert_eq!(line, format!("{head}{tail}"), "{end:?}");
            let back: RunRecord = serde_json::from_str(&line).expect("read back");
            assert_eq!(back.result.end, end);
        }
    }

    #[test]
    fn exit_statuses_are_a_shell_s() {
        let failed = |exit| RunEnd::Failed { step: 1, exit };
        assert_eq!(RunEnd::Succeeded.exit_status(), 0);
        assert_eq!(failed(StepExit::Code(3)).exit_status(), 3);
        assert_eq!(
            failed(StepExit::Signal("SIGTERM".into())).exit_status(),
            143
        );
        assert_eq!(RunEnd::NotStarted { step: 2 }.exit_status(), 127);
    }

    /// `state.json` carries the last result in the same shape, as it did before.
    #[test]
    fn the_report_keeps_its_shape() {
        use crate::job::{Phase, SupervisorState};
        use crate::store::ProcessIdentity;
        let state = SupervisorState {
            supervisor: ProcessIdentity {
                pid: 7,
                start_ticks: 9,
            },
            phase: Phase::Exited,
            began: "2026-01-01T00:00:00Z".parse().expect("time"),
            paused: None,
            ended: Some("2026-01-01T00:00:01Z".parse().expect("time")),
            steps: Vec::new(),
            restarts: 2,
            next_fire: None,
            last_result: Some(RunResult::new(
                RunEnd::Stopped {
                    step: 1,
                    exit: StepExit::Signal("SIGTERM".into()),
                },
                "stopped by request",
            )),
            last_run: 3,
            schedule: None,
            log_trouble: None,
            signalled: Some("SIGTERM".into()),
            ending: Vec::new(),
            health: None,
            after: Default::default(),
        };
        let written = serde_json::to_string(&state).expect("json");
        assert_eq!(
            written,
            r#"{"supervisor":{"pid":7,"start_ticks":9},"phase":"exited","began":"2026-01-01T00:00:00Z","paused":null,"ended":"2026-01-01T00:00:01Z","steps":[],"restarts":2,"next_fire":null,"last_result":{"ok":false,"exit_code":null,"signal":"SIGTERM","message":"stopped by request","failed_step":1,"stopped":true},"last_run":3,"signalled":"SIGTERM"}"#
        );
        let back: SupervisorState = serde_json::from_str(&written).expect("read back");
        assert_eq!(back, state);
    }
}
