//! How the `api` executor talks HTTP: one agent per server, built on first use
//! with the roots it trusts (`trust.rs`); the deadlines of each request (a
//! connection, an ordinary answer, and more for a request that waits on purpose
//! on the server); and what a failure is called, with what to do about it. A
//! server that accepts connections and never answers costs one `timeout`, never
//! more: a timed-out call is not tried again.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::executor::wire::{ErrorBody, ErrorCode};

/// How long a connection may take (name lookup, TCP and TLS handshakes) when the
/// executor does not say.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an ordinary answer may take once the request is sent, when the
/// executor does not say.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest answer read (a page of long lines is up to 4 MiB of text, more as JSON).
const MAX_ANSWER: u64 = 64 * 1024 * 1024;
/// Tries of a call that is safe to repeat, when the connection was refused or lost.
const TRIES: u32 = 3;
/// How many times its answer's deadline a whole answer may take: one that keeps
/// coming a byte at a time is cut there.
const WHOLE_ANSWER: u32 = 3;

/// How the `api` executor reaches its server: how long it waits, and whom it
/// trusts. What is left out takes the defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// Longest wait for a connection (default 3 s).
    pub connect_timeout: Option<Duration>,
    /// Longest wait for an ordinary answer (default 5 s); a request that waits on
    /// the server on purpose (a stop's grace period, a follower's long poll) gets
    /// what it waits for on top.
    pub timeout: Option<Duration>,
    /// PEM certificates trusted instead of the system's: the private CA that
    /// signed the server's certificate, or a self-signed server's own.
    pub ca_file: Option<PathBuf>,
}

impl ClientOptions {
    /// These options, with what they leave out taken from `fallback`.
    pub fn or(self, fallback: &ClientOptions) -> ClientOptions {
        ClientOptions {
            connect_timeout: self.connect_timeout.or(fallback.connect_timeout),
            timeout: self.timeout.or(fallback.timeout),
            ca_file: self.ca_file.or_else(|| fallback.ca_file.clone()),
        }
    }

    fn connect_timeout(&self) -> Duration {
        self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    fn timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT)
    }
}

/// Why a call failed.
pub(super) enum CallError {
    /// No whole answer. `again`: the connection was refused or lost, and a call
    /// that is safe to repeat may be tried again; after a timeout it is not (it
    /// would wait as long again).
    Unreachable { message: String, again: bool },
    /// An answer that is an error.
    Answered(u16, ErrorBody),
}

/// One request.
pub(super) struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(&'a str, String)],
    /// A body, with its content type.
    pub body: Option<(&'a str, &'a [u8])>,
    /// How long the server may take on purpose before it answers (a stop's grace
    /// period, a long poll), on top of the ordinary `timeout`.
    pub waits: Duration,
}

impl<'a> Request<'a> {
    /// `GET path?query`, answered at once.
    pub fn get(path: &'a str, query: &'a [(&'a str, String)]) -> Request<'a> {
        Request {
            method: "GET",
            path,
            query,
            body: None,
            waits: Duration::ZERO,
        }
    }
}

/// The HTTP side of one `api` executor.
pub(super) struct Transport {
    url: String,
    token: Option<String>,
    options: ClientOptions,
    /// Built on first use: the trust store is read only when it is needed.
    agent: OnceLock<Result<ureq::Agent, String>>,
}

/// `d` as people write it: `2s`, `500ms`, `1m 30s`.
fn said(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

impl Transport {
    /// The server at `url`, with `token` and `options`.
    pub fn new(url: &str, token: Option<String>, options: ClientOptions) -> Transport {
        Transport {
            url: url.trim_end_matches('/').to_string(),
            token,
            options,
            agent: OnceLock::new(),
        }
    }

    /// Whether a token is sent.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn agent(&self) -> Result<&ureq::Agent, CallError> {
        let built = self.agent.get_or_init(|| {
            let connect = self.options.connect_timeout();
            let mut config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_resolve(Some(connect))
                .timeout_connect(Some(connect));
            if self
                .url
                .get(..8)
                .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
            {
                config =
                    config.tls_config(super::trust::tls_config(self.options.ca_file.as_deref())?);
            }
            Ok(config.build().into())
        });
        built.as_ref().map_err(|message| CallError::Unreachable {
            message: message.clone(),
            again: false,
        })
    }

    /// `request` with its deadlines, query and token.
    fn prepared<B>(
        &self,
        request: ureq::RequestBuilder<B>,
        query: &[(&str, String)],
        answer: Duration,
    ) -> ureq::RequestBuilder<B> {
        let timeout = self.options.timeout();
        // A body that stops coming is caught by the wait for each read, which is
        // as long as the answer may take (a long poll is silent until it has
        // lines); a body that keeps coming slowly is cut at three times that (a
        // full 4 MiB log page still has most of it to arrive).
        let mut request = request
            .config()
            .timeout_send_request(Some(timeout))
            .timeout_send_body(Some(timeout))
            .timeout_recv_response(Some(answer))
            .timeout_per_read(Some(answer))
            .timeout_global(Some(answer.saturating_mul(WHOLE_ANSWER)))
            .build();
        for (k, v) in query {
            request = request.query(*k, v);
        }
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        request
    }

    /// One call; a JSON answer is decoded into `T` (`null` for 204).
    pub fn send<T: DeserializeOwned>(&self, request: &Request) -> Result<T, CallError> {
        let agent = self.agent()?;
        let url = format!("{}{}", self.url, request.path);
        let answer = self.options.timeout() + request.waits;
        let sent = match request.method {
            "GET" => self.prepared(agent.get(&url), request.query, answer).call(),
            "DELETE" => self
                .prepared(agent.delete(&url), request.query, answer)
                .call(),
            method => {
                let builder = match method {
                    "PUT" => agent.put(&url),
                    _ => agent.post(&url),
                };
                let builder = self.prepared(builder, request.query, answer);
                match request.body {
                    Some((kind, bytes)) => builder.header("Content-Type", kind).send(bytes),
                    None => builder.send_empty(),
                }
            }
        };
        let mut response = sent.map_err(|e| self.failure(&e, answer, false))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            if status == 204 {
                return serde_json::from_str("null").map_err(|e| CallError::Unreachable {
                    message: e.to_string(),
                    again: false,
                });
            }
            return response
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER)
                .read_json::<T>()
                .map_err(|e| self.failure(&e, answer, true));
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| ErrorBody {
            detail: format!(
                "HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
            ),
            error: if status >= 500 {
                ErrorCode::Unavailable
            } else {
                ErrorCode::Invalid
            },
        });
        Err(CallError::Answered(status, body))
    }

    /// [`Transport::send`] for a call that is safe to repeat: tried again with
    /// backoff when the connection was refused or lost (a server restarting).
    pub fn send_repeatable<T: DeserializeOwned>(&self, request: &Request) -> Result<T, CallError> {
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            tries += 1;
            match self.send(request) {
                Err(CallError::Unreachable { again: true, .. }) if tries < TRIES => {
                    std::thread::sleep(delay);
                    delay *= 3;
                }
                other => return other,
            }
        }
    }

