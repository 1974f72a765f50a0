//! Jobs that live only while their creator renews a lease: a foreground `mrsm run
//! -e api:NAME` creates its job with one, renews it while it follows the output,
//! and deletes the job when the run ends. If the client goes away without that (it
//! was killed, its machine or network went down), the lease runs out and the server
//! stops and deletes the job, so it never runs on for ever.
//!
//! The lease is part of the job's definition and each renewal is noted in the job's
//! directory (`lease`, its time), so every server on the root sees the same lease
//! (two servers on one root, each with its own clients) and a server started again
//! gives such a job one whole lease from its start for its client to come back.
//! Asking for a lease asks the server to stop and delete the job, logs included, so
//! it needs the scopes of a delete too.

use std::time::{Duration, SystemTime};

use super::auth::Caller;
use super::reply::{blocking, job_name, ApiError};
use super::routes::refusal;
use super::AppState;
use crate::executor::wire::{CreateBody, ErrorCode};
use crate::executor::{DeleteOptions, Executor, ExecutorError};
use crate::job::JobInfo;
use crate::store::scopes::Scope;
use crate::store::Root;
use axum::extract::{Path, State};
use axum::http::StatusCode;

/// What a lease lets the server do once it runs out: a delete's scopes.
const LEASE_SCOPES: &[Scope] = &[Scope::JobsExecute, Scope::JobsStop, Scope::JobsDelete];

/// A create or replace that asks for a lease is refused (403) unless its token may
/// also delete the job, which is what the lease lets the server do.
pub(super) fn may_lease(caller: &Caller, body: &CreateBody, route: &str) -> Result<(), ApiError> {
    if body.lease_ms.is_none() {
        return Ok(());
    }
    let lacking = caller.scopes.lacking(LEASE_SCOPES);
    if lacking.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Forbidden,
        refusal(
            &format!("{route} with a lease (the server deletes the job when it runs out)"),
            LEASE_SCOPES,
            &caller.token,
            &lacking,
        ),
    ))
}

/// Where a job's last renewal is noted.
fn renewed_file(root: &Root, name: &str) -> std::path::PathBuf {
    root.job_dir(name).join("lease")
}

/// Notes a renewal of the job's lease, now (also when a job is made with one: its
/// lease runs from then).
pub(super) fn note_renewal(root: &Root, name: &str) -> Result<(), ExecutorError> {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    crate::store::write_json_unflushed(&renewed_file(root, name), &now)?;
    Ok(())
}

/// When the job's lease was last renewed, if ever.
fn last_renewal(root: &Root, name: &str) -> Option<SystemTime> {
    let ms: u64 = crate::store::read_json(&renewed_file(root, name)).ok()??;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

/// Whether a leased job's lease has run out: its last renewal (or the server's
/// start, when that was later: a server started again gives it one more lease) is
/// more than `ttl` ago.
fn ran_out(last: Option<SystemTime>, started: SystemTime, ttl: Duration) -> bool {
    let from = last.map_or(started, |l| l.max(started));
    SystemTime::now()
        .duration_since(from)
        .is_ok_and(|since| since > ttl)
}

/// The leases of one server's root.
pub struct Leases {
    /// When this server started.
    started: SystemTime,
}

impl Default for Leases {
    fn default() -> Leases {
        Leases {
            started: SystemTime::now(),
        }
    }
}

impl Leases {
    /// One look (from the watchdog's thread): stops and deletes, logs and history
    /// included, every leased job of `jobs` whose lease ran out; their names.
    pub fn end_expired(
        &self,
        executor: &dyn Executor,
        root: &Root,
        jobs: &[JobInfo],
    ) -> Vec<String> {
        let over: Vec<String> = jobs
            .iter()
            .filter_map(|job| Some((job, Duration::from_millis(job.lease_ms?))))
            .filter(|(job, ttl)| ran_out(last_renewal(root, &job.name), self.started, *ttl))
            .map(|(job, _)| job.name.clone())
            .collect();
        for name in &over {
            match executor.delete(name, &DeleteOptions::purge()) {
                Ok(_) => eprintln!(
                    "mrsm serve: job {name:?}: its client stopped renewing its lease; stopped and deleted it"
                ),
                Err(e) => eprintln!("mrsm serve: job {name:?}: its lease ran out, but: {e}"),
            }
        }
        over
    }
}

/// `POST /v1/jobs/{name}/lease`: the job's lease runs for its whole time again.
pub(super) async fn renew(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let name = job_name(&name)?;
    let ex = state.executor.clone();
    let root = state.root.clone();
    blocking(move || {
        let info = ex.get(&name)?;
        if info.lease_ms.is_none() {
            return Err(ExecutorError::Unsupported {
                name: name.clone(),
                executor: "local".into(),
                what: "renew a lease it was not created with".into(),
            });
        }
        note_renewal(&root, &name)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_runs_out_unless_renewed_and_a_new_server_gives_one_more() {
        let minute = Duration::from_secs(60);
        let now = SystemTime::now();
        let ago = |s: u64| now - Duration::from_secs(s);
        // Renewed 10 s ago, a 60 s lease: on.
        assert!(!ran_out(Some(ago(10)), ago(3600), minute));
        // Renewed 2 minutes ago: over.
        assert!(ran_out(Some(ago(120)), ago(3600), minute));
        // Never renewed, the server up for 2 minutes: over.
        assert!(ran_out(None, ago(120), minute));
        // Renewed long ago, but the server started 10 s ago: one more lease.
        assert!(!ran_out(Some(ago(3600)), ago(10), minute));
    }
}
