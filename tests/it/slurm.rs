//! The `slurm` executor on a real single-node Slurm cluster (see
//! `tests/support/slurm.rs`): steps run there through `srun`, the supervisor stays
//! here with the schedule, chain, policies, runs and logs.

use crate::support;
use crate::support::slurm as slurm_cluster;

use std::time::Duration;

use serde_json::Value;
use slurm_cluster::{cluster, Cluster};
use support::{wait_for, Env};

const LONG: Duration = Duration::from_secs(30);

/// `mrsm ARGS…` on `env`'s root, reaching `cluster`.
fn mrsm(env: &Env, cluster: &Cluster) -> assert_cmd::Command {
    let mut cmd = env.mrsm();
    cmd.env("SLURM_CONF", &cluster.conf);
    cmd
}

fn ok(env: &Env, cluster: &Cluster, args: &[&str]) -> String {
    let out = mrsm(env, cluster).args(args).output().expect("runs");
    crate::support::succeeded(&out, &format!("mrsm {args:?}"))
}

/// `mrsm run -d -e slurm --name NAME ARGS…`, which must succeed.
fn run_d(env: &Env, cluster: &Cluster, name: &str, args: &[&str]) {
    let mut all = vec!["run", "-d", "-e", "slurm", "--name", name];
    all.extend_from_slice(args);
    ok(env, cluster, &all);
}

/// The Slurm job of job `name`'s running step, as `show jobs` says.
fn slurm_job(env: &Env, cluster: &Cluster, name: &str) -> Option<String> {
    info(env, cluster, name)["slurm_job"]
        .as_str()
        .map(str::to_string)
}

/// `mrsm diff ARGS…`'s output (it exits 1 when there are differences).
fn diff(env: &Env, cluster: &Cluster) -> String {
    let out = mrsm(env, cluster)
        .args(["diff", "-f", "mrsm-jobs.yaml"])
        .output()
        .expect("runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn info(env: &Env, cluster: &Cluster, name: &str) -> Value {
    let out = ok(env, cluster, &["show", "jobs", name, "--json"]);
    serde_json::from_str::<Value>(&out).expect("JSON")[0].clone()
}

/// The Slurm job ids a run recorded.
fn slurm_jobs(run: &Value) -> Vec<String> {
    run["slurm_jobs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn finished_runs(env: &Env, name: &str, n: usize) -> Vec<Value> {
    wait_for(LONG, &format!("{n} finished run(s) of {name}"), || {
        let runs = env.runs(name);
        (runs.len() >= n).then_some(runs)
    })
}

#[test]
fn a_step_runs_on_the_cluster_and_its_run_records_the_slurm_job() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    run_d(
        &env,
        cluster,
        "where",
        &["--", "sh", "-c", "hostname; echo job=$SLURM_JOB_ID"],
    );
    let runs = finished_runs(&env, "where", 1);
    let ids = slurm_jobs(&runs[0]);
    assert_eq!(ids.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["ok"], true, "{runs:?}");
    let log = env.log_text("where");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert!(log.contains(host.trim()), "{log}");
    assert!(log.contains(&format!("job={}", ids[0])), "{log}");
    assert_eq!(cluster.state(&ids[0]), "COMPLETED");
    let shown = ok(&env, cluster, &["show", "runs", "where"]);
    assert!(shown.contains(&format!("Slurm job {}", ids[0])), "{shown}");
}

#[test]
fn show_jobs_names_the_running_step_s_slurm_job() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    run_d(&env, cluster, "long", &["--", "sleep", "300"]);
    let id = wait_for(LONG, "the Slurm job in show jobs", || {
        slurm_job(&env, cluster, "long")
    });
    wait_for(LONG, "its Slurm job running", || {
        (cluster.state(&id) == "RUNNING").then_some(())
    });
    let table = ok(&env, cluster, &["show", "jobs"]);
    assert!(table.contains(&format!("slurm:{id}")), "{table}");
    assert!(table.contains("slurm "), "{table}");
}

