//! Jobs that launch jobs: a supervisor started from inside another job (a step that
//! runs `mrsm run -d`, the background watcher, `mrsm serve` run as a job) belongs to
//! the job it supervises, never to the one that launched it. Stopping, killing or
//! finishing the launching job leaves the launched jobs running.

use crate::support;
use crate::support::orphans;

use std::time::Duration;

use mrsm::store::ProcessIdentity;
use orphans::Orphans;
use support::{assert_holds_for, wait_for, Env};

const SETTLE: Duration = Duration::from_secs(10);

/// The mrsm binary, for jobs that run it.
fn bin() -> String {
    assert_cmd::cargo::cargo_bin("mrsm").display().to_string()
}

/// `run -d --name NAME -- sh -c SCRIPT`, where the script finds mrsm in `$MRSM_T`.
fn run_script(env: &Env, name: &str, script: &str) {
    env.mrsm()
        .env("MRSM_T", bin())
        .args(["run", "-d", "--name", name, "--", "sh", "-c", script])
        .assert()
        .success();
}

/// The job's live supervisor and step, once it runs a step.
fn running(env: &Env, name: &str) -> (ProcessIdentity, i32) {
    wait_for(SETTLE, &format!("{name} to run"), || {
        let info = env.try_info(name)?;
        let pid = info["pid"].as_i64()? as i32;
        (info["status"] == "running").then_some(())?;
        Some((env.supervisor(name)?, pid))
    })
}

/// Whether the job still runs with the same supervisor and step.
fn unchanged(env: &Env, name: &str, was: (ProcessIdentity, i32)) -> bool {
    let info = env.info(name);
    info["status"] == "running"
        && info["pid"].as_i64() == Some(was.1 as i64)
        && was.0.is_alive()
        && ProcessIdentity::of(was.1).is_some()
}

#[test]
fn stopping_a_job_leaves_the_jobs_it_launched_running() {
    let env = Env::new();
    run_script(
        &env,
        "outer",
        "\"$MRSM_T\" run -d --name inner -- sleep 300; exec sleep 300",
    );
    let inner = running(&env, "inner");
    running(&env, "outer");
    env.ok(&["stop", "jobs", "outer"]);
    assert_eq!(env.status("outer"), "stopped");
    assert!(
        unchanged(&env, "inner", inner),
        "inner must keep running: {}",
        env.info("inner")
    );
    assert!(
        !env.log_text("inner").contains("killed"),
        "{}",
        env.log_text("inner")
    );
}

#[test]
fn a_killed_launcher_is_cleaned_up_without_the_jobs_it_launched() {
    let env = Env::new();
    let mut orphans = Orphans::default();
    run_script(
        &env,
        "outer",
        "\"$MRSM_T\" run -d --name inner -- sleep 300; exec sleep 300",
    );
    let inner = running(&env, "inner");
    running(&env, "outer");
    let killed = orphans.kill_supervisor(&env, "outer");
    wait_for(SETTLE, "the killed supervisor to be gone", || {
        (!killed.is_alive()).then_some(())
    });
    // Starting it again cleans up what the killed supervisor left: not inner.
    env.ok(&["start", "jobs", "outer"]);
    running(&env, "outer");
    env.ok(&["stop", "jobs", "outer"]);
    assert!(
        unchanged(&env, "inner", inner),
        "inner must keep running: {}",
        env.info("inner")
    );
}

#[test]
fn a_launcher_that_ends_finishes_while_what_it_launched_runs_on() {
    let env = Env::new();
    run_script(
        &env,
        "outer",
        "\"$MRSM_T\" run -d --name inner -- sleep 300",
    );
    let inner = running(&env, "inner");
    // Its chain is over: it ends, not waiting for a job it does not own.
    wait_for(SETTLE, "outer to finish", || {
        (env.info("outer")["supervisor_pid"].is_null()).then_some(())
    });
    let last = env.info("outer")["last_result"].clone();
    assert_eq!(last["ok"], true, "{last}");
    assert!(unchanged(&env, "inner", inner), "{}", env.info("inner"));
}

#[test]
fn a_foreground_run_leaves_the_jobs_it_launched_running() {
    let env = Env::new();
    env.mrsm()
        .env("MRSM_T", bin())
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "\"$MRSM_T\" run -d --name inner -- sleep 300",
        ])
        .timeout(SETTLE)
        .assert()
        .success();
    let inner = running(&env, "inner");
    assert_holds_for(Duration::from_millis(300), "inner runs on", || {
        unchanged(&env, "inner", inner)
    });
}

fn spec(command: &str) -> String {
    format!("project: w\njobs:\n  a:\n    command: {command}\n  b:\n    command: sleep 302\n")
}

/// `up -d --watch`, once its watcher runs.
fn watch_up(env: &Env) {
    env.mrsm()
        .env("MRSM_WATCH_SETTLE", "100ms")
        .args(["up", "-d", "--watch"])
        .assert()
        .success();
    running(env, "mrsm-watch-w");
}

/// Gives job `a` the command `command` in the file, and waits until the watcher
/// has updated it.
fn edit_through_watcher(env: &Env, path: &std::path::Path, command: &str) {
    std::fs::write(path, spec(command)).expect("edited");
    wait_for(SETTLE, "the watcher to update a", || {
        let info = env.info("a");
        (info["command"][0] == command && info["status"] == "running").then_some(())
    });
}

