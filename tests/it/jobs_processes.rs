//! What a job is made of: a step that is one plain command runs without a shell, so
//! a job is its supervisor plus its own processes, and the command gets the job's
//! stop signal itself (a program that handles SIGTERM and exits 0 ended by itself).

use crate::support;

use std::time::Duration;

use support::{processes, wait_for, Env};

/// The command line of a process, as its words.
fn words(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

#[test]
fn a_plain_command_is_the_supervisor_s_only_child() {
    let env = Env::new();
    env.run_d("plain", &["--", "sleep", "300"]);
    let supervisor = wait_for(Duration::from_secs(10), "a supervisor", || {
        env.supervisor("plain")
    });
    let children = wait_for(Duration::from_secs(10), "the command to run", || {
        let procs = processes(supervisor);
        let running = procs
            .iter()
            .any(|p| words(p.pid) == ["sleep", "300"] && p.ppid == supervisor.pid);
        running.then_some(procs)
    });
    let shells: Vec<Vec<String>> = children
        .iter()
        .map(|p| words(p.pid))
        .filter(|w| w != &["sleep", "300"])
        .collect();
    assert!(shells.is_empty(), "only `sleep 300` runs: also {shells:?}");
    // Anything the shell must do still goes through one.
    env.run_d("piped", &["--", "sleep 300 | cat"]);
    let supervisor = wait_for(Duration::from_secs(10), "a supervisor", || {
        env.supervisor("piped")
    });
    wait_for(Duration::from_secs(10), "a shell running the pipe", || {
        processes(supervisor)
            .iter()
            .any(|p| words(p.pid) == ["/bin/sh", "-c", "sleep 300 | cat"])
            .then_some(())
    });
    env.ok(&["delete", "jobs", "-y", "plain", "piped"]);
}

#[test]
fn a_command_that_handles_sigterm_ends_by_itself() {
    let env = Env::new();
    let script = env.work().join("graceful.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\ntrap 'echo bye; exit 0' TERM\necho ready\nwhile :; do sleep 0.05; done\n",
    )
    .expect("script written");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("executable");
    env.run_d("graceful", &["--", "./graceful.sh"]);
    wait_for(Duration::from_secs(10), "the script to be ready", || {
        env.log_text("graceful").contains("ready").then_some(())
    });
    env.ok(&["stop", "jobs", "graceful"]);
    let result = env.info("graceful")["last_result"].clone();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["message"], "exited with status 0", "{result}");
    assert!(env.log_text("graceful").contains("bye"));
    // Written inline, as `sh -c '…'` with quotes: still one command, still the
    // job's own shell, whose trap decides.
    env.run_d(
        "inline",
        &[
            "--",
            "sh",
            "-c",
            "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.05; done",
        ],
    );
    wait_for(
        Duration::from_secs(10),
        "the inline script to be ready",
        || env.log_text("inline").contains("ready").then_some(()),
    );
    env.ok(&["stop", "jobs", "inline"]);
    let result = env.info("inline")["last_result"].clone();
    assert_eq!(result["message"], "exited with status 0", "{result}");
    env.ok(&["delete", "jobs", "-y", "graceful", "inline"]);
}

/// A supervisor keeps none of its launcher's open files: `run -d … 3>&1 | cat`
/// returns at once instead of when the job ends (fd 3 would hold the pipe open).
#[test]
fn a_job_keeps_none_of_its_launcher_s_open_files() {
    let env = Env::new();
    let mrsm = assert_cmd::cargo::cargo_bin("mrsm");
    let script = format!(
        "{} run -d --name holder -- sleep 120 3>&1 | cat",
        mrsm.display()
    );
    let mut cmd = assert_cmd::Command::new("sh");
    cmd.args(["-c", &script])
        .env("MRSM_ROOT_DIR", env.root())
        .current_dir(env.work())
        .timeout(Duration::from_secs(30));
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "returned before the job ended: {out:?}"
    );
    env.ok(&["delete", "jobs", "-y", "holder"]);
}

/// The supervisor blocks the signals it reads (from a signalfd); its steps start
/// with none blocked, so the job's stop signal ends a step that does not handle it
/// at once, not after the grace period.
#[test]
fn a_step_starts_with_no_signal_blocked() {
    let env = Env::new();
    env.run_d("mask", &["--", "grep", "^SigBlk", "/proc/self/status"]);
    wait_for(
        Duration::from_secs(10),
        "the step's mask in the log",
        || env.log_text("mask").contains("SigBlk").then_some(()),
    );
    let log = env.log_text("mask");
    assert!(log.contains("SigBlk:\t0000000000000000"), "{log}");
    env.run_d("plain", &["--", "sleep", "300"]);
    wait_for(Duration::from_secs(10), "the step to run", || {
        (env.status("plain") == "running").then_some(())
    });
    let started = std::time::Instant::now();
    env.ok(&["stop", "jobs", "plain", "--timeout", "20s"]);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "SIGTERM ended `sleep` at once: took {:?}",
        started.elapsed()
    );
}

/// The voluntary context switches of a process so far: how often it went to sleep.
fn wakes(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A supervisor whose job just runs has nothing to do, and does nothing: no timer
/// wakes it (a thousand idle jobs cost the machine no CPU).
#[test]
fn the_supervisor_of_an_idle_job_sleeps() {
    let env = Env::new();
    env.run_d("idle", &["--", "sleep", "300"]);
    let supervisor = wait_for(Duration::from_secs(10), "a supervisor", || {
        env.supervisor("idle")
    });
    wait_for(Duration::from_secs(10), "the step to run", || {
        (env.status("idle") == "running").then_some(())
    });
    let before = wakes(supervisor.pid);
    support::assert_holds_for(Duration::from_millis(2500), "the supervisor sleeps", || {
        wakes(supervisor.pid) == before
    });
    env.ok(&["stop", "jobs", "idle"]);
}
