//! Declared jobs that ended: one that failed (its process killed, a failing exit)
//! shows as `failed` with how it ended, `diff` reports it and `up` starts it again,
//! while the watcher's heal keeps to its restart policy; one whose supervisor was
//! ended from outside mrsm is started again by the heal too; a one-shot job that
//! finished successfully is done.

use crate::support;

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use support::{assert_holds_for, wait_for, Env};

const SETTLE: Duration = Duration::from_secs(10);

fn write_spec(env: &Env, jobs: &str) {
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        format!("project: exits\njobs:\n{jobs}"),
    )
    .expect("spec written");
}

/// The job's JSON once `probe` accepts it.
fn until(env: &Env, name: &str, what: &str, probe: impl Fn(&Value) -> bool) -> Value {
    wait_for(SETTLE, what, || {
        let info = env.info(name);
        probe(&info).then_some(info)
    })
}

fn running_pid(env: &Env, name: &str) -> i64 {
    until(env, name, &format!("{name} to run"), |i| {
        i["status"] == "running" && i["pid"].is_i64()
    })["pid"]
        .as_i64()
        .unwrap_or_default()
}

/// `up -d --watch` with a heal every 100 ms, once the watcher has converged and
/// watches the files (from then on only edits and its heal change anything).
fn up_watched(env: &Env) {
    env.mrsm()
        .env("MRSM_WATCH_HEAL_EVERY", "100ms")
        .args(["up", "-d", "--watch"])
        .assert()
        .success();
    wait_for(SETTLE, "the watcher to watch", || {
        env.log_text("mrsm-watch-exits")
            .contains("watching 1 file")
            .then_some(())
    });
}

