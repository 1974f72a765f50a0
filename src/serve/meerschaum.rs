//! Routes shaped like Meerschaum 4.1.7's jobs API, so that its own Python client
//! (an `api:` connector with an `api_key`) drives an mrsm server: job metadata as
//! that client reads it, `[ok, message]` results and `{"detail": …}` errors (the
//! logs WebSocket is `socket.rs`).
//!
//! A job's `sysargs` are Meerschaum's action syntax, as its CLI and `create_job`
//! send them: `sh 'LINE'` runs LINE in a shell (`sh -c …` and other words run as
//! they are), `python 'CODE'` runs `python3 -c CODE`, and any other first word is
//! the command itself, as Meerschaum falls back to a shell; `+` separates the
//! steps of a chain. Meerschaum's own flags are taken as job options or dropped,
//! never passed to the command: `-s/--schedule S` a schedule, `--restart` restart
//! on failure, `--loop` restart always; `--name N`, `-y`, `-f`, `-d`, `--debug`,
//! `--noask`, `-e/--executor-keys X` and a leading `api X` (the client's routing)
//! dropped. Meerschaum's other actions (`sync pipes` …) are refused with what mrsm
//! runs instead, never run as commands.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::reply::{blocking, job_name, reading, ApiError};
use super::AppState;
use crate::executor::wire::ErrorCode;
use crate::executor::{
    CreateOptions, DeleteOptions, Executor, ExecutorError, Outcome, StopOptions,
};
use crate::job::{split_chain_args, JobInfo, JobSpec, JobStatus, RestartPolicy};
use crate::logs::{LogLine, Stream};

/// Meerschaum's timestamps: naive UTC, ISO 8601 with microseconds.
fn naive(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, |t| {
        Value::String(t.strftime("%Y-%m-%dT%H:%M:%S%.6f").to_string())
    })
}

fn status_word(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Running => "running",
        JobStatus::Paused => "paused",
        // Meerschaum knows three states: an ended job is stopped, however it ended.
        JobStatus::Stopped | JobStatus::Failed | JobStatus::Broken => "stopped",
    }
}

/// A job as Meerschaum's client reads it.
fn meta(info: &JobInfo) -> Value {
    let mut sysargs = Vec::new();
    for (i, step) in info.command.iter().enumerate() {
        if i > 0 {
            sysargs.push("+".to_string());
        }
        sysargs.push(step.clone());
    }
    let restart = info.restart != RestartPolicy::Never;
    let status = status_word(info.status);
    json!({
        "sysargs": sysargs,
        "result": info.last_result.as_ref().map(|r| json!([r.ok(), r.message])),
        "restart": restart,
        "status": status,
        "daemon": {
            "status": status,
            "pid": info.pid,
            "properties": {
                "daemon": {
                    "began": naive(info.began),
                    "ended": naive(info.ended),
                    "paused": naive(info.paused),
                },
                "restart": restart,
            },
        },
    })
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        format!("Job '{name}' doesn't exist."),
    )
}

/// An executor error, with Meerschaum's 404 sentence for a missing job.
fn failed(name: &str, e: ApiError) -> ApiError {
    match e.body.error {
        ErrorCode::NotFound => not_found(name),
        _ => e,
    }
}

pub(super) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let ex = state.executor.clone();
    let jobs = blocking(move || ex.list(None)).await?;
    let map: serde_json::Map<String, Value> =
        jobs.iter().map(|j| (j.name.clone(), meta(j))).collect();
    Ok(Json(Value::Object(map)))
}

pub(super) async fn get_info(state: &AppState, name: &str) -> Result<JobInfo, ApiError> {
    let ex = state.executor.clone();
    let job = name.to_string();
    blocking(move || ex.get(&job))
        .await
        .map_err(|e| failed(name, e))
}

pub(super) async fn metadata(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = job_name(&name)?;
    Ok(Json(meta(&get_info(&state, &name).await?)))
}

pub(super) async fn exists(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<bool>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    match blocking(move || ex.get(&name)).await {
        Ok(_) => Ok(Json(true)),
        Err(e) if e.body.error == ErrorCode::NotFound => Ok(Json(false)),
        Err(e) => Err(e),
    }
}

