//! The logs WebSocket, `/logs/{name}/ws`, as Meerschaum's client speaks it: the
//! first frame is the token, then the log from its first line a frame per line,
//! each new line as it is written (through the job's reader, `hub.rs`), text from
//! the client to the job's input (with the stdin route's scopes), and at the end
//! `MRSM_STOP` and the job's result. The token is checked again every two seconds: a revoke
//! or an expiry closes the socket.
//!
//! mrsm's dashboard speaks it too, with JSON frames: its first frame is
//! `{"token": SECRET, "cursor": N}` (a token never starts with `{`), then each line
//! comes as `{"cursor", "stamp", "stream", "text"}` where `cursor` is where the
//! log stands after it, and the end as `{"end": true, "ok", "message"}`. A page
//! that reconnects (a server restart, a job started again) sends the last cursor
//! it saw and gets every line after it once.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::json;

use super::auth::{self, Caller, KeyError};
use super::hub::{cursors_from, unseen_at};
use super::meerschaum::{get_info, line_text};
use super::reply::{blocking, job_name, reading};
use super::routes::{refusal, Verb, FOLLOW, INPUT, LOG_SOCKET};
use super::AppState;
use crate::logs::{Cursor, LogLine};

/// The frame that says the job stopped; its result follows as JSON.
pub const STOP_MESSAGE: &str = "MRSM_STOP";

/// How long a socket may take to send its token.
const TOKEN_WAIT: Duration = Duration::from_secs(10);
/// How often an open socket's token is checked again.
const TOKEN_RECHECK: Duration = Duration::from_secs(2);

/// How the socket's frames are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frames {
    /// Meerschaum's: a line's text per frame, `MRSM_STOP` and the result at the end.
    Text,
    /// The dashboard's: JSON with each line's cursor.
    Json,
}

/// The dashboard's first frame.
#[derive(serde::Deserialize)]
struct Hello {
    token: Option<String>,
    /// Where to go on from (a reconnect): every line after it.
    cursor: Option<Cursor>,
    /// Without a cursor: begin this many records before the end (a page that
    /// opens shows the tail, not a long log from its start).
    tail: Option<u64>,
}

/// Where a follower begins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Start {
    At(Cursor),
    /// This many records before the log's end.
    Tail(u64),
}

/// What the first frame says: the secret (if it carries one), how to write, and
/// where in the log to begin; or, for a JSON frame that is not a hello, why.
fn first_frame(text: &str) -> Result<(Option<String>, Frames, Start), String> {
    let text = text.trim();
    if !text.starts_with('{') {
        // Meerschaum's: the token itself (a token never starts with `{`).
        return Ok((Some(text.to_string()), Frames::Text, Start::At(0)));
    }
    let hello = serde_json::from_str::<Hello>(text).map_err(|e| {
        format!(
            "the first frame: expected {{\"token\": SECRET, \"cursor\": N}} or {{\"token\": SECRET, \"tail\": N}} \
             (N a whole number from 0): {e}"
        )
    })?;
    let start = match (hello.cursor, hello.tail) {
        (Some(cursor), _) => Start::At(cursor),
        (None, Some(tail)) => Start::Tail(tail),
        (None, None) => Start::At(0),
    };
    Ok((hello.token, Frames::Json, start))
}

/// Lines a follower whose cursor is past the log's end gets from its tail: the
/// job's log began anew (the job was deleted and made again).
const TAIL_AFTER_RESET: u64 = 1000;

/// Sends `lines`, each with the cursor after it, in the socket's way.
async fn send_lines(
    socket: &mut WebSocket,
    frames: Frames,
    lines: &[(LogLine, Cursor)],
) -> Result<(), axum::Error> {
    for (line, cursor) in lines {
        let frame = match frames {
            Frames::Text => line_text(line),
            Frames::Json => json!({
                "cursor": cursor,
                "stamp": line.stamp,
                "stream": line.stream.name(),
                "text": line_text(line),
            })
            .to_string(),
        };
        socket.send(Message::Text(frame.into())).await?;
    }
    Ok(())
}

pub(super) async fn log_socket(
    State(state): State<AppState>,
    Path(name): Path<String>,
    caller: Option<Extension<Caller>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let name = match job_name(&name) {
        Ok(name) => name,
        Err(e) => return e.into_response(),
    };
    let caller = caller.map(|Extension(c)| c);
    upgrade.on_upgrade(move |socket| async move {
        let _ = follow_socket(state, name, caller, socket).await;
    })
}

