//! Background jobs through the real binary: surviving the command that made them,
//! pause/start/stop/delete leaving no process behind, chains, and a supervisor killed
//! from outside.

use crate::support;

use std::path::Path;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::{processes, wait_for, Env};

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn a_job_outlives_its_command_and_a_killed_supervisor_shows_failed() {
    let env = Env::new();
    env.run_d("sleeper", &["--", "sleep", "300"]);
    // `run -d` has returned; the job runs on.
    let info = env.info("sleeper");
    assert_eq!(info["status"], "running", "{info}");
    let pid = info["pid"].as_i64().expect("a running job has a pid") as i32;
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(
        info["began"].is_string() && info["ended"].is_null(),
        "{info}"
    );

    let supervisor = env.supervisor("sleeper").expect("recorded");
    kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL).expect("kill -9");
    let info = wait_for(TIMEOUT, "the job to show as failed", || {
        let info = env.info("sleeper");
        (info["status"] == "failed").then_some(info)
    });
    let reason = info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("died unexpectedly"), "{info}");
    assert!(
        info["pid"].is_null() && info["supervisor_pid"].is_null(),
        "{info}"
    );

    // What the dead supervisor left behind is cleaned up by `stop`.
    env.ok(&["stop", "jobs", "sleeper"]);
    assert!(
        processes(supervisor).is_empty(),
        "leftovers: {:?}",
        processes(supervisor)
    );
}

/// Starts `sh -c 'sleep 300 & sleep 300 & wait'` and waits for its three processes
/// (the shell, run without another shell around it, and two sleeps).
fn start_forking_job(env: &Env, name: &str) -> mrsm::store::ProcessIdentity {
    env.run_d(name, &["--", "sh", "-c", "sleep 300 & sleep 300 & wait"]);
    let supervisor = env.supervisor(name).expect("recorded");
    wait_for(TIMEOUT, "three processes", || {
        (processes(supervisor).len() == 3).then_some(())
    });
    supervisor
}

fn states(env: &Env, name: &str) -> Vec<char> {
    let supervisor = env.supervisor(name).expect("recorded");
    processes(supervisor).iter().map(|p| p.state).collect()
}

#[test]
fn pause_start_and_stop_reach_every_process_of_the_job() {
    let env = Env::new();
    let supervisor = start_forking_job(&env, "forks");

    env.ok(&["pause", "jobs", "forks"]);
    let paused = states(&env, "forks");
    assert!(paused.iter().all(|&s| s == 'T'), "after pause: {paused:?}");
    assert_eq!(env.status("forks"), "paused");
    assert!(env.info("forks")["paused"].is_string());

    env.ok(&["start", "jobs", "forks"]);
    let resumed = states(&env, "forks");
    assert!(
        resumed.iter().all(|&s| s != 'T'),
        "after start: {resumed:?}"
    );
    assert_eq!(env.status("forks"), "running");

    env.ok(&["stop", "jobs", "forks"]);
    // `stop` returns only once nothing of the job is left.
    assert!(
        processes(supervisor).is_empty(),
        "{:?}",
        processes(supervisor)
    );
    assert!(!supervisor.is_alive());
    let info = env.info("forks");
    assert_eq!(info["status"], "stopped");
    assert_eq!(info["reason"], "stopped by user");
}

#[test]
fn stopping_a_paused_job_and_deleting_leave_nothing() {
    let env = Env::new();
    let supervisor = start_forking_job(&env, "doomed");
    env.ok(&["pause", "jobs", "doomed"]);
    env.ok(&["delete", "jobs", "doomed", "-y"]);
    assert!(
        processes(supervisor).is_empty(),
        "{:?}",
        processes(supervisor)
    );
    assert!(!env.job_dir("doomed").exists());
    assert!(!env.root().join("logs/doomed.log").exists());
    env.mrsm()
        .args(["show", "jobs", "doomed"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("\"doomed\" does not exist"));
}

#[test]
fn a_chain_stops_at_the_first_failing_step() {
    let env = Env::new();
    env.run_d("chain", &["--", "true", "+", "false", "+", "touch", "x"]);
    let info = wait_for(TIMEOUT, "the chain to end", || {
        let info = env.info("chain");
        (info["status"] == "failed").then_some(info)
    });
    assert!(!env.work().join("x").exists(), "step 3 must not run");
    let result = &info["last_result"];
    assert_eq!(result["ok"], false, "{info}");
    assert_eq!(result["failed_step"], 2, "{info}");
    assert_eq!(result["exit_code"], 1, "{info}");
    assert!(
        result["message"]
            .as_str()
            .unwrap_or_default()
            .contains("step 2/3"),
        "{info}"
    );
    let runs = env.runs("chain");
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["failed_step"], 2);

    env.run_d("good-chain", &["--", "true", "+", "touch", "y"]);
    wait_for(TIMEOUT, "the chain to end", || {
        (env.status("good-chain") == "stopped").then_some(())
    });
    assert!(env.work().join("y").exists());
    assert_eq!(env.info("good-chain")["last_result"]["ok"], true);
}

