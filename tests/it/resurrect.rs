//! `mrsm resurrect` after the supervisors died with the machine: jobs meant to run
//! run again, paused ones are paused, stopped ones stay stopped, and a second
//! resurrect changes nothing.

use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{wait_for, Env};

const TIMEOUT: Duration = Duration::from_secs(20);

#[test]
fn resurrect_brings_each_job_back_as_meant_and_twice_changes_nothing() {
    let env = Env::new();
    for name in ["runs", "paused", "stopped"] {
        env.run_d(name, &["--", "sleep", "300"]);
    }
    env.ok(&["pause", "jobs", "paused"]);
    env.ok(&["stop", "jobs", "stopped"]);
    // A power loss, as far as this root goes: every supervisor gets SIGKILL (and
    // its steps with it).
    for name in ["runs", "paused"] {
        let supervisor = env.supervisor(name).expect("a live supervisor");
        kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL).expect("kill -9");
    }
    for name in ["runs", "paused"] {
        wait_for(TIMEOUT, "the job to show its supervisor died", || {
            (env.info(name)["died"] == true).then_some(())
        });
    }

    let out = env.mrsm().arg("resurrect").output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(env.status("runs"), "running", "{said}");
    assert_eq!(env.status("paused"), "paused", "{said}");
    assert_eq!(env.status("stopped"), "stopped", "{said}");
    assert!(
        said.contains("runs") && said.contains("paused") && !said.contains("stopped"),
        "{said}"
    );

    let supervisors = ["runs", "paused"].map(|n| env.supervisor(n).expect("back"));
    let again = env.mrsm().arg("resurrect").output().expect("runs");
    assert!(again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "every job is as it is meant to be"
    );
    let json = env
        .mrsm()
        .args(["resurrect", "--json"])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&json.stdout).trim(), "[]");
    assert_eq!(
        supervisors,
        ["runs", "paused"].map(|n| env.supervisor(n).expect("alive"))
    );
    assert_eq!(env.status("stopped"), "stopped");
    env.ok(&["delete", "jobs", "-y", "runs", "paused", "stopped"]);
}

/// A project's background watcher is a job like the others: after the power loss
/// `resurrect` brings it back with the project's jobs, and it watches the files
/// again.
#[test]
fn resurrect_brings_a_project_s_watcher_back_watching() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    let spec = |jobs: &[&str]| {
        let mut text = String::from("project: watched\njobs:\n");
        for name in jobs {
            text.push_str(&format!("  {name}:\n    command: sleep 300\n"));
        }
        text
    };
    std::fs::write(&path, spec(&["keeper"])).expect("written");
    env.ok(&["up", "-d", "--watch"]);
    let watcher = "mrsm-watch-watched";
    wait_for(TIMEOUT, "the watcher's first pass", || {
        env.log_text(watcher).contains("watching").then_some(())
    });
    for name in [watcher, "keeper"] {
        let supervisor = env.supervisor(name).expect("a live supervisor");
        kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL).expect("kill -9");
    }
    for name in [watcher, "keeper"] {
        wait_for(TIMEOUT, "the supervisor to be gone", || {
            (env.info(name)["died"] == true).then_some(())
        });
    }

    let out = env
        .mrsm()
        .args(["resurrect", "--json"])
        .output()
        .expect("runs");
    let revived: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut names: Vec<&str> = revived
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["keeper", watcher], "{revived}");
    assert_eq!(env.status(watcher), "running");
    assert_eq!(env.status("keeper"), "running");
    std::fs::write(&path, spec(&["keeper", "added"])).expect("written");
    wait_for(TIMEOUT, "the watcher to start the job added", || {
        let out = env.mrsm().args(["show", "jobs", "--json"]).output().ok()?;
        let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        let added = jobs.as_array()?.iter().find(|j| j["name"] == "added")?;
        (added["status"] == "running").then_some(())
    });
    env.ok(&["down"]);
}

