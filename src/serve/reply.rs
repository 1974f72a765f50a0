//! Errors as HTTP replies, and the bridge from async handlers to the blocking
//! executor: every handler answers through these, so every failure has the same
//! shape (`{"detail", "error"}`) and no path or secret reaches a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::executor::wire::{ErrorBody, ErrorCode};
use crate::executor::ExecutorError;
use crate::job::JobInfo;

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

/// The root directory as it appears in messages, set once when the server starts.
static ROOT_TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Remembers the server's root, so that replies never show where it is.
pub fn hide_root(root: &std::path::Path) {
    let _ = ROOT_TEXT.set(root.display().to_string());
}

/// `text` with the server's root written as `$MRSM_ROOT_DIR`.
pub fn scrub(text: &str) -> String {
    match ROOT_TEXT.get().filter(|r| !r.is_empty()) {
        Some(root) => text.replace(root.as_str(), "$MRSM_ROOT_DIR"),
        None => text.to_string(),
    }
}

/// A job as a client sees it: no path of the server's in its messages.
pub fn scrub_info(mut info: JobInfo) -> JobInfo {
    info.reason = info.reason.as_deref().map(scrub);
    info.warning = info.warning.as_deref().map(scrub);
    if let Some(result) = &mut info.last_result {
        result.message = scrub(&result.message);
    }
    info
}

impl From<ExecutorError> for ApiError {
    fn from(error: ExecutorError) -> ApiError {
        if let ExecutorError::Store(e) = &error {
            // The whole story stays in the server's log.
            eprintln!("mrsm serve: {e}");
        }
        let (status, mut body) = ErrorBody::from_executor(&error);
        body.detail = scrub(&body.detail);
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            body,
        }
    }
}

/// `X-Content-Type-Options: nosniff` on every answer: a browser never reads one
/// as anything but what it says it is.
pub async fn no_sniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    response
}

/// Every error reply in the documented shape: the framework's own (a body that
/// is not JSON, a missing content type, a bad query) are turned into
/// `{"detail", "error"}` with their status kept.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (_, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 * 1024)
        .await
        .unwrap_or_default();
    let code = match status.as_u16() {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        413 => ErrorCode::TooLarge,
        s if s < 500 => ErrorCode::Invalid,
        _ => ErrorCode::Refused,
    };
    let text = String::from_utf8_lossy(&text);
    let detail = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_string(),
        said => scrub(said),
    };
    ApiError::new(status, code, detail).into_response()
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

/// [`blocking`] for work that reads a log: each such read may hold a log file in
/// memory, so only a few run at once (the others wait their turn).
pub async fn reading<T, F>(state: &super::AppState, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, ExecutorError> + Send + 'static,
{
    let _permit = state.readers.acquire().await;
    blocking(work).await
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
