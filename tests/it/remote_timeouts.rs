//! Remote executors that do not answer cannot hold up the command line: every
//! executor is asked at once with short deadlines (`timeout`, `connect_timeout`),
//! what answered is shown, and each one that did not is a warning naming it and
//! the deadline. Nothing is deleted because an executor timed out, and requests
//! that wait on purpose (a stop's grace period, a follower's long poll) get what
//! they wait for on top of the deadline.

use crate::support;
use crate::support::peers;
use crate::support::server;

use std::process::Output;
use std::time::{Duration, Instant};

use peers::{Blackhole, Peer};
use server::Server;
use support::{wait_for, Env};

/// A command's deadline: far beyond what it should take, far below the 92 s a
/// silent server used to cost.
const BOUND: Duration = Duration::from_secs(15);

/// `mrsm ARGS…` with the settings file `config`, and how long it took.
fn timed(env: &Env, config: &std::path::Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = env
        .mrsm()
        .env("MRSM_CONFIG", config)
        .args(args)
        .timeout(BOUND)
        .output()
        .expect("runs");
    (out, started.elapsed())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Settings naming each `(name, url, extra lines)` as an executor.
fn settings(env: &Env, executors: &[(&str, String, &str)]) -> std::path::PathBuf {
    let mut text = String::new();
    for (name, url, extra) in executors {
        text.push_str(&format!("[executors.{name}]\nurl = \"{url}\"\n{extra}"));
    }
    let path = env.work().join("config.toml");
    std::fs::write(&path, text).expect("settings written");
    path
}

#[test]
fn show_jobs_asks_silent_executors_at_once_and_shows_the_rest() {
    let env = Env::new();
    env.run_d("here", &["sleep", "300"]);
    let (one, two) = (Peer::silent(), Peer::silent());
    let config = settings(
        &env,
        &[
            ("quiet1", one.url(), "timeout = \"2s\"\n"),
            ("quiet2", two.url(), "timeout = \"2s\"\n"),
        ],
    );
    for args in [&["show", "jobs"][..], &["show", "jobs", "here"]] {
        let (out, took) = timed(&env, &config, args);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stdout}{stderr}");
        assert!(
            stdout.contains("here") && stdout.contains("running"),
            "{stdout}"
        );
        let what = match args.len() {
            2 => "list",
            _ => "look up",
        };
        for name in ["quiet1", "quiet2"] {
            let warning = format!("warning: executor api:{name}: cannot {what} its jobs: ");
            assert!(stderr.contains(&warning), "{stderr}");
            assert!(stdout.contains(&format!("api:{name}")), "{stdout}");
        }
        assert_eq!(
            stderr
                .matches("accepted the connection but did not answer within 2s (the executor's `timeout`)")
                .count(),
            2,
            "{stderr}"
        );
        // Both were waited for together: one after the other takes 4 s or more.
        assert!(took < Duration::from_millis(3800), "{args:?} took {took:?}");
    }
}

