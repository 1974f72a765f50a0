//! A scheduled job keeps its place in its schedule when its definition changes in
//! other ways, and when its killed supervisor is started again: no extra runs, the
//! same next fire. A changed schedule fires by its own rules.

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::{assert_holds_for, wait_for, Env};

fn spec(schedule: &str, keep: u32) -> String {
    format!(
        "project: timely\njobs:\n  nightly:\n    command: echo fired\n    schedule: {schedule}\n    logs: {{ keep: {keep} }}\n"
    )
}

fn runs(env: &Env) -> usize {
    env.runs("nightly").len()
}

#[test]
fn changes_elsewhere_keep_the_next_fire() {
    let env = Env::new();
    let file = env.work().join("mrsm-jobs.yaml");
    std::fs::write(&file, spec("daily", 5)).expect("written");
    env.ok(&["up", "-d"]);
    // `daily` without a start fires when the job starts, then a day later.
    wait_for(Duration::from_secs(10), "the first fire", || {
        (runs(&env) == 1).then_some(())
    });
    let first: Value = env.info("nightly");
    let next = first["next_fire"].clone();
    assert!(next.is_string(), "{first}");

    std::fs::write(&file, spec("daily", 3)).expect("written");
    env.mrsm()
        .args(["up", "-d"])
        .assert()
        .success()
        .stdout(predicates::str::contains("updated nightly"));
    let updated = env.info("nightly");
    assert_ne!(updated["spec_hash"], first["spec_hash"]);
    assert_ne!(updated["supervisor_pid"], first["supervisor_pid"]);
    assert_holds_for(Duration::from_millis(1500), "no extra run", || {
        runs(&env) == 1 && env.info("nightly")["next_fire"] == next
    });

    // A supervisor killed from outside and started again continues the schedule too.
    let supervisor = env.supervisor("nightly").expect("a supervisor");
    support::kill_job(supervisor);
    wait_for(Duration::from_secs(5), "the supervisor to die", || {
        (!supervisor.is_alive()).then_some(())
    });
    env.ok(&["start", "jobs", "nightly"]);
    assert_holds_for(Duration::from_millis(1000), "no extra run", || {
        runs(&env) == 1 && env.info("nightly")["next_fire"] == next
    });

    // A new schedule is a new start: `every 2 days` fires now.
    std::fs::write(&file, spec("every 2 days", 3)).expect("written");
    env.ok(&["up", "-d"]);
    wait_for(
        Duration::from_secs(10),
        "the new schedule's first fire",
        || (runs(&env) == 2).then_some(()),
    );
    assert_ne!(env.info("nightly")["next_fire"], next);
    env.ok(&["down"]);
}
