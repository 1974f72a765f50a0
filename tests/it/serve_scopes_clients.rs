//! Scopes as clients meet them: tokens written by the previous version keep what
//! they were given; `run -d -e`, `attach` and a foreground `run -e` work with the
//! scopes README names, and say which scope they lack when one is missing.

use crate::support;
use crate::support::server;

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use server::{call, Server};
use support::wait_for;

/// Whether job `name` exists on `server`, as its every-scope token sees it.
fn exists(server: &Server, name: &str) -> bool {
    let url = format!("{}/v1/jobs/{name}", server.url());
    call("GET", &url, Some(&server.token), "").0 == 200
}

#[test]
fn tokens_of_the_previous_version_keep_what_they_were_given() {
    let server = Server::start();
    let env = &server.env;
    let admin = env.token("old-admin", &[]);
    let reader = env.token("old-reader", &["jobs:read"]);
    let four = env.token(
        "new-four",
        &["jobs:read", "jobs:write", "jobs:execute", "jobs:delete"],
    );
    // tokens.json as the previous version wrote it: four scopes at most, no format.
    let file = env.root().join("tokens.json");
    let mut tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("tokens")).expect("JSON");
    for t in tokens.as_array_mut().expect("a list") {
        let old = match t["name"].as_str() {
            Some("old-admin") => {
                serde_json::json!(["jobs:read", "jobs:write", "jobs:execute", "jobs:delete"])
            }
            Some("old-reader") => serde_json::json!(["jobs:read"]),
            _ => continue,
        };
        t["scopes"] = old;
        t.as_object_mut().expect("an object").remove("format");
    }
    std::fs::write(&file, tokens.to_string()).expect("written");
    env.run_d("old", &["--", "sh", "-c", "echo still-here; sleep 300"]);
    wait_for(Duration::from_secs(20), "the job's line", || {
        env.log_text("old").contains("still-here").then_some(())
    });
    let url = |path: &str| format!("{}{path}", server.url());
    // All four then was everything: the new scopes too.
    for path in ["/jobs/old/pause", "/jobs/old/stop"] {
        let (status, answer) = call("POST", &url(path), Some(&admin), "");
        assert_eq!(status, 200, "POST {path}: {answer}");
    }
    let (status, log) = call("GET", &url("/logs/old"), Some(&admin), "");
    assert!(
        status == 200 && log.contains("still-here"),
        "{status} {log}"
    );
    // Some of them: just those, under today's rules (a log needs logs:read).
    assert_eq!(call("GET", &url("/jobs"), Some(&reader), "").0, 200);
    let (status, answer) = call("GET", &url("/logs/old"), Some(&reader), "");
    assert!(
        status == 403 && answer.contains("lacks logs:read"),
        "{answer}"
    );
    // The same four named today are just those four.
    let (status, answer) = call("POST", &url("/jobs/old/start"), Some(&four), "");
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = call("POST", &url("/jobs/old/stop"), Some(&four), "");
    assert!(
        status == 403 && answer.contains("lacks jobs:stop"),
        "{answer}"
    );
    let out = env
        .mrsm()
        .args(["token", "list", "--json"])
        .output()
        .expect("runs");
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let scopes = |name: &str| {
        listed
            .as_array()
            .and_then(|l| l.iter().find(|t| t["name"] == name))
            .map(|t| t["scopes"].clone())
    };
    assert_eq!(scopes("old-admin"), Some(serde_json::json!(["*"])));
    assert_eq!(scopes("old-reader"), Some(serde_json::json!(["jobs:read"])));
}

/// What a foreground `run -e` needs: every scope but `jobs:pause`.
const FOREGROUND: [&str; 6] = [
    "jobs:read",
    "jobs:write",
    "jobs:execute",
    "jobs:stop",
    "jobs:delete",
    "logs:read",
];

