//! `GET /metrics`: the served jobs and the server itself in Prometheus' text
//! format, for a token with `metrics:read` (Prometheus sends it as a bearer
//! credential). A scrape reads each job's definition and state (as `GET /v1/jobs`
//! does), `stat`s its log and run history, and reads only the run records
//! appended since the last scrape (`tally.rs`): never a log file.

mod requests;
mod tally;
mod text;

pub use requests::count as count_requests;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::reply::{blocking, ApiError};
use super::AppState;
use crate::executor::Executor;
use crate::job::{JobInfo, JobStatus};
use crate::store::Root;
use tally::{Outcome, Tallies, DURATION_BOUNDS};
use text::{Exposition, Kind, CONTENT_TYPE};

/// Observations in buckets: counts per bucket (not cumulative; the text is),
/// their sum and count.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    pub buckets: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// Counts `v` in the first bucket whose bound holds it (or only in `+Inf`).
    pub fn observe(&mut self, v: f64, bounds: &[f64]) {
        if self.buckets.len() != bounds.len() {
            self.buckets.resize(bounds.len(), 0);
        }
        if let Some(i) = bounds.iter().position(|b| v <= *b) {
            self.buckets[i] += 1;
        }
        self.sum += v;
        self.count += 1;
    }
}

/// What the server keeps between scrapes.
#[derive(Default)]
pub struct Metrics {
    tallies: Mutex<Tallies>,
    requests: requests::Requests,
}

/// Every status a job can have, so each has a series (0 when no job has it).
const STATUSES: [JobStatus; 5] = [
    JobStatus::Running,
    JobStatus::Paused,
    JobStatus::Stopped,
    JobStatus::Failed,
    JobStatus::Broken,
];

/// The bytes of a job's log, current file and rotated ones (`stat` only).
fn log_bytes(root: &Root, name: &str) -> u64 {
    let current = root.log_file(name);
    let mut total = std::fs::metadata(&current).map_or(0, |m| m.len());
    for n in 1.. {
        let rotated = current.with_extension(format!("log.{n}"));
        match std::fs::metadata(&rotated) {
            Ok(m) => total += m.len(),
            Err(_) => break,
        }
    }
    total
}

/// The resident memory of process `pid` (bytes), from `/proc/PID/statm`.
fn resident_bytes(pid: i32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // Asked once, not once per job of every scrape.
    static PAGE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let page = *PAGE.get_or_init(|| {
        nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .and_then(|p| u64::try_from(p).ok())
            .unwrap_or(4096)
    });
    Some(pages * page)
}

impl Metrics {
    /// The scrape's text for `jobs`, kept under `root`.
    fn render(&self, executor: &dyn Executor, root: &Root, jobs: &[JobInfo]) -> String {
        let mut e = Exposition::default();
        e.family("mrsm_jobs", Kind::Gauge, "Jobs by executor and status.");
        let mut executors: Vec<&str> = jobs.iter().map(|j| j.executor.as_str()).collect();
        executors.push("local");
        executors.sort_unstable();
        executors.dedup();
        for executor in &executors {
            for status in STATUSES {
                let n = jobs
                    .iter()
                    .filter(|j| j.executor == *executor && j.status == status)
                    .count();
                let status = status.to_string();
                e.sample(
                    "mrsm_jobs",
                    &[("executor", executor), ("status", &status)],
                    n as f64,
                );
            }
        }
        self.job_families(&mut e, executor, root, jobs);
        self.request_families(&mut e);
        e.finish()
    }

