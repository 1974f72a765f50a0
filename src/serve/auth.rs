//! Who may do what: every request but `/healthcheck` carries `Authorization:
//! Bearer SECRET` (the logs WebSocket may send it as its first frame instead, as
//! Meerschaum's client does); the secret must be a live token of the root, and the
//! token must hold every scope the route needs (`routes.rs`). Tokens are re-read
//! when `tokens.json` changes, so a revoke or a new token counts from the next
//! request.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tokio::sync::{mpsc, oneshot};

use super::reply::ApiError;
use super::routes::{self, Access, Verb};
use super::AppState;
use crate::executor::wire::ErrorCode;
use crate::store::tokens::{self, Grant, Refusal, Token};
use crate::store::Root;

/// How long a request waits for its token to be checked: past this (the tokens'
/// file cannot be read in time) it is answered with an error, never held.
const CHECK_DEADLINE: Duration = Duration::from_secs(5);

/// Checks waiting for the tokens' thread, at most; more wait to be queued.
const WAITING_CHECKS: usize = 1024;

/// The root's tokens, read again whenever their file changes. They are read and
/// checked on a thread of their own, never on the server's async threads: a
/// tokens file that cannot be read (or read in time) costs a request an error
/// after at most [`CHECK_DEADLINE`], and holds up nothing else, `/healthcheck`
/// and shutdown included.
pub struct Keys {
    asks: mpsc::Sender<Ask>,
    /// [`CHECK_DEADLINE`].
    deadline: Duration,
}

/// One secret to check, and where the answer goes.
struct Ask {
    secret: String,
    reply: oneshot::Sender<Result<Token, KeyError>>,
}

/// Why a secret was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    /// Not a live token (told apart for the server's own log only).
    Refused(Refusal),
    /// The tokens cannot be read (the server's log says why): nobody gets in
    /// until they can.
    Unreadable,
}

impl Keys {
    /// The tokens of `root`, with the thread that reads and checks them.
    pub fn start(root: Root) -> std::io::Result<Keys> {
        let (asks, mut queue) = mpsc::channel::<Ask>(WAITING_CHECKS);
        let mut tokens = Tokens::new(root);
        std::thread::Builder::new()
            .name("tokens".into())
            .spawn(move || {
                while let Some(ask) = queue.blocking_recv() {
                    let _ = ask.reply.send(tokens.check(&ask.secret));
                }
            })?;
        Ok(Keys {
            asks,
            deadline: CHECK_DEADLINE,
        })
    }

    /// The token whose secret this is, if it is live now.
    pub async fn check(&self, secret: &str) -> Result<Token, KeyError> {
        let (reply, answer) = oneshot::channel();
        let ask = Ask {
            secret: secret.to_string(),
            reply,
        };
        let asked = async {
            self.asks.send(ask).await.ok()?;
            answer.await.ok()
        };
        match tokio::time::timeout(self.deadline, asked).await {
            Ok(Some(answer)) => answer,
            _ => Err(KeyError::Unreadable),
        }
    }
}

/// Inode, modification time (s, ns) and length: a changed file has another.
type FileStamp = (u64, i64, i64, u64);

/// The tokens as last read (or why they could not be), and the file's stamp then.
struct Tokens {
    root: Root,
    file: PathBuf,
    stamp: Option<FileStamp>,
    read: Result<Vec<Token>, String>,
}

impl Tokens {
    fn new(root: Root) -> Tokens {
        let file = root.dir().join("tokens.json");
        Tokens {
            root,
            file,
            stamp: None,
            read: Ok(Vec::new()),
        }
    }

    /// Reads the file again when it changed (or was not read), then checks.
    fn check(&mut self, secret: &str) -> Result<Token, KeyError> {
        let stamp = std::fs::symlink_metadata(&self.file)
            .ok()
            .map(|m| (m.ino(), m.mtime(), m.mtime_nsec(), m.len()));
        if self.stamp != stamp || stamp.is_none() {
            let read = tokens::list(&self.root).map_err(|e| e.to_string());
            if let Err(e) = &read {
                if self.read.as_ref().err() != Some(e) {
                    eprintln!("mrsm serve: {e}; no token is accepted until it can be read");
                }
            }
            // Read again next time while it cannot be read.
            self.stamp = stamp.filter(|_| read.is_ok());
            self.read = read;
        }
        match &self.read {
            Ok(list) => tokens::check(list, secret, Timestamp::now()).map_err(KeyError::Refused),
            Err(_) => Err(KeyError::Unreadable),
        }
    }
}

/// What a client is told when the tokens cannot be read.
pub const UNREADABLE: &str =
    "the server cannot read its tokens, so no token is accepted (its log says why)";

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
    let token = match state.keys.check(&secret).await {
        Ok(token) => token,
        Err(KeyError::Refused(_)) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                ErrorCode::Unauthorized,
                "the token is not valid (unknown, revoked or expired)",
            )
        }
        Err(KeyError::Unreadable) => {
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Refused,
                UNREADABLE,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_check_the_tokens_thread_cannot_answer_in_time_is_refused_at_the_deadline() {
        // A thread that never answers, as one stuck reading the file would.
        let (asks, _stuck) = mpsc::channel(1);
        let keys = Keys {
            asks,
            deadline: Duration::from_millis(100),
        };
        let asked = std::time::Instant::now();
        assert_eq!(keys.check("mrsm_x").await, Err(KeyError::Unreadable));
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
    }

    #[test]
    fn tokens_that_cannot_be_read_let_nobody_in_until_they_can() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let secret = tokens::create(&root, "t", &Grant::All, None).expect("made");
        let file = dir.path().join("tokens.json");
        let kept = std::fs::read(&file).expect("stored");
        let mut checked = Tokens::new(root);
        assert!(checked.check(&secret).is_ok());
        std::fs::remove_file(&file).expect("removed");
        nix::unistd::mkfifo(&file, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        assert_eq!(checked.check(&secret), Err(KeyError::Unreadable));
        std::fs::remove_file(&file).expect("removed");
        std::fs::write(&file, kept).expect("written");
        assert!(checked.check(&secret).is_ok());
        assert!(matches!(
            checked.check("mrsm_wrong"),
            Err(KeyError::Refused(Refusal::Unknown))
        ));
    }
}
