//! The `systemd` executor against a real user manager of the test's own: each job
//! is an enabled unit running its usual supervisor; verbs go through systemctl;
//! a killed supervisor is restarted with nothing of its job left over; units are
//! valid whatever the job holds; a spec mixes and moves jobs between `local` and
//! `systemd`, and `down` leaves no unit behind.

use std::path::Path;
use std::time::Duration;

use crate::support::systemd::{
    alive, manager_and_root, processes_of, run_on_systemd, shown, UserManager,
};
use crate::support::{wait_for, Env};

#[test]
fn a_systemd_job_is_an_enabled_unit_that_runs_logs_stops_and_goes() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    run_on_systemd(
        &manager,
        root,
        "svc",
        &["sh", "-c", "echo pid $$; sleep 300"],
    );
    let units = manager.unit_files("mrsm-");
    assert_eq!(units.len(), 1, "{units:?}");
    let unit = units[0].clone();
    assert!(unit.ends_with("-svc.service"), "{unit}");
    assert_eq!(manager.systemctl(&["is-active", &unit]), "active");
    assert_eq!(manager.systemctl(&["is-enabled", &unit]), "enabled");
    assert_eq!(manager.verify(&unit), "", "systemd-analyze verify {unit}");

    let info = shown(&manager, root, "svc");
    assert_eq!(info["executor"], "systemd");
    assert_eq!(info["status"], "running");
    assert_eq!(info["unit"]["name"], unit.as_str());
    assert_eq!(info["unit"]["active"], "active");
    assert_eq!(info["unit"]["enabled"], "enabled");
    let pid = info["pid"].as_i64().expect("a step pid");
    wait_for(
        Duration::from_secs(10),
        "the step's line in the log",
        || {
            let logs = manager.mrsm_ok(root, &["show", "logs", "svc"]);
            logs.contains(&format!("pid {pid}")).then_some(())
        },
    );
    let table = manager.mrsm_ok(root, &["show", "jobs"]);
    assert!(table.contains("systemd (active)"), "{table}");
    let status = manager.systemctl(&["status", &unit]);
    assert!(
        status.contains("mrsm job svc: sh -c 'echo pid $$; sleep 300'"),
        "{status}"
    );

    // stop: stopped for good (not restarted, not at boot), nothing of it left.
    manager.mrsm_ok(root, &["stop", "jobs", "svc"]);
    assert_eq!(manager.systemctl(&["is-active", &unit]), "inactive");
    assert_eq!(manager.systemctl(&["is-enabled", &unit]), "disabled");
    assert!(!alive(pid), "the step {pid} is left");
    assert_eq!(shown(&manager, root, "svc")["status"], "stopped");

    manager.mrsm_ok(root, &["start", "jobs", "svc"]);
    assert_eq!(manager.systemctl(&["is-active", &unit]), "active");
    assert_eq!(manager.systemctl(&["is-enabled", &unit]), "enabled");
    assert_eq!(shown(&manager, root, "svc")["status"], "running");

    // pause and resume are mrsm's own (the control socket): the unit stays active.
    manager.mrsm_ok(root, &["pause", "jobs", "svc"]);
    assert_eq!(shown(&manager, root, "svc")["status"], "paused");
    assert_eq!(manager.systemctl(&["is-active", &unit]), "active");
    manager.mrsm_ok(root, &["start", "jobs", "svc"]);
    assert_eq!(shown(&manager, root, "svc")["status"], "running");

    // delete: stopped, disabled, removed, and the manager forgot it.
    manager.mrsm_ok(root, &["delete", "jobs", "-y", "svc"]);
    assert_eq!(manager.unit_files("mrsm-"), Vec::<String>::new());
    let listed = manager.systemctl(&["list-unit-files", "mrsm-*"]);
    assert!(listed.contains("0 unit files listed"), "{listed}");
}

