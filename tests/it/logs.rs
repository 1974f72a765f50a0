//! Logs that can be trusted: no line lost, duplicated, reordered or split across a
//! million lines and many rotations; jobs that keep logging for as long as they run;
//! `attach job` through a real terminal; and
//! `logs -f` over many jobs, one restarting and one created while following.

use crate::support;
use crate::support::following;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use following::Following;
use serde_json::Value;
use support::{wait_for, Env};

/// The `out` lines kept in a job's log files, oldest first.
fn kept_lines(env: &Env, name: &str) -> Vec<String> {
    let files = mrsm::logs::log_files(&env.root().join("logs").join(format!("{name}.log")));
    let mut lines = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).expect("readable");
        for line in mrsm::logs::parse_records(name, &bytes) {
            if line.stream == mrsm::logs::Stream::Out {
                lines.push(line.text().into_owned());
            }
        }
    }
    lines
}

#[test]
fn a_million_lines_are_kept_and_followed_exactly() {
    let env = Env::new();
    let follower = Following::start(&env, &["--output-only", "--json"]);
    // The follower is running once it shows a first job's line.
    env.run_d("warm-up", &["--", "echo", "ready"]);
    let first = follower
        .next(Duration::from_secs(30))
        .expect("the follower runs");
    assert!(first.contains("\"ready\""), "{first}");
    env.run_d(
        "million",
        &[
            "--log-size",
            "1MiB",
            "--log-keep",
            "5",
            "--",
            "seq",
            "1",
            "1000000",
        ],
    );

    let mut expected = 1u64;
    let mut gaps = 0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while expected <= 1_000_000 {
        let line = follower
            .next(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("the follower went quiet after line {}", expected - 1));
        let v: Value = serde_json::from_str(&line).expect("JSON lines");
        assert_eq!(v["job"], "million");
        if v["stream"] == "gap" {
            // A follower slower than the writer (a loaded machine) may lose lines to
            // rotation, but only this way: the marker counts them exactly.
            let dropped = v["dropped"].as_u64().expect("a gap counts its lines");
            assert!(dropped > 0, "{line}");
            gaps += 1;
            expected += dropped;
            continue;
        }
        assert_eq!(
            v["line"],
            expected.to_string(),
            "line {expected} missing, repeated or out of order"
        );
        expected += 1;
        assert!(Instant::now() < deadline, "too slow: {expected} lines");
    }
    wait_for(Duration::from_secs(30), "the job to end", || {
        (env.status("million") == "stopped").then_some(())
    });
    assert_eq!(
        follower.next(Duration::from_millis(300)),
        None,
        "nothing after the last line"
    );
    // Falling behind is the exception, not the rule.
    assert!(gaps < 20, "{gaps} gaps: the follower keeps falling behind");

    // The kept files: 5 at most, each within the limit, holding exactly the newest
    // lines, in order, none split.
    let logs = env.root().join("logs");
    let files = mrsm::logs::log_files(&logs.join("million.log"));
    assert_eq!(files.len(), 5, "{files:?}");
    for f in &files {
        let size = std::fs::metadata(f).expect("exists").len();
        assert!(size <= 1 << 20, "{} is {size} bytes", f.display());
    }
    let kept = kept_lines(&env, "million");
    let first: u64 = kept[0].parse().expect("numbered");
    let expected: Vec<String> = (first..=1_000_000).map(|i| i.to_string()).collect();
    assert_eq!(kept.len(), expected.len());
    assert!(kept == expected, "kept lines are not the newest, in order");
    assert!(first > 1, "rotation dropped the oldest lines");
}

