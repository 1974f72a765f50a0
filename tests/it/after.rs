//! `after:` pipelines through the real binary: a scheduled `extract`, `transform`
//! after it and `load` after that. Each downstream run follows exactly one
//! successful upstream run, in order; a failed one triggers nothing; a success
//! made while the downstream's supervisor was dead is run after once it is back,
//! and nothing fires twice.

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::{wait_for, Env};

const PIPELINE: &str = r#"project: etl
jobs:
  extract:
    # Its third run fails.
    command: n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; test $n -ne 3
    schedule: every 2 seconds
  transform:
    command: echo "transform $MRSM_RUN"
    after: extract
  load:
    command: echo "load $MRSM_RUN"
    after: { jobs: [transform], on: success }
"#;

/// The upstream run numbers each recorded run of `name` came after.
fn links(env: &Env, name: &str, upstream: &str) -> Vec<u64> {
    env.runs(name)
        .iter()
        .map(|r| {
            let after = r["after"].as_array().cloned().unwrap_or_default();
            assert_eq!(after.len(), 1, "one upstream run each: {r}");
            assert_eq!(after[0]["job"], upstream, "{r}");
            after[0]["run"].as_u64().expect("run number")
        })
        .collect()
}

fn successes(runs: &[Value]) -> Vec<u64> {
    runs.iter()
        .filter(|r| r["ok"] == true)
        .filter_map(|r| r["run"].as_u64())
        .collect()
}

/// Waits until `name` has run after every success of `upstream` so far.
fn caught_up(env: &Env, name: &str, upstream: &str) {
    wait_for(
        Duration::from_secs(30),
        &format!("{name} after every {upstream} success"),
        || {
            let done = successes(&env.runs(upstream));
            (links(env, name, upstream) == done).then_some(())
        },
    );
}

#[test]
fn each_success_runs_the_next_stage_once_in_order_across_a_killed_supervisor() {
    let env = Env::new();
    env.spec_file(PIPELINE);
    env.ok(&["up", "-d"]);
    wait_for(Duration::from_secs(30), "four extract runs", || {
        (env.runs("extract").len() >= 4).then_some(())
    });
    // Transform's supervisor dies while it waits; extract goes on without it.
    let killed = env.supervisor("transform").expect("transform's supervisor");
    support::kill_job_supervisor_only(killed);
    let before = env.runs("extract").len();
    wait_for(
        Duration::from_secs(30),
        "an extract success meanwhile",
        || {
            let runs = env.runs("extract");
            (runs.len() > before && runs.last()?["ok"] == true).then_some(())
        },
    );
    let missed = successes(&env.runs("extract"));
    // Back (as the watcher would): the success made meanwhile is taken, once.
    env.ok(&["up", "-d"]);
    env.ok(&["stop", "jobs", "extract"]);
    caught_up(&env, "transform", "extract");
    caught_up(&env, "load", "transform");
    let extract = env.runs("extract");
    let transform = links(&env, "transform", "extract");
    assert!(transform
        .iter()
        .all(|r| missed.contains(r) || *r > *missed.last().unwrap_or(&0)));
    assert!(
        transform.windows(2).all(|w| w[0] < w[1]),
        "in order, none twice: {transform:?}"
    );
    assert!(
        !transform.contains(&3),
        "the failed extract run 3 triggered nothing"
    );
    assert_eq!(extract[2]["ok"], false, "{:?}", extract[2]);
    // Each transform run began after the extract run it follows ended.
    for record in env.runs("transform") {
        let up = record["after"][0]["run"].as_u64().expect("run");
        let source = extract
            .iter()
            .find(|r| r["run"] == up)
            .expect("its extract run");
        assert!(support::seconds_between(&source["ended"], &record["started"]) >= 0.0);
    }
    let log = env.log_text("transform");
    assert!(
        log.contains("extract run 3 did not succeed: nothing to run"),
        "{log}"
    );
    // Nothing more fires: every success was taken once.
    let taken: BTreeSet<u64> = transform.iter().copied().collect();
    assert_eq!(taken.len(), transform.len());
    support::assert_holds_for(Duration::from_secs(2), "no extra run", || {
        links(&env, "transform", "extract") == transform
    });
    env.ok(&["down"]);
}

#[test]
fn after_is_checked_with_its_place() {
    let env = Env::new();
    env.spec_file("jobs:\n  a:\n    command: \"true\"\n    after: b\n  b:\n    command: \"true\"\n    after: [a]\n  c:\n    command: \"true\"\n    schedule: daily\n    after: { jobs: extrct, when: some }\n  extract:\n    command: \"true\"\n");
    let out = env.mrsm().args(["validate"]).output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(":4:12: `after` cycle: a -> b -> a"), "{err}");
    assert!(err.contains(":11:12: a job with `after` runs after other jobs' runs: it has no `schedule` of its own"), "{err}");
}

#[test]
fn the_examples_run_as_the_readme_says() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let env = Env::new();
    // web-and-db: up returns once worker (after web, after db) is up.
    let file = repo.join("examples/web-and-db.yaml");
    let _ = std::fs::remove_file("/tmp/mrsm-example-db-ready");
    let file = file.to_str().expect("utf-8");
    let out = env
        .mrsm()
        .args(["up", "-d", "-f", file])
        .output()
        .expect("up");
    support::succeeded(&out, "up web-and-db");
    for name in ["db", "web"] {
        assert_eq!(env.info(name)["health"]["status"], "healthy", "{name}");
    }
    assert_eq!(env.status("worker.1"), "running");
    assert_eq!(env.status("worker.2"), "running");
    let out = env
        .mrsm()
        .args(["down", "-f", file])
        .output()
        .expect("down");
    let said = support::succeeded(&out, "down web-and-db");
    assert!(said.find("\"web\"") < said.find("\"db\""), "{said}");
    // pipeline: each stage runs after the one before.
    let file = repo.join("examples/pipeline.yaml");
    let file = file.to_str().expect("utf-8");
    let out = env
        .mrsm()
        .args(["up", "-d", "-f", file])
        .output()
        .expect("up");
    support::succeeded(&out, "up pipeline");
    wait_for(
        Duration::from_secs(30),
        "load after transform after extract",
        || {
            let load = env.runs("load");
            (load.first()?["after"][0]["job"] == "transform").then_some(())
        },
    );
    assert_eq!(env.runs("transform")[0]["after"][0]["job"], "extract");
    let out = env
        .mrsm()
        .args(["down", "-f", file])
        .output()
        .expect("down");
    support::succeeded(&out, "down pipeline");
}

#[test]
fn an_upstream_made_anew_is_followed_from_its_first_run() {
    let env = Env::new();
    env.spec_file("project: etl\njobs:\n  up1:\n    command: echo up\n    schedule: every 1 second\n  down1:\n    command: echo down\n    after: up1\n");
    env.ok(&["up", "-d"]);
    wait_for(Duration::from_secs(30), "down1 after up1 #3", || {
        links(&env, "down1", "up1").contains(&3).then_some(())
    });
    // up1 is deleted with its history and made again: its runs count from 1.
    env.ok(&["delete", "jobs", "up1", "-y"]);
    env.ok(&["up", "-d"]);
    wait_for(
        Duration::from_secs(30),
        "down1 after the new up1 #2",
        || {
            let taken = links(&env, "down1", "up1");
            let again = taken.iter().rposition(|&r| r == 1)?;
            (again > 0 && taken[again..].contains(&2)).then_some(())
        },
    );
    let log = env.log_text("down1");
    assert!(log.contains("up1's run history starts over"), "{log}");
    env.ok(&["down"]);
}