#[test]
fn a_chain_runs_as_slurm_jobs_in_order_and_stops_at_the_first_failure() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    run_d(
        &env,
        cluster,
        "chain",
        &[
            "--",
            "echo",
            "one",
            "+",
            "sh",
            "-c",
            "echo two; exit 3",
            "+",
            "echo",
            "three",
        ],
    );
    let runs = finished_runs(&env, "chain", 1);
    let ids = slurm_jobs(&runs[0]);
    assert_eq!(ids.len(), 2, "two steps ran, the third did not: {runs:?}");
    let numbers: Vec<u64> = ids.iter().map(|i| i.parse().expect("a number")).collect();
    assert!(numbers[0] < numbers[1], "in order: {ids:?}");
    assert_eq!(runs[0]["ok"], false);
    assert_eq!(runs[0]["failed_step"], 2);
    assert_eq!(runs[0]["exit_code"], 3);
    let log = env.log_text("chain");
    assert!(log.contains("one") && log.contains("two"), "{log}");
    assert!(!log.contains("three"), "{log}");
    assert_eq!(cluster.state(&ids[1]), "FAILED");
}

#[test]
fn a_schedule_fires_on_the_cluster_and_the_overlap_policy_holds() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    // Each run outlasts the 5 s between fires: the fire that finds it going is skipped.
    run_d(
        &env,
        cluster,
        "tick",
        &[
            "-s",
            "every 5 seconds",
            "--overlap",
            "skip",
            "--",
            "sh",
            "-c",
            "echo fired $SLURM_JOB_ID; sleep 6",
        ],
    );
    let mut most_at_once = 0;
    let runs = wait_for(Duration::from_secs(60), "two finished runs", || {
        most_at_once = most_at_once.max(cluster.active("mrsm-tick-").len());
        let runs = env.runs("tick");
        (runs.len() >= 2).then_some(runs)
    });
    assert_eq!(most_at_once, 1, "never two runs at once on the cluster");
    let log = env.log_text("tick");
    assert!(log.contains("fire skipped"), "{log}");
    let first = slurm_jobs(&runs[0]);
    let second = slurm_jobs(&runs[1]);
    assert_eq!((first.len(), second.len()), (1, 1), "{runs:?}");
    assert_ne!(first, second);
    assert!(log.contains(&format!("fired {}", second[0])), "{log}");
    assert_eq!(runs[1]["trigger"], "schedule");
}

#[test]
fn stop_forwards_the_stop_signal_and_leaves_nothing_in_squeue() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    run_d(
        &env,
        cluster,
        "svc",
        &[
            "--",
            "sh",
            "-c",
            "trap 'echo cleaning up; exit 0' TERM; echo up; while :; do sleep 0.2; done",
        ],
    );
    let id = wait_for(LONG, "the step running", || {
        let log = env.log_text("svc");
        let id = slurm_job(&env, cluster, "svc")?;
        log.contains("up").then_some(id)
    });
    ok(&env, cluster, &["stop", "jobs", "svc"]);
    // Returned only once the cluster had it over.
    assert!(cluster.is_over(&id) && cluster.active("mrsm-svc-").is_empty());
    let log = env.log_text("svc");
    assert!(
        log.contains("cleaning up"),
        "the job's own TERM handler ran: {log}"
    );
    assert!(log.contains("stopping with SIGTERM"), "{log}");
    let runs = env.runs("svc");
    // It ended by itself, with status 0, once told to.
    assert_eq!(runs[0]["exit_code"], 0, "{runs:?}");
    assert_eq!(slurm_jobs(&runs[0]), vec![id]);
}

#[test]
fn pause_suspends_the_slurm_job_and_start_resumes_it() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    run_d(
        &env,
        cluster,
        "count",
        &[
            "--",
            "sh",
            "-c",
            "i=0; while :; do i=$((i+1)); echo n=$i; sleep 0.1; done",
        ],
    );
    let id = wait_for(LONG, "the step counting", || {
        let id = slurm_job(&env, cluster, "count")?;
        env.log_text("count").contains("n=3").then_some(id)
    });
    ok(&env, cluster, &["pause", "jobs", "count"]);
    assert_eq!(cluster.state(&id), "SUSPENDED");
    assert_eq!(info(&env, cluster, "count")["status"], "paused");
    let lines = |env: &Env| env.log_text("count").matches("n=").count();
    let before = lines(&env);
    support::assert_holds_for(
        Duration::from_millis(600),
        "no output while suspended",
        || lines(&env) <= before + 1,
    );
    ok(&env, cluster, &["start", "jobs", "count"]);
    assert_eq!(cluster.state(&id), "RUNNING");
    wait_for(LONG, "counting again", || {
        (lines(&env) > before + 3).then_some(())
    });
    ok(&env, cluster, &["stop", "jobs", "count"]);
    assert!(cluster.is_over(&id));
}

