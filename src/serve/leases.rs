//! Jobs that live only while their creator renews a lease: a foreground `mrsm run
//! -e api:NAME` creates its job with one, renews it while it follows the output,
//! and deletes the job when the run ends. If the client goes away without that (it
//! was killed, its machine or network went down), the lease runs out and the server
//! stops and deletes the job, so it never runs on for ever. The lease is part of
//! the job's definition, so a server started again gives such a job one more lease
//! time from its start for the client to come back.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::reply::{blocking, job_name, ApiError};
use super::AppState;
use crate::executor::{DeleteOptions, Executor, ExecutorError, LocalExecutor};
use crate::job::JobInfo;

/// When each leased job's lease runs out.
#[derive(Default)]
pub struct Leases {
    deadlines: Mutex<HashMap<String, Instant>>,
}

impl Leases {
    /// The job's lease runs for `ttl` more from now.
    fn renew(&self, name: &str, ttl: Duration) {
        let mut deadlines = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
        deadlines.insert(name.to_string(), Instant::now() + ttl);
    }

    /// The leased jobs among `jobs` whose lease ran out; a leased job seen for the
    /// first time (the server started again) gets a whole lease from now.
    fn expired(&self, jobs: &[JobInfo]) -> Vec<String> {
        let now = Instant::now();
        let mut deadlines = self.deadlines.lock().unwrap_or_else(|e| e.into_inner());
        deadlines.retain(|name, _| jobs.iter().any(|j| &j.name == name));
        let mut over = Vec::new();
        for job in jobs {
            let Some(ttl) = job.lease_ms.map(Duration::from_millis) else {
                continue;
            };
            let deadline = *deadlines.entry(job.name.clone()).or_insert(now + ttl);
            if deadline <= now {
                deadlines.remove(&job.name);
                over.push(job.name.clone());
            }
        }
        over
    }

    /// One look (from the watchdog's thread): stops and deletes, logs and history
    /// included, every leased job of `jobs` whose lease ran out; their names.
    pub fn end_expired(&self, executor: &LocalExecutor, jobs: &[JobInfo]) -> Vec<String> {
        let over = self.expired(jobs);
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
    let asked = name.clone();
    let info = blocking(move || ex.get(&asked)).await?;
    let ttl = info.lease_ms.map(Duration::from_millis).ok_or_else(|| {
        ApiError::from(ExecutorError::Unsupported {
            name: name.clone(),
            executor: "local".into(),
            what: "renew a lease it was not created with".into(),
        })
    })?;
    state.leases.renew(&name, ttl);
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{DesiredState, JobFile, JobSpec};

    fn leased(name: &str, ms: Option<u64>) -> JobInfo {
        let file = JobFile {
            spec: JobSpec::new(name, vec!["true".into()]),
            desired: DesiredState::Running,
            created: jiff::Timestamp::UNIX_EPOCH,
            project: None,
            spec_hash: None,
            resume: None,
            executor: None,
            lease_ms: ms,
        };
        JobInfo::derive(&file, None, "local")
    }

    #[test]
    fn a_lease_runs_out_unless_renewed_and_a_new_server_gives_one_more() {
        let leases = Leases::default();
        let jobs = [
            leased("a", Some(0)),
            leased("b", Some(60_000)),
            leased("c", None),
        ];
        // Seen for the first time: a whole lease from now (0 ms for `a`).
        assert_eq!(leases.expired(&jobs), ["a"]);
        leases.renew("b", Duration::ZERO);
        assert_eq!(leases.expired(&jobs), ["a", "b"]);
        leases.renew("b", Duration::from_secs(60));
        assert!(!leases.expired(&jobs).contains(&"b".to_string()));
    }
}