#[test]
fn a_killed_supervisor_is_restarted_by_systemd_and_its_step_s_daemon_dies_with_it() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    run_on_systemd(
        &manager,
        root,
        "k",
        &[
            "sh",
            "-c",
            "(setsid sleep 3011 &); echo daemon started; sleep 300",
        ],
    );
    wait_for(Duration::from_secs(10), "the daemon", || {
        env.log_text("k").contains("daemon started").then_some(())
    });
    let daemon = wait_for(Duration::from_secs(5), "the setsid daemon", || {
        processes_of(root, "sleep 3011").first().copied()
    });
    let before = shown(&manager, root, "k");
    let supervisor = before["supervisor_pid"].as_i64().expect("a supervisor");
    let step = before["pid"].as_i64().expect("a step");

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");

    let after = wait_for(Duration::from_secs(20), "a new supervisor", || {
        let info = shown(&manager, root, "k");
        let new = info["supervisor_pid"]
            .as_i64()
            .is_some_and(|p| p != supervisor);
        (new && info["status"] == "running").then_some(info)
    });
    assert!(!alive(step), "the killed supervisor's step {step} is left");
    assert!(
        !alive(i64::from(daemon)),
        "its setsid daemon {daemon} is left"
    );
    assert_eq!(after["unit"]["active"], "active");
    let runs = env.runs("k");
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["run"], 1);
    assert!(
        runs[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("was killed")),
        "{runs:?}"
    );
    wait_for(Duration::from_secs(10), "run 2", || {
        env.log_text("k").contains("run 2 started").then_some(())
    });
    manager.mrsm_ok(root, &["delete", "jobs", "-y", "k"]);
    assert!(processes_of(root, "sleep 3011").is_empty());
}

/// Without a user manager, `-e systemd` names what is missing and creates nothing.
#[test]
fn without_a_user_manager_a_systemd_job_is_refused_and_nothing_is_created() {
    let env = Env::new();
    let runtime = tempfile::tempdir().expect("a runtime dir");
    for (runtime, says) in [
        (Some(runtime.path()), "no systemd user manager answers"),
        (None, "XDG_RUNTIME_DIR is not set"),
    ] {
        let mut cmd = env.mrsm();
        match runtime {
            Some(dir) => cmd.env("XDG_RUNTIME_DIR", dir),
            None => cmd.env_remove("XDG_RUNTIME_DIR"),
        };
        let out = cmd
            .args([
                "run", "-d", "-e", "systemd", "--name", "nope", "--", "sleep", "300",
            ])
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(stderr.contains("nothing was created"), "{stderr}");
        assert!(!env.job_dir("nope").join("job.json").exists());
    }
}

/// What a unit says for each kind of job, with the paths of this run taken out.
fn normalized(text: &str, manager: &UserManager, env: &Env) -> String {
    let mrsm = assert_cmd::cargo::cargo_bin("mrsm");
    let mut text = text
        .replace(&manager.unit_dir().display().to_string(), "UNITS")
        .replace(&env.root().display().to_string(), "ROOT")
        .replace(&env.work().display().to_string(), "WORK")
        .replace(&mrsm.display().to_string(), "MRSM");
    // The root's tag in unit names.
    let tag = mrsm::systemd::job_unit_name(env.root(), "x");
    let tag = tag
        .trim_start_matches("mrsm-")
        .trim_end_matches("-x.service");
    text = text.replace(tag, "TAG");
    text
}

#[test]
fn every_unit_mrsm_writes_passes_systemd_analyze_verify() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    std::fs::create_dir_all(env.work().join("dir with space %n")).expect("a directory");
    std::fs::write(env.work().join(".env"), "A=1\nB='two words'\n").expect("an env file");
    let spec = env.work().join("mrsm-jobs.yaml");
    std::fs::write(
        &spec,
        r#"
jobs:
  plain:
    command: sleep 300
  scheduled:
    command: echo tick
    schedule: every 10 minutes
    timezone: Europe/Paris
  chain:
    command: echo a + echo b
  with-env:
    command: printenv A
    env:
      A: "50% \"quoted\" $HOME \\ back\ttab"
  env-file:
    command: printenv B
    env_file: .env
  odd-cwd:
    command: pwd
    cwd: "dir with space %n"
  stop-settings:
    command: sleep 300
    stop:
      signal: SIGINT
      timeout: 45s
  odd-command:
    command: "echo '100%' \"$HOME\" \\ `date` %n %% ; printf 'a\\tb\\n'"
"#
        // Each job on systemd, kept stopped: the units are written, none runs.
        .replace(
            "    command:",
            "    executor: systemd\n    state: stopped\n    command:",
        ),
    )
    .expect("a spec");
    manager.mrsm_ok(env.root(), &["up", "-d", "-f", &spec.to_string_lossy()]);
    let units = manager.unit_files("mrsm-");
    assert_eq!(units.len(), 8, "{units:?}");
    for unit in &units {
        assert_eq!(
            manager.verify(unit),
            "",
            "systemd-analyze --user verify {unit}"
        );
        assert_eq!(
            manager.systemctl(&["is-enabled", unit]),
            "disabled",
            "{unit}"
        );
        let text = std::fs::read_to_string(manager.unit_dir().join(unit)).expect("the unit");
        let job = unit
            .trim_end_matches(".service")
            .splitn(3, '-')
            .nth(2)
            .expect("mrsm-TAG-NAME.service");
        insta::assert_snapshot!(
            format!("systemd_unit_{job}"),
            normalized(&text, &manager, &env)
        );
    }
    // The odd ones run as written: the unit's escaping reaches no step.
    manager.mrsm_ok(
        env.root(),
        &["start", "jobs", "with-env", "odd-command", "odd-cwd"],
    );
    wait_for(Duration::from_secs(10), "the jobs' lines", || {
        let env_line = env
            .log_text("with-env")
            .contains("50% \"quoted\" $HOME \\ back\ttab");
        let odd = env.log_text("odd-command").contains("a\tb");
        let cwd = env.log_text("odd-cwd").contains("dir with space %n");
        (env_line && odd && cwd).then_some(())
    });
    manager.mrsm_ok(env.root(), &["down", "-f", &spec.to_string_lossy()]);
    assert_eq!(manager.unit_files("mrsm-"), Vec::<String>::new());
}

