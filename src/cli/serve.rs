//! `mrsm serve`: the HTTP API over this machine's jobs (see `docs/api.md`).

use std::path::PathBuf;

use crate::store::Root;

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Every route but /healthcheck and the dashboard's page needs `Authorization: Bearer TOKEN`;\n\
    make tokens with `mrsm token create NAME`. Jobs keep running when the server stops.\n\
    The dashboard is at / (log in with a token; it shows the buttons the token's scopes allow);\n\
    Prometheus scrapes GET /metrics with a metrics:read token.\n\n\
    Examples:\n  \
    mrsm token create watcher --scopes jobs:read,logs:read\n  \
    mrsm token create prometheus --scopes metrics:read\n  \
    mrsm serve                                  (http://127.0.0.1:8000)\n  \
    mrsm serve --metrics-bind 127.0.0.1:9108    (/metrics there without a token)\n  \
    mrsm serve --bind 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem"
)]
pub struct Args {
    /// Address and port to listen on (port 0: any free one, printed at start).
    #[arg(long, default_value = "127.0.0.1:8000", value_name = "HOST:PORT")]
    bind: String,
    /// PEM certificate chain: serve HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of the certificate.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Allow plain HTTP on an address other machines can reach (a trusted network only).
    #[arg(long)]
    allow_plain_http: bool,
    /// Largest request body accepted, e.g. 1MiB; more is refused with 413.
    #[arg(long, default_value = "1MiB", value_name = "SIZE", value_parser = crate::job::parse_size)]
    max_body: u64,
    /// Log followers (WebSockets) one token may keep open at once.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_followers: usize,
    /// Also serve GET /metrics on this loopback address, without a token (for a
    /// Prometheus on this machine).
    #[arg(long, value_name = "HOST:PORT")]
    metrics_bind: Option<String>,
}

/// Runs `serve` until SIGTERM or SIGINT.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    let options = crate::serve::Options {
        bind: args.bind.clone(),
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        allow_plain_http: args.allow_plain_http,
        max_body: usize::try_from(args.max_body).unwrap_or(usize::MAX),
        max_followers: args.max_followers,
        metrics_bind: args.metrics_bind.clone(),
    };
    crate::serve::run(Root::from_env()?, &options)?;
    Ok(0)
}
