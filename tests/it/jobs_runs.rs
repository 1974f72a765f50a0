//! Every run ends with its processes: what a run leaves behind is stopped before the
//! next run starts (restarts and schedules never pile up copies), a step that cannot
//! start is a logged, recorded failure that the restart policy handles, steps die
//! with a killed supervisor and what they left is cleaned up on the next start, and
//! run numbers keep counting across stop and start.

use crate::support;
use crate::support::orphans;

use std::time::Duration;

use mrsm::store::ProcessIdentity;
use serde_json::Value;
use support::{processes, wait_for, Env};

/// The job's processes whose command line is exactly `words`.
fn matching(env: &Env, name: &str, words: &[&str]) -> Vec<i32> {
    let Some(supervisor) = env.supervisor(name) else {
        return Vec::new();
    };
    let wanted: Vec<u8> = words
        .iter()
        .flat_map(|w| [w.as_bytes(), b"\0"].concat())
        .collect();
    processes(supervisor)
        .into_iter()
        .filter(|p| std::fs::read(format!("/proc/{}/cmdline", p.pid)).is_ok_and(|c| c == wanted))
        .map(|p| p.pid)
        .collect()
}

/// Waits for `n` recorded runs while checking, every poll, that at most one copy of
/// `words` runs in the job.
fn runs_without_copies(env: &Env, name: &str, n: usize, words: &[&str]) -> Vec<Value> {
    wait_for(
        Duration::from_secs(30),
        &format!("{n} runs of {name}"),
        || {
            let copies = matching(env, name, words);
            assert!(
                copies.len() <= 1,
                "two copies of {words:?} at once: {copies:?}"
            );
            let runs = env.runs(name);
            (runs.len() >= n).then_some(runs)
        },
    )
}

fn alive(pid: i32) -> bool {
    ProcessIdentity::of(pid).is_some()
}

#[test]
fn restarts_do_not_pile_up_what_runs_left_behind() {
    let env = Env::new();
    env.run_d(
        "piles",
        &[
            "--restart",
            "always",
            "--stop-timeout",
            "3s",
            "--",
            "sh",
            "-c",
            "sleep 300 & echo started",
        ],
    );
    runs_without_copies(&env, "piles", 3, &["sleep", "300"]);
    let log = env.log_text("piles");
    assert!(
        log.contains("run 1 left 1 process(es) running; stopping them with SIGTERM"),
        "{log}"
    );
    env.ok(&["stop", "jobs", "piles"]);
    assert!(matching(&env, "piles", &["sleep", "300"]).is_empty());
}

#[test]
fn a_killed_step_s_children_are_gone_before_the_restart() {
    let env = Env::new();
    env.run_d(
        "crashy",
        &[
            "--restart",
            "on-failure",
            "--",
            "sh",
            "-c",
            "sleep 300 & wait",
        ],
    );
    let first = wait_for(Duration::from_secs(10), "the first sleep", || {
        matching(&env, "crashy", &["sleep", "300"]).first().copied()
    });
    let step = env.info("crashy")["pid"].as_i64().expect("a step pid") as i32;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(step),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kills the step");
    let runs = runs_without_copies(&env, "crashy", 1, &["sleep", "300"]);
    assert_eq!(runs[0]["signal"], "SIGKILL");
    assert!(!alive(first), "run 1's sleep was stopped when run 1 ended");
    let second = wait_for(Duration::from_secs(10), "the restarted sleep", || {
        matching(&env, "crashy", &["sleep", "300"]).first().copied()
    });
    assert_ne!(first, second);
    env.ok(&["stop", "jobs", "crashy"]);
}

#[test]
fn scheduled_runs_do_not_pile_up_either() {
    let env = Env::new();
    env.run_d(
        "ticks",
        &[
            "-s",
            "every 1 second",
            "--stop-timeout",
            "3s",
            "--",
            "sh",
            "-c",
            "sleep 300 & echo fired",
        ],
    );
    runs_without_copies(&env, "ticks", 3, &["sleep", "300"]);
    env.ok(&["stop", "jobs", "ticks"]);
}

