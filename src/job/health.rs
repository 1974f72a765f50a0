//! A job's health check (compose's `healthcheck`, plus an `http_get` form and a
//! liveness switch): what is probed and how often, and the status the probes
//! lead to. Pure data and decisions: the supervisor runs the probes.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a probe does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Probe {
    /// A program and its arguments, run without a shell (compose's `["CMD", …]`).
    Exec(Vec<String>),
    /// A shell command (compose's `["CMD-SHELL", "…"]`, or a string).
    Shell(String),
    /// An HTTP GET whose answer must have the expected status.
    Http(HttpGet),
}

/// An HTTP probe: `scheme://host:port/path`, healthy when the status is `status`
/// (any of 200–399 when not given, as Kubernetes' `httpGet`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpGet {
    pub scheme: HttpScheme,
    pub host: String,
    pub port: u16,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpScheme {
    Http,
    Https,
}

impl HttpGet {
    /// The address probed.
    pub fn url(&self) -> String {
        let scheme = match self.scheme {
            HttpScheme::Http => "http",
            HttpScheme::Https => "https",
        };
        format!("{scheme}://{}:{}{}", self.host, self.port, self.path)
    }

    /// Whether an answer with `status` is a healthy one.
    pub fn healthy(&self, status: u16) -> bool {
        match self.status {
            Some(expected) => status == expected,
            None => (200..400).contains(&status),
        }
    }
}

/// A job's health check, with compose's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub probe: Probe,
    /// Between probes once the start period is over.
    #[serde(with = "super::spec::humantime_serde_ms")]
    pub interval: Duration,
    /// A probe taking longer fails (its processes are killed).
    #[serde(with = "super::spec::humantime_serde_ms")]
    pub timeout: Duration,
    /// Failures in a row that make the job unhealthy.
    pub retries: u32,
    /// After a run starts, failures do not count (a success still makes it healthy).
    #[serde(with = "super::spec::humantime_serde_ms")]
    pub start_period: Duration,
    /// Between probes during the start period.
    #[serde(with = "super::spec::humantime_serde_ms")]
    pub start_interval: Duration,
    /// A run that turns unhealthy is stopped, and restarted under the job's
    /// restart policy (process-compose's `liveness_probe`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub liveness: bool,
}

impl HealthCheck {
    /// A check running `probe` with compose's timings (30 s interval and timeout,
    /// 3 retries, no start period, 5 s start interval).
    pub fn new(probe: Probe) -> HealthCheck {
        HealthCheck {
            probe,
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            retries: 3,
            start_period: Duration::ZERO,
            start_interval: Duration::from_secs(5),
            liveness: false,
        }
    }

    /// Why the check cannot be used, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.interval.is_zero() || self.timeout.is_zero() || self.start_interval.is_zero() {
            return Some(
                "healthcheck interval, timeout and start_interval must be positive".into(),
            );
        }
        if self.retries == 0 {
            return Some("healthcheck retries must be at least 1".into());
        }
        match &self.probe {
            Probe::Exec(args) if args.is_empty() || args[0].trim().is_empty() => {
                Some("the healthcheck's test names no program".into())
            }
            Probe::Shell(s) if s.trim().is_empty() => {
                Some("the healthcheck's test is empty".into())
            }
            Probe::Http(h) if !h.path.starts_with('/') => Some(format!(
                "the healthcheck's http_get path {:?} must start with /",
                h.path
            )),
            _ => None,
        }
    }

    /// How the probe is shown in the log.
    pub fn shown(&self) -> String {
        match &self.probe {
            Probe::Exec(args) => super::shell_join(args),
            Probe::Shell(s) => s.clone(),
            Probe::Http(h) => format!("GET {}", h.url()),
        }
    }
}

/// What the probes say of the running job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No probe has passed yet and the failures do not count yet.
    Starting,
    Healthy,
    Unhealthy,
}

impl std::fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        })
    }
}

