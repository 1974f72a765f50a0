//! The spec file as written: every value that can be wrong keeps its place in the
//! file, so validation errors can point at it. Unknown keys are refused here.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// A command: one string (steps split on a lone `+`) or a list of steps.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RawCommand {
    One(String),
    Steps(Vec<String>),
}

/// One path or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RawPaths {
    One(String),
    Many(Vec<String>),
}

/// `stop: { signal, timeout }`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStop {
    pub signal: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}

/// `logs: { max_size, keep }`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    pub max_size: Option<Spanned<String>>,
    pub keep: Option<Spanned<u32>>,
}

/// A job (or the `defaults` block) as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub command: Option<Spanned<RawCommand>>,
    pub schedule: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub overlap: Option<Spanned<String>>,
    pub restart: Option<Spanned<String>>,
    pub executor: Option<Spanned<String>>,
    pub env: Option<IndexMap<Spanned<String>, Spanned<String>>>,
    pub env_file: Option<Spanned<RawPaths>>,
    pub cwd: Option<Spanned<String>>,
    pub state: Option<Spanned<String>>,
    pub stop: Option<RawStop>,
    pub logs: Option<RawLogs>,
    pub shell: Option<Spanned<bool>>,
}

/// A named executor beyond `local`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExecutor {
    pub url: Option<Spanned<String>>,
    pub token: Option<Spanned<String>>,
}

/// A whole spec file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    pub project: Option<Spanned<String>>,
    pub executors: Option<IndexMap<Spanned<String>, Spanned<RawExecutor>>>,
    pub defaults: Option<RawJob>,
    pub jobs: Option<IndexMap<Spanned<String>, Spanned<RawJob>>>,
}

/// Keys each mapping accepts, for "did you mean".
pub const JOB_KEYS: [&str; 13] = [
    "command", "schedule", "timezone", "overlap", "restart", "executor", "env", "env_file", "cwd",
    "state", "stop", "logs", "shell",
];
pub const TOP_KEYS: [&str; 4] = ["project", "executors", "defaults", "jobs"];
pub const STOP_KEYS: [&str; 2] = ["signal", "timeout"];
pub const LOGS_KEYS: [&str; 2] = ["max_size", "keep"];
pub const EXECUTOR_KEYS: [&str; 2] = ["url", "token"];
