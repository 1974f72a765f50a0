//! The bodies of mrsm's own HTTP API (`/v1/…`), shared by `mrsm serve` and the
//! `api` executor so that the two cannot drift apart. Everything the [`Executor`]
//! trait carries crosses as these types; `docs/api.md` describes them.
//!
//! [`Executor`]: crate::executor::Executor

use serde::{Deserialize, Serialize};

use super::{CreateOptions, ExecutorError, StopOptions};
use crate::job::{DesiredState, JobSpec, SignalName, SpecError};
use crate::logs::{Cursor, LogLine};

/// The version of this API: a client refuses a server whose major differs.
pub const API_VERSION: u32 = 1;

/// `POST /v1/jobs/{name}` (create) and `PUT /v1/jobs/{name}` (replace).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CreateBody {
    pub spec: JobSpec,
    #[serde(default)]
    pub desired: DesiredState,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub spec_hash: Option<String>,
    /// See [`CreateOptions::lease`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
}

impl CreateBody {
    /// The body for `spec` created with `options`.
    pub fn new(spec: &JobSpec, options: &CreateOptions) -> CreateBody {
        CreateBody {
            spec: spec.clone(),
            desired: options.desired,
            project: options.project.clone(),
            spec_hash: options.spec_hash.clone(),
            lease_ms: options.lease.map(|l| l.as_millis() as u64),
        }
    }

    /// The options it carries.
    pub fn options(&self) -> CreateOptions {
        CreateOptions {
            desired: self.desired,
            project: self.project.clone(),
            spec_hash: self.spec_hash.clone(),
            lease: self.lease_ms.map(std::time::Duration::from_millis),
        }
    }
}

/// `POST /v1/jobs/{name}/stop` and the stop part of `DELETE /v1/jobs/{name}`.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct StopBody {
    #[serde(default)]
    pub signal: Option<SignalName>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl From<&StopOptions> for StopBody {
    fn from(options: &StopOptions) -> StopBody {
        StopBody {
            signal: options.signal,
            timeout_ms: options.timeout.map(|t| t.as_millis() as u64),
        }
    }
}

impl From<StopBody> for StopOptions {
    fn from(body: StopBody) -> StopOptions {
        StopOptions {
            signal: body.signal,
            timeout: body.timeout_ms.map(std::time::Duration::from_millis),
        }
    }
}

/// `GET /v1/jobs/{name}/logs/page`: lines from a cursor on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    /// Where to read next.
    pub cursor: Cursor,
    /// The job had not stopped before these lines were read: more may come. Once
    /// it is false and `lines` is empty, the log is complete.
    pub running: bool,
}

/// What went wrong, for a program: the HTTP status says the class, this the case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    AlreadyExists,
    NotRunning,
    Invalid,
    Refused,
    Unavailable,
    Unsupported,
    Unauthorized,
    Forbidden,
    TooLarge,
    TooMany,
    /// The job cannot take this yet (input its step has not read): try again.
    Busy,
}

/// Every error reply: `detail` (Meerschaum's clients read it) and `error`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub detail: String,
    pub error: ErrorCode,
}

impl ErrorBody {
    /// The reply for an executor's error. Storage errors name paths on the server,
    /// which its clients have no business knowing: they get a sentence without them.
    pub fn from_executor(error: &ExecutorError) -> (u16, ErrorBody) {
        let (code, detail) = match error {
            ExecutorError::NotFound(_) => (ErrorCode::NotFound, error.to_string()),
            ExecutorError::AlreadyExists(_) => (ErrorCode::AlreadyExists, error.to_string()),
            ExecutorError::NotRunning(_) => (ErrorCode::NotRunning, error.to_string()),
            ExecutorError::Spec(_) | ExecutorError::UnknownExecutor { .. } => {
                (ErrorCode::Invalid, error.to_string())
            }
            ExecutorError::Store(_) => (
                ErrorCode::Refused,
                "the server could not read or write its files (its log says why)".to_string(),
            ),
            ExecutorError::Supervisor { .. } => (ErrorCode::Refused, error.to_string()),
            ExecutorError::Unavailable { .. } => (ErrorCode::Unavailable, error.to_string()),
            // A server asking another server (an `api:` executor behind it).
            ExecutorError::Forbidden { .. } => (ErrorCode::Forbidden, error.to_string()),
            ExecutorError::Unsupported { .. } => (ErrorCode::Unsupported, error.to_string()),
            ExecutorError::Busy { .. } => (ErrorCode::Busy, error.to_string()),
        };
        (
            error.kind().http_status(),
            ErrorBody {
                detail,
                error: code,
            },
        )
    }

    /// The executor error a client reports for this reply about job `name`.
    pub fn into_executor(self, executor: &str, name: &str) -> ExecutorError {
        // The server's sentence names the job already.
        let message = |detail: String| {
            detail
                .strip_prefix(&format!("job {name:?}: "))
                .map(str::to_string)
                .unwrap_or(detail)
        };
        match self.error {
            ErrorCode::NotFound => ExecutorError::NotFound(name.into()),
            ErrorCode::AlreadyExists => ExecutorError::AlreadyExists(name.into()),
            ErrorCode::NotRunning => ExecutorError::NotRunning(name.into()),
            ErrorCode::Invalid => ExecutorError::Spec(SpecError::Invalid(self.detail)),
            ErrorCode::Unsupported => ExecutorError::Unsupported {
                name: name.into(),
                executor: executor.into(),
                what: self.detail,
            },
            ErrorCode::Busy => ExecutorError::Busy {
                name: name.into(),
                message: message(self.detail),
            },
            ErrorCode::Refused | ErrorCode::TooLarge => ExecutorError::Supervisor {
                name: name.into(),
                message: message(self.detail),
            },
            ErrorCode::Unavailable
            | ErrorCode::Unauthorized
            | ErrorCode::Forbidden
            | ErrorCode::TooMany => ExecutorError::Unavailable {
                executor: executor.into(),
                message: self.detail,
            },
        }
    }
}

/// `GET /v1/info`: what the server is.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerInfo {
    pub api_version: u32,
    pub mrsm_version: String,
    pub capabilities: super::Capabilities,
    /// The server's root, as an opaque name ([`crate::store::Root::home_id`]): a
    /// client on the same root holds the same jobs through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub home: Option<String>,
}