/// Why an open socket's token no longer lets it follow.
fn lost(error: &KeyError) -> &'static str {
    match error {
        KeyError::Refused(_) => "the token was revoked or has expired",
        KeyError::Unreadable => "the server cannot read its tokens",
    }
}

async fn close(socket: &mut WebSocket, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: 1008,
            reason: reason.to_string().into(),
        })))
        .await;
}

/// The socket's life: its token, then the log from the start, then each new line,
/// input from the client to the job, and the stop message at the end.
async fn follow_socket(
    state: AppState,
    name: String,
    caller: Option<Caller>,
    mut socket: WebSocket,
) -> Result<(), axum::Error> {
    // The first frame is the token (Meerschaum's client sends one, even `no-login`);
    // a socket authenticated by its header may send anything first.
    let first = tokio::time::timeout(TOKEN_WAIT, socket.recv()).await;
    let (secret, frames, start) = match &first {
        Ok(Some(Ok(Message::Text(text)))) => match first_frame(text) {
            Ok(read) => read,
            Err(why) => {
                let frame = json!({ "error": why }).to_string();
                socket.send(Message::Text(frame.into())).await?;
                close(&mut socket, "bad first frame").await;
                return Ok(());
            }
        },
        _ => (None, Frames::Text, Start::At(0)),
    };
    let caller = match (caller, first, secret) {
        (Some(caller), Ok(Some(Ok(_))), _) => caller,
        (None, Ok(Some(Ok(Message::Text(_)))), Some(secret)) => {
            match state.keys.check(&secret).await {
                Ok(token) => Caller {
                    token: token.name,
                    scopes: token.scopes,
                    secret,
                },
                Err(e) => {
                    let (said, reason) = match e {
                        KeyError::Unreadable => (
                            format!("{}.", auth::UNREADABLE),
                            lost(&KeyError::Unreadable),
                        ),
                        KeyError::Refused(_) => {
                            ("Invalid credentials.".to_string(), "invalid credentials")
                        }
                    };
                    socket.send(Message::Text(said.into())).await?;
                    close(&mut socket, reason).await;
                    return Ok(());
                }
            }
        }
        _ => {
            close(&mut socket, "no token").await;
            return Ok(());
        }
    };
    // A token in the first frame is held to the route's scopes here (one in the
    // header was, before the upgrade).
    let lacking = caller.scopes.lacking(FOLLOW);
    if !lacking.is_empty() {
        let route = format!("{} {LOG_SOCKET}", Verb::WebSocket.name());
        let why = refusal(&route, FOLLOW, &caller.token, &lacking);
        socket.send(Message::Text(format!("{why}.").into())).await?;
        close(&mut socket, "forbidden").await;
        return Ok(());
    }
    // Input reaches the job only with the scopes the stdin route asks for.
    let cannot_write = caller.scopes.lacking(INPUT);
    let mut told = false;
    let Some(_slot) = state.followers.take(&caller.token) else {
        socket
            .send(Message::Text("Too many followers for this token.".into()))
            .await?;
        close(&mut socket, "too many followers").await;
        return Ok(());
    };
    let hubs = state.hubs.clone();
    let job = name.clone();
    let mut subscription = match blocking(move || hubs.subscribe(&job)).await {
        Ok(s) => s,
        Err(e) => {
            end(&mut socket, frames, false, &e.body.detail).await?;
            return Ok(());
        }
    };
    let mut cursor = match (start, frames) {
        (Start::At(cursor), Frames::Text) | (Start::At(cursor @ 0), Frames::Json) => cursor,
        (Start::At(cursor), Frames::Json) => {
            let end = log_end(&state, &name).await;
            if cursor > end {
                // The log is shorter than the follower has seen: another log.
                let frame = json!({ "reset": true }).to_string();
                socket.send(Message::Text(frame.into())).await?;
                end.saturating_sub(TAIL_AFTER_RESET)
            } else {
                cursor
            }
        }
        (Start::Tail(tail), _) => log_end(&state, &name).await.saturating_sub(tail),
    };
    let mut shutdown = state.shutdown.clone();
    let mut ended = false;
    // A revoke or an expiry ends an open socket too.
    let mut recheck = tokio::time::interval(TOKEN_RECHECK);
    recheck.tick().await;
    // Catch up from the start of the log, then take the reader's batches.
    let mut behind = true;
    let mut checked = std::time::Instant::now();
    loop {
        if behind {
            // Catching up can take a while: the token is checked here too.
            if checked.elapsed() >= TOKEN_RECHECK {
                checked = std::time::Instant::now();
                if let Err(e) = state.keys.check(&caller.secret).await {
                    close(&mut socket, lost(&e)).await;
                    return Ok(());
                }
            }
            let ex = state.executor.clone();
            let job = name.clone();
            let (lines, next) = reading(&state, move || ex.read_logs(&job, cursor, 1000))
                .await
                .unwrap_or_default();
            let caught_up = lines.is_empty();
            send_lines(&mut socket, frames, &cursors_from(lines, cursor, next)).await?;
            cursor = next;
            if caught_up {
                behind = false;
                if ended {
                    break;
                }
            }
            continue;
        }
        tokio::select! {
            batch = subscription.receiver.recv() => match batch {
                // Lines between where this follower is and where the batch
                // begins are read from the log first, never skipped.
                Ok(batch) if batch.start > cursor => {
                    behind = true;
                    ended |= batch.ended;
                }
                Ok(batch) => {
                    send_lines(&mut socket, frames, &unseen_at(&batch, cursor)).await?;
                    cursor = cursor.max(batch.end);
                    if batch.ended {
                        ended = true;
                        behind = true;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => behind = true,
                Err(_) => {
                    ended = true;
                    behind = true;
                }
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(_))) if !cannot_write.is_empty() => {
                    // Said once, as a line of the socket's own: the input is dropped.
                    if !told {
                        told = true;
                        let why = refusal("input over the logs socket", INPUT, &caller.token, &cannot_write);
                        socket.send(Message::Text(format!("[mrsm: input not sent: {why}]").into())).await?;
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    let ex = state.executor.clone();
                    let job = name.clone();
                    let mut data = text.as_bytes().to_vec();
                    if !data.ends_with(b"\n") {
                        data.push(b'\n');
                    }
                    let _ = blocking(move || ex.send_input(&job, &data, false)).await;
                }
                Some(Ok(Message::Close(_))) => {
                    // Answered, as the protocol asks.
                    let _ = socket.send(Message::Close(None)).await;
                    return Ok(());
                }
                None | Some(Err(_)) => return Ok(()),
                Some(Ok(_)) => {}
            },
            _ = recheck.tick() => {
                if let Err(e) = state.keys.check(&caller.secret).await {
                    close(&mut socket, lost(&e)).await;
                    return Ok(());
                }
            }
            _ = shutdown.changed() => {
                let _ = socket.send(Message::Close(Some(CloseFrame { code: 1001, reason: "server shutting down".into() }))).await;
                return Ok(());
            }
        }
    }
    let (ok, message) = match get_info(&state, &name)
        .await
        .ok()
        .and_then(|i| i.last_result)
    {
        Some(r) => (r.ok(), r.message),
        None => (true, "stopped".to_string()),
    };
    end(&mut socket, frames, ok, &message).await?;
    let _ = socket.send(Message::Close(None)).await;
    Ok(())
}

/// Where `name`'s log ends now (a cursor past the end reads as the end).
async fn log_end(state: &AppState, name: &str) -> Cursor {
    let ex = state.executor.clone();
    let job = name.to_string();
    reading(state, move || ex.read_logs(&job, Cursor::MAX, 1))
        .await
        .map_or(0, |(_, end)| end)
}

/// The end of the log: `MRSM_STOP` and `[ok, message]`, or the dashboard's frame.
async fn end(
    socket: &mut WebSocket,
    frames: Frames,
    ok: bool,
    message: &str,
) -> Result<(), axum::Error> {
    match frames {
        Frames::Text => {
            socket.send(Message::Text(STOP_MESSAGE.into())).await?;
            let result = json!([ok, message]).to_string();
            socket.send(Message::Text(result.into())).await
        }
        Frames::Json => {
            let frame = json!({"end": true, "ok": ok, "message": message}).to_string();
            socket.send(Message::Text(frame.into())).await
        }
    }
}
