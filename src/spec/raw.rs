//! The spec file as written: what each key holds, with its place, before any
//! value is checked (`read.rs` fills these in from the file's nodes), and the keys
//! each mapping accepts.

use super::fields::At;
use crate::job::SlurmOptions;

/// A command: one string (steps split on a lone `+`) or a list of steps.
#[derive(Clone, Debug)]
pub enum RawCommand {
    One(String),
    Steps(Vec<String>),
}

/// One path or several.
#[derive(Clone, Debug)]
pub enum RawPaths {
    One(String),
    Many(Vec<String>),
}

/// A named executor beyond `local`: a remote `mrsm serve` (`url`, `token`), or a
/// Slurm cluster (`kind: slurm` and the options every job on it gets).
#[derive(Clone, Debug, Default)]
pub struct RawExecutor {
    pub kind: Option<At<String>>,
    pub url: Option<At<String>>,
    pub token: Option<At<String>>,
    pub ca_file: Option<At<String>>,
    pub timeout: Option<At<String>>,
    pub connect_timeout: Option<At<String>>,
    /// The Slurm options it gives (a `kind: slurm` executor's).
    pub slurm: SlurmOptions,
}

impl RawExecutor {
    /// The keys of a remote executor, each with whether it is given.
    pub fn remote_keys(&self) -> [(&'static str, bool); 5] {
        [
            ("url", self.url.is_some()),
            ("token", self.token.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("timeout", self.timeout.is_some()),
            ("connect_timeout", self.connect_timeout.is_some()),
        ]
    }

    /// Whether any Slurm option is given.
    pub fn has_slurm_options(&self) -> bool {
        self.slurm != SlurmOptions::default()
    }
}

/// A `healthcheck:` as written.
#[derive(Clone, Debug, Default)]
pub struct RawHealth {
    /// `"…"` (a shell command), or `["CMD", …]`, `["CMD-SHELL", "…"]`, `["NONE"]`.
    pub test: Option<At<RawTest>>,
    pub http_get: Option<At<RawHttpGet>>,
    pub interval: Option<At<String>>,
    pub timeout: Option<At<String>>,
    pub retries: Option<At<u32>>,
    pub start_period: Option<At<String>>,
    pub start_interval: Option<At<String>>,
    pub disable: Option<At<bool>>,
    pub liveness: Option<At<bool>>,
}

/// A health check's `test`.
#[derive(Clone, Debug)]
pub enum RawTest {
    Shell(String),
    List(Vec<String>),
}

/// A health check's `http_get`.
#[derive(Clone, Debug, Default)]
pub struct RawHttpGet {
    pub scheme: Option<At<String>>,
    pub host: Option<At<String>>,
    pub port: Option<At<u32>>,
    /// `port:` was written (a value that is not a number is reported already).
    pub port_written: bool,
    pub path: Option<At<String>>,
    pub status: Option<At<u32>>,
}

/// One entry of `depends_on:` (the short form gives only the name).
#[derive(Clone, Debug)]
pub struct RawDependency {
    pub name: At<String>,
    pub condition: Option<At<String>>,
    pub ready_log_line: Option<At<String>>,
    pub restart: Option<At<bool>>,
    pub required: Option<At<bool>>,
    pub timeout: Option<At<String>>,
}

/// An `after:` as written: the upstream jobs, and `when` (any, all) and `on`
/// (success, end).
#[derive(Clone, Debug, Default)]
pub struct RawAfter {
    pub jobs: Vec<At<String>>,
    pub when: Option<At<String>>,
    pub on: Option<At<String>>,
}

/// Keys each mapping accepts, for "did you mean".
pub const JOB_KEYS: [&str; 23] = [
    "command",
    "schedule",
    "timezone",
    "overlap",
    "restart",
    "executor",
    "env",
    "env_file",
    "cwd",
    "state",
    "stop",
    "logs",
    "shell",
    "allow_fast",
    "slurm",
    "healthcheck",
    "depends_on",
    "on_start",
    "on_success",
    "on_failure",
    "hook_timeout",
    "replicas",
    "after",
];
pub const AFTER_KEYS: [&str; 3] = ["jobs", "when", "on"];
/// Compose's names that mean the same as a job key: (compose's, mrsm's).
pub const JOB_ALIASES: [(&str, &str); 2] = [("environment", "env"), ("working_dir", "cwd")];
pub const TOP_KEYS: [&str; 4] = ["project", "executors", "defaults", "jobs"];
pub const STOP_KEYS: [&str; 2] = ["signal", "timeout"];
pub const LOGS_KEYS: [&str; 3] = ["max_size", "keep", "max_line"];
pub const EXECUTOR_KEYS: [&str; 14] = [
    "kind",
    "url",
    "token",
    "ca_file",
    "timeout",
    "connect_timeout",
    "partition",
    "account",
    "qos",
    "time",
    "cpus",
    "mem",
    "gres",
    "extra",
];
pub const SLURM_KEYS: [&str; 8] = [
    "partition",
    "account",
    "qos",
    "time",
    "cpus",
    "mem",
    "gres",
    "extra",
];
pub const HEALTH_KEYS: [&str; 9] = [
    "test",
    "http_get",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
    "liveness",
];
pub const HTTP_GET_KEYS: [&str; 5] = ["scheme", "host", "port", "path", "status"];
pub const DEPENDENCY_KEYS: [&str; 5] = [
    "condition",
    "ready_log_line",
    "restart",
    "required",
    "timeout",
];
