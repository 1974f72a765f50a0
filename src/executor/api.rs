//! The `api` executor: jobs on a remote `mrsm serve`, through its `/v1` routes.
//! Reads and the verbs that are safe to repeat (start, pause, stop) are retried
//! with backoff when the server cannot be reached; creating is not (a retry could
//! find the job made by the first try). A server that cannot be reached is one
//! `Unavailable` error naming the executor; followers keep their cursor and resume
//! when it is back, without repeating or losing a line.

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::{
    Capabilities, CreateOptions, DeleteOptions, Executor, ExecutorError, Outcome, StopOptions,
};
use crate::executor::wire::{CreateBody, ErrorBody, LogPage, StopBody};
use crate::job::{JobInfo, JobSpec, RunHistory};
use crate::logs::{Cursor, LogLine, Selection};

/// How long one ordinary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Stops and deletes wait for the job's grace period on the server.
const SLOW_CALL_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a follower's page request waits on the server for a line.
const PAGE_WAIT_MS: u64 = 20_000;
/// The largest answer read (a page of long lines is up to 4 MiB of text, more as JSON).
const MAX_ANSWER: u64 = 64 * 1024 * 1024;
/// Tries of a call that is safe to repeat.
const TRIES: u32 = 3;

/// A remote `mrsm serve`, by URL and token.
pub struct ApiExecutor {
    label: String,
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for ApiExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("ApiExecutor")
            .field("label", &self.label)
            .field("url", &self.url)
            .finish()
    }
}

/// Why a call failed before any answer could be read.
enum CallError {
    /// No answer: the server may be down; worth another try for safe calls.
    Unreachable(String),
    /// An answer that is an error.
    Answered(u16, ErrorBody),
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

impl ApiExecutor {
    /// The executor `label` (`api:NAME`) at `url`, authenticating with `token`.
    pub fn new(label: &str, url: &str, token: Option<String>) -> ApiExecutor {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        ApiExecutor {
            label: label.to_string(),
            url: url.trim_end_matches('/').to_string(),
            token,
            agent,
        }
    }

    fn unavailable(&self, message: String) -> ExecutorError {
        ExecutorError::Unavailable {
            executor: self.label.clone(),
            message,
        }
    }

    fn error(&self, name: &str, error: CallError) -> ExecutorError {
        match error {
            CallError::Unreachable(message) => self.unavailable(message),
            CallError::Answered(401, _) if self.token.is_none() => self.unavailable(format!(
                "the server asks for a token and {} has none: add `token: …` under the spec's \
                 `executors:` entry, or `token = \"…\"` under [executors.{}] in the settings file \
                 (`mrsm token create NAME` on the server makes one)",
                self.label,
                self.label.trim_start_matches("api:")
            )),
            CallError::Answered(401, body) => self.unavailable(format!(
                "the server refused the token (401: {}); check `token` for executor {}",
                body.detail, self.label
            )),
            // The server's detail names the scopes the route needs and those the
            // token lacks.
            CallError::Answered(403, body) => self.unavailable(format!(
                "the token lacks a scope (403: {}); `mrsm token create NAME --scopes …` on the \
                 server makes one that holds it",
                body.detail
            )),
            CallError::Answered(_, body) => body.into_executor(&self.label, name),
        }
    }

    /// `request` with its timeout, query and token.
    fn prepared<B>(
        &self,
        request: ureq::RequestBuilder<B>,
        query: &[(&str, String)],
        timeout: Duration,
    ) -> ureq::RequestBuilder<B> {
        let mut request = request.config().timeout_global(Some(timeout)).build();
        for (k, v) in query {
            request = request.query(*k, v);
        }
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        request
    }

    /// One call: `method` on `path` with `query`, and a JSON body if any.
    fn call_once<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<T, CallError> {
        self.send(
            method,
            path,
            query,
            body.map(|b| ("application/json", b)),
            timeout,
        )
    }

