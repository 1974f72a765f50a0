//! Who may do what: every request but `/healthcheck` carries `Authorization:
//! Bearer SECRET` (the logs WebSocket may send it as its first frame instead, as
//! Meerschaum's client does); the secret must be a live token of the root, and the
//! token must hold every scope the route needs (`routes.rs`). Tokens are re-read
//! when `tokens.json` changes, so a revoke or a new token counts from the next
//! request.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Mutex;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;

use super::reply::ApiError;
use super::routes::{self, Access, Verb};
use super::AppState;
use crate::executor::wire::ErrorCode;
use crate::store::tokens::{self, Grant, Refusal, Token};
use crate::store::Root;

/// The root's tokens, read again whenever their file changes.
pub struct Keys {
    root: Root,
    file: PathBuf,
    cache: Mutex<(Option<FileStamp>, Vec<Token>)>,
}

/// Inode, modification time (s, ns) and length: a changed file has another.
type FileStamp = (u64, i64, i64, u64);

impl Keys {
    /// The tokens of `root`.
    pub fn new(root: Root) -> Keys {
        let file = root.dir().join("tokens.json");
        Keys {
            root,
            file,
            cache: Mutex::new((None, Vec::new())),
        }
    }

    /// The token whose secret this is, if it is live now.
    pub fn check(&self, secret: &str) -> Result<Token, Refusal> {
        let stamp = std::fs::metadata(&self.file)
            .ok()
            .map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.len()));
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 != stamp || stamp.is_none() {
            match tokens::list(&self.root) {
                Ok(list) => *cache = (stamp, list),
                Err(e) => {
                    // Unreadable: nobody gets in until it is readable again.
                    eprintln!("mrsm serve: {e}");
                    *cache = (None, Vec::new());
                }
            }
        }
        tokens::check(&cache.1, secret, Timestamp::now())
    }
}

/// The caller of a request, once its token was accepted.
#[derive(Clone)]
pub struct Caller {
    /// The token's name.
    pub token: String,
    pub scopes: Grant,
    /// The secret itself, kept in memory only: a long-lived WebSocket checks it
    /// again, so a revoke or an expiry ends it.
    pub secret: String,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("token", &self.token)
            .finish()
    }
}

/// The secret of an `Authorization: Bearer …` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, secret) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| secret.trim())
        .filter(|s| !s.is_empty())
}

fn refuse(status: StatusCode, code: ErrorCode, detail: &str) -> Response {
    let mut response = ApiError::new(status, code, detail).into_response();
    if status == StatusCode::UNAUTHORIZED {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
    }
    response
}

/// Whether a request asks to become a WebSocket.
fn is_upgrade(request: &Request) -> bool {
    request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// The middleware: body size first (413 without reading it), then the token
/// (401), then the scope (403).
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > state.limits.max_body) {
        return refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::TooLarge,
            &format!("the request body is over {} bytes", state.limits.max_body),
        );
    }
    // No route: a live token is asked for, then the router says 404 or 405.
    let route = routes::find(request.method(), request.uri().path());
    if route.is_some_and(|r| r.access == Access::Public) {
        return next.run(request).await;
    }
    let secret = bearer(request.headers()).map(str::to_string);
    let Some(secret) = secret else {
        // The logs socket may send its token in its first frame (checked there).
        if route.is_some_and(|r| r.verb == Verb::WebSocket) && is_upgrade(&request) {
            return next.run(request).await;
        }
        return refuse(
            StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "this needs `Authorization: Bearer TOKEN` (make one with `mrsm token create`)",
        );
    };
    let token = match state.keys.check(&secret) {
        Ok(token) => token,
        Err(_) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "the token is not valid (unknown, revoked or expired)",
            )
        }
    };
    if let Some(route) = route {
        let lacking = route.lacking(&token.scopes);
        if !lacking.is_empty() {
            return refuse(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                &route.refusal(&token.name, &lacking),
            );
        }
    }
    let Some(_in_flight) = state.in_flight.take(&token.name) else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooMany,
            "too many requests in progress for this token; try again shortly",
        );
    };
    request.extensions_mut().insert(Caller {
        token: token.name,
        scopes: token.scopes,
        secret,
    });
    next.run(request).await
}