#[test]
fn an_answer_cut_short_and_a_connection_that_never_opens_are_timeouts_too() {
    let env = Env::new();
    env.run_d("here", &["sleep", "300"]);
    let (half, hole) = (Peer::halfway(), Blackhole::new());
    let config = settings(
        &env,
        &[
            ("half", half.url(), "timeout = \"2s\"\n"),
            ("hole", hole.url(), "connect_timeout = \"2s\"\n"),
        ],
    );
    let (out, took) = timed(&env, &config, &["show", "jobs"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("here"), "{stdout}");
    assert!(
        stderr.contains("warning: executor api:half: cannot list its jobs: ")
            && stderr.contains("began to answer, then sent nothing more for 2s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("warning: executor api:hole: cannot list its jobs: cannot reach ")
            && stderr.contains("no connection within 2s (the executor's `connect_timeout`)"),
        "{stderr}"
    );
    // Both were waited for together: one after the other takes 4 s or more.
    assert!(took < Duration::from_millis(3800), "took {took:?}");
    // Asked alone, each is one error line, and a failure.
    for (label, said) in [
        ("half", "sent nothing more for 2s"),
        ("hole", "no connection within 2s"),
    ] {
        let (out, _) = timed(&env, &config, &["show", "jobs", "-e", label]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(said), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn project_verbs_ask_every_executor_at_once() {
    let env = Env::new();
    let (one, two) = (Peer::silent(), Peer::silent());
    // The spec names the executors and their timeouts itself.
    let spec = format!(
        "project: mixed\n\
         executors:\n  quiet1:\n    url: {}\n    timeout: 2s\n  quiet2:\n    url: {}\n    timeout: 2s\n\
         jobs:\n  here:\n    command: sh -c 'echo here says hi; sleep 300'\n\
         \x20 far1:\n    executor: quiet1\n    command: sleep 300\n\
         \x20 far2:\n    executor: quiet2\n    command: sleep 300\n",
        one.url(),
        two.url()
    );
    std::fs::write(env.work().join("mrsm-jobs.yaml"), spec).expect("spec written");
    let config = settings(&env, &[]);
    // Each verb lists both silent executors once, together: under 2 × 2 s.
    let check = |args: &[&str], code: i32, said: &[&str]| {
        let (out, took) = timed(&env, &config, args);
        let all = text(&out.stdout) + &text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {all}");
        for s in said {
            assert!(all.contains(s), "{args:?}: no {s:?} in {all}");
        }
        assert!(took < Duration::from_millis(3800), "{args:?} took {took:?}");
        all
    };
    let unreachable = [
        "! unreachable far1 on api:quiet1: http://",
        "did not answer within 2s",
        "! unreachable far2 on api:quiet2",
    ];
    check(&["diff"], 1, &unreachable);
    check(&["up", "-d"], 1, &["created here"]);
    assert_eq!(env.status("here"), "running");
    check(
        &["ps"],
        0,
        &[
            "here",
            "warning: executor api:quiet1: cannot list its jobs",
            "warning: executor api:quiet2: cannot list its jobs",
        ],
    );
    wait_for(Duration::from_secs(10), "the local job's line", || {
        env.log_text("here").contains("here says hi").then_some(())
    });
    check(
        &["logs"],
        0,
        &[
            "here says hi",
            "the logs of jobs on api:quiet1 are not shown until it answers",
            "the logs of jobs on api:quiet2 are not shown",
        ],
    );
    let down = check(&["down"], 1, &["deleted job \"here\""]);
    assert!(
        down.contains("api:quiet1") && down.contains("left as they are"),
        "{down}"
    );
}

/// `mrsm` on a client of `server`, whose settings name it as `test` with
/// `timeout = "1s"`.
fn impatient_client(server: &Server) -> server::Client {
    let client = server.client();
    let settings = std::fs::read_to_string(&client.config).expect("settings");
    std::fs::write(&client.config, settings + "timeout = \"1s\"\n").expect("written");
    client
}

#[test]
fn a_server_that_stops_answering_keeps_its_jobs_while_the_rest_converges() {
    let server = Server::start();
    let client = impatient_client(&server);
    // `here` is on this machine unless `moved`; `gone` is declared unless `moved`.
    let write = |remote_command: &str, moved: bool| {
        let mut text = format!(
            "project: mixed\nexecutors:\n  test:\n    url: {}\njobs:\n  there:\n    executor: test\n    command: {remote_command}\n  here:\n    command: sleep 300\n",
            server.url()
        );
        match moved {
            true => text.push_str("    executor: test\n"),
            false => text.push_str("  gone:\n    command: sleep 303\n"),
        }
        std::fs::write(client.env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
    };
    write("sleep 301", false);
    client.mrsm().args(["up", "-d"]).assert().success();
    let remote = server.env.supervisor("there").expect("the remote job runs");
    let here = client.env.supervisor("here").expect("the local job runs");
    // The server's process is stopped: its socket still takes connections (the
    // kernel does that), and nothing answers them.
    let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP).expect("stopped");
    // The remote job changes, `here` moves there, and `gone` goes.
    write("sleep 302", true);
    let started = Instant::now();
    let out = client
        .mrsm()
        .args(["up", "-d"])
        .timeout(BOUND)
        .output()
        .expect("runs");
    let said = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("executor api:test: job \"there\": ")
            && said.contains("did not answer within 1s")
            && said.contains("left as it is"),
        "{said}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{said}");
    // The job on its way to the silent server is not deleted here; the rest
    // converges.
    assert_eq!(client.env.supervisor("here"), Some(here), "{said}");
    assert!(here.is_alive(), "{said}");
    assert!(said.contains("deleted job \"gone\""), "{said}");
    // `down` cannot vouch for the silent server either: it says so, and exits 1.
    let out = client
        .mrsm()
        .arg("down")
        .timeout(BOUND)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("left as they are"), "{out:?}");
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGCONT).expect("continued");
    assert!(remote.is_alive(), "the remote job was left as it was");
    assert_eq!(server.env.status("there"), "running");
    let listed = client
        .mrsm()
        .args(["show", "jobs", "--json", "-e", "test"])
        .output()
        .expect("runs");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(listed[0]["command"][0], "sleep 301", "unchanged: {listed}");
}

#[test]
fn waits_on_purpose_get_what_they_wait_for_beyond_the_timeout() {
    let server = Server::start();
    let client = impatient_client(&server);
    // A stop that takes its job 3 s (of its 10 s grace period), beyond the 1 s.
    client
        .mrsm()
        .args(["run", "-d", "-e", "test", "--name", "slow", "--"])
        .args([
            "sh",
            "-c",
            "trap 'sleep 3; exit 0' TERM; while :; do sleep 0.1; done",
        ])
        .assert()
        .success();
    let started = Instant::now();
    let out = client
        .mrsm()
        .args(["stop", "jobs", "-e", "test", "slow"])
        .timeout(BOUND)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    assert!(text(&out.stdout).contains("stopped"), "{out:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "the stop waited for the job"
    );
    // A follower's long poll waits on the server for lines: 3 s of silence is
    // no lost server.
    client
        .mrsm()
        .args(["run", "-d", "-e", "test", "--name", "late", "--"])
        .args(["sh", "-c", "sleep 3; echo at last; sleep 300"])
        .assert()
        .success();
    let (stdout, stderr) = (client.env.work().join("out"), client.env.work().join("err"));
    let mut follower = support::mrsm_process()
        .args(["show", "logs", "-f", "-e", "test", "late"])
        .env("MRSM_ROOT_DIR", client.env.root())
        .env("MRSM_CONFIG", &client.config)
        .env("NO_COLOR", "1")
        .stdout(std::fs::File::create(&stdout).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr).expect("stderr file"))
        .spawn()
        .expect("follows");
    let seen = support::poll(BOUND, || {
        std::fs::read_to_string(&stdout)
            .ok()
            .filter(|t| t.contains("at last"))
    });
    let _ = follower.kill();
    let _ = follower.wait();
    let complaints = std::fs::read_to_string(&stderr).unwrap_or_default();
    assert!(seen.is_some(), "the line never came: {complaints}");
    assert!(!complaints.contains("lost api:test"), "{complaints}");
}

#[test]
fn an_answer_that_keeps_trickling_is_cut_at_three_times_the_timeout() {
    let env = Env::new();
    env.run_d("here", &["sleep", "300"]);
    let slow = Peer::trickle();
    let config = settings(&env, &[("slow", slow.url(), "timeout = \"1s\"\n")]);
    let (out, took) = timed(&env, &config, &["show", "jobs"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("here"), "{stdout}");
    assert!(
        stderr.contains("did not finish its answer within 3s"),
        "{stderr}"
    );
    // Cut at 3 s (a byte every 200 ms would go on for ever).
    assert!(took < Duration::from_secs(10), "took {took:?}");
}