#[test]
fn output_goes_to_the_log_with_stamps() {
    let env = Env::new();
    env.run_d(
        "talker",
        &[
            "--",
            "sh",
            "-c",
            "echo hello; echo oops >&2; printf partial",
        ],
    );
    wait_for(TIMEOUT, "the job to end", || {
        (env.status("talker") == "stopped").then_some(())
    });
    let log = env.log_text("talker");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l[25..].starts_with("sys"))
        .collect();
    assert!(lines.iter().any(|l| l.ends_with(" out hello")), "{log}");
    assert!(lines.iter().any(|l| l.ends_with(" err oops")), "{log}");
    // No newline followed it: the record says so (`+`).
    assert!(lines.iter().any(|l| l.ends_with(" out+ partial")), "{log}");
    for line in lines {
        let stamp: jiff::Timestamp = line[..24].parse().expect("stamped");
        assert!(jiff::Timestamp::now().duration_since(stamp).as_secs() < 60);
    }
}

#[test]
fn rm_deletes_the_job_once_finished() {
    let env = Env::new();
    env.run_d("ephemeral", &["--rm", "--", "true"]);
    wait_for(TIMEOUT, "the job to be removed", || {
        (!env.job_dir("ephemeral").exists()).then_some(())
    });
    assert!(!env.root().join("logs/ephemeral.log").exists());
}