#[test]
fn a_shell_job_keeps_logging_for_thirty_seconds() {
    let env = Env::new();
    let started = Instant::now();
    env.run_d(
        "ticker",
        &[
            "--",
            "sh",
            "-c",
            "for i in $(seq 30); do echo \"tick $i\"; sleep 1; done",
        ],
    );
    wait_for(Duration::from_secs(60), "the job to end", || {
        (env.status("ticker") == "stopped").then_some(())
    });
    assert!(
        started.elapsed() >= Duration::from_secs(29),
        "ended early: {:?}",
        started.elapsed()
    );
    let info = env.info("ticker");
    assert_eq!(
        info["last_result"]["ok"], true,
        "it must not die of SIGPIPE: {info}"
    );
    let expected: Vec<String> = (1..=30).map(|i| format!("tick {i}")).collect();
    assert_eq!(kept_lines(&env, "ticker"), expected);
}

#[test]
fn attach_sends_input_and_exits_with_the_job() {
    let env = Env::new();
    env.run_d(
        "greeter",
        &["--", "sh", "-c", "read name; echo \"hello $name\""],
    );
    env.run_d(
        "failer",
        &["--", "sh", "-c", "read x; echo \"got $x\"; exit 3"],
    );
    for (name, answer, expected_line, expected_exit) in [
        ("greeter", "world", "hello world", 0),
        ("failer", "it", "got it", 3),
    ] {
        let mut cmd = support::mrsm_process();
        cmd.args(["attach", "job", name])
            .env("MRSM_ROOT_DIR", env.root());
        let mut session =
            rexpect::session::spawn_command(cmd, Some(15_000)).expect("attach starts in a pty");
        session.send_line(answer).expect("types");
        session
            .exp_string(expected_line)
            .expect("the job's answer appears");
        session.exp_eof().expect("attach ends with the job");
        let status = format!("{:?}", session.process.wait().expect("exit status"));
        assert!(
            status.contains(&format!(", {expected_exit})")),
            "{name}: {status}"
        );
        let ended = if expected_exit == 0 {
            "stopped"
        } else {
            "failed"
        };
        assert_eq!(env.status(name), ended);
    }
}

/// Splits `name  HH:MM:SS | line` into name and line.
fn split_prefixed(line: &str) -> (String, String) {
    let (prefix, text) = line.split_once(" | ").expect("prefixed");
    let name = prefix
        .split_whitespace()
        .next()
        .expect("a name")
        .to_string();
    let when = prefix.split_whitespace().nth(1).expect("a time");
    assert!(
        when.len() == 8 && when.as_bytes()[2] == b':' && when.as_bytes()[5] == b':',
        "HH:MM:SS in {line:?}"
    );
    (name, text.to_string())
}

#[test]
fn following_twenty_jobs_one_restarting_and_one_new() {
    let env = Env::new();
    let follower = Following::start(&env, &["--output-only", "--no-color"]);
    let script = "for i in $(seq 40); do echo \"$MRSM_JOB $i\"; sleep 0.01; done";
    for i in 0..18 {
        env.run_d(&format!("job-{i:02}"), &["--", "sh", "-c", script]);
    }
    env.run_d(
        "restarter",
        &[
            "--restart",
            "always",
            "--",
            "sh",
            "-c",
            "echo \"$MRSM_JOB run $MRSM_RUN\"",
        ],
    );
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut total = 0;
    let mut created_late = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let Some(line) = follower.next(Duration::from_secs(10)) else {
            panic!("the follower went quiet: {got:?}");
        };
        let (name, text) = split_prefixed(&line);
        assert!(
            text.starts_with(&format!("{name} ")),
            "wrong prefix: {line:?}"
        );
        got.entry(name).or_default().push(text);
        total += 1;
        if total == 100 && !created_late {
            created_late = true;
            env.run_d("a-late-job-with-a-long-name", &["--", "sh", "-c", script]);
        }
        let regular_done = got
            .iter()
            .filter(|(n, v)| n.as_str() != "restarter" && v.len() == 40)
            .count();
        let restarts = got.get("restarter").map_or(0, |v| v.len());
        if regular_done == 19 && restarts >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "not everything arrived: {got:?}");
    }
    env.ok(&["stop", "jobs", "restarter"]);
    for (name, lines) in &got {
        let kept = kept_lines(&env, name);
        assert_eq!(
            &kept[..lines.len()],
            &lines[..],
            "{name}: lines differ from its log"
        );
        if name != "restarter" {
            let expected: Vec<String> = (1..=40).map(|i| format!("{name} {i}")).collect();
            assert_eq!(lines, &expected, "{name}");
        }
    }
    let runs: Vec<String> = (1..=3).map(|r| format!("restarter run {r}")).collect();
    assert_eq!(&got["restarter"][..3], &runs[..], "restarts are followed");
}