/// Meerschaum's actions that are not a command to run: refused, never run.
const MEERSCHAUM_ACTIONS: [&str; 27] = [
    "attach",
    "bootstrap",
    "clear",
    "copy",
    "deduplicate",
    "delete",
    "drop",
    "edit",
    "index",
    "install",
    "login",
    "os",
    "pause",
    "register",
    "reload",
    "restart",
    "setup",
    "show",
    "sql",
    "stack",
    "start",
    "stop",
    "sync",
    "tag",
    "uninstall",
    "upgrade",
    "verify",
];

/// Meerschaum flags that mean nothing for a job here.
const DROPPED_FLAGS: [&str; 9] = [
    "-y",
    "--yes",
    "-f",
    "--force",
    "-d",
    "--daemon",
    "--debug",
    "--noask",
    "--nopretty",
];

/// The job `sysargs` describe (see the module's comment).
pub fn spec_from_sysargs(name: &str, sysargs: &[String], restart: bool) -> Result<JobSpec, String> {
    let mut words = Vec::new();
    let mut schedule = None;
    let mut restart = restart.then_some(RestartPolicy::OnFailure);
    let mut args = sysargs.iter();
    let mut first = true;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-e" | "--executor-keys" | "--name" => {
                args.next();
            }
            "api" if first => {
                args.next();
            }
            "-s" | "--schedule" | "--cron" => {
                schedule = Some(args.next().ok_or("-s needs a schedule")?.clone());
            }
            "--restart" => restart = restart.or(Some(RestartPolicy::OnFailure)),
            "--loop" => restart = Some(RestartPolicy::Always),
            flag if DROPPED_FLAGS.contains(&flag) => {}
            _ => words.push(arg.clone()),
        }
        first = false;
    }
    let words = action_words(words)?;
    let steps = split_chain_args(&words).map_err(|e| e.to_string())?;
    if steps.is_empty() {
        return Err("no command in sysargs".into());
    }
    let mut spec = JobSpec::new(name, steps);
    spec.schedule = schedule;
    if let (Some(policy), None) = (restart, &spec.schedule) {
        spec.restart = policy;
    }
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// The command Meerschaum's action `words` stand for (see the module's comment).
/// Meerschaum's action words as the command they stand for: `sh 'LINE'` the line
/// (run in a shell), `python 'CODE'` `python3 -c CODE`, other words as they are,
/// each step of a chain (`sh 'a' + sh 'b'`) an action of its own; Meerschaum's own
/// actions (`sync pipes` …) are refused with what mrsm runs instead.
pub fn action_words(words: Vec<String>) -> Result<Vec<String>, String> {
    let mut chained: Vec<String> = Vec::new();
    for (i, step) in words.split(|w| w == "+").enumerate() {
        if i > 0 {
            chained.push("+".into());
        }
        chained.extend(one_action(step.to_vec())?);
    }
    Ok(chained)
}

fn one_action(words: Vec<String>) -> Result<Vec<String>, String> {
    let Some(action) = words.first().map(String::as_str) else {
        return Ok(words);
    };
    let rest = &words[1..];
    // `sh -c …`, `sh script.sh`: the shell itself, with its own arguments.
    let options = rest.first().is_some_and(|w| w.starts_with('-'));
    match action {
        "sh" if !rest.is_empty() && !options => Ok(vec![rest.join(" ")]),
        "python" if !rest.is_empty() && !options => {
            Ok(vec!["python3".into(), "-c".into(), rest.join(" ")])
        }
        action if MEERSCHAUM_ACTIONS.contains(&action) => Err(format!(
            "Meerschaum's `{}` action is not something mrsm runs: mrsm runs commands; send the command as `sh 'COMMAND'` (or its words)",
            words.join(" ")
        )),
        _ => Ok(words),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, ApiError> {
    let name = job_name(&name)?;
    let (sysargs, properties) = match &body {
        Value::Array(_) => (body.clone(), Value::Null),
        Value::Object(map) => (
            map.get("sysargs").cloned().unwrap_or(Value::Null),
            map.get("properties").cloned().unwrap_or(Value::Null),
        ),
        _ => (Value::Null, Value::Null),
    };
    let sysargs: Vec<String> = serde_json::from_value(sysargs).map_err(|_| {
        ApiError::invalid(
            "expected a list of arguments or {\"sysargs\": [...], \"properties\": {...}}",
        )
    })?;
    let restart = properties
        .get("restart")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let spec = spec_from_sysargs(&name, &sysargs, restart).map_err(ApiError::invalid)?;
    let ex = state.executor.clone();
    match blocking(move || ex.create(&spec, &CreateOptions::default())).await {
        Ok(info) => Ok(Json(json!([true, format!("Started job '{}'.", info.name)]))),
        Err(e) if e.body.error == ErrorCode::AlreadyExists => Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::AlreadyExists,
            format!("Job '{name}' already exists."),
        )),
        Err(e) => Err(e),
    }
}