#[test]
fn a_bad_partition_fails_the_run_with_slurm_s_message() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "jobs:\n  nowhere:\n    command: echo never\n    executor: slurm\n    slurm: { partition: nosuch }\n",
    )
    .expect("spec written");
    ok(&env, cluster, &["up", "-d", "-f", "mrsm-jobs.yaml"]);
    let runs = finished_runs(&env, "nowhere", 1);
    assert_eq!(runs[0]["ok"], false, "{runs:?}");
    let log = env.log_text("nowhere");
    assert!(log.contains("Invalid partition name specified"), "{log}");
    assert!(!log.contains("never"), "{log}");
}

#[test]
fn scancel_from_outside_is_a_failed_run_and_the_restart_policy_applies() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    run_d(
        &env,
        cluster,
        "victim",
        &["--restart", "on-failure", "--", "sleep", "300"],
    );
    let first = wait_for(LONG, "the first Slurm job", || {
        slurm_job(&env, cluster, "victim")
    });
    cluster.output("scancel", &[&first]);
    let runs = finished_runs(&env, "victim", 1);
    assert_eq!(runs[0]["ok"], false, "{runs:?}");
    assert!(
        runs[0]["stopped"].is_null() || runs[0]["stopped"] == false,
        "{runs:?}"
    );
    assert!(
        runs[0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("CANCELLED"),
        "{runs:?}"
    );
    let second = wait_for(LONG, "a restart on the cluster", || {
        info(&env, cluster, "victim")["slurm_job"]
            .as_str()
            .filter(|id| *id != first)
            .map(str::to_string)
    });
    wait_for(LONG, "its Slurm job running", || {
        (cluster.state(&second) == "RUNNING").then_some(())
    });
    assert_eq!(info(&env, cluster, "victim")["restarts"], 1);
    ok(&env, cluster, &["delete", "jobs", "-y", "victim"]);
    assert!(cluster.active("mrsm-victim-").is_empty());
}

#[test]
fn a_spec_with_local_and_slurm_jobs_converges_and_a_move_is_an_update() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    let spec = env.work().join("mrsm-jobs.yaml");
    let write = |executor: &str| {
        std::fs::write(
            &spec,
            format!(
                "project: mix\nexecutors:\n  hpc: {{ kind: slurm, time: \"00:05:00\" }}\njobs:\n  here:\n    command: sleep 300\n  there:\n    command: sleep 300\n    executor: hpc\n  mover:\n    command: sh -c 'echo on $${{SLURM_JOB_ID:-this machine}}; sleep 300'\n    executor: {executor}\n"
            ),
        )
        .expect("spec written");
    };
    write("local");
    ok(&env, cluster, &["up", "-d", "-f", "mrsm-jobs.yaml"]);
    assert!(diff(&env, cluster).trim().is_empty());
    let there = wait_for(LONG, "there on the cluster", || {
        slurm_job(&env, cluster, "there")
    });
    assert_eq!(info(&env, cluster, "there")["executor"], "slurm:hpc");
    assert!(info(&env, cluster, "here")["slurm_job"].is_null());
    wait_for(LONG, "mover on this machine", || {
        env.log_text("mover")
            .contains("on this machine")
            .then_some(())
    });
    write("slurm");
    let planned = diff(&env, cluster);
    assert!(
        planned.contains("update mover") && !planned.contains("create"),
        "{planned}"
    );
    ok(&env, cluster, &["up", "-d", "-f", "mrsm-jobs.yaml"]);
    let moved = wait_for(LONG, "mover on the cluster", || {
        slurm_job(&env, cluster, "mover")
    });
    let log = wait_for(LONG, "mover's first line from the cluster", || {
        let log = env.log_text("mover");
        log.contains(&format!("on {moved}")).then_some(log)
    });
    assert!(log.contains("on this machine"), "logs kept: {log}");
    assert_eq!(
        info(&env, cluster, "there")["slurm_job"],
        there.as_str(),
        "untouched"
    );
    assert!(diff(&env, cluster).trim().is_empty());
    ok(&env, cluster, &["down", "-f", "mrsm-jobs.yaml"]);
    assert!(cluster.is_over(&there) && cluster.is_over(&moved));
    let left = ok(&env, cluster, &["show", "jobs"]);
    assert!(left.contains("No jobs"), "{left}");
    // The logs and runs stay; the steps' notes go with the definition.
    assert!(env.job_dir("mover").join("runs.jsonl").exists());
    assert!(!env.job_dir("mover").join("slurm").exists());
}

