//! The `systemd` executor at its seams with the rest: a root spelled two ways, a job
//! launching jobs, a definition that cannot be read, a job stopping itself, a
//! launcher that is itself a systemd service, a manager that stops answering.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::systemd::{manager_and_root, run_on_systemd, shown};
use crate::support::{wait_for, Env};

/// One root however it is spelled (a trailing `/`, `..`) is one unit per job:
/// `show jobs` finds it, `stop` disables it, `delete` removes it.
#[test]
fn a_root_spelled_another_way_names_the_same_units() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    run_on_systemd(&manager, root, "web", &["sleep", "300"]);
    let slash = format!("{}/", root.display());
    let dotted = root
        .join("..")
        .join(root.file_name().expect("a name"))
        .display()
        .to_string();
    let unit = mrsm::systemd::job_unit_name(root, "web");
    for spelling in [&slash, &dotted] {
        let info = shown(&manager, Path::new(spelling), "web");
        assert_eq!(info["unit"]["name"], unit.as_str(), "{spelling}");
        assert_eq!(info["unit"]["active"], "active", "{spelling}");
    }
    manager.mrsm_ok(Path::new(&slash), &["stop", "jobs", "web"]);
    assert_eq!(manager.systemctl(&["is-enabled", &unit]), "disabled");
    manager.mrsm_ok(Path::new(&dotted), &["start", "jobs", "web"]);
    assert_eq!(manager.unit_files("mrsm-"), std::slice::from_ref(&unit));
    assert_eq!(manager.systemctl(&["is-enabled", &unit]), "enabled");
    manager.mrsm_ok(Path::new(&slash), &["delete", "jobs", "-y", "web"]);
    assert_eq!(manager.unit_files("mrsm-"), Vec::<String>::new());
}

/// A local job launched by a step of a systemd job (a deploy step, `mrsm serve` run
/// as a service) is no process of that unit: it runs on after the unit stops.
#[test]
fn a_job_launched_from_a_systemd_job_outlives_its_unit() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    let mrsm = assert_cmd::cargo::cargo_bin("mrsm");
    let launch = format!(
        "{} run -d -e local --name inner -- sleep 1000 && echo launched",
        mrsm.display()
    );
    run_on_systemd(&manager, root, "outer", &["sh", "-c", &launch]);
    wait_for(Duration::from_secs(10), "the outer job to finish", || {
        (env.status("outer") == "stopped").then_some(())
    });
    let unit = mrsm::systemd::job_unit_name(root, "outer");
    wait_for(Duration::from_secs(10), "the outer unit to stop", || {
        (manager.systemctl(&["is-active", &unit]) == "inactive").then_some(())
    });
    assert!(env.log_text("outer").contains("launched"));
    let inner = env.supervisor("inner").expect("the inner supervisor");
    crate::support::assert_holds_for(Duration::from_secs(2), "the inner job runs", || {
        inner.is_alive() && env.status("inner") == "running"
    });
    env.ok(&["delete", "jobs", "-y", "inner"]);
    manager.mrsm_ok(root, &["delete", "jobs", "-y", "outer"]);
}

/// A systemd job whose definition was damaged is still deleted with its unit: a
/// unit left behind would start a job that no longer exists at every boot.
#[test]
fn deleting_a_broken_systemd_job_removes_its_unit() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    run_on_systemd(&manager, root, "brk", &["sleep", "300"]);
    std::fs::write(env.job_dir("brk").join("job.json"), "{garbage").expect("damaged");
    manager.mrsm_ok(root, &["delete", "jobs", "-y", "brk"]);
    assert_eq!(manager.unit_files("mrsm-"), Vec::<String>::new());
    let listed = manager.systemctl(&["list-unit-files", "mrsm-*"]);
    assert!(listed.contains("0 unit files listed"), "{listed}");
}

/// A systemd job that stops itself (`mrsm stop` from one of its steps, which the
/// stop ends) is stopped for good: its unit is disabled.
#[test]
fn a_systemd_job_that_stops_itself_stays_stopped() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    let mrsm = assert_cmd::cargo::cargo_bin("mrsm");
    let stop = format!("sleep 0.2; {} stop jobs self; sleep 100", mrsm.display());
    run_on_systemd(&manager, root, "self", &["sh", "-c", &stop]);
    let unit = mrsm::systemd::job_unit_name(root, "self");
    wait_for(Duration::from_secs(20), "the unit disabled", || {
        let stopped = env.status("self") == "stopped";
        (stopped && manager.systemctl(&["is-enabled", &unit]) == "disabled").then_some(())
    });
    assert_eq!(manager.systemctl(&["is-active", &unit]), "inactive");
    manager.mrsm_ok(root, &["delete", "jobs", "-y", "self"]);
}

/// A supervisor launched by a systemd service of any kind never speaks for it:
/// what systemd gave the launcher is not passed on.
#[test]
fn a_supervisor_does_not_inherit_a_launcher_s_systemd_socket() {
    let env = Env::new();
    env.mrsm()
        .env("NOTIFY_SOCKET", "/nonexistent/notify")
        .env(mrsm::systemd::UNIT_VARIABLE, "/nonexistent/unit.service")
        .args(["run", "-d", "--name", "v", "--", "sleep", "300"])
        .assert()
        .success();
    let supervisor = env.supervisor("v").expect("a supervisor");
    for variable in ["NOTIFY_SOCKET", mrsm::systemd::UNIT_VARIABLE] {
        assert!(
            mrsm::store::proc::environ_var(supervisor.pid, variable).is_none(),
            "{variable} reached the supervisor"
        );
    }
    env.ok(&["delete", "jobs", "-y", "v"]);
}

/// A user manager that stops answering holds a listing up by seconds, not by
/// systemctl's own 90 s: its jobs' units show as unknown.
#[test]
fn a_manager_that_does_not_answer_holds_a_listing_briefly() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    run_on_systemd(&manager, root, "web", &["sleep", "300"]);
    let pid: i32 = std::fs::read_to_string(manager.dir().join("manager.pid"))
        .expect("the manager's pid")
        .trim()
        .parse()
        .expect("a pid");
    kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("stop the manager");
    let started = Instant::now();
    let out = manager.mrsm(root, &["show", "jobs", "web", "--json"]);
    let took = started.elapsed();
    kill(Pid::from_raw(pid), Signal::SIGCONT).expect("continue the manager");
    let text = crate::support::succeeded(&out, "show jobs");
    assert!(took < Duration::from_secs(15), "show jobs took {took:?}");
    assert!(text.contains("\"active\": \"\""), "{text}");
    manager.mrsm_ok(root, &["delete", "jobs", "-y", "web"]);
}