#[test]
fn stopping_or_killing_the_watcher_leaves_the_project_s_jobs_running() {
    let env = Env::new();
    let mut orphans = Orphans::default();
    let path = env.work().join("mrsm-jobs.yaml");
    std::fs::write(&path, spec("sleep 300")).expect("written");
    watch_up(&env);
    // The watcher updates `a`: its new supervisor is launched by the watcher.
    edit_through_watcher(&env, &path, "sleep 301");
    let a = running(&env, "a");
    let b = running(&env, "b");

    env.ok(&["stop", "jobs", "mrsm-watch-w"]);
    assert!(unchanged(&env, "a", a), "a: {}", env.info("a"));
    assert!(unchanged(&env, "b", b), "b: {}", env.info("b"));

    // Started again, it updates `a` once more, then is killed with SIGKILL.
    watch_up(&env);
    edit_through_watcher(&env, &path, "sleep 303");
    let a = running(&env, "a");
    let killed = orphans.kill_supervisor(&env, "mrsm-watch-w");
    // Its step (`mrsm watch`, which holds the project's watcher lock) dies with it.
    wait_for(SETTLE, "the watcher to be gone", || {
        (!killed.is_alive() && support::processes(killed).is_empty()).then_some(())
    });
    // A new watcher cleans up after the killed one, and finds nothing to change.
    let out = env
        .mrsm()
        .args(["up", "-d", "--watch"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    running(&env, "mrsm-watch-w");
    assert!(unchanged(&env, "a", a), "a: {}", env.info("a"));
    assert!(unchanged(&env, "b", b), "b: {}", env.info("b"));
    env.ok(&["down"]);
}

#[test]
fn stopping_a_server_run_as_a_job_leaves_the_jobs_made_through_it_running() {
    let env = Env::new();
    let token = env.token("admin", &[]);
    run_script(&env, "srv", "exec \"$MRSM_T\" serve --bind 127.0.0.1:0");
    let port: u16 = wait_for(SETTLE, "the server to say its port", || {
        let log = env.log_text("srv");
        let rest = log.split("127.0.0.1:").nth(1)?;
        rest.split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    });
    let client = Env::new();
    let config = client.work().join("config.toml");
    std::fs::write(
        &config,
        format!("[executors.srv]\nurl = \"http://127.0.0.1:{port}\"\ntoken = \"{token}\"\n"),
    )
    .expect("settings written");
    client
        .mrsm()
        .env("MRSM_CONFIG", &config)
        .args([
            "run", "-d", "-e", "api:srv", "--name", "made", "--", "sleep", "300",
        ])
        .assert()
        .success();
    let made = running(&env, "made");
    env.ok(&["stop", "jobs", "srv"]);
    assert!(unchanged(&env, "made", made), "{}", env.info("made"));
}

#[test]
fn a_launcher_leaves_alone_what_a_launched_job_s_killed_supervisor_left() {
    let env = Env::new();
    run_script(
        &env,
        "outer",
        "\"$MRSM_T\" run -d --name inner -- sh -c 'sleep 1000 & exec sleep 1002'; \
         while [ ! -e \"$PWD/done\" ]; do sleep 0.05; done",
    );
    running(&env, "inner");
    let inner = env.supervisor("inner").expect("a supervisor");
    let left = wait_for(SETTLE, "inner's child", || {
        support::processes(inner).into_iter().find(|p| {
            std::fs::read(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|c| c == b"sleep\x001000\x00")
        })
    });
    // inner's supervisor is killed: its child is handed to outer's supervisor.
    support::kill_job_supervisor_only(inner);
    wait_for(SETTLE, "inner's supervisor to be gone", || {
        (!inner.is_alive()).then_some(())
    });
    // outer's run ends: what inner left is inner's, not outer's leftover.
    std::fs::write(env.work().join("done"), "").expect("written");
    wait_for(SETTLE, "outer to finish", || {
        env.info("outer")["supervisor_pid"].is_null().then_some(())
    });
    assert!(left.identity().is_alive(), "{}", env.log_text("outer"));
    assert!(
        !env.log_text("outer").contains("left 1 process"),
        "{}",
        env.log_text("outer")
    );
    // inner's next start cleans it up.
    env.ok(&["start", "jobs", "inner"]);
    assert!(!left.identity().is_alive());
    env.ok(&["stop", "jobs", "inner"]);
}

#[test]
fn a_job_that_deletes_itself_is_deleted() {
    let env = Env::new();
    run_script(
        &env,
        "selfish",
        "echo before; \"$MRSM_T\" delete jobs selfish -y; sleep 100",
    );
    // `delete jobs` removes the job with its logs and history, also from inside.
    wait_for(SETTLE, "the job to be gone", || {
        (!env.job_dir("selfish").exists() && env.log_text("selfish").is_empty()).then_some(())
    });
    env.mrsm()
        .args(["show", "jobs", "selfish"])
        .assert()
        .failure();
}

#[test]
fn a_job_that_pauses_itself_can_be_started_again() {
    let env = Env::new();
    run_script(
        &env,
        "pauser",
        "\"$MRSM_T\" pause jobs pauser; echo after-the-pause; sleep 300",
    );
    wait_for(SETTLE, "the job to be paused", || {
        (env.try_info("pauser")?["status"] == "paused").then_some(())
    });
    // The pause it asked for does not hold the job's lock while paused itself.
    env.mrsm()
        .args(["start", "jobs", "pauser"])
        .timeout(Duration::from_secs(20))
        .assert()
        .success();
    wait_for(SETTLE, "the step to go on", || {
        env.log_text("pauser")
            .contains("after-the-pause")
            .then_some(())
    });
    env.mrsm()
        .args(["stop", "jobs", "pauser"])
        .timeout(Duration::from_secs(20))
        .assert()
        .success();
}
