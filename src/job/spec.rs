//! What a job is: its steps, schedule and policies (`JobSpec`), and the definition
//! file that pairs it with the desired state (`JobFile`, stored as `job.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::name::{validate_name, InvalidName};
use crate::schedule::{parse_schedule, ScheduleError};

/// When a finished run is started again (for jobs without a schedule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Run once.
    #[default]
    Never,
    /// Again after a failure (non-zero exit or a signal), with backoff.
    OnFailure,
    /// Again after every end, with backoff.
    Always,
}

/// What a schedule fire does when the previous run is still going.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverlapPolicy {
    /// Ignore the fire.
    #[default]
    Skip,
    /// Run once more as soon as the current run ends (at most one waiting).
    Queue,
    /// Stop the current run and start a new one.
    Replace,
    /// Start another run alongside.
    Allow,
}

/// What the job should be doing, as the user or the reconciler last said.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DesiredState {
    #[default]
    Running,
    Paused,
    Stopped,
}

macro_rules! impl_from_str_kebab {
    ($ty:ty, $what:literal, [$($text:literal => $value:path),+ $(,)?]) => {
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($value),)+
                    _ => Err(format!(concat!("unknown ", $what, " {:?}: expected one of {}"), s,
                        [$($text),+].join(", "))),
                }
            }
        }

        /// The word users write.
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(match self {
                    $($value => $text,)+
                })
            }
        }
    };
}

impl_from_str_kebab!(RestartPolicy, "restart policy", [
    "never" => RestartPolicy::Never, "on-failure" => RestartPolicy::OnFailure, "always" => RestartPolicy::Always,
]);
impl_from_str_kebab!(OverlapPolicy, "overlap policy", [
    "skip" => OverlapPolicy::Skip, "queue" => OverlapPolicy::Queue,
    "replace" => OverlapPolicy::Replace, "allow" => OverlapPolicy::Allow,
]);

/// A signal by name (`SIGTERM`, `TERM`, `term`) or number, checked when parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalName(pub nix::sys::signal::Signal);

impl FromStr for SignalName {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        use nix::sys::signal::Signal;
        let upper = s.trim().to_ascii_uppercase();
        let parsed = if let Ok(n) = upper.parse::<i32>() {
            Signal::try_from(n).ok()
        } else {
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            Signal::from_str(&full).ok()
        };
        parsed.map(SignalName).ok_or_else(|| {
            format!("unknown signal {s:?}: expected a name such as SIGTERM, SIGINT or SIGKILL")
        })
    }
}

impl std::fmt::Display for SignalName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl Serialize for SignalName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for SignalName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Default for SignalName {
    fn default() -> Self {
        SignalName(nix::sys::signal::Signal::SIGTERM)
    }
}

/// How a job is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopSettings {
    /// Sent first to every process of the job.
    #[serde(default)]
    pub signal: SignalName,
    /// How long to wait after it before SIGKILL.
    #[serde(default = "default_grace", with = "humantime_serde_ms")]
    pub timeout: Duration,
}

/// The longest grace period a stop may have: beyond it a stop would never end in
/// practice (and adding the allowances a stop is waited for with would overflow).
pub const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// A grace period, refused when over [`MAX_STOP_TIMEOUT`].
pub fn check_stop_timeout(timeout: Duration) -> Result<Duration, SpecError> {
    match timeout <= MAX_STOP_TIMEOUT {
        true => Ok(timeout),
        false => Err(SpecError::Invalid(format!(
            "a stop timeout of {} is over the longest, {}",
            humantime::format_duration(timeout),
            humantime::format_duration(MAX_STOP_TIMEOUT)
        ))),
    }
}

fn default_grace() -> Duration {
    Duration::from_secs(10)
}

impl Default for StopSettings {
    fn default() -> Self {
        StopSettings {
            signal: SignalName::default(),
            timeout: default_grace(),
        }
    }
}

/// Durations stored as human-readable strings (`10s`, `1m 30s`).
pub(super) mod humantime_serde_ms {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Log file limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSettings {
    /// Rotate when the current file would grow past this many bytes.
    #[serde(default = "default_log_size")]
    pub max_size: u64,
    /// Files kept, the current one included.
    #[serde(default = "default_log_keep")]
    pub keep: u32,
    /// The most output bytes in one record: a longer line is split into records
    /// marked as continued. Left out of `job.json` when it is the default, so that
    /// specs written before it existed hash the same.
    #[serde(
        default = "default_log_max_line",
        skip_serializing_if = "is_default_log_max_line"
    )]
    pub max_line: u64,
}

