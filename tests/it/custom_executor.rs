//! `examples/custom_executor.rs`, built by `cargo test`, run as users would run it:
//! the whole command line with a `nice` executor added. A spec job on `nice` runs
//! at niceness 10, beside a plain local job, through the same reconciler.

use crate::support;

use std::path::PathBuf;

use predicates::prelude::*;
use serde_json::Value;
use support::{wait_for, Env};

const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// The example's binary: `target/debug/examples/`, beside this test's `deps/`.
/// Built here too (a no-op after `cargo test` built it): a run of this test alone
/// (`--test custom_executor`) would otherwise use a stale one, or none.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin = dir.join("examples").join("custom_executor");
    {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let built = std::process::Command::new(cargo)
            .args(["build", "--quiet", "--example", "custom_executor"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo runs");
        assert!(built.success(), "building the example");
    }
    bin
}

/// `pid` and every process below it.
fn tree(pid: i64) -> Vec<i64> {
    let mut all = vec![pid];
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
        all.extend(tree(child));
    }
    all
}

/// The niceness of the process running `sleep` in `pid`'s tree.
fn sleeper_niceness(pid: i64) -> Option<i64> {
    tree(pid)
        .into_iter()
        .find(|p| {
            std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c.starts_with(b"sleep\0"))
        })
        .and_then(niceness)
}

fn niceness(pid: i64) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name (in parentheses), field 19 is the nice value.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(16)?.parse().ok()
}

#[test]
fn a_registered_executor_runs_declared_jobs_its_way() {
    let env = Env::new();
    let bin = example();
    assert!(bin.is_file(), "{} is built by cargo test", bin.display());
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: niced\njobs:\n  crunch:\n    command: sleep 300\n    executor: nice\n  plain:\n    command: sleep 301\n",
    )
    .expect("spec written");
    let run = || {
        let mut cmd = assert_cmd::Command::new(&bin);
        cmd.env("MRSM_ROOT_DIR", env.root())
            .env("NO_COLOR", "1")
            .current_dir(env.work());
        cmd
    };
    run()
        .arg("diff")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("+ create crunch on nice\n"))
        .stdout(predicate::str::contains("+ create plain\n"));
    run()
        .args(["up", "-d"])
        .assert()
        .success()
        .stdout(predicate::str::contains("created crunch on nice"));
    run().arg("diff").assert().success().stdout("");

    let shown = run()
        .args(["show", "jobs", "-e", "nice", "--json"])
        .output()
        .expect("runs");
    let jobs: Value = serde_json::from_slice(&shown.stdout).expect("JSON");
    assert_eq!(jobs[0]["name"], "crunch", "{jobs}");
    assert_eq!(jobs[0]["executor"], "nice");
    assert_eq!(jobs[0]["command"][0], "sleep 300", "shown as declared");
    let pid = jobs[0]["pid"].as_i64().expect("a running step");
    wait_for(TIMEOUT, "the step's command at nice 10", || {
        (sleeper_niceness(pid) == Some(10)).then_some(())
    });
    // The plain job is local's, at the usual priority.
    let plain = env.info("plain");
    let plain_pid = plain["pid"].as_i64().expect("running");
    wait_for(TIMEOUT, "the plain job's command at nice 0", || {
        (sleeper_niceness(plain_pid) == Some(0)).then_some(())
    });

    // Logs: named on `nice`, the project's there, and a pointer from the local view.
    run()
        .args(["show", "logs", "-e", "nice", "crunch"])
        .assert()
        .success()
        .stdout(predicate::str::contains("run 1 started"));
    run()
        .args(["logs", "-e", "nice"])
        .assert()
        .success()
        .stdout(predicate::str::contains("crunch"));
    // Plain `logs` shows the project's jobs on every executor.
    run()
        .args(["logs"])
        .assert()
        .success()
        .stdout(predicate::str::contains("crunch").and(predicate::str::contains("plain")));

    // The background watcher is this program too, so it knows `nice`: an edit of
    // the niced job is applied there.
    run().args(["up", "-d", "--watch"]).assert().success();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: niced\njobs:\n  crunch:\n    command: sleep 302\n    executor: nice\n  plain:\n    command: sleep 301\n",
    )
    .expect("spec edited");
    // Its definition is written before its new step starts: wait for both.
    let pid = wait_for(TIMEOUT, "the watcher to apply the edit on nice", || {
        let shown = run()
            .args(["show", "jobs", "-e", "nice", "--json"])
            .output()
            .ok()?;
        let jobs: Value = serde_json::from_slice(&shown.stdout).ok()?;
        (jobs[0]["command"][0] == "sleep 302")
            .then(|| jobs[0]["pid"].as_i64())
            .flatten()
    });

    run().arg("down").assert().success();
    wait_for(TIMEOUT, "the niced step gone", || {
        niceness(pid).is_none().then_some(())
    });
    run()
        .args(["show", "jobs", "-e", "nice"])
        .assert()
        .success()
        .stdout("No jobs.\n");
}
