//! `mrsm serve`: a thin HTTP face over the local executor of one root. Jobs are
//! supervised locally, so they keep running when the server stops or is killed;
//! a watchdog starts again the jobs whose supervisor died. Two sets of routes:
//! Meerschaum 4.1.7's jobs API (its Python client works against this server) and
//! mrsm's own `/v1`, which the `api` executor uses. `docs/api.md` lists them.
//!
//! No file is read or written on the async threads, and none of them waits on a
//! lock held across file work: tokens are checked on a thread of their own
//! (`auth.rs`), every route's work runs on the bounded blocking pool
//! (`reply.rs`), the watchdog and the log readers on threads of their own, and
//! `/healthcheck` touches nothing. Stopping waits a bounded time for each of them.

mod auth;
mod dashboard;
#[cfg(test)]
mod handler_tests;
mod hub;
mod leases;
mod listen;
mod meerschaum;
mod metrics;
mod reply;
mod routes;
mod socket;
#[cfg(test)]
mod sysargs_tests;
mod tls;
mod v1;
mod watchdog;

pub use meerschaum::{action_words, line_text, spec_from_sysargs};

use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;

use crate::executor::wire::ErrorCode;
use crate::executor::{Executor, LocalExecutor};
use crate::store::Root;

/// Requests one token may have in progress at once (long polls included); more
/// are refused with 429.
const MAX_REQUESTS_PER_TOKEN: usize = 128;

/// Log reads the server does at once.
const LOG_READERS: usize = 4;

/// Threads for the executor's work (every route's file I/O and verbs run there,
/// never on the async threads); more work waits for one to be free.
const BLOCKING_THREADS: usize = 256;

/// How long a stopping server waits for its watchdog to end its round (a round
/// reads every job's files); then it exits without it.
const WATCHDOG_WAIT: Duration = Duration::from_secs(2);

/// How the server listens and what it allows.
#[derive(Clone, Debug)]
pub struct Options {
    /// `HOST:PORT`; port 0 picks a free one (printed at start).
    pub bind: String,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other machines can reach.
    pub allow_plain_http: bool,
    /// Largest request body accepted (bytes); more is 413.
    pub max_body: usize,
    /// Log followers (WebSockets) one token may hold open at once.
    pub max_followers: usize,
    /// A second `HOST:PORT` (loopback only) serving just `GET /metrics`, without
    /// a token: for a Prometheus on the same machine.
    pub metrics_bind: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            bind: "127.0.0.1:8000".into(),
            tls_cert: None,
            tls_key: None,
            allow_plain_http: false,
            max_body: 1024 * 1024,
            max_followers: 256,
            metrics_bind: None,
        }
    }
}

/// Limits every handler sees.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_body: usize,
}

/// Open log followers (or requests in progress) per token.
pub struct Followers {
    max: usize,
    counts: Mutex<HashMap<String, usize>>,
}

/// One follower's place, given back when dropped.
pub struct FollowerSlot {
    followers: Arc<Followers>,
    token: String,
}

impl Followers {
    /// A place for one more follower of `token`, unless it has its maximum.
    pub fn take(self: &Arc<Followers>, token: &str) -> Option<FollowerSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(token.to_string()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(FollowerSlot {
            followers: self.clone(),
            token: token.to_string(),
        })
    }
}

impl Drop for FollowerSlot {
    fn drop(&mut self) {
        let mut counts = self
            .followers
            .counts
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.token) {
            *count = count.saturating_sub(1);
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    executor: Arc<dyn Executor>,
    /// Where the served jobs are kept (their logs, the leases' renewals).
    root: Root,
    keys: Arc<auth::Keys>,
    hubs: Arc<hub::Hubs>,
    followers: Arc<Followers>,
    /// Requests in progress per token: one token cannot take every connection.
    in_flight: Arc<Followers>,
    limits: Limits,
    /// Log reads at once.
    readers: Arc<tokio::sync::Semaphore>,
    /// Becomes true when the server is told to stop: followers close.
    shutdown: tokio::sync::watch::Receiver<bool>,
    /// Run tallies and request counts for `/metrics`.
    metrics: Arc<metrics::Metrics>,
}

async fn no_route() -> reply::ApiError {
    reply::ApiError::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such route")
}

/// The whole application.
fn app(state: AppState) -> Router {
    routes::router()
        .fallback(no_route)
        .layer(axum::middleware::map_response(reply::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .layer(DefaultBodyLimit::max(state.limits.max_body))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        // Outermost: refusals of the token check carry it too.
        .layer(axum::middleware::map_response(reply::no_sniff))
        .with_state(state)
}

/// The `--metrics-bind` listener's application: `GET /metrics` only, no token.
fn metrics_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(metrics::scrape))
        .fallback(no_route)
        .layer(axum::middleware::from_fn(metrics::loopback_host))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .with_state(state)
}

/// The address to listen on; a non-loopback one needs TLS or `allow_plain_http`.
fn address(options: &Options) -> anyhow::Result<SocketAddr> {
    let addr = options
        .bind
        .to_socket_addrs()
        .with_context(|| {
            format!(
                "--bind {:?}: expected HOST:PORT, e.g. 127.0.0.1:8000",
                options.bind
            )
        })?
        .next()
        .with_context(|| format!("--bind {:?}: the name has no address", options.bind))?;
    let tls = options.tls_cert.is_some();
    if !addr.ip().is_loopback() && !tls && !options.allow_plain_http {
        anyhow::bail!(
            "--bind {addr}: other machines could reach this address, and tokens would cross the network in the clear; \
             give --tls-cert and --tls-key, or --allow-plain-http if the network is trusted"
        );
    }
    Ok(addr)
}

/// `--metrics-bind`'s address: loopback only, since it asks for no token.
fn metrics_address(bind: &str) -> anyhow::Result<SocketAddr> {
    let addr = bind
        .to_socket_addrs()
        .with_context(|| {
            format!("--metrics-bind {bind:?}: expected HOST:PORT, e.g. 127.0.0.1:9108")
        })?
        .next()
        .with_context(|| format!("--metrics-bind {bind:?}: the name has no address"))?;
    if !addr.ip().is_loopback() {
        anyhow::bail!(
            "--metrics-bind {addr}: it serves /metrics without a token, so only a loopback address is allowed; \
             other machines scrape GET /metrics on --bind with a metrics:read token"
        );
    }
    Ok(addr)
}

async fn stop_signal(shutdown: tokio::sync::watch::Sender<bool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    eprintln!("mrsm serve: stopping (the jobs keep running)");
    let _ = shutdown.send(true);
}

/// Makes the root owner-only if others could look in (a directory made by hand):
/// it holds the tokens' hashes and every job's output, which a server publishes.
fn keep_private(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o700))
            .with_context(|| format!("making {} owner-only", dir.display()))?;
        eprintln!(
            "mrsm serve: {} was open to others ({mode:o}); it is owner-only now (700)",
            dir.display()
        );
    }
    Ok(())
}

