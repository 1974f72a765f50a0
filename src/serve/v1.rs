//! mrsm's own routes, `/v1/…`: everything the `Executor` trait carries (full specs,
//! typed outcomes and errors, run history, logs by resumable cursor, stdin as
//! bytes), so that the `api` executor is the local one at a distance.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::hub::unseen;
use super::reply::{blocking, job_name, reading, scrub_info, ApiError};
use super::AppState;
use crate::executor::wire::{CreateBody, LogPage, ServerInfo, StopBody, API_VERSION};
use crate::executor::{Capabilities, DeleteOptions, Outcome, StopOptions};
use crate::job::{JobInfo, JobSpec, RunHistory};
use crate::logs::{LogLine, Selection, PAGE_BYTES};

pub(super) async fn info(State(state): State<AppState>) -> Json<ServerInfo> {
    let ex = state.executor.clone();
    // Its first computation stats the root: off the async workers.
    let home = tokio::task::spawn_blocking(move || ex.home())
        .await
        .ok()
        .flatten();
    Json(ServerInfo {
        api_version: API_VERSION,
        mrsm_version: env!("CARGO_PKG_VERSION").into(),
        capabilities: Capabilities::ALL,
        home,
    })
}

#[derive(Deserialize)]
pub(super) struct ProjectQuery {
    project: Option<String>,
}

pub(super) async fn list(
    State(state): State<AppState>,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<Vec<JobInfo>>, ApiError> {
    let ex = state.executor.clone();
    blocking(move || ex.list(q.project.as_deref()))
        .await
        .map(|jobs| Json(jobs.into_iter().map(scrub_info).collect()))
}

pub(super) async fn kept(
    State(state): State<AppState>,
    Query(q): Query<ProjectQuery>,
) -> Result<Json<Vec<String>>, ApiError> {
    let ex = state.executor.clone();
    blocking(move || ex.kept_jobs(q.project.as_deref()))
        .await
        .map(Json)
}

pub(super) async fn job(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<JobInfo>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    blocking(move || ex.get(&name))
        .await
        .map(|info| Json(scrub_info(info)))
}

fn checked_body(name: &str, body: &CreateBody) -> Result<(), ApiError> {
    job_name(name)?;
    if body.spec.name != name {
        return Err(ApiError::invalid(format!(
            "the path names job {name:?} but the spec names {:?}",
            body.spec.name
        )));
    }
    Ok(())
}

pub(super) async fn create(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<CreateBody>,
) -> Result<(StatusCode, Json<JobInfo>), ApiError> {
    checked_body(&name, &body)?;
    super::leases::may_lease(&caller, &body, "POST /v1/jobs/{name}")?;
    let ex = state.executor.clone();
    let root = state.root.clone();
    let info = blocking(move || {
        // The lease runs from now: noted before the job exists, so the watchdog
        // never sees it without.
        if body.lease_ms.is_some() {
            super::leases::note_renewal(&root, &body.spec.name)?;
        }
        ex.create(&body.spec, &body.options())
    })
    .await?;
    Ok((StatusCode::CREATED, Json(scrub_info(info))))
}

pub(super) async fn replace(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<CreateBody>,
) -> Result<Json<JobInfo>, ApiError> {
    checked_body(&name, &body)?;
    super::leases::may_lease(&caller, &body, "PUT /v1/jobs/{name}")?;
    let ex = state.executor.clone();
    let root = state.root.clone();
    blocking(move || {
        if body.lease_ms.is_some() {
            super::leases::note_renewal(&root, &body.spec.name)?;
        }
        ex.replace(&body.spec, &body.options())
    })
    .await
    .map(|info| Json(scrub_info(info)))
}

pub(super) async fn spec(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<JobSpec>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    blocking(move || ex.spec(&name)).await.map(Json)
}

pub(super) async fn start(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Outcome>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    blocking(move || ex.start(&name)).await.map(Json)
}

pub(super) async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Outcome>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    blocking(move || ex.pause(&name)).await.map(Json)
}

pub(super) async fn stop(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(body): Query<StopBody>,
) -> Result<Json<Outcome>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    let options = StopOptions::from(body);
    blocking(move || ex.stop(&name, &options)).await.map(Json)
}