fn default_log_size() -> u64 {
    10 * 1024 * 1024
}

fn default_log_keep() -> u32 {
    5
}

/// The most output bytes in one log record unless a job says otherwise (the log
/// writer's own default is the same: `supervisor` checks it).
pub const DEFAULT_MAX_LINE: u64 = 64 * 1024;

fn default_log_max_line() -> u64 {
    DEFAULT_MAX_LINE
}

fn is_default_log_max_line(n: &u64) -> bool {
    *n == default_log_max_line()
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            max_size: default_log_size(),
            keep: default_log_keep(),
            max_line: default_log_max_line(),
        }
    }
}

/// Everything that decides how a job runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    pub name: String,
    /// The steps of the chain, each a shell command (or, when `shell` is false, a
    /// program and its arguments, split on whitespace outside quotes).
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default)]
    pub restart: RestartPolicy,
    #[serde(default)]
    pub overlap: OverlapPolicy,
    #[serde(default)]
    pub stop: StopSettings,
    #[serde(default)]
    pub logs: LogSettings,
    /// Delete the job when it has finished.
    #[serde(default)]
    pub rm: bool,
    #[serde(default = "yes")]
    pub shell: bool,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// Allow a schedule to fire more often than once a second.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_fast: bool,
    /// Run each step on a Slurm cluster with these options (the `slurm` executor
    /// sets it); none runs the steps on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm: Option<super::SlurmOptions>,
    /// The steps as the spec file wrote them, before `${VAR}` interpolation, when
    /// that differs from `command`: what listings, the API, log lines and run
    /// records show (see `shown.rs`), so that a value from `.env` or the
    /// environment reaches the job but is never shown. Cosmetic: the spec hash
    /// leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub written_command: Option<Vec<String>>,
    /// Probed by the supervisor while a run goes (`healthcheck:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::HealthCheck>,
    /// Commands run after each run, by how it ended (`on_success:`, …).
    #[serde(default, skip_serializing_if = "super::Hooks::is_empty")]
    pub hooks: super::Hooks,
    /// The jobs this one starts after, and what it waits of each (`depends_on:`):
    /// what `up`, `down` and a stop of several jobs order by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<super::Dependency>,
    /// Run once after each run of these jobs (`after:`), instead of at once or on
    /// a schedule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<super::After>,
}

fn yes() -> bool {
    true
}

/// The longest log record allowed (a supervisor holds one in memory per stream).
pub const MAX_LINE_LIMIT: u64 = 64 << 20;

/// The shortest interval a schedule may have unless the job allows faster ones: a
/// schedule below it is far more often a typo (`every 0.0001 seconds`) than a need,
/// and each fire costs a process start.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// Why a schedule is too fast for a job, if it is.
pub fn too_fast(schedule: &crate::schedule::Schedule, allow_fast: bool) -> Option<String> {
    let shortest = schedule.shortest_interval()?;
    (shortest < MIN_INTERVAL && !allow_fast).then(|| {
        format!(
            "schedule {:?} fires every {}, more often than once a second; allow it with --allow-fast (allow_fast: true in a spec file)",
            schedule.as_str(),
            humantime::format_duration(shortest)
        )
    })
}

/// Why a spec cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Name(#[from] InvalidName),
    #[error("bad schedule: {0}")]
    Schedule(#[from] ScheduleError),
    #[error("job {0:?} has no command")]
    NoCommand(String),
    #[error("{0}")]
    Invalid(String),
}

impl JobSpec {
    /// A job running `command` steps with every setting at its default.
    pub fn new(name: impl Into<String>, command: Vec<String>) -> JobSpec {
        JobSpec {
            name: name.into(),
            command,
            schedule: None,
            timezone: None,
            restart: RestartPolicy::default(),
            overlap: OverlapPolicy::default(),
            stop: StopSettings::default(),
            logs: LogSettings::default(),
            rm: false,
            shell: true,
            env: BTreeMap::new(),
            cwd: None,
            allow_fast: false,
            slurm: None,
            written_command: None,
            health: None,
            hooks: super::Hooks::default(),
            depends_on: Vec::new(),
            after: None,
        }
    }