/// `mrsm diff` on a spec `text` in a fresh work directory: its stderr and status.
fn checked(text: &str) -> (String, bool) {
    let env = Env::new();
    std::fs::write(env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
    let out = env
        .mrsm()
        .args(["diff", "-f", "mrsm-jobs.yaml"])
        .output()
        .expect("runs");
    (
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code() == Some(2),
    )
}

#[test]
fn slurm_options_are_checked_with_their_place() {
    // No cluster needed: these never reach one.
    let (said, refused) = checked("jobs:\n  a:\n    command: echo\n    slurm: { cpus: 2 }\n");
    assert!(refused, "{said}");
    assert!(said.contains("mrsm-jobs.yaml:4:"), "{said}");
    assert!(said.contains("add `executor: slurm`"), "{said}");
    let (said, refused) = checked(
        "executors:\n  hpc: { kind: slurm, time: an hour }\njobs:\n  a:\n    command: echo\n    executor: hpc\n",
    );
    assert!(
        refused && said.contains("mrsm-jobs.yaml:2:") && said.contains("`time`"),
        "{said}"
    );
    let (said, refused) = checked(
        "jobs:\n  a:\n    command: echo\n    executor: slurm\n    slurm: { extra: [--output=x.log] }\n",
    );
    assert!(
        refused && said.contains("mrsm-jobs.yaml:5:") && said.contains("--output"),
        "{said}"
    );
    let (said, refused) =
        checked("executors:\n  hpc: { kind: slurmm }\njobs:\n  a:\n    command: echo\n");
    assert!(refused && said.contains("unknown executor kind"), "{said}");
    let (said, refused) = checked(
        "executors:\n  hpc: { partition: debug, url: http://127.0.0.1:1 }\njobs:\n  a:\n    command: echo\n",
    );
    assert!(refused && said.contains("add `kind: slurm`"), "{said}");
    let (said, refused) = checked("jobs:\n  a:\n    command: echo\n    slurm: { cpu: 2 }\n");
    assert!(refused && said.contains("did you mean `cpus`"), "{said}");
}

#[test]
fn logs_follow_shows_cluster_jobs_once_each_and_across_their_restarts() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: follow\nexecutors:\n  hpc: { kind: slurm }\njobs:\n  plain:\n    command: sh -c 'echo plain-$MRSM_RUN; sleep 300'\n    executor: slurm\n  named:\n    command: sh -c 'echo named-$MRSM_RUN; sleep 300'\n    executor: hpc\n",
    )
    .expect("spec written");
    ok(&env, cluster, &["up", "-d", "-f", "mrsm-jobs.yaml"]);
    let out = env.work().join("follow.out");
    let mut child = support::mrsm_process()
        .args([
            "logs",
            "-f",
            "--file",
            "mrsm-jobs.yaml",
            "--output-only",
            "--no-color",
        ])
        .env("MRSM_ROOT_DIR", env.root())
        .env("SLURM_CONF", &cluster.conf)
        .current_dir(env.work())
        .stdout(std::fs::File::create(&out).expect("output file"))
        .spawn()
        .expect("follows");
    let seen = |needle: &str| {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .matches(needle)
            .count()
    };
    wait_for(LONG, "both jobs' first runs", || {
        (seen("plain-1") >= 1 && seen("named-1") >= 1).then_some(())
    });
    ok(&env, cluster, &["restart", "-f", "mrsm-jobs.yaml"]);
    let shown = wait_for(LONG, "both jobs' second runs", || {
        (seen("plain-2") >= 1 && seen("named-2") >= 1)
            .then(|| std::fs::read_to_string(&out).unwrap_or_default())
    });
    let _ = child.kill();
    let _ = child.wait();
    for line in ["plain-1", "named-1", "plain-2", "named-2"] {
        assert_eq!(shown.matches(line).count(), 1, "{line} once: {shown}");
    }
}

#[test]
fn attach_finds_a_cluster_job_without_being_told_its_executor() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    run_d(
        &env,
        cluster,
        "reader",
        &["--", "sh", "-c", "while read l; do echo got:$l; done"],
    );
    wait_for(LONG, "the step running", || {
        slurm_job(&env, cluster, "reader")
    });
    let out = mrsm(&env, cluster)
        .args(["attach", "job", "reader"])
        .write_stdin("hello\n")
        .timeout(LONG)
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("got:hello"), "{said}");
}

