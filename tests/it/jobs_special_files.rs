//! What is not a regular file in place of one of the root's files (a FIFO, a
//! symbolic link, a directory) or a file far larger than such a file is ever
//! written is refused at once and affects only its own job: nothing waits on it,
//! nothing follows a link (a job's output never reaches a file a link points at),
//! and the job shows as broken, with the reason, and can still be stopped and
//! deleted.

use crate::support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use support::{processes, wait_for, Env};

/// How long any command may take here: far more than any of them needs, far less
/// than forever (what a command waiting on a FIFO would take).
const DEADLINE: Duration = Duration::from_secs(20);

/// Puts a FIFO at `path`, in place of whatever was there.
fn fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

/// `mrsm ARGS` within [`DEADLINE`]: exit status, stdout and stderr.
fn mrsm(env: &Env, args: &[&str]) -> (i32, String, String) {
    let out = env
        .mrsm()
        .args(args)
        .timeout(DEADLINE)
        .output()
        .expect("runs");
    let Some(code) = out.status.code() else {
        panic!(
            "`mrsm {}` did not answer within {DEADLINE:?}",
            args.join(" ")
        );
    };
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every job as `show jobs --json` lists it, by name.
fn listed(env: &Env) -> std::collections::BTreeMap<String, Value> {
    let (code, out, err) = mrsm(env, &["show", "jobs", "--json"]);
    assert_eq!(code, 0, "show jobs: {err}");
    let jobs: Vec<Value> = serde_json::from_str(&out).expect("JSON");
    jobs.into_iter()
        .map(|j| (j["name"].as_str().unwrap_or_default().to_string(), j))
        .collect()
}

fn log_file(env: &Env, name: &str) -> PathBuf {
    env.root().join("logs").join(format!("{name}.log"))
}

#[test]
fn a_fifo_in_place_of_a_definition_breaks_only_its_own_job() {
    let env = Env::new();
    env.run_d("plugged", &["--", "sleep", "300"]);
    env.run_d("healthy", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("plugged").expect("a supervisor");
    fifo(&env.job_dir("plugged").join("job.json"));

    let jobs = listed(&env);
    let plugged = &jobs["plugged"];
    assert_eq!(plugged["status"], "broken", "{plugged}");
    let reason = plugged["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("job.json is a FIFO, not a file"),
        "{reason}"
    );
    assert_eq!(jobs["healthy"]["status"], "running");

    let (code, _, err) = mrsm(&env, &["delete", "jobs", "plugged", "-y"]);
    assert_eq!(code, 0, "{err}");
    assert!(!env.job_dir("plugged").exists());
    assert!(!supervisor.is_alive(), "its supervisor was stopped");
    assert_eq!(env.status("healthy"), "running");
}

#[test]
fn a_fifo_in_place_of_a_report_or_a_run_history_is_never_waited_on() {
    let env = Env::new();
    env.run_d("reported", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("reported").expect("a supervisor");
    let dir = env.job_dir("reported");
    fifo(&dir.join("runs.jsonl"));
    let (code, _, err) = mrsm(&env, &["show", "runs", "reported"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("runs.jsonl is a FIFO, not a file"), "{err}");

    fifo(&dir.join("state.json"));
    let info = &listed(&env)["reported"];
    assert_eq!(info["status"], "broken", "{info}");
    let reason = info["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("state.json is a FIFO") && reason.contains("is running"),
        "{reason}"
    );
    // Stopped through its supervisor, which writes its report anew.
    let (code, _, err) = mrsm(&env, &["stop", "jobs", "reported"]);
    assert_eq!(code, 0, "{err}");
    assert!(!supervisor.is_alive());
    assert_eq!(listed(&env)["reported"]["status"], "stopped");
    let (code, _, err) = mrsm(&env, &["delete", "jobs", "reported", "-y"]);
    assert_eq!(code, 0, "{err}");
    assert!(!dir.exists());
}

#[test]
fn a_fifo_in_place_of_a_log_is_refused_by_the_writer_and_the_readers() {
    let env = Env::new();
    std::fs::create_dir_all(env.root().join("logs")).expect("logs");
    fifo(&log_file(&env, "early"));
    let (code, _, err) = mrsm(&env, &["run", "-d", "--name", "early", "--", "true"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("early.log is a FIFO, not a file"), "{err}");

    env.run_d("talker", &["--", "sh", "-c", "echo said; sleep 300"]);
    wait_for(DEADLINE, "its line", || {
        env.log_text("talker").contains(" out said").then_some(())
    });
    fifo(&log_file(&env, "talker"));
    let (code, _, err) = mrsm(&env, &["show", "logs", "talker"]);
    assert_eq!(code, 0, "{err}");
    let jobs = listed(&env);
    assert_eq!(jobs["talker"]["status"], "running");
    let (code, _, err) = mrsm(&env, &["delete", "jobs", "talker", "-y"]);
    assert_eq!(code, 0, "{err}");
    assert!(!log_file(&env, "talker").exists());
}

#[test]
fn a_link_in_place_of_a_definition_is_not_followed() {
    let env = Env::new();
    env.run_d("linked", &["--", "sleep", "300"]);
    env.ok(&["stop", "jobs", "linked"]);
    let definition = env.job_dir("linked").join("job.json");
    let elsewhere = env.work().join("job.json");
    std::fs::rename(&definition, &elsewhere).expect("moved");
    std::os::unix::fs::symlink(&elsewhere, &definition).expect("linked");
    let info = &listed(&env)["linked"];
    assert_eq!(info["status"], "broken", "{info}");
    let reason = info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("job.json is a symbolic link"), "{reason}");
    let (code, _, err) = mrsm(&env, &["start", "jobs", "linked"]);
    assert_eq!(code, 1, "a definition it cannot read is not started: {err}");
    assert!(env.supervisor("linked").is_none_or(|s| !s.is_alive()));
    let (code, _, err) = mrsm(&env, &["delete", "jobs", "linked", "-y"]);
    assert_eq!(code, 0, "{err}");
    assert!(elsewhere.exists(), "the file the link named is not removed");
}

#[test]
fn a_definition_far_too_large_is_refused_without_being_read() {
    let env = Env::new();
    env.run_d("bloated", &["--", "true"]);
    let definition = env.job_dir("bloated").join("job.json");
    let mut text = std::fs::read(&definition).expect("readable");
    text.resize(17 << 20, b' ');
    std::fs::write(&definition, text).expect("written");
    let info = &listed(&env)["bloated"];
    assert_eq!(info["status"], "broken", "{info}");
    let reason = info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("more than the 16777216 bytes"), "{reason}");
    let (code, _, err) = mrsm(&env, &["delete", "jobs", "bloated", "-y"]);
    assert_eq!(code, 0, "{err}");
}

/// A record as a log file holds it, for a file a link points at.
const PLANTED: &str = "2026-01-01T00:00:00.000Z out PLANTED LINE\n";

#[test]
fn a_job_s_output_never_reaches_a_link_planted_at_its_log() {
    let env = Env::new();
    let logs = env.root().join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    let target = env.work().join("theirs");
    std::fs::write(&target, PLANTED).expect("written");

    // At the current file: the job is refused before it runs.
    std::os::unix::fs::symlink(&target, log_file(&env, "leak")).expect("linked");
    let (code, _, err) = mrsm(
        &env,
        &["run", "-d", "--name", "leak", "--", "echo", "SECRET"],
    );
    // (Its log's header is written before it says it runs.)
    let seen = std::fs::read_to_string(&target).expect("target");
    assert_eq!(seen, PLANTED, "the job's log went through the link");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("leak.log is a symbolic link"), "{err}");

    // At rotated files: rotation moves or removes the links, never writes
    // through them, and readers never read what they point at.
    for n in 1..=2 {
        let rotated = logs.join(format!("rotating.log.{n}"));
        std::os::unix::fs::symlink(&target, rotated).expect("linked");
    }
    let script = "i=0; while [ $i -lt 300 ]; do echo \"SECRET $i\"; i=$((i+1)); done; sleep 300";
    env.run_d(
        "rotating",
        &[
            "--log-size",
            "2KiB",
            "--log-keep",
            "4",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let (_, shown) = wait_for(DEADLINE, "every line logged", || {
        let (code, out, _) = mrsm(&env, &["show", "logs", "rotating", "--tail", "1"]);
        (code == 0 && out.contains("SECRET 299")).then_some((code, out))
    });
    assert!(!shown.contains("PLANTED"), "{shown}");
    assert_eq!(std::fs::read_to_string(&target).expect("target"), PLANTED);
    // A link planted among the rotated files now is not read either.
    let rotated = logs.join("rotating.log.3");
    let _ = std::fs::remove_file(&rotated);
    std::os::unix::fs::symlink(&target, &rotated).expect("linked");
    let (code, shown, err) = mrsm(&env, &["show", "logs", "rotating"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains("SECRET 299") && !shown.contains("PLANTED"),
        "{shown}"
    );
    assert_eq!(std::fs::read_to_string(&target).expect("target"), PLANTED);
    let supervisor = env.supervisor("rotating").expect("a supervisor");
    env.ok(&["delete", "jobs", "rotating", "-y"]);
    assert!(processes(supervisor).is_empty());
    assert_eq!(std::fs::read_to_string(&target).expect("target"), PLANTED);
}