/// A run's health as its supervisor reports it (`state.json`, `show jobs --json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    pub status: HealthStatus,
    /// The run the probes are about.
    pub run: u64,
    /// Failures in a row so far.
    pub failures: u32,
    /// What the last probe said (its output's last line, or why it failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<String>,
}

/// The decisions of compose's health state machine for one run: fed each probe's
/// outcome with the time since the run began, it says the status and when to
/// probe next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthTracker {
    pub status: HealthStatus,
    pub failures: u32,
}

impl Default for HealthTracker {
    fn default() -> Self {
        HealthTracker {
            status: HealthStatus::Starting,
            failures: 0,
        }
    }
}

impl HealthTracker {
    /// A probe's outcome `since` the run began; the new status when it changed.
    pub fn observe(
        &mut self,
        check: &HealthCheck,
        ok: bool,
        since: Duration,
    ) -> Option<HealthStatus> {
        let before = self.status;
        if ok {
            self.failures = 0;
            self.status = HealthStatus::Healthy;
        } else {
            let in_start_period = since < check.start_period;
            // During the start period a failure does not count (compose), unless
            // the run was healthy already.
            if !(in_start_period && before == HealthStatus::Starting) {
                self.failures = self.failures.saturating_add(1);
            }
            if self.failures >= check.retries {
                self.status = HealthStatus::Unhealthy;
            }
        }
        (self.status != before).then_some(self.status)
    }

    /// How long after a probe at `since` (from the run's start) the next one runs.
    pub fn next_delay(&self, check: &HealthCheck, since: Duration) -> Duration {
        match self.status == HealthStatus::Starting && since < check.start_period {
            true => check.start_interval,
            false => check.interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> HealthCheck {
        let mut c = HealthCheck::new(Probe::Shell("true".into()));
        c.retries = 2;
        c.start_period = Duration::from_secs(10);
        c
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_until_a_success() {
        let c = check();
        let mut t = HealthTracker::default();
        for s in 0..5 {
            assert_eq!(t.observe(&c, false, Duration::from_secs(s)), None);
        }
        assert_eq!(t.status, HealthStatus::Starting);
        assert_eq!(t.next_delay(&c, Duration::from_secs(4)), c.start_interval);
        assert_eq!(
            t.observe(&c, true, Duration::from_secs(5)),
            Some(HealthStatus::Healthy)
        );
        // Healthy in the start period: failures count now.
        assert_eq!(t.observe(&c, false, Duration::from_secs(6)), None);
        assert_eq!(
            t.observe(&c, false, Duration::from_secs(7)),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(t.next_delay(&c, Duration::from_secs(7)), c.interval);
        assert_eq!(
            t.observe(&c, true, Duration::from_secs(8)),
            Some(HealthStatus::Healthy)
        );
    }

    #[test]
    fn after_the_start_period_retries_failures_make_it_unhealthy() {
        let c = check();
        let mut t = HealthTracker::default();
        assert_eq!(t.observe(&c, false, Duration::from_secs(11)), None);
        assert_eq!(
            t.observe(&c, false, Duration::from_secs(12)),
            Some(HealthStatus::Unhealthy)
        );
        assert_eq!(t.failures, 2);
    }

    #[test]
    fn problems_are_said() {
        let mut c = check();
        assert_eq!(c.problem(), None);
        c.retries = 0;
        assert!(c.problem().is_some());
        let http = HealthCheck::new(Probe::Http(HttpGet {
            scheme: HttpScheme::Http,
            host: "127.0.0.1".into(),
            port: 80,
            path: "health".into(),
            status: None,
        }));
        assert!(http.problem().expect("path").contains("start with /"));
    }

    #[test]
    fn http_status_ranges() {
        let mut h = HttpGet {
            scheme: HttpScheme::Http,
            host: "localhost".into(),
            port: 8080,
            path: "/".into(),
            status: None,
        };
        assert!(h.healthy(200) && h.healthy(302) && !h.healthy(404) && !h.healthy(500));
        h.status = Some(204);
        assert!(h.healthy(204) && !h.healthy(200));
        assert_eq!(h.url(), "http://localhost:8080/");
    }
}
