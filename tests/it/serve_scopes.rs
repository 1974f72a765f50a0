//! Scopes, route by route, against a real `mrsm serve`: a token that lacks any one
//! of a route's scopes (and holds every other) is refused with 403 naming it, and
//! nothing happens; a token with exactly the route's scopes succeeds. What each
//! route needs is written here on its own, apart from the server's table, so that
//! a scope dropped from that table fails a test.

use crate::support;
use crate::support::server;
use crate::support::ws;

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use mrsm::executor::wire::CreateBody;
use mrsm::executor::CreateOptions;
use mrsm::job::JobSpec;
use server::{call, Server};
use support::wait_for;

/// Every scope.
const ALL: [&str; 7] = [
    "jobs:read",
    "jobs:write",
    "jobs:execute",
    "jobs:delete",
    "jobs:stop",
    "jobs:pause",
    "logs:read",
];

const READ: &[&str] = &["jobs:read"];
/// A whole definition, `${VAR}` values and `env` included: what creating takes.
const DEFINITION: &[&str] = &["jobs:read", "jobs:execute", "jobs:write"];
const FOLLOW: &[&str] = &["jobs:read", "logs:read"];
const CREATE: &[&str] = &["jobs:execute", "jobs:write"];
const REPLACE: &[&str] = &["jobs:execute", "jobs:write", "jobs:stop"];
const START: &[&str] = &["jobs:execute"];
const STOP: &[&str] = &["jobs:execute", "jobs:stop"];
const PAUSE: &[&str] = &["jobs:execute", "jobs:pause"];
const DELETE: &[&str] = &["jobs:execute", "jobs:stop", "jobs:delete"];
const INPUT: &[&str] = &["jobs:execute"];
/// Any live token.
const ANY: &[&str] = &[];

/// Every route but the public healthcheck, with what it needs; jobs named like
/// routes too (scopes follow the route, not the job's name).
const ROUTES: &[(&str, &str, &[&str])] = &[
    ("POST", "/tokens/validate", ANY),
    ("GET", "/version", ANY),
    ("GET", "/version/mrsm", ANY),
    ("GET", "/jobs", READ),
    ("GET", "/jobs/x", READ),
    ("POST", "/jobs/x", CREATE),
    ("POST", "/jobs/stdin", CREATE),
    ("DELETE", "/jobs/x", DELETE),
    ("GET", "/jobs/x/exists", READ),
    ("POST", "/jobs/x/start", START),
    ("POST", "/jobs/x/stop", STOP),
    ("POST", "/jobs/x/pause", PAUSE),
    ("GET", "/jobs/x/stop_time", READ),
    ("GET", "/jobs/x/is_blocking_on_stdin", READ),
    ("GET", "/jobs/x/prompt_kwargs", READ),
    ("GET", "/logs/x", FOLLOW),
    ("GET", "/logs/ws", FOLLOW),
    ("GET", "/logs/x/ws", FOLLOW),
    ("GET", "/v1/info", ANY),
    ("GET", "/v1/jobs", READ),
    ("GET", "/v1/kept", READ),
    ("GET", "/v1/jobs/x", READ),
    ("POST", "/v1/jobs/x", CREATE),
    ("PUT", "/v1/jobs/x", REPLACE),
    ("PUT", "/v1/jobs/stdin", REPLACE),
    ("DELETE", "/v1/jobs/x", DELETE),
    ("GET", "/v1/jobs/x/spec", DEFINITION),
    ("POST", "/v1/jobs/x/start", START),
    ("POST", "/v1/jobs/x/pause", PAUSE),
    ("POST", "/v1/jobs/x/stop", STOP),
    ("GET", "/v1/jobs/x/runs", READ),
    ("GET", "/v1/jobs/x/logs?tail=5", FOLLOW),
    ("GET", "/v1/jobs/x/logs/page", FOLLOW),
    ("POST", "/v1/jobs/x/stdin", INPUT),
];

/// A server, and tokens of the scopes asked for (each set made once).
struct Scoped {
    server: Server,
    made: RefCell<HashMap<Vec<String>, String>>,
}

impl Scoped {
    fn start() -> Scoped {
        Scoped {
            server: Server::start(),
            made: RefCell::new(HashMap::new()),
        }
    }

    /// A token that holds exactly `scopes` (some: none named would be every one).
    fn with(&self, scopes: &[&str]) -> String {
        assert!(!scopes.is_empty(), "a token of no scope cannot be made");
        let mut key: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        key.sort();
        let mut made = self.made.borrow_mut();
        let count = made.len();
        made.entry(key)
            .or_insert_with(|| self.server.env.token(&format!("t{count}"), scopes))
            .clone()
    }

