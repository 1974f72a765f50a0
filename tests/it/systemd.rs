//! The systemd user manager the `systemd` executor's tests run against: one of the
//! test's own (`tests/systemd/manager.sh`), which starts units in its own cgroups,
//! answers only inside its namespace (outside, the machine is not booted with
//! systemd), survives a power loss of everything in it, and leaves nothing behind.

use std::time::Duration;

use crate::support::systemd::UserManager;
use crate::support::wait_for;

/// The pids of the processes in the manager's cgroups whose command line is `words`.
fn in_cgroup(manager: &UserManager, words: &str) -> Vec<i32> {
    let base = format!("/sys/fs/cgroup/systemd/{}", manager.cgroup());
    let mut pids = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(base)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.path().is_dir() {
                dirs.push(entry.path());
            }
        }
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    pids.into_iter()
        .filter(|pid| {
            let line = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&line).replace('\0', " ").trim() == words
        })
        .collect()
}

#[test]
fn a_user_manager_of_the_test_s_own_runs_units_and_survives_a_power_loss() {
    let Some(manager) = UserManager::start() else {
        return;
    };
    let state = manager.systemctl(&["is-system-running"]);
    assert!(matches!(state.as_str(), "running" | "degraded"), "{state}");
    // Outside its namespace the machine is not booted with systemd.
    let outside = std::process::Command::new("systemctl")
        .args(["--user", "is-system-running"])
        .env("XDG_RUNTIME_DIR", manager.dir().join("runtime"))
        .output()
        .expect("runs systemctl");
    let said = String::from_utf8_lossy(&outside.stdout).trim().to_string();
    assert_eq!(said, "offline");

    let out = manager.run(
        "systemd-run",
        &[
            "--user",
            "--unit",
            "probe",
            "sh",
            "-c",
            "setsid sleep 3011 & exec sleep 3012",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pids = wait_for(Duration::from_secs(10), "both sleeps in the unit", || {
        let both = [
            in_cgroup(&manager, "sleep 3011"),
            in_cgroup(&manager, "sleep 3012"),
        ];
        both.iter().all(|p| p.len() == 1).then(|| both.concat())
    });
    assert_eq!(manager.systemctl(&["is-active", "probe"]), "active");

    manager.power_loss();
    for pid in &pids {
        let gone = !std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.contains(") Z "));
        assert!(gone, "pid {pid} outlived the power loss");
    }
    manager
        .start_again()
        .expect("a manager on the same directories");
    let state = manager.systemctl(&["is-system-running"]);
    assert!(matches!(state.as_str(), "running" | "degraded"), "{state}");

    let cgroup = format!("/sys/fs/cgroup/systemd/{}", manager.cgroup());
    assert!(std::path::Path::new(&cgroup).is_dir());
    drop(manager);
    assert!(!std::path::Path::new(&cgroup).exists(), "{cgroup} is left");
}

fn mrsm_inside(manager: &UserManager, env: &crate::support::Env, args: &[&str]) -> String {
    manager.mrsm_ok(env.root(), args)
}

/// The start times of job `name`'s schedule runs that began at or after `since`.
fn schedule_starts(
    env: &crate::support::Env,
    name: &str,
    since: jiff::Timestamp,
) -> Vec<jiff::Timestamp> {
    let mut starts: Vec<jiff::Timestamp> = env
        .runs(name)
        .iter()
        .filter(|r| r["trigger"] == "schedule")
        .filter_map(|r| r["started"].as_str()?.parse().ok())
        .filter(|t| *t >= since)
        .collect();
    starts.sort();
    starts
}

/// The reboot test: a root with local jobs (running, paused, stopped, scheduled)
/// and systemd jobs (the same, and one that finished) loses its power: every
/// process of it and the user manager get SIGKILL. A fresh manager on the same
/// directories brings the systemd jobs back itself and, through `mrsm startup`'s
/// unit, the local ones: each as it was meant to be, a scheduled job firing once
/// for the time it missed (no catch-up storm), and still so 10 s later (the unit
/// that brought them back takes nothing down when it is done); a second
/// `mrsm resurrect` changes nothing; `mrsm unstartup` takes the unit away.
#[test]
fn after_a_power_loss_jobs_come_back_as_meant_local_through_startup_and_systemd_s_own() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let Some(manager) = UserManager::start() else {
        return;
    };
    let env = crate::support::Env::new();
    let root = env.root();
    for name in ["runs", "paused", "stopped"] {
        env.run_d(name, &["--", "sleep", "300"]);
    }
    env.run_d("ticks", &["-s", "every 3 seconds", "--", "echo", "tick"]);
    for name in ["sd-runs", "sd-paused", "sd-stopped"] {
        mrsm_inside(
            &manager,
            &env,
            &[
                "run", "-d", "-e", "systemd", "--name", name, "--", "sleep", "300",
            ],
        );
    }
    mrsm_inside(
        &manager,
        &env,
        &[
            "run",
            "-d",
            "-e",
            "systemd",
            "--name",
            "sd-ticks",
            "-s",
            "every 3 seconds",
            "--",
            "echo",
            "tick",
        ],
    );
    mrsm_inside(
        &manager,
        &env,
        &[
            "run", "-d", "-e", "systemd", "--name", "sd-once", "--", "echo", "once",
        ],
    );
    env.ok(&["pause", "jobs", "paused"]);
    env.ok(&["stop", "jobs", "stopped"]);
    mrsm_inside(&manager, &env, &["pause", "jobs", "sd-paused"]);
    mrsm_inside(&manager, &env, &["stop", "jobs", "sd-stopped"]);
    wait_for(Duration::from_secs(10), "sd-once to finish", || {
        (env.status("sd-once") == "stopped").then_some(())
    });

    let said = mrsm_inside(&manager, &env, &["startup"]);
    let unit = manager
        .unit_files("mrsm-resurrect-")
        .pop()
        .unwrap_or_else(|| panic!("no startup unit: {said}"));
    assert_eq!(manager.systemctl(&["is-enabled", &unit]), "enabled");
    assert_eq!(manager.verify(&unit), "", "systemd-analyze verify {unit}");

    // The power goes: every supervisor of the root, and the manager with its units.
    let live = [
        "runs",
        "paused",
        "ticks",
        "sd-runs",
        "sd-paused",
        "sd-ticks",
    ];
    for name in ["runs", "paused", "ticks"] {
        let supervisor = env.supervisor(name).expect("a live supervisor");
        kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL).expect("kill -9");
    }
    manager.power_loss();
    for name in live {
        wait_for(Duration::from_secs(20), "the supervisor to be gone", || {
            (env.info(name)["died"] == true).then_some(())
        });
    }
    // Down long enough for the schedules to miss two fires or more.
    let down = jiff::Timestamp::now();
    crate::support::assert_holds_for(Duration::from_secs(9), "nothing runs", || {
        live.iter().all(|name| env.info(name)["died"] == true)
    });

    manager.start_again().expect("a fresh manager");
    let back = jiff::Timestamp::now();
    let as_meant = || {
        ["runs", "sd-runs", "ticks", "sd-ticks"]
            .iter()
            .all(|n| env.status(n) == "running")
            && ["paused", "sd-paused"]
                .iter()
                .all(|n| env.status(n) == "paused")
            && ["stopped", "sd-stopped", "sd-once"]
                .iter()
                .all(|n| env.status(n) == "stopped")
    };
    wait_for(Duration::from_secs(20), "the jobs back as meant", || {
        as_meant().then_some(())
    });
    // The unit is done, and took nothing down with it.
    crate::support::assert_holds_for(Duration::from_secs(10), "the jobs stay as meant", as_meant);
    for name in ["ticks", "sd-ticks"] {
        let log = env.log_text(name);
        assert!(log.contains("schedule continued"), "{name}: {log}");
        let starts = schedule_starts(&env, name, down);
        // One catch-up for the missed fires, soon after coming back; from then on
        // the schedule's own pace (a fire right after the catch-up is coalesced).
        let first = starts
            .first()
            .unwrap_or_else(|| panic!("{name}: no fire after coming back"));
        let late = first.duration_since(back).as_secs_f64();
        assert!(
            late < 5.0,
            "{name}: the catch-up came {late} s after coming back"
        );
        for pair in starts.windows(2) {
            let gap = pair[1].duration_since(pair[0]).as_secs_f64();
            assert!(
                gap > 1.4,
                "{name}: fires {gap} s apart after coming back: {starts:?}"
            );
        }
    }
    assert_eq!(env.runs("sd-once").len(), 1, "the finished job ran again");
    for (name, enabled) in [
        ("sd-runs", "enabled"),
        ("sd-stopped", "disabled"),
        ("sd-once", "disabled"),
    ] {
        let unit = mrsm::systemd::job_unit_name(root, name);
        assert_eq!(manager.systemctl(&["is-enabled", &unit]), enabled, "{name}");
    }

    let again = mrsm_inside(&manager, &env, &["resurrect", "--json"]);
    assert_eq!(again.trim(), "[]", "a second resurrect changed something");

    mrsm_inside(&manager, &env, &["unstartup"]);
    assert!(manager.unit_files("mrsm-resurrect-").is_empty());
    assert_ne!(manager.systemctl(&["is-enabled", &unit]), "enabled");
    mrsm_inside(
        &manager,
        &env,
        &[
            "delete",
            "jobs",
            "-y",
            "runs",
            "paused",
            "stopped",
            "ticks",
            "sd-runs",
            "sd-paused",
            "sd-stopped",
            "sd-ticks",
            "sd-once",
        ],
    );
    assert!(manager.unit_files("mrsm-").is_empty());
}