/// Two `resurrect`s at once (a boot unit and a hand, or cron and the unit) start each
/// dead job once: every job ends with one supervisor, and each is said started by
/// one of them only.
#[test]
fn two_resurrects_at_once_start_each_job_once() {
    let env = Env::new();
    let names: Vec<String> = (0..12).map(|i| format!("j{i}")).collect();
    for name in &names {
        env.run_d(name, &["--", "sleep", "300"]);
    }
    for name in &names {
        let supervisor = env.supervisor(name).expect("a live supervisor");
        kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL).expect("kill -9");
    }
    for name in &names {
        wait_for(TIMEOUT, "the supervisor to be gone", || {
            (env.info(name)["died"] == true).then_some(())
        });
    }
    let both: Vec<_> = (0..2)
        .map(|_| {
            crate::support::mrsm_process()
                .env("MRSM_ROOT_DIR", env.root())
                .args(["resurrect", "--json"])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("starts")
        })
        .collect();
    let mut said: Vec<String> = Vec::new();
    for child in both {
        let out = child.wait_with_output().expect("ends");
        assert!(out.status.success());
        let revived: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
        said.extend(
            revived
                .as_array()
                .expect("a list")
                .iter()
                .filter_map(|r| r["name"].as_str().map(str::to_string)),
        );
    }
    said.sort();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(said, expected, "each job started by exactly one of them");
    for name in &names {
        assert_eq!(env.status(name), "running");
        let supervisors = supervisors_of(&env, name);
        assert_eq!(supervisors, 1, "{name} has {supervisors} supervisors");
    }
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.splice(0..0, ["delete", "jobs", "-y"]);
    env.ok(&all);
}

/// How many live processes are `mrsm supervise NAME` for `env`'s root.
fn supervisors_of(env: &Env, name: &str) -> usize {
    let root = format!("MRSM_ROOT_DIR={}", env.root().display());
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<i32>().is_ok())
        .filter(|e| {
            let words = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let words: Vec<&[u8]> = words.split(|b| *b == 0).collect();
            let supervises =
                words.len() >= 3 && words[1] == b"supervise" && words[2] == name.as_bytes();
            let environ = std::fs::read(e.path().join("environ")).unwrap_or_default();
            supervises && environ.split(|b| *b == 0).any(|v| v == root.as_bytes())
        })
        .count()
}

/// What a dead supervisor left (a daemon that left its session) is stopped when
/// `resurrect` brings its job back, even with many jobs brought back at once from
/// one look at every process; a job that left nothing is brought back beside it.
#[test]
fn resurrect_stops_what_a_dead_supervisor_left_before_starting_again() {
    let env = Env::new();
    env.run_d(
        "leaves",
        &[
            "--",
            "sh",
            "-c",
            "(setsid sleep 3012 &); echo left; sleep 300",
        ],
    );
    env.run_d("clean", &["--", "sleep", "300"]);
    wait_for(TIMEOUT, "the daemon", || {
        env.log_text("leaves").contains("left").then_some(())
    });
    let daemon = wait_for(TIMEOUT, "the daemon's pid", || {
        crate::support::systemd::processes_of(env.root(), "sleep 3012")
            .first()
            .copied()
    });
    for name in ["leaves", "clean"] {
        crate::support::kill_job_supervisor_only(env.supervisor(name).expect("a supervisor"));
    }
    wait_for(TIMEOUT, "both dead", || {
        (env.info("leaves")["died"] == true && env.info("clean")["died"] == true).then_some(())
    });
    assert!(
        crate::support::systemd::alive(i64::from(daemon)),
        "the daemon is left"
    );
    env.ok(&["resurrect"]);
    assert!(
        !crate::support::systemd::alive(i64::from(daemon)),
        "the dead supervisor's daemon {daemon} is still there"
    );
    for name in ["leaves", "clean"] {
        assert_eq!(env.status(name), "running", "{name}");
    }
    env.ok(&["delete", "jobs", "-y", "leaves", "clean"]);
}