#[derive(Deserialize)]
pub(super) struct DeleteQuery {
    #[serde(default)]
    purge: bool,
    #[serde(default)]
    signal: Option<crate::job::SignalName>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> Result<Json<Outcome>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    let options = DeleteOptions {
        stop: StopBody {
            signal: q.signal,
            timeout_ms: q.timeout_ms,
        }
        .into(),
        purge: q.purge,
    };
    blocking(move || ex.delete(&name, &options)).await.map(Json)
}

pub(super) async fn runs(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<RunHistory>, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    blocking(move || ex.runs(&name)).await.map(Json)
}

#[derive(Deserialize)]
pub(super) struct LogsQuery {
    tail: Option<usize>,
    since: Option<String>,
    #[serde(default)]
    output_only: bool,
}

pub(super) async fn logs(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<LogsQuery>,
) -> Result<Json<Vec<LogLine>>, ApiError> {
    let name = job_name(&name)?;
    if let Some(since) = &q.since {
        since.parse::<jiff::Timestamp>().map_err(|_| {
            ApiError::invalid("since: expected a UTC time such as 2026-05-01T12:00:00.000Z")
        })?;
    }
    let tail = match q.tail {
        Some(n) if n <= MAX_LOG_LINES => n,
        _ => {
            return Err(ApiError::invalid(format!(
                "give tail=N (at most {MAX_LOG_LINES}); a whole log is read by pages (logs/page?cursor=…)"
            )))
        }
    };
    let ex = state.executor.clone();
    let selection = Selection {
        tail: Some(tail),
        since: q.since,
        output_only: q.output_only,
    };
    // Read from the end of the log, at most PAGE_BYTES of lines.
    reading(&state, move || ex.tail_logs(&name, &selection, PAGE_BYTES))
        .await
        .map(|tail| Json(tail.lines))
}

#[derive(Deserialize)]
pub(super) struct PageQuery {
    #[serde(default)]
    cursor: u64,
    max: Option<usize>,
    /// Wait up to this long for a line when there is none yet (long poll).
    #[serde(default)]
    wait_ms: u64,
}

/// The most lines `GET /v1/jobs/{name}/logs` answers with: a whole log is read by
/// pages.
const MAX_LOG_LINES: usize = 10_000;

/// The longest a page request waits for lines.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// One page, read after the job's status (so `running: false` with no lines means
/// the log is complete).
async fn read_page(
    state: &AppState,
    name: &str,
    cursor: u64,
    max: usize,
) -> Result<LogPage, ApiError> {
    let ex = state.executor.clone();
    let name = name.to_string();
    reading(state, move || {
        let running = !ex.get(&name)?.status.is_over();
        // At most PAGE_BYTES of lines (at least one): long lines make short pages.
        let (lines, cursor) = ex.read_logs(&name, cursor, max)?;
        Ok(LogPage {
            lines,
            cursor,
            running,
        })
    })
    .await
}

pub(super) async fn page(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Json<LogPage>, ApiError> {
    let name = job_name(&name)?;
    let max = q.max.unwrap_or(1000).clamp(1, 10_000);
    let first = read_page(&state, &name, q.cursor, max).await?;
    if !first.lines.is_empty() || !first.running || q.wait_ms == 0 {
        return Ok(Json(first));
    }
    // Nothing yet: wait for the job's reader to see more, then read again.
    let hubs = state.hubs.clone();
    let job = name.clone();
    let mut subscription = blocking(move || hubs.subscribe(&job)).await?;
    let wait = Duration::from_millis(q.wait_ms).min(MAX_WAIT);
    let mut shutdown = state.shutdown.clone();
    let _ = tokio::time::timeout(wait, async {
        // Lines written between the first read and the subscription.
        if let Ok(page) = read_page(&state, &name, q.cursor, 1).await {
            if !page.lines.is_empty() || !page.running {
                return;
            }
        }
        loop {
            tokio::select! {
                batch = subscription.receiver.recv() => match batch {
                    Ok(batch) if batch.ended || !unseen(&batch, q.cursor).is_empty() => return,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(_) => return,
                },
                _ = shutdown.changed() => return,
            }
        }
    })
    .await;
    read_page(&state, &name, q.cursor, max).await.map(Json)
}

#[derive(Deserialize)]
pub(super) struct StdinQuery {
    #[serde(default)]
    eof: bool,
}

pub(super) async fn stdin(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<StdinQuery>,
    data: Bytes,
) -> Result<StatusCode, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    blocking(move || ex.send_input(&name, &data, q.eof)).await?;
    Ok(StatusCode::NO_CONTENT)
}
