//! The accept loop: each connection on a task of its own, HTTP/1.1 with upgrades
//! (the logs WebSocket), a deadline for the request head (a client that sends its
//! headers a byte a minute is dropped after 10 s), at most `MAX_CONNECTIONS` open
//! at once (more wait in the kernel's backlog), TLS handshakes on the connection's
//! own task, and a graceful end: on shutdown no new connection is taken and the
//! open ones finish their request.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;

/// How long a client has to send a request's head (`MRSM_HEAD_TIMEOUT_MS`
/// overrides it, for tests).
fn head_timeout() -> Duration {
    std::env::var("MRSM_HEAD_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}
/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once, at most.
pub const MAX_CONNECTIONS: usize = 4096;

/// How many connections this process can hold: half its file limit (less what
/// jobs and logs need), so a flood of clients waits in the backlog instead of
/// starving the server of descriptors. The limit is not raised: the jobs the
/// server starts inherit it.
fn connection_slots() -> usize {
    use nix::sys::resource::{getrlimit, Resource};
    let Ok((soft, _)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 256;
    };
    let usable = usize::try_from(soft.saturating_sub(128) / 2).unwrap_or(MAX_CONNECTIONS);
    usable.clamp(16, MAX_CONNECTIONS)
}
/// How long open connections get to finish after shutdown is asked.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` (through TLS with `tls`) until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(connection_slots()));
    let head = head_timeout();
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of descriptors and the like: try again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (app, tls, shutdown) = (app.clone(), tls.clone(), shutdown.clone());
        connections.spawn(async move {
            let _slot = slot;
            match tls {
                None => connection(stream, app, shutdown, head).await,
                Some(acceptor) => {
                    if let Ok(Ok(stream)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await
                    {
                        connection(stream, app, shutdown, head).await;
                    }
                }
            }
        });
        // Finished connections are collected as we go.
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
}

/// One connection, until it closes or shutdown is asked (then after its request).
async fn connection<I>(io: I, app: Router, mut shutdown: watch::Receiver<bool>, head: Duration)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let mut builder = http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(head);
    let served = builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(served);
    tokio::select! {
        _ = served.as_mut() => {}
        _ = shutdown.changed() => {
            served.as_mut().graceful_shutdown();
            let _ = served.await;
        }
    }
}
