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

/// `mrsm ARGS` inside the manager's namespace, for `env`'s root, with nothing of the
/// caller's environment.
fn mrsm_inside(manager: &UserManager, env: &crate::support::Env, args: &[&str]) -> String {
    let mrsm = assert_cmd::cargo::cargo_bin("mrsm");
    let runtime = format!(
        "XDG_RUNTIME_DIR={}",
        manager.dir().join("runtime").display()
    );
    let config = format!("XDG_CONFIG_HOME={}", manager.dir().join("config").display());
    let root = format!("MRSM_ROOT_DIR={}", env.root().display());
    let mut all = vec!["-i", "PATH=/usr/bin:/bin", &runtime, &config, &root];
    let mrsm = mrsm.to_string_lossy();
    all.push(&mrsm);
    all.extend_from_slice(args);
    let out = manager.run("env", &all);
    assert!(
        out.status.success(),
        "mrsm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The reboot test for local jobs: `mrsm startup`'s unit brings a root's jobs back
/// as meant once a fresh user manager starts after a power loss, and leaves them
/// running once it is done; `mrsm unstartup` takes the unit away.
#[test]
fn after_a_power_loss_startup_s_unit_brings_local_jobs_back_as_meant() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let Some(manager) = UserManager::start() else {
        return;
    };
    let env = crate::support::Env::new();
    for name in ["runs", "paused", "stopped"] {
        env.run_d(name, &["--", "sleep", "300"]);
    }
    env.ok(&["pause", "jobs", "paused"]);
    env.ok(&["stop", "jobs", "stopped"]);

    let said = mrsm_inside(&manager, &env, &["startup"]);
    let units = manager.dir().join("config/systemd/user");
    let unit = std::fs::read_dir(&units)
        .expect("the unit directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("mrsm-resurrect-") && n.ends_with(".service"))
        .unwrap_or_else(|| panic!("no unit in {}: {said}", units.display()));
    assert_eq!(manager.systemctl(&["is-enabled", &unit]), "enabled");
    let verify = manager.run(
        "systemd-analyze",
        &["--user", "verify", &units.join(&unit).to_string_lossy()],
    );
    assert!(
        verify.status.success() && verify.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // The power goes: every supervisor of the root, and the manager.
    for name in ["runs", "paused"] {
        let supervisor = env.supervisor(name).expect("a live supervisor");
        kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL).expect("kill -9");
    }
    manager.power_loss();
    for name in ["runs", "paused"] {
        wait_for(Duration::from_secs(20), "the supervisor to be gone", || {
            (env.info(name)["died"] == true).then_some(())
        });
    }

    manager.start_again().expect("a fresh manager");
    let as_meant = || {
        env.status("runs") == "running"
            && env.status("paused") == "paused"
            && env.status("stopped") == "stopped"
    };
    wait_for(Duration::from_secs(20), "the jobs back as meant", || {
        as_meant().then_some(())
    });
    // The unit is done, and took nothing down with it.
    crate::support::assert_holds_for(Duration::from_secs(10), "the jobs stay as meant", as_meant);

    mrsm_inside(&manager, &env, &["unstartup"]);
    assert!(!units.join(&unit).exists());
    assert_ne!(manager.systemctl(&["is-enabled", &unit]), "enabled");
    env.ok(&["delete", "jobs", "-y", "runs", "paused", "stopped"]);
}