async fn verb(
    state: &AppState,
    name: String,
    work: impl FnOnce(&dyn Executor, &str) -> Result<Outcome, ExecutorError> + Send + 'static,
) -> Result<Json<Value>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    let job = name.clone();
    let outcome = blocking(move || work(ex.as_ref(), &job))
        .await
        .map_err(|e| failed(&name, e))?;
    Ok(Json(json!([true, outcome.to_string()])))
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    verb(&state, name, |ex, n| ex.delete(n, &DeleteOptions::purge())).await
}

pub(super) async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    verb(&state, name, |ex, n| ex.start(n)).await
}

pub(super) async fn stop(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    verb(&state, name, |ex, n| ex.stop(n, &StopOptions::default())).await
}

pub(super) async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    verb(&state, name, |ex, n| ex.pause(n)).await
}

pub(super) async fn stop_time(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = job_name(&name)?;
    let info = get_info(&state, &name).await?;
    let stopped = info.status.is_over() && info.last_result.as_ref().is_some_and(|r| r.stopped());
    Ok(Json(if stopped {
        naive(info.ended)
    } else {
        Value::Null
    }))
}

pub(super) async fn is_blocking_on_stdin(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<bool>, ApiError> {
    let name = job_name(&name)?;
    get_info(&state, &name).await?;
    // mrsm cannot tell a read from a wait: input is sent whenever the job reads.
    Ok(Json(false))
}

pub(super) async fn prompt_kwargs(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = job_name(&name)?;
    get_info(&state, &name).await?;
    Ok(Json(json!({})))
}

/// A line as the WebSocket, the text log and the Python package show it.
pub fn line_text(line: &LogLine) -> String {
    match line.stream {
        Stream::Gap => format!(
            "[mrsm: {} rotated away before they were read]",
            crate::print::count(line.dropped().unwrap_or_default(), "line")
        ),
        _ => line.text().into_owned(),
    }
}

pub(super) async fn log_text(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<String>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    let job = name.clone();
    let selection = crate::logs::Selection {
        tail: Some(TEXT_LOG_LINES),
        ..crate::logs::Selection::default()
    };
    // The text is made while the lines are held, among the few reads at once.
    let text = reading(&state, move || {
        let tail = ex.tail_logs(&job, &selection, TEXT_LOG_BYTES)?;
        let mut text = String::new();
        if tail.cut {
            text.push_str(&format!(
                "[mrsm: only the last {} lines; GET /v1/jobs/{job}/logs/page reads the whole log]\n",
                tail.lines.len()
            ));
        }
        for line in &tail.lines {
            text.push_str(&line_text(line));
            if !line.continues {
                text.push('\n');
            }
        }
        Ok(text)
    })
    .await
    .map_err(|e| failed(&name, e))?;
    Ok(Json(text))
}

/// The most lines `GET /logs/{name}` answers with (the last ones), and the most
/// bytes they may count for (as a page's lines do).
const TEXT_LOG_LINES: usize = 50_000;
const TEXT_LOG_BYTES: usize = 2 * crate::logs::PAGE_BYTES;

pub(super) async fn validate() -> Json<bool> {
    Json(true)
}

pub(super) async fn version() -> Json<String> {
    Json(format!("mrsm {}", env!("CARGO_PKG_VERSION")))
}

pub(super) async fn healthcheck() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