#[test]
fn remote_run_and_attach_work_with_the_scopes_readme_names() {
    let server = Server::start();
    let token = |name: &str, scopes: &[&str]| server.env.token(name, scopes);
    // run -d: jobs:execute + jobs:write.
    let client = server.client_with(&token("maker", &["jobs:execute", "jobs:write"]));
    client
        .mrsm()
        .args(["run", "-d", "-e", "api:test", "--name", "asker", "--"])
        .args(["sh", "-c", "read line; echo \"got $line\""])
        .assert()
        .success();
    // attach: jobs:read + logs:read to follow, jobs:execute to type.
    let client = server.client_with(&token(
        "attacher",
        &["jobs:read", "logs:read", "jobs:execute"],
    ));
    client
        .mrsm()
        .args(["attach", "job", "-e", "api:test", "asker"])
        .write_stdin("hello\n")
        .timeout(Duration::from_secs(60))
        .assert()
        .success()
        .stdout(predicates::str::contains("got hello"));
    let client = server.client_with(&token("runner", &FOREGROUND));
    client
        .mrsm()
        .args(["run", "-e", "api:test", "--name", "once", "--"])
        .args(["sh", "-c", "echo done; exit 3"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(3)
        .stdout(predicates::str::contains("done"));
    assert!(
        !exists(&server, "once"),
        "the foreground run removed its job"
    );
    // Without logs:read it cannot show the output, and says why.
    let client = server.client_with(&token("blind", &FOREGROUND[..5]));
    client
        .mrsm()
        .args(["run", "-e", "api:test", "--name", "blind", "--", "true"])
        .timeout(Duration::from_secs(60))
        .assert()
        .failure()
        .stderr(predicates::str::contains("lacks logs:read"));
}

#[test]
fn ctrl_c_of_a_remote_run_without_jobs_stop_says_so_at_once() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let server = Server::start();
    let scopes: Vec<&str> = FOREGROUND
        .into_iter()
        .filter(|s| *s != "jobs:stop")
        .collect();
    let client = server.client_with(&server.env.token("unstoppable", &scopes));
    let mut run = support::mrsm_process()
        .args(["run", "-e", "api:test", "--name", "on", "--"])
        .args(["sh", "-c", "echo started; sleep 300"])
        .env("MRSM_ROOT_DIR", client.env.root())
        .env("MRSM_CONFIG", &client.config)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    // Its line shown here: the run follows the job, and Ctrl-C is its own.
    let mut first = String::new();
    BufReader::new(run.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("a line");
    assert_eq!(first, "started\n");
    let asked = Instant::now();
    kill(Pid::from_raw(run.id() as i32), Signal::SIGINT).expect("sent");
    let status = wait_for(Duration::from_secs(20), "the run to end", || {
        run.try_wait().ok().flatten()
    });
    let mut err = String::new();
    run.stderr
        .take()
        .expect("piped")
        .read_to_string(&mut err)
        .expect("read");
    assert_eq!(status.code(), Some(130), "{err}");
    // The refusal ends the wait: well before the 10 s a lost server gets.
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );
    assert!(
        err.contains("could not be stopped") && err.contains("lacks jobs:stop"),
        "{err}"
    );
    assert!(exists(&server, "on"), "the job runs on there, as it says");
    assert_eq!(server.env.status("on"), "running");
}

#[test]
fn an_operator_token_pauses_starts_and_stops_through_the_command_line() {
    let server = Server::start();
    // What README names for pause, start and stop, and for looking: not jobs:write.
    let operator = server.env.token(
        "operator",
        &[
            "jobs:read",
            "jobs:execute",
            "jobs:stop",
            "jobs:pause",
            "logs:read",
        ],
    );
    server.env.run_d("operated", &["--", "sleep", "300"]);
    let client = server.client_with(&operator);
    for verb in ["pause", "start", "stop", "start"] {
        let out = client
            .mrsm()
            .args([verb, "jobs", "-e", "api:test", "operated"])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(server.env.status("operated"), "running");
}

#[test]
fn a_job_only_a_server_holds_is_named_with_the_e_that_reaches_it() {
    let server = Server::start();
    server.env.run_d("far", &["--", "sleep", "300"]);
    let client = server.client();
    for verb in ["pause", "stop", "start"] {
        let out = client
            .mrsm()
            .args([verb, "jobs", "far"])
            .output()
            .expect("runs");
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{verb}: {said}");
        assert!(
            said.contains(
                "job \"far\" is not on local; it is on api:test (`-e api:test` reaches it)"
            ),
            "{verb}: {said}"
        );
    }
    let out = client
        .mrsm()
        .args(["stop", "jobs", "nowhere"])
        .output()
        .expect("runs");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("job \"nowhere\" does not exist"),
        "{out:?}"
    );
}
