//! The `api` executor against a real `mrsm serve` on 127.0.0.1: a spec with local
//! and remote jobs converges, changes and comes down; a remote foreground run
//! streams both of its streams back and exits with the remote status; `logs -f`
//! shows every line of local and remote jobs once across a server restart; the
//! server's watchdog starts a job again whose supervisor was killed.

use crate::support;
use crate::support::orphans;
use crate::support::server;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use server::{Client, Server};
use support::wait_for;

/// `show jobs --json` on an executor of the client, by name.
fn jobs(client: &Client, executor: &str) -> Vec<Value> {
    let out = client
        .mrsm()
        .args(["show", "jobs", "--json", "-e", executor])
        .output()
        .expect("runs");
    assert!(out.status.success(), "show jobs: {out:?}");
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn job<'a>(list: &'a [Value], name: &str) -> Option<&'a Value> {
    list.iter().find(|j| j["name"] == name)
}

fn spec(client: &Client, server: &Server, remote_command: &str) {
    let text = format!(
        "project: mixed\n\
         executors:\n  test:\n    url: {}\n    token: ${{TEST_TOKEN}}\n\
         jobs:\n  here:\n    command: sleep 300\n  there:\n    executor: api:test\n    command: {remote_command}\n",
        server.url()
    );
    std::fs::write(client.env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
}

#[test]
fn a_spec_with_local_and_remote_jobs_converges_changes_and_comes_down() {
    let server = Server::start();
    let client = server.client();
    // The spec names the server and its token itself (no settings file needed).
    std::fs::write(&client.config, "").expect("settings emptied");
    spec(&client, &server, "sleep 301");
    let up = |client: &Client| {
        client
            .mrsm()
            .env("TEST_TOKEN", &server.token)
            .args(["up", "-d"])
            .assert()
            .success();
    };
    up(&client);
    let remote = jobs_on(&client, &server);
    let there = job(&remote, "there")
        .expect("the remote job exists")
        .clone();
    assert_eq!(there["status"], "running");
    assert_eq!(there["project"], "mixed");
    let local = jobs(&client, "local");
    let here = job(&local, "here").expect("the local job exists").clone();
    assert_eq!(here["status"], "running");
    // On the server's machine the job is a local one, supervised there.
    assert!(server.env.supervisor("there").is_some());
    client
        .mrsm()
        .env("TEST_TOKEN", &server.token)
        .arg("diff")
        .assert()
        .code(0);

    // An edit to the remote job restarts only it.
    spec(&client, &server, "sleep 302");
    client
        .mrsm()
        .env("TEST_TOKEN", &server.token)
        .arg("diff")
        .assert()
        .code(1)
        .stdout(predicates::str::contains("there on api:test"));
    up(&client);
    let remote = jobs_on(&client, &server);
    let there_now = job(&remote, "there").expect("still there");
    assert_eq!(there_now["command"], serde_json::json!(["sleep 302"]));
    assert_ne!(
        there_now["pid"], there["pid"],
        "the remote job was restarted"
    );
    let here_now = jobs(&client, "local");
    assert_eq!(
        job(&here_now, "here").expect("still here")["pid"],
        here["pid"],
        "the local job was left alone"
    );
    client
        .mrsm()
        .env("TEST_TOKEN", &server.token)
        .arg("diff")
        .assert()
        .code(0);

    client
        .mrsm()
        .env("TEST_TOKEN", &server.token)
        .arg("down")
        .assert()
        .success();
    let left = jobs_on(&client, &server);
    assert!(left.is_empty(), "{left:?}");
    assert!(jobs(&client, "local").is_empty());
    assert!(server.env.supervisor("there").is_none());
}

/// The server's jobs, as the server itself lists them.
fn jobs_on(_client: &Client, server: &Server) -> Vec<Value> {
    let out = server
        .env
        .mrsm()
        .args(["show", "jobs", "--json"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).expect("JSON")
}

#[test]
fn a_remote_foreground_run_streams_its_output_and_exits_with_its_status() {
    let server = Server::start();
    let client = server.client();
    let out = client
        .mrsm()
        .args([
            "run",
            "-e",
            "api:test",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // Nothing is left behind on the server.
    assert!(jobs_on(&client, &server).is_empty());
}

#[test]
fn an_unreachable_server_is_one_clear_error() {
    let mut server = Server::start();
    let client = server.client();
    server.kill();
    let out = client
        .mrsm()
        .args(["show", "jobs", "-e", "test"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("api:test") && err.contains("cannot reach"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn logs_follow_shows_every_line_once_across_a_server_restart() {
    let mut server = Server::start();
    let client = server.client();
    const LINES: usize = 60;
    let command = |name: &str| {
        format!("sh -c 'for i in $(seq 1 {LINES}); do echo {name}-$i; sleep 0.05; done; sleep 300'")
    };
    let mut text = format!(
        "project: both\nexecutors:\n  test:\n    url: {}\njobs:\n",
        server.url()
    );
    for i in 1..=3 {
        text.push_str(&format!(
            "  l{i}:\n    command: {}\n",
            command(&format!("l{i}"))
        ));
        text.push_str(&format!(
            "  r{i}:\n    executor: api:test\n    command: {}\n",
            command(&format!("r{i}"))
        ));
    }
    std::fs::write(client.env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
    client.mrsm().args(["up", "-d"]).assert().success();

    let mut follower = support::mrsm_process()
        .args(["logs", "-f", "--output-only", "--no-color"])
        .env("MRSM_ROOT_DIR", client.env.root())
        .env("MRSM_CONFIG", &client.config)
        .current_dir(client.env.work())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("follower starts");
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let seen = seen.clone();
        let stdout = follower.stdout.take().expect("piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                seen.lock().expect("lock").push(line);
            }
        })
    };
    let count = |prefix: &str| {
        seen.lock()
            .expect("lock")
            .iter()
            .filter(|l| l.contains(&format!("| {prefix}-")))
            .count()
    };
    wait_for(
        Duration::from_secs(20),
        "remote lines before the restart",
        || (count("r1") >= 5).then_some(()),
    );
    let killed_at = count("r1");
    server.kill_and_restart();
    wait_for(Duration::from_secs(60), "every line of every job", || {
        (1..=3)
            .all(|i| count(&format!("l{i}")) >= LINES && count(&format!("r{i}")) >= LINES)
            .then_some(())
    });
    assert!(killed_at < LINES, "the restart came in the middle");
    let _ = follower.kill();
    let _ = follower.wait();
    let _ = reader.join();
    let seen = seen.lock().expect("lock");
    for job in ["l1", "l2", "l3", "r1", "r2", "r3"] {
        for i in 1..=LINES {
            let line = format!("{job}-{i}");
            let times = seen
                .iter()
                .filter(|l| l.rsplit("| ").next() == Some(line.as_str()))
                .count();
            assert_eq!(times, 1, "{line} shown {times} times");
        }
    }
    // The remote jobs ran on while the server was down: one run each.
    for i in 1..=3 {
        let runs = server.env.runs(&format!("r{i}"));
        assert!(runs.is_empty(), "r{i} is still in its first run: {runs:?}");
    }
    client.mrsm().arg("down").assert().success();
}

#[test]
fn the_watchdog_starts_again_a_job_whose_supervisor_was_killed() {
    let server = Server::start();
    let client = server.client();
    client
        .mrsm()
        .args([
            "run", "-d", "-e", "api:test", "--name", "steady", "--", "sleep", "300",
        ])
        .assert()
        .success();
    let before = server
        .env
        .supervisor("steady")
        .expect("supervised on the server");
    let left: Vec<_> = support::processes(before)
        .iter()
        .map(|p| p.identity())
        .filter(|p| *p != before)
        .collect();
    assert!(!left.is_empty(), "the job's step runs");
    let mut orphans = orphans::Orphans::default();
    orphans.kill_supervisor(&server.env, "steady");
    let killed = Instant::now();
    let after = wait_for(
        Duration::from_secs(2),
        "the watchdog to restart the job",
        || {
            server
                .env
                .supervisor("steady")
                .filter(|s| *s != before && s.is_alive())
        },
    );
    eprintln!("restarted {:?} after the kill", killed.elapsed());
    assert_ne!(after, before);
    let listed = jobs(&client, "api:test");
    assert_eq!(job(&listed, "steady").expect("listed")["status"], "running");
    wait_for(
        Duration::from_secs(5),
        "the killed run's step to be stopped",
        || left.iter().all(|p| !p.is_alive()).then_some(()),
    );
}

#[test]
fn attach_forwards_input_to_a_remote_job_and_shows_its_answer() {
    let server = Server::start();
    let client = server.client();
    client
        .mrsm()
        .args([
            "run",
            "-d",
            "-e",
            "api:test",
            "--name",
            "asker",
            "--",
            "sh",
            "-c",
            "read line; echo \"got $line\"",
        ])
        .assert()
        .success();
    client
        .mrsm()
        .args(["attach", "job", "-e", "api:test", "asker"])
        .write_stdin("hello\n")
        .timeout(Duration::from_secs(30))
        .assert()
        .success()
        .stdout(predicates::str::contains("got hello"));
    let listed = jobs(&client, "api:test");
    assert_eq!(job(&listed, "asker").expect("listed")["status"], "stopped");
}

#[test]
fn an_unreachable_server_leaves_its_jobs_alone_while_the_rest_converges() {
    let mut server = Server::start();
    let client = server.client();
    spec(&client, &server, "sleep 301");
    let token = server.token.clone();
    let up = || {
        client
            .mrsm()
            .env("TEST_TOKEN", &token)
            .args(["up", "-d"])
            .output()
            .expect("runs")
    };
    assert!(up().status.success());
    let remote = server.env.supervisor("there").expect("the remote job runs");
    server.kill();
    // The remote job changes and a local one is removed while the server is down.
    let text = format!(
        "project: mixed\nexecutors:\n  test:\n    url: {}\n    token: ${{TEST_TOKEN}}\n\
         jobs:\n  there:\n    executor: api:test\n    command: sleep 302\n",
        server.url()
    );
    std::fs::write(client.env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
    let out = up();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("api:test") && said.contains("left as it is"),
        "{said}"
    );
    assert!(
        jobs(&client, "local").is_empty(),
        "the local job went as asked"
    );
    assert!(remote.is_alive(), "the remote job was left as it was");
    assert_eq!(server.env.status("there"), "running");
}

#[test]
fn a_token_s_missing_scopes_are_said_not_hidden() {
    let server = Server::start();
    // Everything a foreground run needs but jobs:delete.
    let limited = server.env.token(
        "laptop",
        &[
            "jobs:read",
            "jobs:write",
            "jobs:execute",
            "jobs:stop",
            "logs:read",
        ],
    );
    let client = server.client_with(&limited);
    // The run works; its job's lease (which lets the server delete it) and removing
    // its job afterwards need jobs:delete, and it says so.
    let out = client
        .mrsm()
        .args([
            "run",
            "-e",
            "api:test",
            "--name",
            "once",
            "--",
            "sh",
            "-c",
            "echo done; exit 3",
        ])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("without a lease") && err.contains("if this command is killed"),
        "{err}"
    );
    assert!(
        err.contains("stays on api:test") && err.contains("jobs:delete"),
        "{err}"
    );
    // Input needs jobs:execute: attach, which may follow, says it was not sent.
    let client = server.client_with(&server.env.token("watcher", &["jobs:read", "logs:read"]));
    server
        .client()
        .mrsm()
        .args([
            "run",
            "-d",
            "-e",
            "api:test",
            "--name",
            "asker",
            "--",
            "sh",
            "-c",
            "read line; echo \"got $line\"",
        ])
        .assert()
        .success();
    let mut attach = support::mrsm_process()
        .args(["attach", "job", "-e", "api:test", "asker"])
        .env("MRSM_ROOT_DIR", client.env.root())
        .env("MRSM_CONFIG", &client.config)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("attach starts");
    std::io::Write::write_all(attach.stdin.as_mut().expect("piped"), b"hello\n").expect("typed");
    // Its first line on stderr (read on a thread: the test must not hang on it).
    let stderr = attach.stderr.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let first = BufReader::new(stderr).lines().next().and_then(Result::ok);
        let _ = tx.send(first.unwrap_or_default());
    });
    let said = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| "nothing in 20 s".into());
    let _ = attach.kill();
    let _ = attach.wait();
    assert!(
        said.contains("input not sent") && said.contains("jobs:execute"),
        "{said}"
    );
}

#[test]
fn a_settings_url_without_a_scheme_is_refused_with_its_place() {
    let server = Server::start();
    let client = server.client();
    std::fs::write(
        &client.config,
        "[executors.test]\nurl = \"127.0.0.1:8000\"\n",
    )
    .expect("written");
    let out = client
        .mrsm()
        .args(["show", "jobs", "-e", "test"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml:1:") && err.contains("http://HOST:PORT"),
        "{err}"
    );
}

/// A `logs -f` (or other) child whose stdout lines are collected as they come.
struct Collecting {
    child: std::process::Child,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Collecting {
    fn start(client: &Client, args: &[&str]) -> Collecting {
        let mut child = support::mrsm_process()
            .args(args)
            .env("MRSM_ROOT_DIR", client.env.root())
            .env("MRSM_CONFIG", &client.config)
            .env("NO_COLOR", "1")
            .current_dir(client.env.work())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("starts");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("piped");
        let lines = seen.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().expect("lock").push(line);
            }
        });
        Collecting { child, seen }
    }

    fn count(&self, text: &str) -> usize {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .filter(|l| l.ends_with(text))
            .count()
    }

    fn wait_for(&self, text: &str, times: usize) {
        wait_for(Duration::from_secs(30), text, || {
            (self.count(text) >= times).then_some(())
        });
    }
}

impl Drop for Collecting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn logs_follow_picks_up_remote_jobs_late_and_across_their_restarts() {
    let mut server = Server::start();
    let client = server.client();
    let url = server.url();
    let write_spec = |jobs: &[&str]| {
        let mut text = format!("project: late\nexecutors:\n  test:\n    url: {url}\njobs:\n");
        for job in jobs {
            text.push_str(&format!(
                "  {job}:\n    executor: api:test\n    command: sh -c 'echo {job} says hello; sleep 300'\n"
            ));
        }
        std::fs::write(client.env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
    };
    write_spec(&["r1"]);
    client.mrsm().args(["up", "-d"]).assert().success();
    // The follower starts while the server is down, and finds it when it is back.
    server.kill();
    let follower = Collecting::start(&client, &["logs", "-f", "--output-only"]);
    server.kill_and_restart();
    follower.wait_for("r1 says hello", 1);
    // A job created while following is followed from its first line.
    write_spec(&["r1", "r2"]);
    client.mrsm().args(["up", "-d"]).assert().success();
    follower.wait_for("r2 says hello", 1);
    // A restarted job is followed into its new run.
    client.mrsm().args(["restart", "r1"]).assert().success();
    follower.wait_for("r1 says hello", 2);
    assert_eq!(follower.count("r2 says hello"), 1);
    // Taken down and declared again: followed again, into its kept log.
    client.mrsm().arg("down").assert().success();
    client.mrsm().args(["up", "-d"]).assert().success();
    follower.wait_for("r1 says hello", 3);
    follower.wait_for("r2 says hello", 2);
    drop(follower);
    client.mrsm().arg("down").assert().success();
}

#[test]
fn foreground_up_shows_the_remote_jobs_lines_too() {
    let server = Server::start();
    let client = server.client();
    let text = format!(
        "project: fg\nexecutors:\n  test:\n    url: {}\njobs:\n  \
         here:\n    command: sh -c 'echo local says hello; sleep 300'\n  \
         there:\n    executor: api:test\n    command: sh -c 'echo remote says hello; sleep 300'\n",
        server.url()
    );
    std::fs::write(client.env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
    let up = Collecting::start(&client, &["up"]);
    up.wait_for("local says hello", 1);
    up.wait_for("remote says hello", 1);
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(up.child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    wait_for(
        Duration::from_secs(30),
        "the remote job to be stopped",
        || (server.env.status("there") == "stopped").then_some(()),
    );
}

#[test]
fn ctrl_c_ends_a_remote_foreground_run_whether_or_not_the_server_answers() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let mut server = Server::start();
    let client = server.client();
    let start = |name: &str| {
        let run = Collecting::start(
            &client,
            &[
                "run",
                "-e",
                "api:test",
                "--name",
                name,
                "--",
                "sh",
                "-c",
                "echo started; sleep 300",
            ],
        );
        run.wait_for("started", 1);
        run
    };
    let exited = |run: &mut Collecting| {
        wait_for(Duration::from_secs(20), "the run to end", || {
            run.child.try_wait().ok().flatten()
        })
    };
    // The server answers: the job is stopped and removed, and the run ends with 130.
    let mut run = start("answered");
    kill(Pid::from_raw(run.child.id() as i32), Signal::SIGINT).expect("sent");
    assert_eq!(exited(&mut run).code(), Some(130));
    assert!(
        server.env.supervisor("answered").is_none(),
        "stopped and removed"
    );
    // The server is gone: a second Ctrl-C ends the run at once, and it says the job may run on.
    let mut run = start("stranded");
    server.kill();
    // Ctrl-C, then Ctrl-C again until it ends: well before the 10 s the run would
    // wait for the stop alone, so it is a later Ctrl-C that ends it.
    let pid = Pid::from_raw(run.child.id() as i32);
    let asked = Instant::now();
    let status = wait_for(
        Duration::from_secs(5),
        "a second Ctrl-C to end the run",
        || {
            let _ = kill(pid, Signal::SIGINT);
            run.child.try_wait().ok().flatten()
        },
    );
    assert_eq!(status.code(), Some(130));
    assert!(asked.elapsed() < Duration::from_secs(5));
}

#[test]
fn long_lines_cross_in_pages_that_fit() {
    let server = Server::start();
    let client = server.client();
    // 1200 lines of 16 KB: 19 MB, more than one answer should hold, and rotated.
    let program = "BEGIN { t = \"x\"; while (length(t) < 12000) t = t t; for (i = 0; i < 1200; i++) print i t }";
    let out = client
        .mrsm()
        .args([
            "run", "-e", "api:test", "--name", "wide", "--", "awk", program,
        ])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&[u8]> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(lines.len(), 1200);
    // Page by page: each answer stays small, and together they hold every line.
    client
        .mrsm()
        .args([
            "run", "-d", "-e", "api:test", "--name", "kept", "--", "awk", program,
        ])
        .assert()
        .success();
    wait_for(Duration::from_secs(60), "the job to finish", || {
        (server.env.status("kept") == "stopped").then_some(())
    });
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let (mut cursor, mut count, mut pages) = (0u64, 0usize, 0);
    loop {
        let mut answer = agent
            .get(&format!(
                "{}/v1/jobs/kept/logs/page?cursor={cursor}&max=1000",
                server.url()
            ))
            .header("Authorization", &format!("Bearer {}", server.token))
            .call()
            .expect("answered");
        let body = answer
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_string()
            .expect("body");
        assert!(
            body.len() < 5 * 1024 * 1024,
            "a page of {} bytes",
            body.len()
        );
        let page: Value = serde_json::from_str(&body).expect("JSON");
        let got = page["lines"].as_array().expect("lines").len();
        if got == 0 {
            break;
        }
        count += page["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .filter(|l| l["stream"] == "out")
            .count();
        cursor = page["cursor"].as_u64().expect("cursor");
        pages += 1;
    }
    assert_eq!(count, 1200);
    assert!(pages > 2, "{pages} pages");
    // And the client reads a whole log by pages.
    let out = client
        .mrsm()
        .args(["show", "logs", "-e", "api:test", "--output-only", "kept"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout
            .split(|&b| b == b'\n')
            .filter(|l| l.len() > 12_000)
            .count(),
        1200
    );
}

#[test]
fn one_token_cannot_take_every_connection() {
    let server = Server::start();
    let client = server.client();
    client
        .mrsm()
        .args([
            "run", "-d", "-e", "api:test", "--name", "quiet", "--", "sleep", "300",
        ])
        .assert()
        .success();
    let hog = server.env.token("hog", &["jobs:read", "logs:read"]);
    let url = format!(
        "{}/v1/jobs/quiet/logs/page?cursor=18446744073709551615&wait_ms=30000",
        server.url()
    );
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let statuses = Arc::new(Mutex::new(Vec::new()));
    for _ in 0..140 {
        let (agent, url, hog, statuses) =
            (agent.clone(), url.clone(), hog.clone(), statuses.clone());
        std::thread::spawn(move || {
            if let Ok(r) = agent
                .get(&url)
                .header("Authorization", &format!("Bearer {hog}"))
                .call()
            {
                statuses.lock().expect("lock").push(r.status().as_u16());
            }
        });
    }
    // Beyond its share the hog is told 429 at once, while the others hang on.
    wait_for(
        Duration::from_secs(30),
        "the hog's extra requests to be refused",
        || {
            (statuses
                .lock()
                .expect("lock")
                .iter()
                .filter(|s| **s == 429)
                .count()
                >= 12)
                .then_some(())
        },
    );
    // Another token is served as usual.
    let asked = Instant::now();
    let listed = agent
        .get(&format!("{}/v1/jobs", server.url()))
        .header("Authorization", &format!("Bearer {}", server.token))
        .call()
        .expect("answered");
    assert_eq!(listed.status().as_u16(), 200);
    assert!(asked.elapsed() < Duration::from_secs(5));
}

/// Every line of `out` as (stamp, line) after checking that the ` | ` of every
/// line is in one column (names padded to one width) and the stamps never go back.
fn merged_and_aligned(out: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(out);
    let lines: Vec<&str> = text.lines().collect();
    let column = lines.first().and_then(|l| l.find(" | ")).expect("lines");
    let mut shown = Vec::new();
    for line in &lines {
        assert_eq!(line.find(" | "), Some(column), "misaligned:\n{text}");
        let (prefix, said) = line.split_once(" | ").expect("prefixed");
        let stamp = prefix.split_whitespace().nth(1).expect("a stamp");
        shown.push((stamp.to_string(), said.to_string()));
    }
    let stamps: Vec<&String> = shown.iter().map(|(s, _)| s).collect();
    assert!(stamps.is_sorted(), "not in time order:\n{text}");
    shown
}

#[test]
fn logs_of_jobs_here_and_elsewhere_are_merged_by_time_in_one_width() {
    let server = Server::start();
    let client = server.client();
    let command =
        |name: &str| format!("sh -c 'for i in $(seq 1 8); do echo {name}-$i; sleep 0.1; done'");
    let text = format!(
        "project: merged\nexecutors:\n  test:\n    url: {}\njobs:\n  l:\n    command: {}\n  \
         ra:\n    executor: api:test\n    command: {}\n  remote-long-name:\n    executor: api:test\n    command: {}\n",
        server.url(),
        command("l"),
        command("ra"),
        command("rl"),
    );
    std::fs::write(client.env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
    client.mrsm().args(["up", "-d"]).assert().success();
    wait_for(Duration::from_secs(30), "every job to end", || {
        let remote = jobs(&client, "api:test");
        let over = ["ra", "remote-long-name"]
            .iter()
            .all(|n| job(&remote, n).is_some_and(|j| j["status"] == "stopped"));
        (over && client.env.status("l") == "stopped").then_some(())
    });
    let args = ["--output-only", "--no-color", "--timestamps"];
    let logs = client.mrsm().arg("logs").args(args).output().expect("runs");
    assert!(logs.status.success(), "{logs:?}");
    let shown = merged_and_aligned(&logs.stdout);
    assert_eq!(shown.len(), 24, "{shown:?}");
    let elsewhere = client
        .mrsm()
        .args(["show", "logs", "-e", "api:test", "ra", "remote-long-name"])
        .args(args)
        .output()
        .expect("runs");
    assert!(elsewhere.status.success(), "{elsewhere:?}");
    let shown = merged_and_aligned(&elsewhere.stdout);
    assert_eq!(shown.len(), 16, "{shown:?}");
    // Interleaved, not one job after the other.
    assert!(
        shown[..8].iter().any(|(_, l)| l.starts_with("rl-")),
        "{shown:?}"
    );
    client.mrsm().arg("down").assert().success();
}

/// A restart that waits (what the killed supervisor left ignores SIGTERM, and its
/// grace period is long) holds up neither the watchdog's next looks nor another
/// job's restart: it once held every other dead job back for that whole grace.
#[test]
fn a_slow_restart_holds_up_no_other_job_s() {
    let server = Server::start();
    let env = &server.env;
    let stubborn = "sh -c 'trap \"\" TERM; while :; do sleep 1; done' & wait";
    env.run_d(
        "slow",
        &["--stop-timeout", "30s", "--", "sh", "-c", stubborn],
    );
    env.run_d("quick", &["--", "sleep", "300"]);
    wait_for(Duration::from_secs(10), "slow's stubborn process", || {
        let supervisor = env.supervisor("slow")?;
        (support::processes(supervisor).len() >= 3).then_some(())
    });
    let quick = env.supervisor("quick").expect("quick runs");
    let mut orphans = orphans::Orphans::default();
    orphans.kill_supervisor(env, "slow");
    // The watchdog's restart of `slow` waits for its leftover (holding its lock).
    let root = mrsm::store::Root::at(env.root());
    wait_for(
        Duration::from_secs(10),
        "slow's restart to be under way",
        || matches!(mrsm::store::JobLock::try_acquire(&root, "slow"), Ok(None)).then_some(()),
    );
    orphans.kill_supervisor(env, "quick");
    wait_for(Duration::from_secs(5), "quick's restart meanwhile", || {
        env.supervisor("quick")
            .filter(|s| *s != quick && s.is_alive())
    });
    // What `slow` left is killed (by the orphans' drop): its restart goes on.
    drop(orphans);
}