#[test]
fn a_step_that_cannot_start_is_a_logged_failure_and_is_restarted() {
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: broken-steps\njobs:\n  nowhere:\n    command: echo hi\n    cwd: ./missing\n    restart: on-failure\n  noprogram:\n    command: no-such-program-mrsm --flag\n    shell: false\n",
    )
    .expect("written");
    // Both first steps cannot start: an error of `up`, each said with why.
    let up = env.mrsm().args(["up", "-d"]).output().expect("runs");
    let said = String::from_utf8_lossy(&up.stderr);
    assert_eq!(up.status.code(), Some(1), "{said}");
    assert!(
        said.contains("job \"noprogram\": created noprogram, but step 1/1")
            && said.contains("job \"nowhere\": created nowhere, but step 1/1"),
        "{said}"
    );
    let runs = wait_for(
        Duration::from_secs(20),
        "two failed runs of nowhere",
        || {
            let runs = env.runs("nowhere");
            (runs.len() >= 2).then_some(runs)
        },
    );
    for run in &runs {
        assert_eq!(run["ok"], false);
        let message = run["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("could not start: its working directory")
                && message.contains("missing does not exist")
                && !message.contains("/./"),
            "{message}"
        );
    }
    assert!(env.log_text("nowhere").contains("does not exist"));
    assert_eq!(runs[1]["trigger"], "restart");
    // Without a restart policy the job ends, failed, instead of idling as `running`.
    wait_for(Duration::from_secs(10), "noprogram to stop", || {
        (env.status("noprogram") == "failed").then_some(())
    });
    let reason = env.info("noprogram")["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.starts_with("failed: ")
            && reason.contains("program \"no-such-program-mrsm\" not found"),
        "{reason}"
    );
    assert!(env.log_text("noprogram").contains("not found"));
    env.ok(&["down"]);
}

#[test]
fn shell_false_keeps_quoted_arguments_whole() {
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: words\njobs:\n  quoted:\n    command: printf '<%s>' \"a b\" c\\ d 'e \"f\"'\n    shell: false\n",
    )
    .expect("written");
    env.ok(&["up", "-d"]);
    wait_for(Duration::from_secs(10), "the job to finish", || {
        (env.status("quoted") == "stopped").then_some(())
    });
    let log = env.log_text("quoted");
    assert!(log.contains(" <a b><c d><e \"f\">"), "{log}");
}

#[test]
fn run_numbers_keep_counting_across_stop_and_start() {
    let env = Env::new();
    env.run_d("counted", &["--", "sleep", "300"]);
    env.ok(&["stop", "jobs", "counted"]);
    env.ok(&["start", "jobs", "counted"]);
    env.ok(&["stop", "jobs", "counted"]);
    let numbers: Vec<u64> = env
        .runs("counted")
        .iter()
        .filter_map(|r| r["run"].as_u64())
        .collect();
    assert_eq!(numbers, [1, 2]);
}

#[test]
fn steps_die_with_their_supervisor_and_leftovers_go_at_the_next_start() {
    let env = Env::new();
    env.run_d("orphaned", &["--", "sh", "-c", "sleep 300 & wait"]);
    let sleeper = wait_for(Duration::from_secs(10), "the sleep", || {
        matching(&env, "orphaned", &["sleep", "300"])
            .first()
            .copied()
    });
    let step = env.info("orphaned")["pid"].as_i64().expect("a step pid") as i32;
    let supervisor = env.supervisor("orphaned").expect("a supervisor");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kills the supervisor");
    wait_for(
        Duration::from_secs(5),
        "the step to die with its supervisor",
        || (!alive(step)).then_some(()),
    );
    assert_eq!(env.status("orphaned"), "failed");
    // Its child outlived it (it is not the supervisor's child): the next start ends it
    // before running the job again.
    assert!(alive(sleeper));
    env.ok(&["start", "jobs", "orphaned"]);
    assert!(
        !alive(sleeper),
        "the old sleep is gone once the job runs again"
    );
    let now = wait_for(Duration::from_secs(10), "the new sleep", || {
        matching(&env, "orphaned", &["sleep", "300"])
            .first()
            .copied()
    });
    assert_ne!(now, sleeper);
    env.ok(&["stop", "jobs", "orphaned"]);
}

