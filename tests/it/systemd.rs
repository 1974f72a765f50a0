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
