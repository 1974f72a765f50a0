//! Errors as HTTP replies, and the bridge from async handlers to the blocking
//! executor: every handler answers through these, so every failure has the same
//! shape (`{"detail", "error"}`) and no path or secret reaches a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::executor::wire::{ErrorBody, ErrorCode};
use crate::executor::ExecutorError;

/// A failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    /// A reply with `status`, `code` and `detail`.
    pub fn new(status: StatusCode, code: ErrorCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                detail: detail.into(),
                error: code,
            },
        }
    }

    /// 400: what the client sent is wrong.
    pub fn invalid(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::Invalid, detail)
    }
}

impl From<ExecutorError> for ApiError {
    fn from(error: ExecutorError) -> ApiError {
        if let ExecutorError::Store(e) = &error {
            // The whole story stays in the server's log.
            eprintln!("mrsm serve: {e}");
        }
        let (status, body) = ErrorBody::from_executor(&error);
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Runs blocking executor work off the async threads.
pub async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ExecutorError> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(e) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Refused,
            format!("the request's work failed: {e}"),
        )),
    }
}

/// A job name from a path, checked before it is used to build any path: `..`,
/// `/` and the like are refused with 400.
pub fn job_name(name: &str) -> Result<String, ApiError> {
    crate::job::validate_name(name)
        .map(|()| name.to_string())
        .map_err(|_| {
            ApiError::invalid(
                "invalid job name: use 1-64 letters, digits, '_', '.' and '-', starting with a letter or digit",
            )
        })
}