#[test]
fn random_names_are_adjective_noun() {
    let env = Env::new();
    let out = env
        .mrsm()
        .args(["run", "-d", "--", "true"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let name = text.split('"').nth(1).expect("prints the name");
    assert!(name.contains('-') && env.job_dir(name).exists(), "{text}");
}

#[test]
fn processes_left_behind_by_a_finished_chain_are_stopped() {
    let env = Env::new();
    env.run_d("leaver", &["--", "sh", "-c", "sleep 300 & echo started"]);
    let supervisor = env.supervisor("leaver").expect("recorded");
    wait_for(TIMEOUT, "the job to end", || {
        (env.status("leaver") == "stopped").then_some(())
    });
    assert!(
        processes(supervisor).is_empty(),
        "{:?}",
        processes(supervisor)
    );
    assert!(env.log_text("leaver").contains(" out started"));
    assert_eq!(env.info("leaver")["last_result"]["ok"], true);
}

#[test]
fn a_supervisor_shrugs_off_stray_signals_and_a_frozen_one_still_stops() {
    let env = Env::new();
    env.run_d("sturdy", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("sturdy").expect("a supervisor");
    for signal in [Signal::SIGUSR1, Signal::SIGUSR2, Signal::SIGALRM] {
        kill(Pid::from_raw(supervisor.pid), signal).expect("signals");
    }
    support::assert_holds_for(Duration::from_millis(300), "the supervisor lives", || {
        supervisor.is_alive()
    });
    assert_eq!(env.status("sturdy"), "running");
    // Frozen from outside, it is woken to be stopped.
    kill(Pid::from_raw(supervisor.pid), Signal::SIGSTOP).expect("signals");
    env.ok(&["stop", "jobs", "sturdy"]);
    assert!(!supervisor.is_alive());
}

#[test]
fn start_right_after_a_job_finishes_runs_it_again() {
    let env = Env::new();
    for i in 0..10 {
        let name = format!("again-{i}");
        env.run_d(&name, &["--", "true"]);
        wait_for(Duration::from_secs(10), "the first run", || {
            (env.runs(&name).len() == 1).then_some(())
        });
        // Its supervisor may still be finishing (draining the last output).
        env.ok(&["start", "jobs", &name]);
        wait_for(Duration::from_secs(10), "a second run", || {
            (env.runs(&name).len() >= 2).then_some(())
        });
    }
}

/// `start` during a slow `delete` waits for the stop and starts the job again; the
/// delete then leaves it alone instead of removing the files of a running job.
#[test]
fn a_start_during_a_delete_waits_for_it_and_leaves_nothing_running() {
    let env = Env::new();
    env.run_d(
        "contested",
        &[
            "--stop-timeout",
            "2s",
            "--",
            "sh -c 'trap \"\" TERM; sleep 300'",
        ],
    );
    let first = env.supervisor("contested").expect("a supervisor");
    let mut delete = support::mrsm_process()
        .args(["delete", "jobs", "-y", "contested"])
        .env("MRSM_ROOT_DIR", env.root())
        .current_dir(env.work())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("delete runs");
    wait_for(TIMEOUT, "the stop to be under way", || {
        (env.info("contested")["status"] != "running"
            || std::fs::read_to_string(env.job_dir("contested").join("state.json"))
                .is_ok_and(|t| t.contains("\"stopping\"")))
        .then_some(())
    });
    // Verbs on one job run one after the other: the start waits for the delete,
    // then finds no job to start.
    env.mrsm()
        .args(["start", "jobs", "contested"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("\"contested\" does not exist"));
    let deleted = delete.wait().expect("delete ends");
    assert!(deleted.success(), "the delete went through");
    assert!(!first.is_alive());
    assert!(!env.job_dir("contested").exists());
}

/// `mrsm ARGS…` in the work directory: (stderr, how long it took); it must succeed.
fn timed(env: &Env, args: &[&str]) -> (String, Duration) {
    let began = std::time::Instant::now();
    let out = env.mrsm().args(args).output().expect("runs");
    let took = began.elapsed();
    assert!(out.status.success(), "{args:?}: {out:?}");
    (String::from_utf8_lossy(&out.stderr).into_owned(), took)
}

#[test]
fn a_slow_stop_says_what_it_waits_for_and_a_fast_one_says_nothing() {
    let env = Env::new();
    let stubborn = ["sh", "-c", "trap '' TERM; sleep 300"];
    env.run_d(
        "stubborn",
        &[&["--stop-timeout", "5s", "--"][..], &stubborn].concat(),
    );
    let (said, took) = timed(&env, &["stop", "jobs", "stubborn"]);
    assert!(took >= Duration::from_secs(5), "{took:?}");
    assert!(
        said.contains("waiting for job \"stubborn\" to stop (SIGTERM sent; SIGKILL in 4s)\n"),
        "{said}"
    );
    assert!(
        said.contains(
            "waiting for job \"stubborn\" to stop (SIGKILL sent: SIGTERM did not stop it in 5s)\n"
        ),
        "{said}"
    );
    env.run_d("quick", &["--", "sleep", "300"]);
    let (said, took) = timed(&env, &["stop", "jobs", "quick"]);
    assert_eq!(said, "");
    assert!(took < Duration::from_secs(1), "a fast stop took {took:?}");

    // `up` stopping a job it replaces, and `down`, say it too.
    let spec = |word: &str| {
        format!(
            "project: waits\njobs:\n  stubborn:\n    command: sh -c 'trap \"\" TERM; echo {word}; sleep 300'\n    \
             stop: {{timeout: 2s}}\n"
        )
    };
    std::fs::write(env.work().join("mrsm-jobs.yaml"), spec("one")).expect("written");
    timed(&env, &["delete", "jobs", "stubborn", "-y"]);
    timed(&env, &["up", "-d"]);
    wait_for(TIMEOUT, "the job to run", || {
        env.log_text("stubborn")
            .contains(" out one\n")
            .then_some(())
    });
    std::fs::write(env.work().join("mrsm-jobs.yaml"), spec("two")).expect("written");
    let (said, _) = timed(&env, &["up", "-d"]);
    assert!(
        said.contains("waiting for job \"stubborn\" to stop (SIGTERM sent; SIGKILL in 1s)"),
        "{said}"
    );
    wait_for(TIMEOUT, "the new job to run", || {
        env.log_text("stubborn")
            .contains(" out two\n")
            .then_some(())
    });
    let (said, _) = timed(&env, &["down"]);
    assert!(
        said.contains("waiting for job \"stubborn\" to stop (SIGTERM sent; SIGKILL in 1s)"),
        "{said}"
    );
}

#[test]
fn a_stop_kills_what_keeps_appearing_after_the_grace_period() {
    let env = Env::new();
    // It ignores the stop signal and starts a new daemon as fast as it can.
    env.run_d(
        "spawner",
        &[
            "--stop-timeout",
            "1s",
            "--",
            "sh -c 'trap \"\" TERM; while :; do (setsid sleep 1105 &); done'",
        ],
    );
    let supervisor = env.supervisor("spawner").expect("a supervisor");
    wait_for(TIMEOUT, "daemons", || {
        (processes(supervisor).len() > 20).then_some(())
    });
    env.mrsm()
        .args(["stop", "jobs", "spawner"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .success();
    assert!(!supervisor.is_alive());
    assert!(
        processes(supervisor).is_empty(),
        "{:?}",
        processes(supervisor).len()
    );
}
