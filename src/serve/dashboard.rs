//! The dashboard at `/`: one page of server HTML, a script and a style sheet of
//! mrsm's own (`ui/`), compiled into the binary (no build step, nothing fetched
//! from elsewhere). The page holds no data: after its login form takes a token it
//! calls the same routes as every client, with the token as a bearer header, so
//! the server checks each call as it checks any other. Served under a strict
//! Content-Security-Policy: scripts and styles from this server only, no inline
//! script, no `eval`, nothing framed; every job name and log line is put on the
//! page as text, never as markup.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::reply::{blocking, job_name, ApiError};
use super::AppState;

/// What a page may load and do: its own script and style, calls to this server
/// (HTTP and its WebSocket), nothing inline, no plugins, no frames, no forms sent
/// anywhere (the login form is read by the script).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// `body` as `content_type`, with the headers every dashboard file carries.
fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_FRAME_OPTIONS, "DENY"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `GET /`: the page.
pub(super) async fn page() -> Response {
    file("text/html; charset=utf-8", PAGE)
}

/// `GET /ui/app.js`.
pub(super) async fn script() -> Response {
    file("text/javascript; charset=utf-8", SCRIPT)
}

/// `GET /ui/app.css`.
pub(super) async fn style() -> Response {
    file("text/css; charset=utf-8", STYLE)
}

/// `GET /favicon.ico`: none (204), so that a browser's ask for one is neither a
/// 401 nor a 404 in the server's request counts.
pub(super) async fn no_icon() -> axum::http::StatusCode {
    axum::http::StatusCode::NO_CONTENT
}

/// Who a token is: the page shows only the buttons its scopes allow.
#[derive(Serialize)]
pub(super) struct WhoAmI {
    token: String,
    scopes: Vec<&'static str>,
}

/// `GET /v1/whoami`.
pub(super) async fn whoami(Extension(caller): Extension<Caller>) -> Json<WhoAmI> {
    Json(WhoAmI {
        token: caller.token,
        scopes: caller.scopes.names(),
    })
}

#[derive(Deserialize)]
pub(super) struct FiresQuery {
    count: Option<usize>,
}

/// A job's next fire times (`GET /v1/jobs/{name}/fires`).
#[derive(Serialize)]
pub(super) struct Fires {
    schedule: Option<String>,
    /// Whether the job runs (or is paused): a stopped job has no next fire.
    running: bool,
    fires: Vec<Timestamp>,
}

/// The most fire times one call lists.
const MAX_FIRES: usize = 100;

/// `GET /v1/jobs/{name}/fires?count=N`: from the job's next fire (or now), as
/// `show schedule` lists them.
pub(super) async fn fires(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<FiresQuery>,
) -> Result<Json<Fires>, ApiError> {
    let name = job_name(&name)?;
    let count = q.count.unwrap_or(5).min(MAX_FIRES);
    let ex = state.executor.clone();
    let info = blocking(move || ex.get(&name)).await?;
    let running = !info.status.is_over();
    let fires = match running {
        true => info
            .upcoming_fires(count, Timestamp::now())
            .map_err(|e| ApiError::invalid(e.to_string()))?,
        false => Vec::new(),
    };
    Ok(Json(Fires {
        schedule: info.schedule,
        running,
        fires,
    }))
}