#[test]
fn a_supervisor_cleans_up_after_a_killed_predecessor() {
    let env = Env::new();
    env.run_d("successor", &["--", "sh", "-c", "sleep 300 & wait"]);
    let sleeper = wait_for(Duration::from_secs(10), "the sleep", || {
        matching(&env, "successor", &["sleep", "300"])
            .first()
            .copied()
    });
    let supervisor = env.supervisor("successor").expect("a supervisor");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kills the supervisor");
    wait_for(Duration::from_secs(5), "the supervisor to die", || {
        (!supervisor.is_alive()).then_some(())
    });
    // A supervisor started directly (no launcher to clean up first) still finds
    // what its predecessor left through the job's lock file.
    let mut direct = support::mrsm_process()
        .args(["supervise", "successor"])
        .env("MRSM_ROOT_DIR", env.root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(direct.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("reads");
    assert_eq!(line.trim(), "ready");
    assert!(!alive(sleeper), "the predecessor's leftover was killed");
    env.ok(&["stop", "jobs", "successor"]);
    let _ = direct.wait();
}

#[test]
fn a_step_s_exit_note_follows_its_own_output() {
    let env = Env::new();
    let mut words: Vec<String> = Vec::new();
    for i in 1..=30 {
        if i > 1 {
            words.push("+".into());
        }
        words.extend([
            "sh".into(),
            "-c".into(),
            format!("echo out-{i}; echo err-{i} >&2; printf tail-{i}"),
        ]);
    }
    let mut args = vec!["--"];
    args.extend(words.iter().map(String::as_str));
    env.run_d("ordered", &args);
    wait_for(Duration::from_secs(20), "the chain to finish", || {
        (env.status("ordered") == "stopped").then_some(())
    });
    let log = env.log_text("ordered");
    let position = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("{needle:?} missing from the log:\n{log}"))
    };
    for i in 1..=30 {
        let note = position(&format!("sys run 1 step {i}/30 exited"));
        assert!(
            position(&format!(" out out-{i}\n")) < note,
            "step {i}:\n{log}"
        );
        assert!(
            position(&format!(" err err-{i}\n")) < note,
            "step {i}:\n{log}"
        );
    }
}

#[test]
fn what_a_killed_supervisor_left_is_found_even_outside_its_session() {
    let env = Env::new();
    env.run_d(
        "leaver",
        &[
            "--",
            "sh",
            "-c",
            "setsid sleep 301 & echo started; sleep 1001",
        ],
    );
    let daemon = wait_for(Duration::from_secs(10), "the daemon", || {
        matching(&env, "leaver", &["sleep", "301"]).first().copied()
    });
    let sleeper = wait_for(Duration::from_secs(10), "the sleep", || {
        matching(&env, "leaver", &["sleep", "1001"])
            .first()
            .copied()
    });
    let supervisor = env.supervisor("leaver").expect("a supervisor");
    support::kill_job_supervisor_only(supervisor);
    wait_for(Duration::from_secs(5), "the supervisor to die", || {
        (!supervisor.is_alive()).then_some(())
    });
    env.mrsm()
        .args(["stop", "jobs", "leaver"])
        .assert()
        .success()
        .stdout(predicates::str::contains("left behind"));
    assert!(!alive(sleeper), "its session's process is stopped");
    assert!(
        !alive(daemon),
        "the daemon that left the session is stopped too"
    );
}

/// The run numbers (`MRSM_RUN`) of the job's processes whose command line starts
/// with `program`. A process that exits between the two reads (its environment
/// then reads as nothing) is not counted: it belongs to no run any more.
fn runs_of(env: &Env, name: &str, program: &str) -> std::collections::BTreeSet<Vec<u8>> {
    let Some(supervisor) = env.supervisor(name) else {
        return Default::default();
    };
    processes(supervisor)
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(program))
        })
        .filter_map(|p| mrsm::store::proc::environ_var(p.pid, "MRSM_RUN"))
        .collect()
}

