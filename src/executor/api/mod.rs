//! The `api` executor: jobs on a remote `mrsm serve`, through its `/v1` routes.
//! Reads and the verbs that are safe to repeat (start, pause, stop) are tried
//! again with backoff when the connection is refused or lost; creating is not (a
//! retry could find the job made by the first try), and nothing is tried again
//! after a timeout. A server that cannot be reached is one `Unavailable` error
//! naming the executor; followers keep their cursor and resume when it is back,
//! without repeating or losing a line. HTTP, deadlines and trust live in
//! `transport.rs` and `trust.rs`.

mod transport;
mod trust;

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::{
    Capabilities, CreateOptions, DeleteOptions, Executor, ExecutorError, Outcome, StopOptions,
};
use crate::executor::wire::{CreateBody, LogPage, StopBody};
use crate::job::{JobInfo, JobSpec, RunHistory};
use crate::logs::{Cursor, LogLine, Selection};
pub use transport::{plain_http_problem, ClientOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};
use transport::{CallError, Request, Transport};

/// How long a follower's page request waits on the server for a line.
const PAGE_WAIT_MS: u64 = 20_000;
/// What a verb that acts on a job may take on the server beyond a stop's grace
/// period: a supervisor's start (10 s there by default) or a stop's confirmation
/// (10 s beyond the grace period), with room to spare.
const ACT_ALLOWANCE: Duration = Duration::from_secs(30);
/// What a job on a Slurm cluster may take beyond that to stop: the cluster's
/// `KillWait` (30 s by default) and `srun`'s own end.
const CLUSTER_ALLOWANCE: Duration = Duration::from_secs(60);

/// How long input may wait on the server for the job's supervisor to take it.
const INPUT_WAIT: Duration = Duration::from_secs(10);

/// A remote `mrsm serve`, by URL and token.
pub struct ApiExecutor {
    label: String,
    transport: Transport,
    /// The server's root as its `/v1/info` names it ([`Executor::home`]).
    home: std::sync::Mutex<Home>,
}

/// What is known of the server's root: learnt once; a server that did not answer is
/// asked again only after a while.
#[derive(Default)]
struct Home {
    known: Option<Option<String>>,
    tried: Option<Instant>,
}

/// How long a server that did not say where its jobs live is left unasked.
const HOME_RETRY: Duration = Duration::from_secs(30);

impl std::fmt::Debug for ApiExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("ApiExecutor")
            .field("label", &self.label)
            .field("url", &self.transport.url())
            .finish()
    }
}

impl ApiExecutor {
    /// The executor `label` (`api:NAME`) at `url`, authenticating with `token`,
    /// with the default deadlines and trust store.
    pub fn new(label: &str, url: &str, token: Option<String>) -> ApiExecutor {
        ApiExecutor::with_options(label, url, token, ClientOptions::default())
    }

    /// [`ApiExecutor::new`] with its own deadlines and trusted certificates. A
    /// `ca_file` that cannot be used is reported by each call.
    pub fn with_options(
        label: &str,
        url: &str,
        token: Option<String>,
        options: ClientOptions,
    ) -> ApiExecutor {
        ApiExecutor {
            label: label.to_string(),
            transport: Transport::new(url, token, options),
            home: std::sync::Mutex::new(Home::default()),
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
            CallError::Unreachable { message, .. } => self.unavailable(message),
            CallError::Answered(401, _) if !self.transport.has_token() => {
                self.unavailable(format!(
                    "the server asks for a token and {} has none: add `token: …` under the spec's \
                     `executors:` entry, or `token = \"…\"` under [executors.{}] in the settings file \
                     (`mrsm token create NAME` on the server makes one)",
                    self.label,
                    self.label.trim_start_matches("api:")
                ))
            }
            CallError::Answered(401, body) => self.unavailable(format!(
                "the server refused the token (401: {}); check `token` for executor {}",
                body.detail, self.label
            )),
            // The server's detail names the scopes the route needs and those the
            // token lacks.
            CallError::Answered(403, body) => ExecutorError::Forbidden {
                executor: self.label.clone(),
                message: format!(
                    "the token lacks a scope (403: {}); `mrsm token create NAME --scopes …` on \
                     the server makes one that holds it",
                    body.detail
                ),
            },
            // About no job (a listing): the server's trouble, said as it is.
            CallError::Answered(_, body) if name.is_empty() => self.unavailable(body.detail),
            CallError::Answered(_, body) => body.into_executor(&self.label, name),
        }
    }

    /// A call that is safe to repeat, about job `name` (empty for none).
    fn call<T: DeserializeOwned>(&self, request: &Request, name: &str) -> Result<T, ExecutorError> {
        self.transport
            .send_repeatable(request)
            .map_err(|e| self.error(name, e))
    }

    fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        name: &str,
    ) -> Result<T, ExecutorError> {
        self.call(&Request::get(path, query), name)
    }

    /// `POST path?query` about job `name`, which may take `waits` on the server.
    fn act<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        waits: Duration,
        name: &str,
    ) -> Result<T, ExecutorError> {
        let request = Request {
            method,
            path,
            query,
            body: None,
            waits,
        };
        self.call(&request, name)
    }

    fn job_path(name: &str, rest: &str) -> Result<String, ExecutorError> {
        crate::job::validate_name(name).map_err(crate::job::SpecError::from)?;
        Ok(format!("/v1/jobs/{name}{rest}"))
    }

    /// How long a verb that may stop job `name` (with grace period `given`, else
    /// its own) may take on the server: its grace period and the allowances. The
    /// job's definition is asked for first; a server that cannot be reached is
    /// said at once, and a job whose definition cannot be read gets the default.
    /// How long a verb that stops the job may take there: its grace period (as the
    /// job's listing says, readable with `jobs:read` alone), more on a cluster.
    fn stop_wait(&self, name: &str, given: Option<Duration>) -> Result<Duration, ExecutorError> {
        let info = match self.get(name) {
            Ok(info) => Some(info),
            Err(e @ ExecutorError::Unavailable { .. }) => return Err(e),
            Err(_) => None,
        };
        let grace = given
            .or(info
                .as_ref()
                .and_then(|i| i.stop_timeout_ms)
                .map(Duration::from_millis))
            .unwrap_or_else(|| crate::job::StopSettings::default().timeout);
        // A server that does not say: as if the job ran on a cluster.
        let cluster = match info.map(|i| (i.stop_timeout_ms, i.executor)) {
            Some((Some(_), executor)) if !executor.starts_with("slurm") => Duration::ZERO,
            _ => CLUSTER_ALLOWANCE,
        };
        Ok(grace + ACT_ALLOWANCE + cluster)
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
        // A replace stops the job as it was defined there first.
        let waits = match method {
            "PUT" => self.stop_wait(&spec.name, None)?,
            _ => ACT_ALLOWANCE,
        };
        let request = Request {
            method,
            path: &path,
            query: &[],
            body: Some(("application/json", &body)),
            waits,
        };
        // Not repeated: the first try may have made the job.
        self.transport
            .send(&request)
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
        let request = Request {
            waits: Duration::from_millis(wait_ms),
            ..Request::get(&path, &query)
        };
        self.transport
            .send(&request)
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

    /// The server's root, as it names it: a server on this machine's own root holds
    /// the local jobs, and the reconciler must know it (or it would take them for
    /// copies to delete). A server that cannot say (older, or unreachable) is
    /// another place.
    fn home(&self) -> Option<String> {
        let mut home = self.home.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(known) = &home.known {
            return known.clone();
        }
        if home.tried.is_some_and(|t| t.elapsed() < HOME_RETRY) {
            return None;
        }
        home.tried = Some(Instant::now());
        let info: Result<crate::executor::wire::ServerInfo, _> = self.get_json("/v1/info", &[], "");
        let known = info.ok()?.home;
        home.known = Some(known.clone());
        known
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
        // A start during a slow stop waits for the stop, then starts the job.
        let waits = self.stop_wait(name, None)?;
        let path = Self::job_path(name, "/start")?;
        self.act("POST", &path, &[], waits, name)
    }

    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError> {
        let path = Self::job_path(name, "/pause")?;
        self.act("POST", &path, &[], ACT_ALLOWANCE, name)
    }

    fn stop(&self, name: &str, options: &StopOptions) -> Result<Outcome, ExecutorError> {
        let waits = self.stop_wait(name, options.timeout)?;
        let path = Self::job_path(name, "/stop")?;
        self.act("POST", &path, &Self::stop_query(options), waits, name)
    }

    fn delete(&self, name: &str, options: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        let waits = self.stop_wait(name, options.stop.timeout)?;
        let mut query = Self::stop_query(&options.stop);
        query.push(("purge", options.purge.to_string()));
        let path = Self::job_path(name, "")?;
        self.act("DELETE", &path, &query, waits, name)
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
        let request = Request {
            method: "POST",
            body: Some(("application/octet-stream", data)),
            // A job that does not read its input holds it up to the supervisor's
            // own limit.
            waits: INPUT_WAIT,
            ..Request::get(&path, &query)
        };
        self.transport
            .send::<serde_json::Value>(&request)
            .map(|_| ())
            .map_err(|e| self.error(name, e))
    }

    fn renew_lease(&self, name: &str) -> Result<(), ExecutorError> {
        let path = Self::job_path(name, "/lease")?;
        let request = Request {
            method: "POST",
            ..Request::get(&path, &[])
        };
        self.transport
            .send::<serde_json::Value>(&request)
            .map(|_| ())
            .map_err(|e| self.error(name, e))
    }
}