#[test]
fn a_spec_mixes_local_and_systemd_moves_keep_logs_and_down_leaves_no_unit() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    let spec = env.work().join("mrsm-jobs.yaml");
    let write = |web_on: &str| {
        std::fs::write(
            &spec,
            format!(
                "jobs:\n  web:\n    command: echo web up; sleep 300\n    executor: {web_on}\n  worker:\n    command: sleep 301\n"
            ),
        )
        .expect("a spec")
    };
    let file = spec.to_string_lossy().to_string();
    write("systemd");
    manager.mrsm_ok(root, &["up", "-d", "-f", &file]);
    let web = shown(&manager, root, "web");
    assert_eq!(web["executor"], "systemd");
    assert_eq!(web["unit"]["active"], "active");
    assert_eq!(shown(&manager, root, "worker")["executor"], "local");
    assert_eq!(manager.unit_files("mrsm-").len(), 1);
    wait_for(Duration::from_secs(10), "web's line", || {
        env.log_text("web").contains("web up").then_some(())
    });

    // A move is an update: one stop, one start elsewhere, the log and runs kept.
    write("local");
    let diff = manager.mrsm(root, &["diff", "-f", &file]);
    let said = String::from_utf8_lossy(&diff.stdout);
    assert!(said.contains("~ update web (executor)"), "{said}");
    manager.mrsm_ok(root, &["up", "-d", "-f", &file]);
    let web = shown(&manager, root, "web");
    assert_eq!(web["executor"], "local");
    assert_eq!(web["status"], "running");
    assert!(web.get("unit").is_none(), "{web}");
    assert_eq!(manager.unit_files("mrsm-"), Vec::<String>::new());
    assert_eq!(env.runs("web").len(), 1, "the run on systemd is kept");
    assert!(env.log_text("web").contains("run 2 started"));

    write("systemd");
    manager.mrsm_ok(root, &["up", "-d", "-f", &file]);
    assert_eq!(shown(&manager, root, "web")["unit"]["active"], "active");
    assert_eq!(env.runs("web").len(), 2);

    manager.mrsm_ok(root, &["down", "-f", &file]);
    assert_eq!(manager.unit_files("mrsm-"), Vec::<String>::new());
    let listed = manager.systemctl(&["list-unit-files", "mrsm-*"]);
    assert!(listed.contains("0 unit files listed"), "{listed}");
}

/// `default_executor = "systemd"` in the settings file makes `run -d` without `-e`
/// a systemd job (here refused, no manager answering, naming systemd); `-e local`
/// still runs here.
#[test]
fn the_settings_file_s_default_executor_is_where_jobs_go_without_e() {
    let env = Env::new();
    let config = tempfile::tempdir().expect("a config dir");
    let settings = config.path().join("config.toml");
    std::fs::write(&settings, "default_executor = \"systemd\"\n").expect("settings");
    let run = |extra: &[&str], name: &str| {
        let mut cmd = env.mrsm();
        cmd.env("MRSM_CONFIG", &settings)
            .env_remove("XDG_RUNTIME_DIR");
        cmd.args(["run", "-d", "--name", name])
            .args(extra)
            .args(["--", "sleep", "300"]);
        cmd.output().expect("runs")
    };
    let out = run(&[], "there");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("executor systemd: no systemd user manager"),
        "{stderr}"
    );
    assert!(!env.job_dir("there").join("job.json").exists());
    let out = run(&["-e", "local"], "here");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.info("here")["executor"], "local");
    env.ok(&["delete", "jobs", "-y", "here"]);
    // A typo there is the settings file's error, with its place.
    std::fs::write(&settings, "\ndefault_executor = \"sytemd\"\n").expect("settings");
    let out = env
        .mrsm()
        .env("MRSM_CONFIG", &settings)
        .args(["show", "jobs"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("config.toml:2:1: default_executor: unknown executor \"sytemd\"")
            && stderr.contains("did you mean `systemd`?"),
        "{stderr}"
    );
}