    /// Checks everything that can be checked before the job starts.
    pub fn validate(&self) -> Result<(), SpecError> {
        validate_name(&self.name)?;
        if self.command.is_empty() || self.command.iter().any(|s| s.trim().is_empty()) {
            return Err(SpecError::NoCommand(self.name.clone()));
        }
        if !self.shell {
            for (index, step) in self.command.iter().enumerate() {
                // Said of the step as shown: the text that runs may hold a secret.
                super::words::split_words(step).map_err(|e| {
                    let shown = super::UnterminatedQuote {
                        text: self.shown_step(index).into_owned(),
                        ..e
                    };
                    SpecError::Invalid(shown.to_string())
                })?;
            }
        }
        if let Some(text) = &self.schedule {
            let schedule = parse_schedule(text)?;
            if let Some(message) = too_fast(&schedule, self.allow_fast) {
                return Err(SpecError::Invalid(message));
            }
            let schedule = match &self.timezone {
                Some(tz) => schedule.in_zone(tz)?,
                None => schedule,
            };
            schedule.fire_times(Timestamp::now())?;
        } else if let Some(tz) = &self.timezone {
            crate::schedule::tz_data()
                .get(tz)
                .ok_or_else(|| SpecError::Invalid(format!("unknown time zone {tz:?}")))?;
        }
        if let Some(problem) = self.slurm.as_ref().and_then(|s| s.problem()) {
            return Err(SpecError::Invalid(problem));
        }
        if let Some(problem) = self.health.as_ref().and_then(|h| h.problem()) {
            return Err(SpecError::Invalid(problem));
        }
        check_stop_timeout(self.stop.timeout)?;
        if self.logs.keep == 0 || self.logs.max_size == 0 || self.logs.max_line == 0 {
            return Err(SpecError::Invalid(
                "log size, line size and the number of log files kept must be positive".into(),
            ));
        }
        if self.logs.max_line > MAX_LINE_LIMIT {
            return Err(SpecError::Invalid(format!(
                "the longest log record ({} bytes) may be at most 64 MiB",
                self.logs.max_line
            )));
        }
        Ok(())
    }
}

/// Where a job's schedule stands, carried from one supervisor to the next when the
/// job's definition is replaced without touching its schedule: the update neither
/// re-anchors the schedule nor fires it at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleResume {
    /// The instant the schedule was first armed (the `now` its start phrase and
    /// interval grid are read against).
    pub anchor: Timestamp,
    /// The fire it was waiting for (a past one fires once, at once).
    pub next_fire: Option<Timestamp>,
}

/// `job.json`: the spec, the desired state and the labels the reconciler uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFile {
    pub spec: JobSpec,
    pub desired: DesiredState,
    pub created: Timestamp,
    /// The project that declared the job (none for jobs made by `mrsm run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// Hash of the spec as the project declared it, so changes are noticed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_hash: Option<String>,
    /// Set when the definition was replaced with the same schedule: the new
    /// supervisor continues it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ScheduleResume>,
    /// The executor that holds the job when it is not `local` (executors that share
    /// a root, `local` and `slurm`, each list only their own jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor: Option<String>,
    /// The job lives only while its creator renews its lease (milliseconds): a
    /// foreground run on a server, deleted by the server when its client is gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_any_name() {
        for text in ["SIGTERM", "TERM", "term", "15"] {
            assert_eq!(
                text.parse::<SignalName>().expect(text).to_string(),
                "SIGTERM"
            );
        }
        assert!("SIGFOO".parse::<SignalName>().is_err());
        assert!("99".parse::<SignalName>().is_err());
    }

    #[test]
    fn spec_round_trips_through_json() {
        let mut spec = JobSpec::new("etl", vec!["echo a".into(), "echo b".into()]);
        spec.stop.timeout = Duration::from_millis(1500);
        spec.restart = RestartPolicy::OnFailure;
        let json = serde_json::to_string(&spec).expect("serialises");
        assert!(
            json.contains("\"on-failure\"") && json.contains("1s 500ms"),
            "{json}"
        );
        let back: JobSpec = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, spec);
    }

    #[test]
    fn validation() {
        assert!(JobSpec::new("ok", vec!["true".into()]).validate().is_ok());
        assert!(JobSpec::new("bad name", vec!["true".into()])
            .validate()
            .is_err());
        assert!(JobSpec::new("x", vec![]).validate().is_err());
        let mut s = JobSpec::new("x", vec!["true".into()]);
        s.schedule = Some("every 1 fortnight".into());
        assert!(s.validate().is_err());
        s.schedule = Some("every 0.0001 seconds".into());
        let error = s.validate().expect_err("too fast").to_string();
        assert!(error.contains("more often than once a second"), "{error}");
        s.schedule = Some("every 0.5 seconds | hourly".into());
        assert!(s.validate().is_err());
        s.allow_fast = true;
        assert!(s.validate().is_ok());
        s.allow_fast = false;
        s.schedule = Some("every 1 second".into());
        assert!(s.validate().is_ok());
    }
}