    /// One call with a body of any type (`(content type, bytes)`).
    fn send<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<(&str, &[u8])>,
        timeout: Duration,
    ) -> Result<T, CallError> {
        let url = format!("{}{path}", self.url);
        let sent = match method {
            "GET" => self.prepared(self.agent.get(&url), query, timeout).call(),
            "DELETE" => self
                .prepared(self.agent.delete(&url), query, timeout)
                .call(),
            _ => {
                let request = match method {
                    "PUT" => self.agent.put(&url),
                    _ => self.agent.post(&url),
                };
                let request = self.prepared(request, query, timeout);
                match body {
                    Some((kind, bytes)) => request.header("Content-Type", kind).send(bytes),
                    None => request.send_empty(),
                }
            }
        };
        let mut response =
            sent.map_err(|e| CallError::Unreachable(unreachable_message(&self.url, &e)))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            if status == 204 {
                return serde_json::from_str("null")
                    .map_err(|e| CallError::Unreachable(e.to_string()));
            }
            return response
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER)
                .read_json::<T>()
                .map_err(|e| {
                    CallError::Unreachable(format!(
                        "{}: an answer that is not what mrsm sends: {e}",
                        self.url
                    ))
                });
        }
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let body = serde_json::from_str::<ErrorBody>(&text).unwrap_or_else(|_| ErrorBody {
            detail: format!(
                "HTTP {status}: {}",
                text.chars().take(200).collect::<String>()
            ),
            error: if status >= 500 {
                crate::executor::wire::ErrorCode::Unavailable
            } else {
                crate::executor::wire::ErrorCode::Invalid
            },
        });
        Err(CallError::Answered(status, body))
    }

    /// A call that is safe to repeat, tried again with backoff when unreachable.
    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&[u8]>,
        timeout: Duration,
        name: &str,
    ) -> Result<T, ExecutorError> {
        let mut delay = Duration::from_millis(100);
        let mut tries = 0;
        loop {
            tries += 1;
            match self.call_once(method, path, query, body, timeout) {
                Ok(value) => return Ok(value),
                Err(CallError::Unreachable(_)) if tries < TRIES => {
                    std::thread::sleep(delay);
                    delay *= 3;
                }
                Err(e) => return Err(self.error(name, e)),
            }
        }
    }

    fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        name: &str,
    ) -> Result<T, ExecutorError> {
        self.call("GET", path, query, None, CALL_TIMEOUT, name)
    }

    fn job_path(name: &str, rest: &str) -> Result<String, ExecutorError> {
        crate::job::validate_name(name).map_err(crate::job::SpecError::from)?;
        Ok(format!("/v1/jobs/{name}{rest}"))
    }

    fn send_spec(
        &self,
        method: &str,
        spec: &JobSpec,
        options: &CreateOptions,
    ) -> Result<JobInfo, ExecutorError> {
        let path = Self::job_path(&spec.name, "")?;
        let body = serde_json::to_vec(&CreateBody::new(spec, options))
            .map_err(|e| self.unavailable(format!("encoding the spec: {e}")))?;
        // Not repeated: the first try may have made the job.
        self.call_once(method, &path, &[], Some(&body), SLOW_CALL_TIMEOUT)
            .map_err(|e| self.error(&spec.name, e))
    }

    fn stop_query(options: &StopOptions) -> Vec<(&'static str, String)> {
        let body = StopBody::from(options);
        let mut query = Vec::new();
        if let Some(signal) = body.signal {
            query.push(("signal", signal.to_string()));
        }
        if let Some(ms) = body.timeout_ms {
            query.push(("timeout_ms", ms.to_string()));
        }
        query
    }

    /// One page of a log from `cursor`, waiting up to `wait_ms` on the server for
    /// a line when there is none yet.
    pub fn page(
        &self,
        name: &str,
        cursor: Cursor,
        max: usize,
        wait_ms: u64,
    ) -> Result<LogPage, ExecutorError> {
        let path = Self::job_path(name, "/logs/page")?;
        let query = [
            ("cursor", cursor.to_string()),
            ("max", max.to_string()),
            ("wait_ms", wait_ms.to_string()),
        ];
        self.call_once(
            "GET",
            &path,
            &query,
            None,
            CALL_TIMEOUT + Duration::from_millis(wait_ms),
        )
        .map_err(|e| self.error(name, e))
    }
}

/// How long a follower waits before asking again about a job that stopped (it may
/// be started again).
const STOPPED_LOOK: Duration = Duration::from_millis(500);

