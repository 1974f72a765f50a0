//! Commands run after a run (`on_success`, `on_failure`) or as it starts
//! (`on_start`): given the run's record, never able to hold the job up.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    Start,
    Success,
    Failure,
}

impl HookKind {
    /// Its key in a spec file.
    pub fn key(self) -> &'static str {
        match self {
            HookKind::Start => "on_start",
            HookKind::Success => "on_success",
            HookKind::Failure => "on_failure",
        }
    }
}

/// A job's hooks: shell commands, each run with the run's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
    /// A hook still going after this is killed, with everything it started.
    #[serde(
        default = "default_hook_timeout",
        with = "super::spec::humantime_serde_ms",
        skip_serializing_if = "is_default_hook_timeout"
    )]
    pub timeout: Duration,
}

/// How long a hook may run unless the job says otherwise.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(30);

fn default_hook_timeout() -> Duration {
    DEFAULT_HOOK_TIMEOUT
}

fn is_default_hook_timeout(d: &Duration) -> bool {
    *d == DEFAULT_HOOK_TIMEOUT
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            on_start: None,
            on_success: None,
            on_failure: None,
            timeout: DEFAULT_HOOK_TIMEOUT,
        }
    }
}

impl Hooks {
    /// No hook at all (the default, left out of `job.json`).
    pub fn is_empty(&self) -> bool {
        self.on_start.is_none()
            && self.on_success.is_none()
            && self.on_failure.is_none()
            && self.timeout == DEFAULT_HOOK_TIMEOUT
    }

    /// The command of a kind of hook, if the job has one.
    pub fn command(&self, kind: HookKind) -> Option<&str> {
        match kind {
            HookKind::Start => self.on_start.as_deref(),
            HookKind::Success => self.on_success.as_deref(),
            HookKind::Failure => self.on_failure.as_deref(),
        }
    }
}