    /// What went wrong with a call that had `answer` to be answered in, while
    /// reading the answer's body (`in_body`) or before.
    fn failure(&self, error: &ureq::Error, answer: Duration, in_body: bool) -> CallError {
        use ureq::Timeout;
        let url = &self.url;
        let (message, again) = match error {
            ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => (
                format!(
                    "cannot reach {url}: no connection within {} (the executor's `connect_timeout`)",
                    said(self.options.connect_timeout())
                ),
                false,
            ),
            ureq::Error::Timeout(Timeout::Global) => (
                format!(
                    "{url} did not finish its answer within {} (three times the executor's `timeout`)",
                    said(answer.saturating_mul(WHOLE_ANSWER))
                ),
                false,
            ),
            ureq::Error::Timeout(_) if in_body => (
                format!(
                    "{url} began to answer, then sent nothing more for {} (the executor's `timeout`)",
                    said(answer)
                ),
                false,
            ),
            ureq::Error::Timeout(_) => (
                format!(
                    "{url} accepted the connection but did not answer within {} (the executor's `timeout`)",
                    said(answer)
                ),
                false,
            ),
            _ if in_body => (
                format!("{url}: an answer that is not what mrsm sends: {error}"),
                false,
            ),
            _ => match certificate_problem(error) {
                Some(problem) => (self.untrusted(problem), false),
                None => (unreachable_message(url, error), true),
            },
        };
        CallError::Unreachable { message, again }
    }

    /// Why the server's certificate was refused, and what to do about it.
    fn untrusted(&self, problem: &rustls::CertificateError) -> String {
        use rustls::CertificateError as C;
        let url = &self.url;
        match (problem, &self.options.ca_file) {
            (C::UnknownIssuer | C::BadSignature, None) => format!(
                "cannot reach {url}: its certificate is signed by an authority this machine does \
                 not trust ({problem:?}); for a private CA or a self-signed server set `ca_file` \
                 for this executor to the CA's certificate (or to the server's own), in the \
                 settings file or the spec's `executors:` entry"
            ),
            (C::UnknownIssuer | C::BadSignature, Some(ca)) => format!(
                "cannot reach {url}: its certificate is not signed by the authority in ca_file \
                 {} ({problem:?}); point `ca_file` at the CA that signed it",
                ca.display()
            ),
            // webpki's own error, only reachable through its Debug form: a server
            // whose certificate says it is a CA (what `openssl req -x509` makes by
            // default) is refused as a server, pinned in `ca_file` or not.
            _ if format!("{problem:?}").contains("CaUsedAsEndEntity") => format!(
                "cannot reach {url}: its certificate is a CA's (basicConstraints CA:TRUE), which \
                 TLS refuses as a server's own, even as its own `ca_file`: make the server's \
                 certificate with CA:FALSE (`openssl req -x509 … -addext \
                 basicConstraints=critical,CA:FALSE`), or sign it with a CA and put that CA in \
                 `ca_file`"
            ),
            _ => format!("cannot reach {url}: its certificate is refused: {problem}"),
        }
    }
}

/// The certificate error behind a failed TLS handshake, if that is what failed.
fn certificate_problem(error: &ureq::Error) -> Option<&rustls::CertificateError> {
    let tls = match error {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    match tls? {
        rustls::Error::InvalidCertificate(problem) => Some(problem),
        _ => None,
    }
}

/// Why `url` could not be reached, with what to do when the cause is likely.
fn unreachable_message(url: &str, error: &ureq::Error) -> String {
    let text = error.to_string();
    let hint = if url.starts_with("https://")
        && (text.contains("corrupt message") || text.contains("InvalidContentType"))
    {
        " (is the server plain HTTP? then the url is http://…)"
    } else {
        ""
    };
    format!("cannot reach {url}: {text}{hint}")
}

/// Why a token must not go to `url`, if it must not: plain `http://` to a host
/// other than this machine, unless the settings file allows it.
pub fn plain_http_problem(url: &str, has_token: bool, allowed: bool) -> Option<String> {
    let url = url.trim();
    if !url.get(..7)?.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &url[7..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // `user:password@host`: the host is what follows the last `@`.
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    (!local && has_token && !allowed).then(|| {
        format!(
            "{url} is plain HTTP to another machine: the token would cross the network in the clear; \
             use https://, or set `allow_plain_http = true` for it in the settings file"
        )
    })
}