    fn job_families(
        &self,
        e: &mut Exposition,
        executor: &dyn Executor,
        root: &Root,
        jobs: &[JobInfo],
    ) {
        let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
        let tallies = self
            .tallies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .update(executor, root, &names);
        e.family(
            "mrsm_job_info",
            Kind::Gauge,
            "1 for each job, labelled with its executor and status.",
        );
        for job in jobs {
            let status = job.status.to_string();
            e.sample(
                "mrsm_job_info",
                &[
                    ("job_name", &job.name),
                    ("executor", &job.executor),
                    ("status", &status),
                ],
                1.0,
            );
        }
        e.family(
            "mrsm_runs_total",
            Kind::Counter,
            "Finished runs by job and result (success, failure, stopped).",
        );
        for (job, tally) in jobs.iter().zip(&tallies) {
            for outcome in Outcome::ALL {
                e.sample(
                    "mrsm_runs_total",
                    &[("job_name", &job.name), ("result", outcome.label())],
                    tally.count(outcome) as f64,
                );
            }
        }
        e.family(
            "mrsm_run_duration_seconds",
            Kind::Histogram,
            "How long finished runs took, by job.",
        );
        for (job, tally) in jobs.iter().zip(&tallies) {
            e.histogram(
                "mrsm_run_duration_seconds",
                &[("job_name", &job.name)],
                &tally.durations,
                &DURATION_BOUNDS,
            );
        }
        e.family(
            "mrsm_job_health",
            Kind::Gauge,
            "1 for each running job with a health check, labelled with what its probes say (starting, healthy, unhealthy).",
        );
        for job in jobs {
            if let Some(health) = job
                .health
                .as_ref()
                .filter(|_| job.status == JobStatus::Running)
            {
                let status = health.status.to_string();
                e.sample(
                    "mrsm_job_health",
                    &[("job_name", &job.name), ("status", &status)],
                    1.0,
                );
            }
        }
        e.family(
            "mrsm_job_restarts_total",
            Kind::Counter,
            "Runs started again by the restart policy, by job (since its supervisor started).",
        );
        for job in jobs {
            e.sample(
                "mrsm_job_restarts_total",
                &[("job_name", &job.name)],
                f64::from(job.restarts),
            );
        }
        e.family(
            "mrsm_log_bytes",
            Kind::Gauge,
            "Bytes of each job's log on disk, rotated files included.",
        );
        for job in jobs {
            e.sample(
                "mrsm_log_bytes",
                &[("job_name", &job.name)],
                log_bytes(root, &job.name) as f64,
            );
        }
        e.family(
            "mrsm_log_dropped_lines",
            Kind::Gauge,
            "Output lines the log could not keep (a full disk) and has not reported yet.",
        );
        for job in jobs {
            e.sample(
                "mrsm_log_dropped_lines",
                &[("job_name", &job.name)],
                job.log_dropped_lines as f64,
            );
        }
        e.family(
            "mrsm_schedule_lag_seconds",
            Kind::Gauge,
            "The newest scheduled run's start minus the fire time it was planned for.",
        );
        for (job, tally) in jobs.iter().zip(&tallies) {
            if let Some(lag) = tally.lag {
                e.sample("mrsm_schedule_lag_seconds", &[("job_name", &job.name)], lag);
            }
        }
        e.family(
            "mrsm_job_next_fire_timestamp_seconds",
            Kind::Gauge,
            "When a scheduled job fires next (Unix time).",
        );
        for job in jobs {
            if let Some(next) = job.next_fire {
                e.sample(
                    "mrsm_job_next_fire_timestamp_seconds",
                    &[("job_name", &job.name)],
                    next.as_millisecond() as f64 / 1000.0,
                );
            }
        }
        e.family(
            "mrsm_supervisor_resident_bytes",
            Kind::Gauge,
            "Resident memory of each running job's supervisor.",
        );
        for job in jobs {
            if let Some(bytes) = job.supervisor_pid.and_then(resident_bytes) {
                e.sample(
                    "mrsm_supervisor_resident_bytes",
                    &[("job_name", &job.name)],
                    bytes as f64,
                );
            }
        }
    }

    fn request_families(&self, e: &mut Exposition) {
        e.family(
            "mrsm_http_requests_total",
            Kind::Counter,
            "Requests the server answered, by route pattern, method and status code.",
        );
        for ((route, method, status), n) in self.requests.counts() {
            let code = status.to_string();
            e.sample(
                "mrsm_http_requests_total",
                &[("route", route), ("method", method), ("code", &code)],
                n as f64,
            );
        }
        e.family(
            "mrsm_http_request_duration_seconds",
            Kind::Histogram,
            "Time to each response's head, by route pattern.",
        );
        for (route, histogram) in self.requests.latencies() {
            e.histogram(
                "mrsm_http_request_duration_seconds",
                &[("route", route)],
                &histogram,
                &requests::LATENCY_BOUNDS,
            );
        }
        if let Some(bytes) = resident_bytes(std::process::id() as i32) {
            e.family(
                "mrsm_server_resident_bytes",
                Kind::Gauge,
                "Resident memory of the server.",
            );
            e.sample("mrsm_server_resident_bytes", &[], bytes as f64);
        }
    }
}

/// Whether a `Host` header names this machine's loopback (`localhost`,
/// `127.0.0.1:9108`, `[::1]`).
fn is_loopback_host(host: &str) -> bool {
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return ip.is_loopback();
    }
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `--metrics-bind` asks for no token, so it answers only requests addressed to
/// loopback: a web page that renamed its host to this address (DNS rebinding)
/// is refused.
pub async fn loopback_host(request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_host(host) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            crate::executor::wire::ErrorCode::Forbidden,
            "--metrics-bind answers requests to a loopback host only (Host: localhost or 127.0.0.1)",
        )
        .into_response();
    }
    next.run(request).await
}

/// `GET /metrics`.
pub(super) async fn scrape(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ex = state.executor.clone();
    let root = state.root.clone();
    let metrics: Arc<Metrics> = state.metrics.clone();
    let text = blocking(move || {
        let jobs = ex.list(None)?;
        Ok(metrics.render(ex.as_ref(), &root, &jobs))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_loopback_hosts_pass() {
        for host in [
            "localhost",
            "localhost:9108",
            "127.0.0.1:9108",
            "127.3.2.1",
            "[::1]:9108",
            "::1",
        ] {
            assert!(super::is_loopback_host(host), "{host}");
        }
        for host in [
            "",
            "attacker.example",
            "attacker.example:9108",
            "10.0.0.1:9108",
            "[::2]:1",
            "localhost.attacker.example",
        ] {
            assert!(!super::is_loopback_host(host), "{host}");
        }
    }
}
