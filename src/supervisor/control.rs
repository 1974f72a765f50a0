//! The supervisor's side of the control socket: accepts connections from the job's
//! owner only (checked with the peer's credentials, whatever the socket's mode), reads
//! one request per line and hands it to the supervisor's loop with a reply channel.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::control::{Refusal, Request, Response};

/// How long a refused peer's request is waited for before the refusal is sent.
const REFUSAL_READ: std::time::Duration = std::time::Duration::from_secs(1);

/// A request and where its answer goes.
pub type Control = (Request, oneshot::Sender<Response>);

/// Binds the job's socket, owner-only; a stale socket file is replaced.
pub fn bind(socket: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::remove_file(socket);
    let listener = crate::store::with_socket_path(socket, |path| UnixListener::bind(path))?;
    std::fs::set_permissions(
        socket,
        std::fs::Permissions::from_mode(crate::store::private::FILE_MODE),
    )?;
    Ok(listener)
}

/// Whether a peer with user id `uid` may control the job: its owner, or root (who can
/// signal its processes anyway).
fn may_control(uid: u32) -> bool {
    uid == nix::unistd::geteuid().as_raw() || uid == 0
}

/// Accepts connections until the supervisor exits; `in_flight` counts requests
/// whose answers are not written yet.
pub async fn accept_loop(
    listener: UnixListener,
    tx: mpsc::Sender<Control>,
    in_flight: Arc<AtomicUsize>,
) {
    loop {
        if let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve_connection(stream, tx.clone(), in_flight.clone()));
        }
    }
}

async fn serve_connection(
    stream: UnixStream,
    tx: mpsc::Sender<Control>,
    in_flight: Arc<AtomicUsize>,
) {
    let allowed = stream.peer_cred().is_ok_and(|cred| may_control(cred.uid()));
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    if !allowed {
        // Its request is read (briefly) and never acted on; the answer says why.
        let _ = tokio::time::timeout(REFUSAL_READ, lines.next_line()).await;
        let refusal = Response::Refused {
            code: Refusal::NotOwner,
            message: "permission denied: only the job's owner may control it".into(),
        };
        let _ = write.write_all(&encode(&refusal)).await;
        return;
    }
    while let Ok(Some(line)) = lines.next_line().await {
        in_flight.fetch_add(1, Ordering::SeqCst);
        let response = match serde_json::from_str::<Request>(&line) {
            Ok(request) => {
                let (reply_tx, reply_rx) = oneshot::channel();
                if tx.send((request, reply_tx)).await.is_err() {
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    return;
                }
                reply_rx.await.unwrap_or(Response::Refused {
                    code: Refusal::Stopping,
                    message: "the supervisor is exiting".into(),
                })
            }
            Err(e) => Response::Refused {
                code: Refusal::BadRequest,
                message: format!("bad request: {e}"),
            },
        };
        let _ = write.write_all(&encode(&response)).await;
        in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

fn encode(response: &Response) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(response).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}
