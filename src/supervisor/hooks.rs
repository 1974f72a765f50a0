//! A job's hooks as its supervisor runs them: `on_start` as a run starts,
//! `on_success` or `on_failure` once it is recorded (a stopped run has neither).
//! Each is a side process given the run's record as JSON on stdin and as
//! `MRSM_RUN_*` variables, its output in the log as `hook` lines; it never holds
//! the job up, and is killed at its timeout.

use jiff::Timestamp;
use tokio::task::JoinHandle;

use super::machine::Exit;
use super::pipes::SharedLog;
use super::side::{spawn_side, SideEnd, SideExits};
use crate::job::{HookKind, JobSpec, RunEnd, RunRecord};
use crate::logs::Stream;

/// The hook a recorded run calls for, if any.
pub(super) fn after(record: &RunRecord) -> Option<HookKind> {
    match record.result.end {
        RunEnd::Succeeded | RunEnd::NothingToRun => Some(HookKind::Success),
        RunEnd::Stopped { .. } => None,
        RunEnd::Failed { .. } | RunEnd::NotStarted { .. } | RunEnd::Aborted => {
            Some(HookKind::Failure)
        }
    }
}

/// What a hook is told: the job, the hook, and the run's record (as far as it
/// goes when the run starts).
pub(super) fn input(
    spec: &JobSpec,
    kind: HookKind,
    run: u64,
    record: Option<&RunRecord>,
) -> serde_json::Value {
    let mut value = record
        .and_then(|r| serde_json::to_value(r).ok())
        .unwrap_or_else(|| serde_json::json!({ "run": run }));
    if let Some(object) = value.as_object_mut() {
        object.insert("job".into(), spec.name.clone().into());
        object.insert("hook".into(), kind.key().into());
    }
    value
}

/// Starts the hook of `kind`, if the job has one: its lines go to `log`, and what
/// became of it is said there too when it did not succeed.
pub(super) fn start(
    spec: &JobSpec,
    kind: HookKind,
    told: serde_json::Value,
    log: &SharedLog,
    exits: &mut SideExits,
) -> Option<JoinHandle<()>> {
    let command = spec.hooks.command(kind)?;
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(command).env("MRSM_HOOK", kind.key());
    for (key, variable) in [
        ("run", "MRSM_RUN_NUMBER"),
        ("ok", "MRSM_RUN_OK"),
        ("exit_code", "MRSM_RUN_EXIT_CODE"),
        ("signal", "MRSM_RUN_SIGNAL"),
        ("failed_step", "MRSM_RUN_FAILED_STEP"),
        ("trigger", "MRSM_RUN_TRIGGER"),
        ("started", "MRSM_RUN_STARTED"),
        ("ended", "MRSM_RUN_ENDED"),
        ("message", "MRSM_RUN_MESSAGE"),
    ] {
        match told.get(key) {
            Some(serde_json::Value::String(s)) => cmd.env(variable, s),
            Some(serde_json::Value::Null) | None => cmd.env_remove(variable),
            Some(other) => cmd.env(variable, other.to_string()),
        };
    }
    let mut bytes = serde_json::to_vec(&told).unwrap_or_default();
    bytes.push(b'\n');
    let note = |log: &SharedLog, text: String| {
        if let Ok(mut log) = log.lock() {
            log.append(Timestamp::now(), Stream::Sys, text.as_bytes());
            log.flush();
        }
    };
    let mut side = match spawn_side(cmd, spec, Some(bytes), exits) {
        Ok(side) => side,
        Err(e) => {
            note(log, format!("hook {} could not start: {e}", kind.key()));
            return None;
        }
    };
    let timeout = spec.hooks.timeout;
    let log = log.clone();
    Some(tokio::spawn(async move {
        let mut lines = std::mem::replace(&mut side.lines, tokio::sync::mpsc::channel(1).1);
        let pump = {
            let log = log.clone();
            tokio::spawn(async move {
                while let Some(line) = lines.recv().await {
                    if let Ok(mut log) = log.lock() {
                        log.append(Timestamp::now(), Stream::Hook, line.as_bytes());
                        log.flush();
                    }
                }
            })
        };
        let end = side.finish(timeout).await;
        // What it printed before it ended is logged before what became of it.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(500), pump).await;
        let said = match end {
            SideEnd::Exited(Exit::Code(0)) => return,
            SideEnd::Exited(Exit::Code(c)) => format!("exited with status {c}"),
            SideEnd::Exited(Exit::Signal(s)) => format!("killed by {s}"),
            SideEnd::TimedOut => format!(
                "still going after {}: killed",
                humantime::format_duration(timeout)
            ),
        };
        note(&log, format!("hook {} {said}", kind.key()));
    }))
}
