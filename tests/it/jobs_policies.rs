//! Restart policies with their backoff, schedules firing, the four overlap policies,
//! and a job stopped by hand staying stopped — observed from the runs each job records.

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::{assert_holds_for, seconds_between, wait_for, Env};

fn runs_at_least(env: &Env, name: &str, n: usize, timeout: Duration) -> Vec<Value> {
    wait_for(timeout, &format!("{n} runs of {name}"), || {
        let runs = env.runs(name);
        (runs.len() >= n).then_some(runs)
    })
}

#[test]
fn on_failure_restarts_with_doubling_backoff() {
    let env = Env::new();
    env.run_d(
        "flaky",
        &["--restart", "on-failure", "--", "sh", "-c", "exit 3"],
    );
    let runs = runs_at_least(&env, "flaky", 4, Duration::from_secs(20));
    // Gaps between a run's end and the next start: 1 s, 2 s, 4 s.
    let gaps: Vec<f64> = runs
        .windows(2)
        .map(|w| seconds_between(&w[0]["ended"], &w[1]["started"]))
        .collect();
    for (gap, expected) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(
            *gap >= expected - 0.05 && *gap < expected + 1.5,
            "restart gaps {gaps:?} should be about 1, 2, 4 s"
        );
    }
    assert!(runs.iter().all(|r| r["exit_code"] == 3 && r["ok"] == false));
    assert_eq!(runs[1]["trigger"], "restart");
    let info = env.info("flaky");
    assert!(info["restarts"].as_u64().unwrap_or(0) >= 3, "{info}");
    env.ok(&["stop", "jobs", "flaky"]);
}

#[test]
fn always_restarts_success_and_never_does_not() {
    let env = Env::new();
    env.run_d("again", &["--restart", "always", "--", "true"]);
    env.run_d("once", &["--restart", "never", "--", "true"]);
    env.run_d("fine", &["--restart", "on-failure", "--", "true"]);
    runs_at_least(&env, "again", 2, Duration::from_secs(10));
    wait_for(Duration::from_secs(10), "once to end", || {
        (env.status("once") == "stopped").then_some(())
    });
    wait_for(Duration::from_secs(10), "fine to end", || {
        (env.status("fine") == "stopped").then_some(())
    });
    assert_eq!(env.runs("once").len(), 1);
    assert_eq!(env.runs("fine").len(), 1);
    assert_eq!(env.info("once")["reason"], "finished: exited with status 0");
    env.ok(&["stop", "jobs", "again"]);
}

#[test]
fn a_job_stopped_by_hand_stays_stopped() {
    let env = Env::new();
    env.run_d("persistent", &["--restart", "always", "--", "sleep", "300"]);
    env.ok(&["stop", "jobs", "persistent"]);
    let runs = env.runs("persistent").len();
    assert_holds_for(Duration::from_millis(2500), "stopped", || {
        env.status("persistent") == "stopped" && env.runs("persistent").len() == runs
    });
    assert_eq!(env.info("persistent")["desired"], "stopped");
    // And `start` brings it back.
    env.ok(&["start", "jobs", "persistent"]);
    assert_eq!(env.status("persistent"), "running");
    env.ok(&["stop", "jobs", "persistent"]);
}

#[test]
fn a_schedule_fires_every_second() {
    let env = Env::new();
    env.run_d("ticker", &["-s", "every 1 second", "--", "true"]);
    let info = env.info("ticker");
    assert_eq!(
        info["status"], "running",
        "a scheduled job waits as running"
    );
    let runs = runs_at_least(&env, "ticker", 4, Duration::from_secs(15));
    for w in runs.windows(2) {
        let gap = seconds_between(&w[0]["started"], &w[1]["started"]);
        assert!(
            (0.7..1.6).contains(&gap),
            "fires should be 1 s apart: {runs:?}"
        );
        assert_eq!(w[1]["trigger"], "schedule");
    }
    assert!(env.info("ticker")["next_fire"].is_string());
    env.ok(&["stop", "jobs", "ticker"]);
}