fn diff(env: &Env) -> (i32, String) {
    let out = env.mrsm().arg("diff").output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_killed_service_is_failed_and_up_starts_it_but_the_heal_keeps_to_its_policy() {
    let env = Env::new();
    write_spec(&env, "  svc:\n    command: sleep 300\n");
    up_watched(&env);
    let pid = running_pid(&env, "svc");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("kill -9");
    let info = until(&env, "svc", "svc to be failed", |i| i["status"] == "failed");
    assert!(
        info["reason"]
            .as_str()
            .is_some_and(|r| r.contains("killed by SIGKILL")),
        "{info}"
    );
    assert_eq!(info["died"], false, "{info}");
    let table =
        String::from_utf8(env.mrsm().arg("ps").output().expect("ps").stdout).expect("UTF-8");
    assert!(table.contains("failed"), "{table}");
    // The heal keeps to `restart: never` (many heal ticks pass).
    assert_holds_for(Duration::from_millis(800), "svc stays failed", || {
        env.status("svc") == "failed"
    });
    let (code, plan) = diff(&env);
    assert_eq!((code, plan.trim()), (1, "> start svc"), "{plan}");
    // An explicit `up` starts it again.
    env.ok(&["up", "-d"]);
    let again = running_pid(&env, "svc");
    assert_ne!(again, pid);
    assert_eq!(diff(&env).0, 0);
    env.ok(&["down"]);
}

#[test]
fn a_failing_one_shot_is_run_again_by_up_and_a_successful_one_is_done() {
    let env = Env::new();
    write_spec(
        &env,
        "  fails:\n    command: sh -c 'exit 3'\n  works:\n    command: 'true'\n",
    );
    env.ok(&["up", "-d"]);
    let failed = until(&env, "fails", "fails to fail", |i| i["status"] == "failed");
    assert_eq!(failed["last_result"]["exit_code"], 3, "{failed}");
    until(&env, "works", "works to finish", |i| {
        i["status"] == "stopped" && i["last_result"]["ok"] == true
    });
    let (code, plan) = diff(&env);
    assert_eq!((code, plan.trim()), (1, "> start fails"), "{plan}");
    env.ok(&["up", "-d"]);
    wait_for(SETTLE, "fails to run a second time", || {
        (env.runs("fails").len() == 2).then_some(())
    });
    // The one that succeeded is done: `up` does not run it again.
    assert_eq!(env.runs("works").len(), 1);
    env.ok(&["down"]);
}

#[test]
fn a_supervisor_ended_from_outside_is_started_again_by_the_heal() {
    let env = Env::new();
    write_spec(&env, "  svc:\n    command: sleep 300\n");
    up_watched(&env);
    let pid = running_pid(&env, "svc");
    let supervisor = env.supervisor("svc").expect("recorded");
    // Not `mrsm stop`: a signal to the supervisor from outside.
    kill(Pid::from_raw(supervisor.pid), Signal::SIGTERM).expect("kill");
    wait_for(SETTLE, "a new supervisor", || {
        let now = env.supervisor("svc")?;
        (now != supervisor && env.info("svc")["status"] == "running").then_some(())
    });
    assert_ne!(running_pid(&env, "svc"), pid);
    let runs = env.runs("svc");
    assert!(
        runs.first().is_some_and(|r| r["message"]
            .as_str()
            .unwrap_or("")
            .contains("SIGTERM to its supervisor from outside")),
        "{runs:?}"
    );
    env.ok(&["down"]);
}

#[test]
fn a_supervisor_ended_from_outside_is_failed_and_up_starts_it() {
    let env = Env::new();
    write_spec(&env, "  svc:\n    command: sleep 300\n");
    env.ok(&["up", "-d"]);
    running_pid(&env, "svc");
    let supervisor = env.supervisor("svc").expect("recorded");
    kill(Pid::from_raw(supervisor.pid), Signal::SIGHUP).expect("kill");
    let info = until(&env, "svc", "svc to be failed", |i| i["status"] == "failed");
    assert_eq!(info["died"], true, "{info}");
    assert!(
        info["reason"]
            .as_str()
            .is_some_and(|r| r.contains("SIGHUP")),
        "{info}"
    );
    assert_eq!(diff(&env), (1, "> start svc\n".to_string()));
    env.ok(&["up", "-d"]);
    running_pid(&env, "svc");
    env.ok(&["down"]);
}

#[test]
fn a_job_stopped_by_hand_after_its_supervisor_died_stays_stopped() {
    let env = Env::new();
    write_spec(&env, "  kj:\n    command: sleep 300\n");
    up_watched(&env);
    running_pid(&env, "kj");
    let supervisor = env.supervisor("kj").expect("recorded");
    // Killed, then stopped by hand before the heal comes round.
    kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL).expect("kill -9");
    wait_for(SETTLE, "the supervisor to be gone", || {
        (!supervisor.is_alive()).then_some(())
    });
    env.ok(&["stop", "jobs", "kj"]);
    let info = env.info("kj");
    assert_eq!(
        (info["status"].as_str(), info["died"].as_bool()),
        (Some("stopped"), Some(false)),
        "{info}"
    );
    // The run it cut short is recorded, and is its last result.
    let runs = env.runs("kj");
    assert!(
        runs.last()
            .is_some_and(|r| r["message"].as_str().unwrap_or("").contains("interrupted")),
        "{runs:?}"
    );
    assert!(
        info["last_result"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("interrupted"),
        "{info}"
    );
    // The heal leaves it alone.
    assert_holds_for(Duration::from_millis(800), "kj stays stopped", || {
        env.status("kj") == "stopped"
    });
    env.ok(&["down"]);
}

/// A declared job whose first step cannot start (its program is not found) is an
/// error of `up -d`, said with why, as it is of `run -d`: the job stays, failed,
/// and the other jobs are brought up.
#[test]
fn up_says_when_a_job_s_first_step_cannot_start() {
    let env = Env::new();
    write_spec(
        &env,
        "  ghost:\n    command: definitely-not-a-program --flag\n  fine:\n    command: sleep 300\n",
    );
    let out = env
        .mrsm()
        .args(["up", "-d"])
        .current_dir(env.work())
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ghost") && stderr.contains("could not start"),
        "{stderr}"
    );
    assert_eq!(env.info("ghost")["status"], "failed");
    running_pid(&env, "fine");
    env.ok(&["down"]);
}