    /// A token with every scope but `scope`.
    fn without(&self, scope: &str) -> String {
        let others: Vec<&str> = ALL.iter().copied().filter(|s| *s != scope).collect();
        self.with(&others)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// `method path` with a token that lacks each of `needs` in turn: 403 naming
    /// the one it lacks, and `unchanged` still holds after each.
    fn refused_without_each(
        &self,
        method: &str,
        path: &str,
        body: &str,
        needs: &[&str],
        unchanged: impl Fn() -> bool,
    ) {
        for scope in needs {
            let (status, answer) = call(method, &self.url(path), Some(&self.without(scope)), body);
            assert_eq!(status, 403, "{method} {path} without {scope}: {answer}");
            assert!(
                answer.contains(&format!("lacks {scope}")),
                "{method} {path}: the refusal names {scope}: {answer}"
            );
            assert!(
                unchanged(),
                "{method} {path} without {scope} was refused, yet it happened"
            );
        }
    }

    /// `method path` with a token of exactly `needs`, which must succeed: the answer.
    fn allowed(&self, method: &str, path: &str, body: &str, needs: &[&str]) -> String {
        let (status, answer) = call(method, &self.url(path), Some(&self.with(needs)), body);
        assert!(
            (200..300).contains(&status),
            "{method} {path} with exactly {needs:?}: {status} {answer}"
        );
        answer
    }

    /// Whether job `name` exists, as a token with every scope sees it.
    fn exists(&self, name: &str) -> bool {
        let (status, _) = call(
            "GET",
            &self.url(&format!("/v1/jobs/{name}")),
            Some(&self.server.token),
            "",
        );
        status == 200
    }

    /// Waits until job `name` has status `status` (as `show jobs` says it).
    fn wait_status(&self, name: &str, status: &str) {
        wait_for(Duration::from_secs(20), &format!("{name} {status}"), || {
            (self.server.env.status(name) == status).then_some(())
        });
    }
}

/// A `/v1` create or replace body for job `name` running `command`.
fn v1_body(name: &str, command: &str) -> String {
    let spec = JobSpec::new(name, vec![command.to_string()]);
    serde_json::to_string(&CreateBody::new(&spec, &CreateOptions::default())).expect("JSON")
}

#[test]
fn creating_a_job_needs_execute_and_write_and_nothing_runs_without() {
    let s = Scoped::start();
    let work = s.server.env.work();
    // Issue 18: a jobs:write token made a job that ran what it liked.
    let marker = work.join("pwned");
    let body = serde_json::json!(["sh", "-c", format!("id > {}", marker.display())]).to_string();
    let made = || s.server.env.job_dir("pwn").exists() || marker.exists();
    let (status, answer) = call(
        "POST",
        &s.url("/jobs/pwn"),
        Some(&s.with(&["jobs:write"])),
        &body,
    );
    assert_eq!(status, 403, "{answer}");
    assert!(!made(), "the refused command ran");
    s.refused_without_each("POST", "/jobs/pwn", &body, CREATE, || !made());
    s.allowed("POST", "/jobs/pwn", &body, CREATE);
    wait_for(Duration::from_secs(20), "the job's command to run", || {
        marker.exists().then_some(())
    });
    // The same through /v1.
    let marker = work.join("pwned-v1");
    let body = v1_body("pwn1", &format!("id > {}", marker.display()));
    let made = || s.server.env.job_dir("pwn1").exists() || marker.exists();
    s.refused_without_each("POST", "/v1/jobs/pwn1", &body, CREATE, || !made());
    s.allowed("POST", "/v1/jobs/pwn1", &body, CREATE);
    wait_for(Duration::from_secs(20), "the job's command to run", || {
        marker.exists().then_some(())
    });
}

#[test]
fn replacing_a_job_s_command_needs_execute_write_and_stop() {
    let s = Scoped::start();
    s.server.env.run_d("keeper", &["--", "sleep", "300"]);
    let before = s.server.env.info("keeper")["command"].clone();
    let supervisor = s.server.env.supervisor("keeper").expect("supervised");
    let marker = s.server.env.work().join("swapped");
    let body = v1_body("keeper", &format!("id > {}", marker.display()));
    s.refused_without_each("PUT", "/v1/jobs/keeper", &body, REPLACE, || {
        s.server.env.info("keeper")["command"] == before
            && s.server.env.supervisor("keeper") == Some(supervisor)
            && s.server.env.status("keeper") == "running"
            && !marker.exists()
    });
    s.allowed("PUT", "/v1/jobs/keeper", &body, REPLACE);
    wait_for(Duration::from_secs(20), "the new command to run", || {
        marker.exists().then_some(())
    });
}

#[test]
fn starting_needs_execute() {
    let s = Scoped::start();
    for (job, path) in [("a", "/jobs/a/start"), ("b", "/v1/jobs/b/start")] {
        s.server.env.run_d(job, &["--", "sleep", "300"]);
        s.server.env.ok(&["stop", "jobs", job]);
        s.refused_without_each("POST", path, "", START, || {
            s.server.env.status(job) == "stopped"
        });
        s.allowed("POST", path, "", START);
        s.wait_status(job, "running");
    }
}

#[test]
fn stopping_needs_execute_and_stop() {
    let s = Scoped::start();
    for (job, path) in [("a", "/jobs/a/stop"), ("b", "/v1/jobs/b/stop")] {
        s.server.env.run_d(job, &["--", "sleep", "300"]);
        let supervisor = s.server.env.supervisor(job).expect("supervised");
        s.refused_without_each("POST", path, "", STOP, || {
            s.server.env.status(job) == "running" && supervisor.is_alive()
        });
        s.allowed("POST", path, "", STOP);
        s.wait_status(job, "stopped");
    }
}

#[test]
fn pausing_needs_execute_and_pause() {
    let s = Scoped::start();
    for (job, path) in [("a", "/jobs/a/pause"), ("b", "/v1/jobs/b/pause")] {
        s.server.env.run_d(job, &["--", "sleep", "300"]);
        s.refused_without_each("POST", path, "", PAUSE, || {
            s.server.env.status(job) == "running"
        });
        s.allowed("POST", path, "", PAUSE);
        s.wait_status(job, "paused");
    }
}

#[test]
fn deleting_a_running_job_needs_execute_stop_and_delete() {
    let s = Scoped::start();
    for (job, path) in [("a", "/jobs/a"), ("b", "/v1/jobs/b?purge=true")] {
        s.server.env.run_d(job, &["--", "sleep", "300"]);
        let supervisor = s.server.env.supervisor(job).expect("supervised");
        s.refused_without_each("DELETE", path, "", DELETE, || {
            s.exists(job) && s.server.env.status(job) == "running" && supervisor.is_alive()
        });
        s.allowed("DELETE", path, "", DELETE);
        assert!(!s.exists(job), "{job} deleted");
    }
}

#[test]
fn reading_jobs_needs_jobs_read() {
    let s = Scoped::start();
    s.server.env.run_d("seen", &["--", "sleep", "300"]);
    for path in [
        "/jobs",
        "/jobs/seen",
        "/jobs/seen/exists",
        "/jobs/seen/stop_time",
        "/jobs/seen/is_blocking_on_stdin",
        "/jobs/seen/prompt_kwargs",
        "/v1/jobs",
        "/v1/kept",
        "/v1/jobs/seen",
        "/v1/jobs/seen/runs",
    ] {
        let (status, answer) = call("GET", &s.url(path), Some(&s.without("jobs:read")), "");
        assert_eq!(status, 403, "{path}: {answer}");
        assert!(!answer.contains("sleep"), "{path}: {answer}");
        s.allowed("GET", path, "", READ);
    }
    assert!(s.allowed("GET", "/jobs", "", READ).contains("sleep 300"));
}

#[test]
fn a_whole_definition_needs_what_creating_a_job_does() {
    let s = Scoped::start();
    let secret = "s3cr3t-9f2c";
    s.server.env.run_d(
        "seen",
        &["--", "sh", "-c", &format!("sleep 300 # {secret}")],
    );
    let path = "/v1/jobs/seen/spec";
    for scope in DEFINITION {
        let (status, answer) = call("GET", &s.url(path), Some(&s.without(scope)), "");
        assert_eq!(status, 403, "{path} without {scope}: {answer}");
        assert!(answer.contains(&format!("lacks {scope}")), "{answer}");
        assert!(!answer.contains(secret), "{path}: {answer}");
    }
    assert!(s.allowed("GET", path, "", DEFINITION).contains(secret));
}

#[test]
fn logs_need_jobs_read_and_logs_read_over_http_and_the_websocket() {
    let s = Scoped::start();
    s.server
        .env
        .run_d("talker", &["--", "sh", "-c", "echo the-line; sleep 300"]);
    wait_for(Duration::from_secs(20), "the job's line", || {
        s.server
            .env
            .log_text("talker")
            .contains("the-line")
            .then_some(())
    });
    for path in [
        "/logs/talker",
        "/v1/jobs/talker/logs?tail=10",
        "/v1/jobs/talker/logs/page?cursor=0",
    ] {
        for scope in FOLLOW {
            let (status, answer) = call("GET", &s.url(path), Some(&s.without(scope)), "");
            assert_eq!(status, 403, "{path} without {scope}: {answer}");
            assert!(!answer.contains("the-line"), "{path}: {answer}");
        }
        assert!(s.allowed("GET", path, "", FOLLOW).contains("the-line"));
    }
    let port = s.server.port;
    for scope in FOLLOW {
        // The token in the header: refused before the upgrade.
        let refused = ws::connect(port, "/logs/talker/ws", Some(&s.without(scope)))
            .err()
            .unwrap_or_else(|| panic!("a socket without {scope} was opened"));
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(
            refused.body.contains(&format!("lacks {scope}")),
            "{}",
            refused.body
        );
        // The token in the first frame, as Meerschaum's client sends it.
        let mut socket = ws::connect(port, "/logs/talker/ws", None).expect("opened");
        socket.send(&s.without(scope));
        let mut seen = Vec::new();
        let said = socket.until(&mut seen, |f| f.contains("lacks"));
        assert!(
            said.is_some_and(|f| f.contains(&format!("lacks {scope}"))),
            "{seen:?}"
        );
        assert_eq!(socket.until(&mut seen, |_| false), None, "closed");
        assert!(!seen.iter().any(|f| f.contains("the-line")), "{seen:?}");
    }
    let follow = s.with(FOLLOW);
    let mut socket = ws::connect(port, "/logs/talker/ws", Some(&follow)).expect("opened");
    socket.send("hello");
    assert!(socket.until(&mut Vec::new(), |f| f == "the-line").is_some());
    let mut socket = ws::connect(port, "/logs/talker/ws", None).expect("opened");
    socket.send(&follow);
    assert!(socket.until(&mut Vec::new(), |f| f == "the-line").is_some());
}

#[test]
fn input_needs_execute_by_route_and_over_the_websocket() {
    let s = Scoped::start();
    s.server.env.run_d(
        "asker",
        &[
            "--",
            "sh",
            "-c",
            "while read line; do echo \"got $line\"; done",
        ],
    );
    s.refused_without_each("POST", "/v1/jobs/asker/stdin", "refused\n", INPUT, || {
        !s.server.env.log_text("asker").contains("got")
    });
    // A socket that may follow but not type: told once, its text dropped.
    let mut reader =
        ws::connect(s.server.port, "/logs/asker/ws", Some(&s.with(FOLLOW))).expect("opened");
    // With the token in the header, the first frame is not input.
    reader.send("first");
    reader.send("from the reader");
    let mut seen = Vec::new();
    let notice = reader.until(&mut seen, |f| f.starts_with("[mrsm: input not sent"));
    assert!(
        notice.is_some_and(|n| n.contains("lacks jobs:execute")),
        "{seen:?}"
    );
    s.allowed("POST", "/v1/jobs/asker/stdin", "from the owner\n", INPUT);
    let mut typer = ws::connect(
        s.server.port,
        "/logs/asker/ws",
        Some(&s.with(&["jobs:read", "logs:read", "jobs:execute"])),
    )
    .expect("opened");
    typer.send("first");
    typer.send("typed");
    wait_for(Duration::from_secs(20), "the typed line", || {
        s.server
            .env
            .log_text("asker")
            .contains("got typed")
            .then_some(())
    });
    // What the job read, in order: nothing refused got in first.
    let got: Vec<String> = s
        .server
        .env
        .log_text("asker")
        .lines()
        .filter_map(|l| l.find("got ").map(|at| l[at..].to_string()))
        .collect();
    assert_eq!(got, ["got from the owner", "got typed"]);
}

#[test]
fn a_token_of_one_scope_does_only_what_that_scope_allows() {
    let s = Scoped::start();
    for scope in ALL {
        let token = s.with(&[scope]);
        for (method, path, needs) in ROUTES {
            let (status, answer) = call(method, &s.url(path), Some(&token), "[]");
            let allowed = needs.iter().all(|n| *n == scope);
            if allowed {
                assert!(
                    status != 401 && status != 403,
                    "{scope}: {method} {path}: {status} {answer}"
                );
            } else {
                assert_eq!(status, 403, "{scope}: {method} {path}: {answer}");
            }
        }
    }
    // Nothing was made along the way (job `x` does not exist).
    assert!(!s.server.env.job_dir("x").exists());
    assert!(!s.server.env.job_dir("stdin").exists());
}