/// `startup --system` writes a unit of the system's manager that runs as the user
/// (`--print` shows it; `systemd-analyze verify` finds nothing wrong), and on a
/// machine not booted with systemd installs nothing and says what to do instead.
#[test]
fn startup_system_is_a_valid_system_unit_and_needs_a_system_manager() {
    let env = Env::new();
    let out = env
        .mrsm()
        .args(["startup", "--system", "--user", "root", "--print"])
        .output()
        .expect("runs");
    let unit = crate::support::succeeded(&out, "startup --system --print");
    assert!(unit.contains("User=root\n"), "{unit}");
    assert!(unit.contains("WantedBy=multi-user.target\n"), "{unit}");
    let file = env.work().join("mrsm-resurrect-test.service");
    std::fs::write(&file, &unit).expect("the unit");
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&file)
        .output();
    match verify {
        Ok(verify) => assert!(
            verify.status.success() && verify.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&verify.stderr)
        ),
        Err(e) => eprintln!("skipped systemd-analyze: {e}"),
    }
    // Only where installing cannot happen: a machine not booted with systemd.
    if Path::new("/run/systemd/system").exists() {
        eprintln!("skipped the refusal: this machine is booted with systemd");
        return;
    }
    let out = env
        .mrsm()
        .args(["startup", "--system", "--user", "root"])
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not booted with systemd"), "{stderr}");
    assert!(stderr.contains("nothing was installed"), "{stderr}");
}

/// README's example of systemd jobs converges as it says, and `down` undoes it.
#[test]
fn examples_systemd_yaml_runs_on_a_user_manager() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/systemd.yaml");
    let file = example.to_string_lossy().to_string();
    manager.mrsm_ok(root, &["up", "-d", "-f", &file]);
    for (name, active) in [("web", "active"), ("nightly-backup", "active")] {
        let info = shown(&manager, root, name);
        assert_eq!(info["executor"], "systemd", "{name}");
        assert_eq!(info["unit"]["active"], active, "{name}");
    }
    assert_eq!(shown(&manager, root, "nightly-backup")["status"], "running");
    assert_eq!(shown(&manager, root, "scratch")["executor"], "local");
    assert_eq!(manager.unit_files("mrsm-").len(), 2);
    manager.mrsm_ok(root, &["down", "-f", &file]);
    assert_eq!(manager.unit_files("mrsm-"), Vec::<String>::new());
}

/// Where no user manager answers (under sudo, from cron), a verb that would change
/// a systemd job's unit refuses and changes nothing: the job runs on, its unit
/// stays enabled and on disk. `resurrect` looks at systemd jobs too: one stopped
/// from outside (by `systemctl --user stop`) is started again through its unit.
#[test]
fn verbs_on_a_systemd_job_where_no_manager_answers_change_nothing() {
    let Some((manager, env)) = manager_and_root() else {
        return;
    };
    let root = env.root();
    run_on_systemd(&manager, root, "svc", &["sleep", "300"]);
    let unit = mrsm::systemd::job_unit_name(root, "svc");
    let supervisor = shown(&manager, root, "svc")["supervisor_pid"].clone();
    for verb in [
        &["stop", "jobs", "svc"][..],
        &["delete", "jobs", "-y", "svc"],
        &["start", "jobs", "svc"],
        &["resurrect"],
    ] {
        let out = env
            .mrsm()
            .env_remove("XDG_RUNTIME_DIR")
            .args(verb)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if verb[0] != "resurrect" {
            assert_eq!(out.status.code(), Some(1), "{verb:?}: {stderr}");
            assert!(
                stderr.contains("is a systemd service") && stderr.contains("nothing was done"),
                "{verb:?}: {stderr}"
            );
        }
        let info = shown(&manager, root, "svc");
        assert_eq!(info["status"], "running", "{verb:?}");
        assert_eq!(info["supervisor_pid"], supervisor, "{verb:?}");
        assert_eq!(
            manager.systemctl(&["is-enabled", &unit]),
            "enabled",
            "{verb:?}"
        );
        assert_eq!(
            manager.unit_files("mrsm-"),
            std::slice::from_ref(&unit),
            "{verb:?}"
        );
    }

    manager.systemctl(&["stop", &unit]);
    assert_eq!(shown(&manager, root, "svc")["died"], true);
    let said = manager.mrsm_ok(root, &["resurrect", "--json"]);
    assert!(said.contains("\"svc\""), "{said}");
    assert_eq!(manager.systemctl(&["is-active", &unit]), "active");
    assert_eq!(shown(&manager, root, "svc")["status"], "running");
}