/// A job firing every 0.5 s whose runs take 1.2 s, under an overlap policy.
fn overlapping(policy: &str, runs: usize) -> Vec<Value> {
    let env = Env::new();
    env.run_d(
        policy,
        &[
            "-s",
            "every 0.5 seconds",
            "--allow-fast",
            "--overlap",
            policy,
            "--",
            "sleep",
            "1.2",
        ],
    );
    let records = runs_at_least(&env, policy, runs, Duration::from_secs(20));
    env.ok(&["stop", "jobs", policy]);
    records
}

#[test]
fn overlap_skip_never_runs_two_at_once() {
    let runs = overlapping("skip", 3);
    for w in runs.windows(2) {
        let gap = seconds_between(&w[0]["ended"], &w[1]["started"]);
        assert!(gap >= 0.0, "runs overlapped: {runs:?}");
        assert!(
            gap < 1.0,
            "the next fire after a run ends is at most 0.5 s away: {runs:?}"
        );
        assert_eq!(w[1]["trigger"], "schedule");
    }
}

#[test]
fn overlap_queue_runs_again_right_after() {
    let runs = overlapping("queue", 3);
    for w in runs.windows(2) {
        let gap = seconds_between(&w[0]["ended"], &w[1]["started"]);
        assert!(
            (0.0..0.3).contains(&gap),
            "queued runs start as the last ends: {runs:?}"
        );
        assert_eq!(w[1]["trigger"], "queue");
    }
}

#[test]
fn overlap_replace_stops_the_running_one() {
    let runs = overlapping("replace", 3);
    for r in &runs[..2] {
        assert_eq!(r["signal"], "SIGTERM", "{runs:?}");
        let lasted = seconds_between(&r["started"], &r["ended"]);
        assert!(lasted < 1.0, "replaced after about 0.5 s: {runs:?}");
    }
}

#[test]
fn overlap_allow_runs_side_by_side() {
    let runs = overlapping("allow", 3);
    let overlapped = runs
        .windows(2)
        .any(|w| seconds_between(&w[1]["started"], &w[0]["ended"]) > 0.0);
    assert!(overlapped, "allowed runs overlap: {runs:?}");
    assert!(runs.iter().all(|r| r["ok"] == true), "{runs:?}");
}

#[test]
fn a_catch_up_fire_right_before_a_regular_one_is_one_run() {
    let env = Env::new();
    // Just before a two-second boundary of the clock (a condition on the wall
    // clock, not a pause of a fixed length).
    let boundary = support::wait_for(
        Duration::from_secs(5),
        "the clock to near a boundary",
        || {
            let now = jiff::Timestamp::now().as_microsecond();
            let into = now.rem_euclid(2_000_000);
            (1_600_000..1_750_000)
                .contains(&into)
                .then_some(now - into + 2_000_000)
        },
    );
    // `starting 00:00` is in the past: one fire at once, then every 2 s on the
    // clock's even seconds, the first a moment later.
    env.run_d(
        "catching-up",
        &["-s", "every 2 seconds starting 00:00", "--", "true"],
    );
    support::wait_for(
        Duration::from_secs(5),
        "the boundary to be well past",
        || (jiff::Timestamp::now().as_microsecond() > boundary + 700_000).then_some(()),
    );
    let log = env.log_text("catching-up");
    assert_eq!(log.matches("run 1 started").count(), 1, "{log}");
    assert!(!log.contains("run 2 started"), "one run, not two: {log}");
    assert!(log.contains("coalesced with the one just taken"), "{log}");
    // Regular fires follow, two seconds apart.
    support::wait_for(Duration::from_secs(10), "the next regular run", || {
        env.log_text("catching-up")
            .contains("run 2 started")
            .then_some(())
    });
    env.ok(&["delete", "jobs", "catching-up", "-y"]);
}