#[test]
fn a_step_that_ignores_its_stop_signal_is_killed_at_the_end_of_the_grace_period() {
    let Some(cluster) = slurm_cluster::cluster_with_slurm_s_kill_wait() else {
        return;
    };
    let env = Env::new();
    run_d(
        &env,
        cluster,
        "deaf",
        &[
            "--stop-timeout",
            "1s",
            "--",
            "sh",
            "-c",
            "trap 'echo ignored' TERM; echo up; while :; do sleep 0.1; done",
        ],
    );
    let id = wait_for(LONG, "the step running", || {
        let id = slurm_job(&env, cluster, "deaf")?;
        env.log_text("deaf").contains("up").then_some(id)
    });
    // This cluster's KillWait is 30 s (Slurm's default), longer than the stop's
    // grace and the command's own slack: the stop waits for it rather than fail.
    ok(&env, cluster, &["stop", "jobs", "deaf"]);
    assert!(cluster.is_over(&id));
    let log = env.log_text("deaf");
    assert!(
        log.contains("ignored") && log.contains("is killed"),
        "{log}"
    );
}

#[test]
fn a_paused_or_queued_step_is_stopped_at_once_not_after_the_grace_period() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "jobs:\n  later:\n    command: sleep 300\n    executor: slurm\n    slurm: { extra: [--begin=now+600] }\n    stop: { timeout: 60s }\n  held:\n    command: sh -c 'trap \"echo bye; exit 0\" TERM; while :; do sleep 0.1; done'\n    executor: slurm\n    stop: { timeout: 60s }\n",
    )
    .expect("spec written");
    ok(&env, cluster, &["up", "-d", "-f", "mrsm-jobs.yaml"]);
    let waiting = wait_for(LONG, "later waiting in the queue", || {
        info(&env, cluster, "later")["warning"]
            .as_str()
            .filter(|w| w.contains("BeginTime"))
            .map(str::to_string)
    });
    assert!(
        waiting.contains("waits in the queue: PENDING (BeginTime)"),
        "{waiting}"
    );
    let held = wait_for(LONG, "held running", || {
        slurm_job(&env, cluster, "held").filter(|id| cluster.state(id) == "RUNNING")
    });
    ok(&env, cluster, &["pause", "jobs", "held", "later"]);
    assert_eq!(cluster.state(&held), "SUSPENDED");
    // Paused while queued: held there, so it cannot start while paused.
    let later = slurm_job(&env, cluster, "later").expect("a Slurm job");
    let reason = cluster.output("squeue", &["-h", "-j", &later, "-o", "%r"]);
    assert!(reason.contains("Held"), "{reason}");
    ok(&env, cluster, &["start", "jobs", "later"]);
    let reason = cluster.output("squeue", &["-h", "-j", &later, "-o", "%r"]);
    assert!(!reason.contains("Held"), "released: {reason}");
    // Within the 60 s grace periods, or the test's own deadline fails it.
    let stop = std::time::Instant::now();
    mrsm(&env, cluster)
        .args(["stop", "jobs", "later", "held"])
        .timeout(Duration::from_secs(40))
        .assert()
        .success();
    assert!(stop.elapsed() < Duration::from_secs(40));
    assert!(cluster.active("mrsm-later-").is_empty() && cluster.is_over(&held));
    let log = env.log_text("held");
    assert!(
        log.contains("suspended): cancelled") && !log.contains("grace period"),
        "{log}"
    );
    assert!(!env.log_text("later").contains("grace period"));
}

#[test]
fn a_stop_right_after_a_pause_and_start_reaches_the_step() {
    let Some(cluster) = cluster() else { return };
    let env = Env::new();
    run_d(
        &env,
        cluster,
        "resumed",
        &[
            "--",
            "sh",
            "-c",
            "trap 'echo got-term; exit 0' TERM; echo up; while :; do sleep 0.1; done",
        ],
    );
    let id = wait_for(LONG, "the step to run", || {
        let id = slurm_job(&env, cluster, "resumed")?;
        env.log_text("resumed").contains(" up").then_some(id)
    });
    ok(&env, cluster, &["pause", "jobs", "resumed"]);
    ok(&env, cluster, &["start", "jobs", "resumed"]);
    assert_eq!(cluster.state(&id), "RUNNING");
    // At once: Slurm's node drops signals to a step for a moment after a resume.
    ok(&env, cluster, &["stop", "jobs", "resumed"]);
    let log = env.log_text("resumed");
    assert!(log.contains("got-term"), "its TERM handler ran: {log}");
    assert!(!log.contains("grace period is over"), "{log}");
    assert!(cluster.is_over(&id));
}
