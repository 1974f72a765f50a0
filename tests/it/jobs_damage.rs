//! Damaged or hostile conditions affect only what they touch: a corrupt file breaks
//! only its own job (listed as `broken`, still stoppable and deletable), a launch
//! that times out leaves nothing running, and a full disk does not keep a job from
//! being deleted.

use crate::support;

use std::path::Path;
use std::time::Duration;

use predicates::prelude::*;
use support::{processes, wait_for, Env};

fn job_json(env: &Env, name: &str) -> std::path::PathBuf {
    env.job_dir(name).join("job.json")
}

#[test]
fn an_unreadable_definition_breaks_only_its_own_job() {
    let env = Env::new();
    env.run_d("damaged", &["--", "sh", "-c", "sleep 300 & wait"]);
    env.run_d("healthy", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("damaged").expect("a supervisor");
    let procs = processes(supervisor);
    assert!(!procs.is_empty());
    std::fs::write(job_json(&env, "damaged"), "").expect("truncated");

    let info = env.info("damaged");
    assert_eq!(info["status"], "broken");
    let reason = info["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("job.json"), "{reason}");
    assert_eq!(env.status("healthy"), "running");
    env.mrsm()
        .args(["show", "jobs"])
        .assert()
        .success()
        .stdout(predicate::str::contains("broken").and(predicate::str::contains("healthy")));
    // Listed once, though every executor of the root (local, slurm) lists.
    let listed = env
        .mrsm()
        .args(["show", "jobs", "--json"])
        .output()
        .expect("runs");
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    let named = |n: &str| {
        listed
            .as_array()
            .map_or(0, |all| all.iter().filter(|j| j["name"] == n).count())
    };
    assert_eq!((named("damaged"), named("healthy")), (1, 1), "{listed}");

    // A project elsewhere goes up, lists and comes down regardless.
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: elsewhere\njobs:\n  mine:\n    command: sleep 300\n",
    )
    .expect("written");
    env.ok(&["up", "-d"]);
    env.mrsm()
        .args(["ps"])
        .assert()
        .success()
        .stdout(predicate::str::contains("mine"));
    env.ok(&["down"]);

    // Its processes are still found and stopped, and it can be deleted.
    env.ok(&["stop", "jobs", "damaged"]);
    assert!(!supervisor.is_alive());
    assert!(
        procs.iter().all(|p| !p.identity().is_alive()),
        "every process stopped"
    );
    env.ok(&["delete", "jobs", "damaged", "-y"]);
    assert!(!env.job_dir("damaged").exists());
    assert_eq!(env.status("healthy"), "running");
}

#[test]
fn an_unreadable_state_shows_broken_and_stop_still_stops() {
    let env = Env::new();
    env.run_d("garbled", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("garbled").expect("a supervisor");
    let procs = processes(supervisor);
    std::fs::write(
        env.job_dir("garbled").join("state.json"),
        "{\"supervisor\": ",
    )
    .expect("garbled");
    let info = env.info("garbled");
    assert_eq!(
        info["status"], "broken",
        "not `stopped` while it runs: {info}"
    );
    let reason = info["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("state.json") && reason.contains("is running"),
        "{reason}"
    );
    assert_eq!(info["supervisor_pid"], supervisor.pid);
    env.ok(&["stop", "jobs", "garbled"]);
    assert!(!supervisor.is_alive());
    assert!(procs.iter().all(|p| !p.identity().is_alive()));
    assert_eq!(env.status("garbled"), "stopped");
}

/// Reports are not flushed to disk, so after a power cut one may be empty: with no
/// supervisor of the job left, that is no report, not a broken job.
#[test]
fn an_empty_report_left_by_a_crash_is_no_report() {
    let env = Env::new();
    env.run_d("crashed", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("crashed").expect("a supervisor");
    support::kill_job(supervisor);
    support::wait_for(Duration::from_secs(10), "the job to be gone", || {
        (!supervisor.is_alive() && processes(supervisor).is_empty()).then_some(())
    });
    std::fs::write(env.job_dir("crashed").join("state.json"), "").expect("emptied");
    let info = env.info("crashed");
    assert_eq!(info["status"], "stopped", "{info}");
    env.ok(&["start", "jobs", "crashed"]);
    assert_eq!(env.status("crashed"), "running");
    env.ok(&["delete", "jobs", "-y", "crashed"]);
}

#[test]
fn a_damaged_run_history_is_read_around() {
    let env = Env::new();
    env.run_d("history", &["--", "true"]);
    wait_for(Duration::from_secs(10), "the run to be recorded", || {
        (env.runs("history").len() == 1).then_some(())
    });
    let runs = env.job_dir("history").join("runs.jsonl");
    let mut text = std::fs::read(&runs).expect("readable");
    text.extend_from_slice(b"{\"run\": garbage\n\xff\xfe\n");
    std::fs::write(&runs, text).expect("written");
    env.mrsm()
        .args(["show", "runs", "history", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains("\"run\": 1"))
        .stderr(predicate::str::contains("2 damaged lines of"));
    env.ok(&["start", "jobs", "history"]);
    wait_for(Duration::from_secs(10), "run 2 to be recorded", || {
        let out = env
            .mrsm()
            .args(["show", "runs", "history", "--json"])
            .output()
            .ok()?;
        let runs: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        runs.as_array()?.iter().any(|r| r["run"] == 2).then_some(())
    });
}

/// A supervisor that never says `ready` and starts a child of its own.
fn silent_supervisor(dir: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("fake-mrsm");
    std::fs::write(
        &script,
        "#!/bin/sh\nsleep 300 &\necho $! > \"$MRSM_ROOT_DIR/child.pid\"\nsleep 300\n",
    )
    .expect("written");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

#[test]
fn a_launch_that_times_out_leaves_nothing_running() {
    let env = Env::new();
    let fake = silent_supervisor(env.work());
    let out = env
        .mrsm()
        .args(["run", "-d", "--name", "stuck", "--", "sleep", "300"])
        .env("MRSM_BIN", &fake)
        .env("MRSM_READY_TIMEOUT", "1s")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("did not say it was ready within 1s"),
        "{stderr}"
    );
    let child: i32 = wait_for(Duration::from_secs(5), "the fake's child pid", || {
        std::fs::read_to_string(env.root().join("child.pid"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
    });
    assert!(
        mrsm::store::ProcessIdentity::of(child).is_none(),
        "what the supervisor started was killed with it"
    );
    // No half-made job is left to confuse the next command.
    env.mrsm()
        .args(["show", "jobs", "stuck"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("does not exist"));
    env.run_d("stuck", &["--", "true"]);
}

/// A tmpfs of `size` mounted at a new directory, unmounted when dropped; `None`
/// (with the reason printed) where this machine does not allow it.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::Builder::new()
            .prefix("mrsm-tmpfs")
            .tempdir()
            .ok()?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::piped())
            .output();
        match status {
            Ok(out) if out.status.success() => Some(SmallDisk { dir }),
            Ok(out) => {
                println!(
                    "SKIPPED: cannot mount a tmpfs here: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("SKIPPED: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Fills the file system holding `dir` to the last byte.
fn fill(dir: &Path) {
    use std::io::Write;
    let mut filler = std::fs::File::create(dir.join("filler")).expect("created");
    let block = vec![b'x'; 64 * 1024];
    loop {
        if filler.write_all(&block).is_err() {
            break;
        }
    }
    let mut byte = [b'x'; 1];
    while filler.write_all(&byte).is_ok() {
        byte[0] = b'y';
    }
}

#[test]
fn delete_works_on_a_full_disk() {
    let Some(disk) = SmallDisk::mount("4m") else {
        return;
    };
    let root = disk.path().join("root");
    let env = Env::new();
    let run = |args: &[&str]| {
        env.mrsm()
            .env("MRSM_ROOT_DIR", &root)
            .args(args)
            .output()
            .expect("runs")
    };
    assert!(
        run(&["run", "-d", "--name", "crowded", "--", "sleep", "300"])
            .status
            .success()
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root.join("jobs/crowded/state.json")).expect("state"),
    )
    .expect("JSON");
    let supervisor: mrsm::store::ProcessIdentity =
        serde_json::from_value(state["supervisor"].clone()).expect("identity");
    fill(disk.path());
    let out = run(&["delete", "jobs", "crowded", "-y"]);
    let kill_anyway = || support::kill_job(supervisor);
    if !out.status.success() {
        kill_anyway();
    }
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!supervisor.is_alive());
    assert!(!root.join("jobs/crowded/job.json").exists());
}

#[test]
fn a_job_whose_first_start_was_cut_short_is_started_by_the_next_up() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: cut\njobs:\n  svc:\n    command: sleep 300\n",
    )
    .expect("written");
    // A launcher that never comes up, killed with `up` while it waits for it.
    let fake = env.work().join("slow-mrsm");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 1096\n").expect("written");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut up = support::mrsm_process()
        .args(["up", "-d"])
        .env("MRSM_ROOT_DIR", env.root())
        .env("MRSM_BIN", &fake)
        .env("MRSM_READY_TIMEOUT", "60s")
        .current_dir(env.work())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("up starts");
    wait_for(
        Duration::from_secs(10),
        "the definition to be written",
        || env.job_dir("svc").join("job.json").exists().then_some(()),
    );
    let _ = up.kill();
    let _ = up.wait();
    let info = env.info("svc");
    assert_eq!(info["status"], "stopped");
    assert_eq!(info["reason"], "never started");
    env.mrsm()
        .args(["diff"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("> start svc"));
    env.ok(&["up", "-d"]);
    assert_eq!(env.status("svc"), "running");
    env.mrsm().args(["diff"]).assert().code(0);
    env.ok(&["down"]);
}

#[test]
fn start_during_a_slow_stop_starts_the_job_once_the_stop_is_done() {
    let env = Env::new();
    env.run_d(
        "stubborn",
        &[
            "--stop-timeout",
            "2s",
            "--",
            "sh",
            "-c",
            "trap '' TERM; echo deaf; while true; do sleep 0.1; done",
        ],
    );
    let first = env.supervisor("stubborn").expect("a supervisor");
    // Stopped before its trap is set, it would die at once: no slow stop to test.
    wait_for(Duration::from_secs(10), "the job to ignore SIGTERM", || {
        env.log_text("stubborn").contains("out deaf").then_some(())
    });
    let mut stop = support::mrsm_process()
        .args(["stop", "jobs", "stubborn"])
        .env("MRSM_ROOT_DIR", env.root())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("stop starts");
    wait_for(Duration::from_secs(10), "the stop to be under way", || {
        let text = std::fs::read_to_string(env.job_dir("stubborn").join("state.json")).ok()?;
        text.contains("\"stopping\"").then_some(())
    });
    env.mrsm()
        .args(["start", "jobs", "stubborn"])
        .assert()
        .success()
        .stdout(predicate::str::contains("started job"));
    assert!(stop.wait().expect("stop ends").success());
    assert!(!first.is_alive());
    assert!(
        env.log_text("stubborn")
            .contains("stopped with SIGKILL: SIGTERM did not end it within the grace period"),
        "{}",
        env.log_text("stubborn")
    );
    assert_eq!(env.status("stubborn"), "running");
    assert_ne!(env.supervisor("stubborn"), Some(first));
    assert_eq!(env.info("stubborn")["desired"], "running");
    env.ok(&["stop", "jobs", "stubborn", "--timeout", "100ms"]);
}

/// A running job whose report cannot be read is still running: `start` says so and
/// touches none of its processes.
#[test]
fn start_leaves_a_running_job_with_an_unreadable_report_alone() {
    let env = Env::new();
    env.run_d("unread", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("unread").expect("a supervisor");
    let procs = wait_for(Duration::from_secs(10), "the step", || {
        let p = processes(supervisor);
        (!p.is_empty()).then_some(p)
    });
    std::fs::write(env.job_dir("unread").join("state.json"), "").expect("emptied");
    env.mrsm()
        .args(["start", "jobs", "unread"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot be read"));
    assert!(supervisor.is_alive());
    assert!(
        procs.iter().all(|p| p.identity().is_alive()),
        "nothing was killed"
    );
    env.ok(&["delete", "jobs", "-y", "unread"]);
    assert!(!supervisor.is_alive());
}

/// A supervisor is in a session of its own, with default signal handling and none
/// of the launcher's files, from its first instruction: a Ctrl-C or hang-up for the
/// shell that ran `run -d` never reaches one that is still starting.
#[test]
fn a_supervisor_starts_in_its_own_session_with_nothing_of_its_launcher() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let script = env.work().join("fake-mrsm");
    std::fs::write(
        &script,
        "#!/bin/sh\n\
         read -r _ _ _ _ _ sid _ < /proc/$$/stat\n\
         echo \"$$ $sid $(ls /proc/$$/fd | tr '\\n' ' ')\" > \"$MRSM_ROOT_DIR/first-look\"\n\
         echo ready\n\
         exec sleep 300\n",
    )
    .expect("written");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{} run -d --name early -- true 7>/dev/null",
            assert_cmd::cargo::cargo_bin("mrsm").display()
        ))
        .env("MRSM_ROOT_DIR", env.root())
        .env("MRSM_BIN", &script)
        .current_dir(env.work())
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let look = std::fs::read_to_string(env.root().join("first-look")).expect("looked");
    let words: Vec<&str> = look.split_whitespace().collect();
    assert_eq!(words[0], words[1], "its own session from the start: {look}");
    let fds: Vec<&str> = words[2..].to_vec();
    assert!(
        !fds.contains(&"7"),
        "the launcher's fd 7 is not inherited: {look}"
    );
    let pid: i32 = words[0].parse().expect("a pid");
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn a_supervisor_stopped_from_outside_is_woken_to_pause_and_resume() {
    let env = Env::new();
    env.run_d("frozen", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("frozen").expect("recorded");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor.pid),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("stops it");
    env.mrsm()
        .args(["pause", "jobs", "frozen"])
        .timeout(std::time::Duration::from_secs(5))
        .assert()
        .success();
    assert_eq!(env.status("frozen"), "paused");
    assert_eq!(env.info("frozen")["desired"], "paused");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor.pid),
        nix::sys::signal::Signal::SIGSTOP,
    )
    .expect("stops it again");
    env.mrsm()
        .args(["start", "jobs", "frozen"])
        .timeout(std::time::Duration::from_secs(5))
        .assert()
        .success();
    assert_eq!(env.status("frozen"), "running");
}

#[test]
fn a_refused_pause_leaves_what_the_job_is_meant_to_do_alone() {
    let env = Env::new();
    env.run_d("steady", &["--", "sleep", "300"]);
    // Its control socket answers nothing: the pause cannot happen.
    let socket = env.job_dir("steady").join("control.sock");
    std::fs::remove_file(&socket).expect("removed");
    env.mrsm()
        .args(["pause", "jobs", "steady"])
        .timeout(std::time::Duration::from_secs(30))
        .assert()
        .failure();
    assert_eq!(env.info("steady")["desired"], "running");
    assert_eq!(env.status("steady"), "running");
}

#[test]
fn a_running_job_whose_report_was_removed_still_shows_running() {
    let env = Env::new();
    env.run_d("unreported", &["--", "sleep", "300"]);
    let supervisor = env.supervisor("unreported").expect("a supervisor");
    std::fs::remove_file(env.job_dir("unreported").join("state.json")).expect("removed");
    // Its live supervisor is asked instead.
    let info = env.info("unreported");
    assert_eq!(info["status"], "running", "{info}");
    assert_eq!(info["supervisor_pid"], supervisor.pid, "{info}");
    env.mrsm()
        .args(["start", "jobs", "unreported"])
        .assert()
        .success()
        .stdout(predicate::str::contains("already running"));
    let info = env.info("unreported");
    assert_eq!(
        info["supervisor_pid"], supervisor.pid,
        "no second one: {info}"
    );
    env.ok(&["stop", "jobs", "unreported"]);
    assert!(!supervisor.is_alive());
}

/// A finished job whose report is damaged, or replaced by a directory or a FIFO, is
/// broken, not a job that died meant to run: nothing starts it again by itself
/// (the server's watchdog once ran such a one-shot job again, and a directory in
/// place of the report again and again), and it says why.
#[test]
fn a_finished_job_with_a_damaged_report_is_broken_and_not_run_again() {
    let server = support::server::Server::start();
    let env = &server.env;
    let count = env.work().join("count");
    let once = format!("echo once >> {}", count.display());
    for name in ["torn", "fifo", "dir"] {
        env.run_d(name, &["--", "sh", "-c", &once]);
    }
    support::wait_for(Duration::from_secs(30), "the three runs", || {
        let lines = std::fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .count();
        let over = ["torn", "fifo", "dir"]
            .iter()
            .all(|n| env.status(n) == "stopped" && env.supervisor(n).is_none_or(|s| !s.is_alive()));
        (lines == 3 && over).then_some(())
    });
    let state = |name: &str| env.job_dir(name).join("state.json");
    std::fs::write(state("torn"), "{").expect("torn");
    std::fs::remove_file(state("fifo")).expect("removed");
    nix::unistd::mkfifo(
        &state("fifo"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .expect("a FIFO");
    std::fs::remove_file(state("dir")).expect("removed");
    std::fs::create_dir(state("dir")).expect("a directory");
    for name in ["torn", "fifo", "dir"] {
        let info = env.info(name);
        assert_eq!(info["status"], "broken", "{info}");
        assert_eq!(info["died"], false, "{info}");
        assert!(
            info["reason"]
                .as_str()
                .unwrap_or_default()
                .contains("state.json"),
            "{info}"
        );
    }
    // The watchdog looks every half second: a few looks, and nothing ran again.
    support::assert_holds_for(Duration::from_secs(2), "no second run", || {
        std::fs::read_to_string(&count)
            .unwrap_or_default()
            .lines()
            .count()
            == 3
    });
}