#[test]
fn tail_since_timestamps_json_and_colour() {
    let env = Env::new();
    env.run_d(
        "lines",
        &["--", "sh", "-c", "echo one; echo two; echo three"],
    );
    wait_for(Duration::from_secs(10), "the job to end", || {
        (env.status("lines") == "stopped").then_some(())
    });
    let out = |args: &[&str]| -> String {
        let o = env
            .mrsm()
            .args(["show", "logs", "lines", "--output-only"])
            .args(args)
            .output()
            .expect("runs");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).expect("utf-8")
    };
    let tail = out(&["--tail", "2"]);
    assert_eq!(
        tail.lines()
            .map(|l| split_prefixed(l).1)
            .collect::<Vec<_>>(),
        ["two", "three"]
    );
    assert_eq!(out(&["--since", "2999-01-01T00:00:00Z"]), "");
    assert_eq!(out(&["--since", "1h"]).lines().count(), 3);
    let stamped = out(&["--timestamps", "--tail", "1"]);
    let (prefix, text) = stamped.trim_end().split_once(" | ").expect("prefixed");
    assert_eq!(text, "three");
    let stamp: jiff::Timestamp = prefix
        .split_whitespace()
        .nth(1)
        .expect("stamp")
        .parse()
        .expect("RFC 3339");
    assert!(jiff::Timestamp::now().duration_since(stamp).as_secs() < 60);
    let json = out(&["--json", "--tail", "1"]);
    assert!(json.starts_with("{\"job\":\"lines\",\"ts\":\""), "{json}");
    assert!(
        json.trim_end()
            .ends_with("\"stream\":\"out\",\"line\":\"three\"}"),
        "{json}"
    );
    assert!(!out(&[]).contains('\x1b'), "no colour when not a terminal");

    // On a terminal the names are coloured, unless NO_COLOR is set.
    for (no_color, coloured) in [(false, true), (true, false)] {
        let mut cmd = support::mrsm_process();
        cmd.args(["show", "logs", "lines", "--output-only"])
            .env("MRSM_ROOT_DIR", env.root());
        if no_color {
            cmd.env("NO_COLOR", "1");
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let mut session =
            rexpect::session::spawn_command(cmd, Some(10_000)).expect("runs in a pty");
        let shown = session.exp_eof().expect("ends");
        assert_eq!(shown.contains("\u{1b}["), coloured, "{shown:?}");
        assert!(shown.contains("three"));
    }
}

#[test]
fn attach_follows_before_it_sends_input() {
    let env = Env::new();
    // A long log makes finding its end take a while: input sent before that would
    // be answered before the follower is in place.
    env.run_d(
        "slowstart",
        &[
            "--",
            "sh",
            "-c",
            "seq 1 1000000; read name; echo \"hello $name\"",
        ],
    );
    support::wait_for(Duration::from_secs(60), "the long output", || {
        env.log_text("slowstart")
            .contains(" out 1000000\n")
            .then_some(())
    });
    let mut cmd = support::mrsm_process();
    cmd.args(["attach", "job", "slowstart"])
        .env("MRSM_ROOT_DIR", env.root());
    let mut session =
        rexpect::session::spawn_command(cmd, Some(15_000)).expect("attach starts in a pty");
    session.send_line("world").expect("types");
    session
        .exp_string("hello world")
        .expect("the job's answer appears");
    session.exp_eof().expect("attach ends with the job");
}
