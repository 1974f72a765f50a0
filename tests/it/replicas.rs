//! `replicas: N` and `mrsm scale NAME=N`: copies `NAME.1` … `NAME.N`, each with its
//! own supervisor, log and `MRSM_REPLICA`; scaling down deletes the highest
//! numbers and leaves the copies that stay untouched; `logs NAME` shows every copy.

use crate::support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::Env;

fn spec(count: u32) -> String {
    format!(
        "project: reps\njobs:\n  worker:\n    command: echo \"copy $MRSM_REPLICA of the worker\"; exec sleep 300\n    replicas: {count}\n  boss:\n    command: exec sleep 300\n    depends_on: [worker]\n"
    )
}

/// The project's jobs as name → supervisor pid.
fn supervisors(env: &Env) -> BTreeMap<String, Value> {
    let out = env.mrsm().args(["ps", "--json"]).output().expect("runs");
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    list.into_iter()
        .map(|j| {
            (
                j["name"].as_str().unwrap_or_default().to_string(),
                j["supervisor_pid"].clone(),
            )
        })
        .collect()
}

fn ok_out(env: &Env, args: &[&str]) -> String {
    let out = env.mrsm().args(args).output().expect("runs");
    support::succeeded(&out, &args.join(" "))
}

#[test]
fn copies_are_made_scaled_and_followed_by_one_name() {
    let env = Env::new();
    let file = env.spec_file(&spec(3));
    ok_out(&env, &["up", "-d"]);
    let jobs = supervisors(&env);
    let names: Vec<&str> = jobs.keys().map(String::as_str).collect();
    assert_eq!(names, ["boss", "worker.1", "worker.2", "worker.3"]);
    let pids: std::collections::BTreeSet<String> = jobs.values().map(|v| v.to_string()).collect();
    assert_eq!(pids.len(), 4, "a supervisor each: {jobs:?}");
    // Each copy knows its number; `logs worker` shows all three, by copy.
    let logs = support::wait_for(
        std::time::Duration::from_secs(10),
        "three copies' lines",
        || {
            let text = ok_out(&env, &["logs", "worker"]);
            (1..=3)
                .all(|i| {
                    text.contains(&format!("worker.{i}  "))
                        && text.contains(&format!("copy {i} of the worker"))
                })
                .then_some(text)
        },
    );
    assert!(!logs.contains("boss"), "{logs}");
    // Down to one: two deleted, the first one untouched, boss not restarted.
    std::fs::write(&file, spec(1)).expect("edit");
    let diff = env.mrsm().args(["diff"]).output().expect("diff");
    let diff = String::from_utf8_lossy(&diff.stdout);
    assert_eq!(diff, "- delete worker.2\n- delete worker.3\n");
    ok_out(&env, &["up", "-d"]);
    let after = supervisors(&env);
    assert_eq!(after.keys().collect::<Vec<_>>(), ["boss", "worker.1"]);
    assert_eq!(
        after["worker.1"], jobs["worker.1"],
        "the copy that stays is untouched"
    );
    assert_eq!(after["boss"], jobs["boss"]);
    // `scale` adds copies without touching the file or the others.
    let out = ok_out(&env, &["scale", "worker=2"]);
    assert_eq!(out.trim(), "created worker.2");
    let scaled = supervisors(&env);
    assert_eq!(scaled["worker.1"], jobs["worker.1"]);
    assert!(scaled.contains_key("worker.2"));
    assert_eq!(std::fs::read_to_string(&file).expect("spec"), spec(1));
    // A name that is no job of the files is an error, and nothing changes.
    let out = env
        .mrsm()
        .args(["scale", "wroker=5"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "cannot scale `wroker`: the files declare no such job: did you mean `worker`?"
        ),
        "{err}"
    );
    assert_eq!(supervisors(&env).len(), 3);
    ok_out(&env, &["down"]);
}

#[test]
fn a_copy_s_name_cannot_be_taken_and_too_long_a_copy_is_refused() {
    let env = Env::new();
    let long = "w".repeat(62);
    env.spec_file(&format!("jobs:\n  web:\n    command: \"true\"\n    replicas: 2\n  web.2:\n    command: \"true\"\n  {long}:\n    command: \"true\"\n    replicas: 10\n"));
    let out = env.mrsm().args(["validate"]).output().expect("runs");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":5:3: job `web.2` has the name of a copy of a job with `replicas`"),
        "{err}"
    );
    assert!(
        err.contains(&format!(":7:3: with replicas: 10, the copy \"{long}.10\"")),
        "{err}"
    );
}