#[test]
fn daemons_that_hide_are_still_stopped_with_their_run() {
    let env = Env::new();
    // One clears its environment and leaves the session; the other ignores SIGTERM
    // and keeps starting a new copy of itself.
    let hop = env.work().join("hop.sh");
    std::fs::write(
        &hop,
        "#!/bin/sh\ntrap '' TERM\nsleep 0.2\nsetsid \"$0\" &\n",
    )
    .expect("written");
    std::fs::set_permissions(&hop, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    env.run_d(
        "hiders",
        &[
            "--restart",
            "always",
            "--stop-timeout",
            "1s",
            "--",
            "sh",
            "-c",
            "setsid env -i /bin/sleep 1095 & ./hop.sh; echo started; exit 1",
        ],
    );
    wait_for(Duration::from_secs(40), "3 runs", || {
        let sleeps = matching(&env, "hiders", &["/bin/sleep", "1095"]);
        assert!(
            sleeps.len() <= 1,
            "two env-less daemons at once: {sleeps:?}"
        );
        let hoppers = runs_of(&env, "hiders", "hop.sh");
        assert!(
            hoppers.len() <= 1,
            "hoppers of two runs at once: {hoppers:?}"
        );
        (env.runs("hiders").len() >= 3).then_some(())
    });
    env.ok(&["stop", "jobs", "hiders"]);
    let left: Vec<i32> = mrsm::store::proc::all_processes()
        .into_iter()
        .filter(|p| {
            mrsm::store::proc::environ_var(p.pid, "MRSM_ROOT_DIR")
                .is_some_and(|v| v == env.root().as_os_str().as_encoded_bytes())
        })
        .map(|p| p.pid)
        .collect();
    assert!(left.is_empty(), "nothing of the job is left: {left:?}");
}

#[test]
fn a_run_whose_leftovers_were_being_stopped_is_recorded_after_its_supervisor_is_killed() {
    let env = Env::new();
    let mut orphans = orphans::Orphans::default();
    // The step ends at once and leaves a process that ignores the stop signal: the
    // run waits for it (30 s of grace) when its supervisor is killed.
    env.run_d(
        "leaves",
        &[
            "--stop-timeout",
            "30s",
            "--",
            "sh -c 'sh -c \"trap \\\"\\\" TERM; exec sleep 100\" & echo hi'",
        ],
    );
    // Its report says the run's steps are over and its leftover is being stopped.
    let report = env.job_dir("leaves").join("state.json");
    wait_for(
        Duration::from_secs(10),
        "the leftover being stopped",
        || {
            let text = std::fs::read_to_string(&report).ok()?;
            let state: serde_json::Value = serde_json::from_str(&text).ok()?;
            (state["ending"][0]["run"] == 1).then_some(())
        },
    );
    orphans.kill_supervisor(&env, "leaves");
    assert!(
        env.runs("leaves").is_empty(),
        "killed before it recorded the run"
    );
    env.ok(&["stop", "jobs", "leaves", "--timeout", "1s"]);
    let runs = env.runs("leaves");
    assert_eq!(runs.len(), 1, "the run is not a hole: {runs:?}");
    assert_eq!(runs[0]["run"], 1);
    assert_eq!(runs[0]["ok"], true, "its steps succeeded: {}", runs[0]);
    env.ok(&["delete", "jobs", "leaves", "-y"]);
}

#[test]
fn the_last_result_after_a_killed_supervisor_is_the_interrupted_run() {
    let env = Env::new();
    let mut orphans = orphans::Orphans::default();
    // Run 1 ends well; run 2 (its restart) runs on until its supervisor is killed.
    env.run_d(
        "twice",
        &[
            "--restart",
            "always",
            "--",
            "sh -c 'test -f once || { touch once; exit 0; }; exec sleep 300'",
        ],
    );
    // Its step in the report too: the log says `run 2 started` a moment before the
    // report lists the step, and a kill in between (seen under load) leaves no run
    // for the next supervisor to record.
    wait_for(Duration::from_secs(10), "run 2 to run", || {
        let info = env.info("twice");
        (info["last_result"]["ok"] == true && info["pid"].is_i64() && env.runs("twice").len() == 1)
            .then(|| {
                env.log_text("twice")
                    .contains("run 2 started")
                    .then_some(())
            })
            .flatten()
    });
    orphans.kill_supervisor(&env, "twice");
    env.ok(&["start", "jobs", "twice"]);
    let last = env.info("twice")["last_result"].clone();
    assert_eq!(last["ok"], false, "{last}");
    assert!(
        last["message"]
            .as_str()
            .is_some_and(|m| m.contains("interrupted")),
        "{last}"
    );
    // The log says where run 2's lines stop, not only the run history.
    let log = env.log_text("twice");
    let cut = log
        .find("run 2 interrupted at step 1: its supervisor (pid")
        .unwrap_or_else(|| panic!("no note of the cut-short run: {log}"));
    assert!(log[cut..].contains("run 3 started"), "{log}");
    env.ok(&["delete", "jobs", "twice", "-y"]);
}
