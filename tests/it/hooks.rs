//! Hooks run by a job's supervisor: `on_failure` gets the run's record as JSON on
//! stdin and in `MRSM_RUN_*`, its output is in the log as `hook` lines; a hook
//! that hangs is killed at its timeout without holding the job up, and a stop of
//! the job ends its hooks with it.

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::{processes, wait_for, Env};

fn up(env: &Env, spec: &str) {
    let path = env.spec_file(spec);
    env.ok(&["up", "-d", "-f", path.to_str().expect("utf-8")]);
}

/// The job's log as `show logs --json` gives it.
fn log_lines(env: &Env, name: &str) -> Vec<Value> {
    let out = env
        .mrsm()
        .args(["show", "logs", name, "--json"])
        .output()
        .expect("runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Processes of the job whose command line holds `marker`.
fn with_marker(env: &Env, name: &str, marker: &str) -> usize {
    let Some(supervisor) = env.supervisor(name) else {
        return 0;
    };
    processes(supervisor)
        .iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(marker))
        })
        .count()
}

#[test]
fn on_failure_gets_the_run_record_and_its_lines_are_hook_lines() {
    let env = Env::new();
    up(
        &env,
        r#"project: hooks
jobs:
  etl:
    command: ["echo extracting", "exit 3"]
    on_start: echo "starting run $MRSM_RUN_NUMBER"
    on_success: echo never, it fails
    on_failure: 'cat > record.json; echo "failed at step $MRSM_RUN_FAILED_STEP with $MRSM_RUN_EXIT_CODE"'
"#,
    );
    let record: Value = wait_for(Duration::from_secs(20), "the hook's record", || {
        let text = std::fs::read_to_string(env.work().join("record.json")).ok()?;
        serde_json::from_str(&text).ok()
    });
    assert_eq!(record["job"], "etl");
    assert_eq!(record["hook"], "on_failure");
    assert_eq!(record["run"], 1);
    assert_eq!(record["ok"], false);
    assert_eq!(record["exit_code"], 3);
    assert_eq!(record["failed_step"], 2);
    assert!(support::seconds_between(&record["started"], &record["ended"]) >= 0.0);
    let hooks = wait_for(Duration::from_secs(10), "the hook lines", || {
        let lines: Vec<String> = log_lines(&env, "etl")
            .into_iter()
            .filter(|l| l["stream"] == "hook")
            .filter_map(|l| l["line"].as_str().map(String::from))
            .collect();
        (lines.len() == 2).then_some(lines)
    });
    assert_eq!(hooks, ["starting run 1", "failed at step 2 with 3"]);
    // The hook's lines are no output of the job's.
    let text = env
        .mrsm()
        .args(["show", "logs", "etl"])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("hook: failed at step 2 with 3"), "{text}");
}

#[test]
fn a_hung_hook_is_killed_at_its_timeout_and_holds_nothing_up() {
    let env = Env::new();
    up(
        &env,
        r#"project: hooks
jobs:
  flaky:
    command: exit 1
    restart: on-failure
    on_failure: exec sleep 3001
    hook_timeout: 3s
"#,
    );
    // The first hook hangs until its timeout kills it; meanwhile the job went on.
    let killed = wait_for(Duration::from_secs(30), "the timeout's note", || {
        env.log_text("flaky")
            .lines()
            .find(|l| l.contains("hook on_failure still going after 3s: killed"))
            .map(|l| l.split(' ').next().unwrap_or_default().to_string())
    });
    let runs = env.runs("flaky");
    assert!(runs.len() >= 2, "{runs:?}");
    let second = runs[1]["started"].as_str().expect("started");
    assert!(
        support::seconds_between(&Value::from(second), &Value::from(killed.as_str())) > 0.0,
        "run 2 began at {second}, before the hung hook was killed at {killed}"
    );
    env.ok(&["stop", "jobs", "flaky"]);
    let supervisor = env.supervisor("flaky").expect("recorded");
    assert!(processes(supervisor).is_empty(), "no hook left");
}

#[test]
fn a_stop_ends_a_running_hook_with_the_job() {
    let env = Env::new();
    up(
        &env,
        r#"project: hooks
jobs:
  server:
    command: exec sleep 300
    on_start: exec sleep 3002
"#,
    );
    wait_for(Duration::from_secs(10), "the hook going", || {
        (with_marker(&env, "server", "3002") == 1).then_some(())
    });
    let supervisor = env.supervisor("server").expect("recorded");
    let began = std::time::Instant::now();
    env.ok(&["stop", "jobs", "server"]);
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "not the hook's timeout"
    );
    assert!(
        processes(supervisor).is_empty(),
        "nothing of the job is left"
    );
}

#[test]
fn a_job_that_ends_with_a_quick_hook_is_over_at_once_and_starts_again() {
    let env = Env::new();
    up(
        &env,
        r#"project: hooks
jobs:
  once:
    command: echo hi
    on_success: echo done
"#,
    );
    // The supervisor is gone soon after the hook, not at the hook's timeout.
    let began = std::time::Instant::now();
    wait_for(Duration::from_secs(20), "the supervisor gone", || {
        let supervisor = env.supervisor("once")?;
        (!supervisor.is_alive()).then_some(())
    });
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    assert!(env.log_text("once").contains("hok done"));
    assert!(!env.log_text("once").contains("still going"));
    env.ok(&["start", "jobs", "once"]);
    wait_for(Duration::from_secs(20), "a second run", || {
        (env.runs("once").len() == 2).then_some(())
    });
}

#[test]
fn what_a_hook_starts_in_a_session_of_its_own_dies_with_it() {
    let env = Env::new();
    up(
        &env,
        r#"project: hooks
jobs:
  server:
    command: exec sleep 300
    on_start: setsid -f sleep 3004; exec sleep 3005
    hook_timeout: 1s
"#,
    );
    wait_for(Duration::from_secs(20), "the hook killed", || {
        env.log_text("server")
            .contains("hook on_start still going after 1s: killed")
            .then_some(())
    });
    wait_for(Duration::from_secs(5), "its daemon gone too", || {
        (with_marker(&env, "server", "3004") == 0 && with_marker(&env, "server", "3005") == 0)
            .then_some(())
    });
    assert_eq!(env.status("server"), "running");
}