impl ApiExecutor {
    /// Pages from `cursor` on, handed to `on_line`; until the job stops when
    /// `until_stopped`, else for as long as `on_line` wants. A lost server is
    /// waited for (said once on standard error, and once when it is back).
    fn follow_pages(
        &self,
        name: &str,
        mut cursor: Cursor,
        until_stopped: bool,
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        let mut delay = Duration::from_millis(100);
        let mut lost_since: Option<Instant> = None;
        loop {
            match self.page(name, cursor, 1000, PAGE_WAIT_MS) {
                Ok(page) => {
                    if lost_since.take().is_some() {
                        err!(
                            "mrsm: {} is back; following {name:?} again from where it was",
                            self.label
                        );
                    }
                    delay = Duration::from_millis(100);
                    let quiet = !page.running && page.lines.is_empty();
                    for line in page.lines {
                        if !on_line(line) {
                            return Ok(());
                        }
                    }
                    cursor = page.cursor;
                    match (quiet, until_stopped) {
                        (true, true) => return Ok(()),
                        (true, false) => std::thread::sleep(STOPPED_LOOK),
                        _ => {}
                    }
                }
                Err(ExecutorError::Unavailable { message, .. })
                    if !message.contains("(401") && !message.contains("(403") =>
                {
                    if lost_since.is_none() {
                        err!("mrsm: lost {} ({message}); trying again", self.label);
                        lost_since = Some(Instant::now());
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Executor for ApiExecutor {
    fn label(&self) -> &str {
        &self.label
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }

    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.send_spec("POST", spec, options)
    }

    fn replace(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.send_spec("PUT", spec, options)
    }

    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError> {
        self.get_json(&Self::job_path(name, "/spec")?, &[], name)
    }

    fn start(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.call(
            "POST",
            &Self::job_path(name, "/start")?,
            &[],
            None,
            SLOW_CALL_TIMEOUT,
            name,
        )
    }

    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.call(
            "POST",
            &Self::job_path(name, "/pause")?,
            &[],
            None,
            SLOW_CALL_TIMEOUT,
            name,
        )
    }

    fn stop(&self, name: &str, options: &StopOptions) -> Result<Outcome, ExecutorError> {
        let query = Self::stop_query(options);
        self.call(
            "POST",
            &Self::job_path(name, "/stop")?,
            &query,
            None,
            SLOW_CALL_TIMEOUT,
            name,
        )
    }

    fn delete(&self, name: &str, options: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        let mut query = Self::stop_query(&options.stop);
        query.push(("purge", options.purge.to_string()));
        self.call(
            "DELETE",
            &Self::job_path(name, "")?,
            &query,
            None,
            SLOW_CALL_TIMEOUT,
            name,
        )
    }

    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError> {
        self.get_json(&Self::job_path(name, "")?, &[], name)
    }

    fn list(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        let query: Vec<(&str, String)> = project
            .map(|p| ("project", p.to_string()))
            .into_iter()
            .collect();
        self.get_json("/v1/jobs", &query, "")
    }

    fn kept_jobs(&self, project: Option<&str>) -> Result<Vec<String>, ExecutorError> {
        let query: Vec<(&str, String)> = project
            .map(|p| ("project", p.to_string()))
            .into_iter()
            .collect();
        self.get_json("/v1/kept", &query, "")
    }

    fn runs(&self, name: &str) -> Result<RunHistory, ExecutorError> {
        self.get_json(&Self::job_path(name, "/runs")?, &[], name)
    }

    fn logs(&self, name: &str, selection: &Selection) -> Result<Vec<LogLine>, ExecutorError> {
        if selection.tail.is_none() {
            // A whole log, by pages: no answer is ever larger than a page.
            let mut lines = Vec::new();
            let mut cursor = 0;
            loop {
                let page = self.page(name, cursor, 1000, 0)?;
                if page.lines.is_empty() {
                    return Ok(lines);
                }
                cursor = page.cursor;
                lines.extend(page.lines.into_iter().filter(|l| selection.admits(l)));
            }
        }
        let mut query = Vec::new();
        if let Some(tail) = selection.tail {
            query.push(("tail", tail.to_string()));
        }
        if let Some(since) = &selection.since {
            query.push(("since", since.clone()));
        }
        if selection.output_only {
            query.push(("output_only", "true".to_string()));
        }
        self.get_json(&Self::job_path(name, "/logs")?, &query, name)
    }

    fn read_logs(
        &self,
        name: &str,
        cursor: Cursor,
        max: usize,
    ) -> Result<(Vec<LogLine>, Cursor), ExecutorError> {
        let page = self.page(name, cursor, max, 0)?;
        Ok((page.lines, page.cursor))
    }

    fn follow_logs_when_ready(
        &self,
        name: &str,
        from_start: bool,
        ready: &mut dyn FnMut(),
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        let cursor = match from_start {
            true => 0,
            // A cursor past the end reads from the end.
            false => self.page(name, Cursor::MAX, 1, 0)?.cursor,
        };
        ready();
        self.follow_pages(name, cursor, true, on_line)
    }

    fn follow_logs_from(
        &self,
        name: &str,
        cursor: Cursor,
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        let mut cursor = cursor;
        loop {
            match self.follow_pages(name, cursor, false, on_line) {
                // Deleted: it may be declared again (`down` then `up`), and its log
                // goes on where it was when it was kept.
                Err(ExecutorError::NotFound(_)) => {
                    std::thread::sleep(STOPPED_LOOK * 4);
                    cursor = self.page(name, cursor, 1, 0).map_or(cursor, |p| {
                        // A log begun afresh starts over; a kept one goes on.
                        if p.lines.is_empty() && p.cursor < cursor {
                            0
                        } else {
                            cursor
                        }
                    });
                }
                other => return other,
            }
        }
    }

    fn send_input(&self, name: &str, data: &[u8], eof: bool) -> Result<(), ExecutorError> {
        let path = Self::job_path(name, "/stdin")?;
        let query = [("eof", eof.to_string())];
        self.send::<serde_json::Value>(
            "POST",
            &path,
            &query,
            Some(("application/octet-stream", data)),
            CALL_TIMEOUT,
        )
        .map(|_| ())
        .map_err(|e| self.error(name, e))
    }
}