/// What the handlers share, serving `executor`'s jobs kept under `root`.
fn app_state(
    executor: Arc<dyn Executor>,
    root: Root,
    options: &Options,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<AppState> {
    Ok(AppState {
        hubs: hub::Hubs::new(executor.clone(), root.clone()),
        executor,
        keys: Arc::new(auth::Keys::start(root.clone()).context("starting the tokens' thread")?),
        root,
        followers: Arc::new(Followers {
            max: options.max_followers,
            counts: Mutex::new(HashMap::new()),
        }),
        in_flight: Arc::new(Followers {
            max: MAX_REQUESTS_PER_TOKEN,
            counts: Mutex::new(HashMap::new()),
        }),
        limits: Limits {
            max_body: options.max_body,
        },
        readers: Arc::new(tokio::sync::Semaphore::new(LOG_READERS)),
        shutdown,
        metrics: Arc::default(),
    })
}

/// Runs the server on `root` until SIGTERM or SIGINT.
pub fn run(root: Root, options: &Options) -> anyhow::Result<()> {
    if options.tls_cert.is_some() != options.tls_key.is_some() {
        anyhow::bail!("--tls-cert and --tls-key go together");
    }
    let addr = address(options)?;
    let metrics_addr = options
        .metrics_bind
        .as_deref()
        .map(metrics_address)
        .transpose()?;
    let tls = match (&options.tls_cert, &options.tls_key) {
        (Some(cert), Some(key)) => Some(tls::config(cert, key)?),
        _ => None,
    };
    crate::store::private::create_dir_all(root.dir())
        .with_context(|| format!("creating the root {}", root.dir().display()))?;
    keep_private(root.dir())?;
    reply::hide_root(root.dir());
    let executor: Arc<dyn Executor> = Arc::new(LocalExecutor::new(root.clone()));
    let (shutdown_tx, shutdown) = tokio::sync::watch::channel(false);
    let shutdown_rx = shutdown.clone();
    let leases = Arc::new(leases::Leases::default());
    let state = app_state(executor.clone(), root.clone(), options, shutdown)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("mrsm-serve")
        .build()
        .context("starting the server's threads")?;
    let stop_watchdog = Arc::new(AtomicBool::new(false));
    let (watchdog_done, watchdog_ended) = std::sync::mpsc::channel::<()>();
    {
        let stop = stop_watchdog.clone();
        let executor = executor.clone();
        let root = root.clone();
        std::thread::Builder::new()
            .name("watchdog".into())
            .spawn(move || {
                watchdog::run(executor.as_ref(), &root, leases, stop);
                let _ = watchdog_done.send(());
            })
            .context("starting the watchdog")?;
    }
    let served = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        let local = listener.local_addr().context("the bound address")?;
        // Both addresses are taken before either is announced.
        let metrics_listener = match metrics_addr {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening on {addr} (--metrics-bind)"))?,
            ),
            None => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        out!(
            "mrsm serve: listening on {scheme}://{local} (jobs under {})",
            root.dir().display()
        );
        if let Some(listener) = metrics_listener {
            let local = listener.local_addr().context("the bound address")?;
            out!("mrsm serve: metrics on http://{local}/metrics (no token)");
            tokio::spawn(listen::serve(
                listener,
                None,
                metrics_app(state.clone()),
                shutdown_rx.clone(),
            ));
        }
        tokio::spawn(stop_signal(shutdown_tx));
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        listen::serve(listener, acceptor, app(state), shutdown_rx).await;
        anyhow::Ok(())
    });
    stop_watchdog.store(true, Ordering::Relaxed);
    // Followers blocked on a quiet job, and work stuck on a file, are not waited
    // for: each wait is bounded, then the process exits.
    runtime.shutdown_timeout(Duration::from_millis(500));
    let _ = watchdog_ended.recv_timeout(WATCHDOG_WAIT);
    served
}
