//! `mrsm-jobs.yaml` and the reconciler through the real binary: converging, editing
//! one job, adding, removing and pausing jobs, two `up`s at once, conflicts with jobs
//! the project does not own, layered files, and one clear message per bad spec.

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use predicates::prelude::*;
use serde_json::Value;
use support::{processes, wait_for, Env};

fn write(env: &Env, file: &str, text: &str) -> PathBuf {
    let path = env.work().join(file);
    std::fs::write(&path, text).expect("spec written");
    path
}

fn jobs_yaml(jobs: &[(String, String, Option<&str>)]) -> String {
    let mut text = String::from("project: demo\njobs:\n");
    for (name, command, state) in jobs {
        text.push_str(&format!("  {name}:\n    command: {command}\n"));
        if let Some(state) = state {
            text.push_str(&format!("    state: {state}\n"));
        }
    }
    text
}

/// `ps --json` as name → (pid, began, status).
fn ps(env: &Env) -> BTreeMap<String, (Value, Value, String)> {
    let out = env.mrsm().args(["ps", "--json"]).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    list.into_iter()
        .map(|j| {
            let status = j["status"].as_str().unwrap_or_default().to_string();
            (
                j["name"].as_str().unwrap_or_default().to_string(),
                (j["pid"].clone(), j["began"].clone(), status),
            )
        })
        .collect()
}

fn twenty() -> Vec<(String, String, Option<&'static str>)> {
    (0..20)
        .map(|i| (format!("job-{i:02}"), "sleep 300".to_string(), None))
        .collect()
}

#[test]
fn an_edit_restarts_exactly_one_job() {
    let env = Env::new();
    let mut jobs = twenty();
    write(&env, "mrsm-jobs.yaml", &jobs_yaml(&jobs));
    env.ok(&["up", "-d"]);
    let before = ps(&env);
    assert_eq!(before.len(), 20);
    assert!(
        before
            .values()
            .all(|(pid, _, s)| s == "running" && pid.is_i64()),
        "{before:?}"
    );

    // A one-line edit of one job.
    jobs[7].1 = "sleep 301".into();
    write(&env, "mrsm-jobs.yaml", &jobs_yaml(&jobs));
    env.mrsm()
        .args(["diff"])
        .assert()
        .code(1)
        .stdout("~ update job-07 (command)\n");
    env.mrsm()
        .args(["up", "-d"])
        .assert()
        .success()
        .stdout("updated job-07\n");
    let after = ps(&env);
    for (name, (pid, began, status)) in &after {
        assert_eq!(status, "running", "{name}");
        let (old_pid, old_began, _) = &before[name];
        if name == "job-07" {
            assert!(pid != old_pid && began != old_began, "job-07 must restart");
        } else {
            assert!(
                pid == old_pid && began == old_began,
                "{name} must keep running untouched"
            );
        }
    }

    // Remove one, add one, pause one.
    jobs.remove(19);
    jobs.push(("job-new".into(), "sleep 300".into(), None));
    jobs[3].2 = Some("paused");
    write(&env, "mrsm-jobs.yaml", &jobs_yaml(&jobs));
    env.ok(&["up", "-d"]);
    let now = ps(&env);
    assert!(!now.contains_key("job-19"));
    env.mrsm()
        .args(["show", "jobs", "job-19"])
        .assert()
        .failure();
    assert_eq!(now["job-new"].2, "running");
    assert_eq!(now["job-03"].2, "paused");
    assert_eq!(now["job-05"].0, before["job-05"].0);

    env.mrsm().args(["diff"]).assert().code(0).stdout("");
    env.mrsm()
        .args(["validate"])
        .assert()
        .code(0)
        .stdout("")
        .stderr("");

    let supervisors: Vec<_> = now.keys().filter_map(|n| env.supervisor(n)).collect();
    env.ok(&["down"]);
    assert!(ps(&env).is_empty());
    for s in supervisors {
        assert!(!s.is_alive() && processes(s).is_empty());
    }
}

#[test]
fn two_ups_at_once_converge() {
    let env = Env::new();
    let jobs: Vec<_> = (0..10)
        .map(|i| (format!("twin-{i}"), "sleep 300".to_string(), None))
        .collect();
    write(&env, "mrsm-jobs.yaml", &jobs_yaml(&jobs));
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            support::mrsm_process()
                .args(["up", "-d"])
                .env("MRSM_ROOT_DIR", env.root())
                .current_dir(env.work())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("up starts")
        })
        .collect();
    for child in &mut children {
        assert!(child.wait().expect("up ends").success());
    }
    let now = ps(&env);
    assert_eq!(now.len(), 10);
    for name in now.keys() {
        let supervisor = env.supervisor(name).expect("one supervisor recorded");
        assert!(supervisor.is_alive());
        // One `sleep` per job: nothing started twice.
        let sleeps = processes(supervisor)
            .iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
                    .is_ok_and(|c| c.trim() == "sleep")
            })
            .count();
        assert_eq!(sleeps, 1, "{name}");
    }
    env.mrsm().args(["diff"]).assert().code(0).stdout("");
    env.ok(&["down"]);
}

#[test]
fn a_job_the_project_does_not_own_is_a_conflict() {
    let env = Env::new();
    env.run_d("shared", &["--", "sleep", "300"]);
    write(
        &env,
        "mrsm-jobs.yaml",
        "project: demo\njobs:\n  shared:\n    command: sleep 1\n  own:\n    command: sleep 300\n",
    );
    env.mrsm()
        .args(["diff"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains(
            "! conflict shared: a job of that name exists and belongs to no project",
        ));
    env.mrsm()
        .args(["up", "-d"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "job \"shared\": conflict: a job of that name exists",
        ));
    let info = env.info("shared");
    assert_eq!(info["command"][0], "sleep 300", "never clobbered");
    assert!(info["project"].is_null());
    assert_eq!(env.status("own"), "running");
    // `down` leaves it alone too.
    env.ok(&["down"]);
    assert_eq!(env.status("shared"), "running");
}

#[test]
fn later_files_override_earlier_ones_and_variables_are_interpolated() {
    let env = Env::new();
    let base = write(
        &env,
        "base.yaml",
        "project: layered\njobs:\n  a:\n    command: echo base\n  b:\n    command: echo \"${GREETING:-hello} $$HOME\"\n    env: { X: '1' }\n",
    );
    let over = write(
        &env,
        "override.yaml",
        "jobs:\n  a:\n    command: echo override\n  b:\n    env: { Y: '2' }\n",
    );
    env.mrsm()
        .args(["up", "-d", "-f"])
        .arg(&base)
        .arg("-f")
        .arg(&over)
        .env("GREETING", "bonjour")
        .assert()
        .success();
    wait_for(Duration::from_secs(10), "both jobs to finish", || {
        (env.status("a") == "stopped" && env.status("b") == "stopped").then_some(())
    });
    assert!(env.log_text("a").contains(" out override"));
    assert!(
        env.log_text("b").contains(" out bonjour "),
        "{}",
        env.log_text("b")
    );
    assert!(
        !env.log_text("b").contains("$HOME"),
        "$$ is a literal $, expanded by the shell"
    );
    assert_eq!(env.info("a")["project"], "layered");
}

#[test]
fn bad_spec_files_give_one_clear_message_each() {
    let env = Env::new();
    let cases: &[(&str, &str)] = &[
        ("unknown_key", "jobs:\n  etl:\n    comand: echo hi\n"),
        (
            "duplicate_key",
            "jobs:\n  etl:\n    command: a\n  etl:\n    command: b\n",
        ),
        (
            "wrong_type",
            "jobs:\n  etl:\n    command: echo\n    logs: { keep: many }\n",
        ),
        (
            "bad_schedule",
            "jobs:\n  etl:\n    command: echo\n    schedule: every 1 fortnight\n",
        ),
        (
            "bad_schedule_quoted",
            "jobs:\n  etl:\n    command: echo\n    schedule: \"0 0 * * 8\"\n",
        ),
        ("bad_name", "jobs:\n  bad/name:\n    command: echo\n"),
        (
            "unknown_executor",
            "jobs:\n  etl:\n    command: echo\n    executor: prod\n",
        ),
        (
            "unknown_signal",
            "jobs:\n  etl:\n    command: echo\n    stop: { signal: SIGFOO }\n",
        ),
        (
            "missing_env_file",
            "jobs:\n  etl:\n    command: echo\n    env_file: missing.env\n",
        ),
        (
            "required_variable",
            "jobs:\n  etl:\n    command: echo ${MRSM_TEST_UNSET_TOKEN:?set the token}\n",
        ),
        ("yaml_syntax", "jobs:\n  etl: [\n"),
        ("no_command", "jobs:\n  etl:\n    schedule: daily\n"),
        (
            "bad_restart",
            "jobs:\n  etl:\n    command: echo\n    restart: on-falure\n",
        ),
        (
            "yes_is_not_a_boolean",
            "jobs:\n  etl:\n    command: echo\n    shell: yes\n",
        ),
    ];
    let mut all = String::new();
    for (name, text) in cases {
        let path = write(&env, "mrsm-jobs.yaml", text);
        let out = env
            .mrsm()
            .args(["validate", "-f"])
            .arg(&path)
            .output()
            .expect("runs");
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(out.stdout.is_empty(), "{name}: validate prints only errors");
        let stderr = String::from_utf8(out.stderr).expect("utf-8");
        let shown = stderr.replace(&path.display().to_string(), "mrsm-jobs.yaml");
        assert!(shown.starts_with("mrsm-jobs.yaml:"), "{name}: {shown}");
        assert_eq!(
            shown.matches("mrsm-jobs.yaml:").count(),
            1,
            "{name}: one message: {shown}"
        );
        all.push_str(&format!("--- {name}\n{shown}"));
        // Nothing was applied.
        env.mrsm()
            .args(["up", "-d", "-f"])
            .arg(&path)
            .assert()
            .code(1);
        assert!(!env.root().join("jobs/etl").exists());
    }
    insta::assert_snapshot!("spec_errors", all);
}

#[test]
fn down_keeps_logs_and_run_history_and_down_v_removes_them() {
    let env = Env::new();
    write(
        &env,
        "mrsm-jobs.yaml",
        "project: kept\njobs:\n  diary:\n    command: sh -c 'echo entry; sleep 300'\n",
    );
    env.ok(&["up", "-d"]);
    wait_for(Duration::from_secs(10), "the first entry", || {
        env.log_text("diary").contains(" out entry").then_some(())
    });
    env.ok(&["down"]);
    assert!(!env.job_dir("diary").join("job.json").exists(), "deleted");
    assert!(
        env.log_text("diary").contains(" out entry"),
        "the log is kept"
    );
    assert!(!env.runs("diary").is_empty(), "the run history is kept");

    // Declared again, the job continues them.
    env.ok(&["up", "-d"]);
    wait_for(Duration::from_secs(10), "the second entry", || {
        (env.log_text("diary").matches(" out entry").count() == 2).then_some(())
    });
    env.mrsm()
        .args(["down", "-v"])
        .assert()
        .success()
        .stdout("deleted job \"diary\"\n");
    assert!(!env.job_dir("diary").exists(), "everything removed");
    assert!(!env.root().join("logs/diary.log").exists(), "logs removed");
}

#[test]
fn relative_paths_resolve_against_the_file_that_wrote_them() {
    let env = Env::new();
    let base_dir = env.work().join("base");
    let over_dir = env.work().join("override");
    for dir in [&base_dir, &over_dir] {
        std::fs::create_dir_all(dir.join("work")).expect("dirs");
    }
    std::fs::create_dir_all(over_dir.join("other")).expect("dirs");
    std::fs::write(over_dir.join("other/vars.env"), "FROM=override\n").expect("written");
    let base = base_dir.join("mrsm-jobs.yaml");
    std::fs::write(
        &base,
        "project: paths\njobs:\n  here:\n    command: sh -c 'echo cwd=$(pwd) from=$$FROM'\n    cwd: ./work\n  there:\n    command: pwd\n",
    )
    .expect("written");
    let over = over_dir.join("mrsm-jobs.override.yaml");
    std::fs::write(
        &over,
        "jobs:\n  here:\n    env_file: other/vars.env\n  there:\n    cwd: other\n",
    )
    .expect("written");
    env.mrsm()
        .args(["up", "-d", "-f"])
        .arg(&base)
        .arg("-f")
        .arg(&over)
        .assert()
        .success();
    wait_for(Duration::from_secs(10), "both jobs to finish", || {
        (env.status("here") == "stopped" && env.status("there") == "stopped").then_some(())
    });
    let expected = format!(" out cwd={} from=override", base_dir.join("work").display());
    assert!(
        env.log_text("here").contains(&expected),
        "cwd from base.yaml, env_file from the override: {}",
        env.log_text("here")
    );
    assert!(
        env.log_text("there")
            .contains(&format!(" out {}", over_dir.join("other").display())),
        "{}",
        env.log_text("there")
    );
}

#[test]
fn restart_brings_each_job_back_as_declared() {
    let env = Env::new();
    write(
        &env,
        "mrsm-jobs.yaml",
        "project: again\njobs:\n  busy:\n    command: sleep 300\n  resting:\n    command: sleep 300\n    state: paused\n  off:\n    command: sleep 300\n    state: stopped\n",
    );
    env.ok(&["up", "-d"]);
    let before = env.info("busy")["supervisor_pid"].clone();
    let paused_before = env.info("resting")["supervisor_pid"].clone();
    env.mrsm().args(["restart"]).assert().success().stdout(
        predicate::str::contains("restarted busy")
            .and(predicate::str::contains("off is meant to be stopped")),
    );
    assert_eq!(env.status("busy"), "running");
    assert_ne!(env.info("busy")["supervisor_pid"], before);
    assert_eq!(env.status("resting"), "paused", "a paused job stays paused");
    assert_ne!(env.info("resting")["supervisor_pid"], paused_before);
    assert_eq!(env.status("off"), "stopped");
    env.mrsm().args(["diff"]).assert().code(0);
    env.ok(&["down"]);
}

#[test]
fn a_paused_scheduled_job_never_runs_on_restart_or_when_paused_again() {
    let env = Env::new();
    write(
        &env,
        "mrsm-jobs.yaml",
        "project: held\njobs:\n  hourly:\n    command: echo fired\n    schedule: every 1 hour\n    state: paused\n",
    );
    env.ok(&["up", "-d"]);
    env.ok(&["restart"]);
    env.ok(&["restart", "hourly"]);
    // Stopped by hand, then `up` brings it back paused: still without running.
    env.ok(&["stop", "jobs", "hourly"]);
    env.mrsm()
        .args(["up", "-d"])
        .assert()
        .success()
        .stdout(predicate::str::contains("paused job \"hourly\""));
    assert_eq!(env.status("hourly"), "paused");
    assert!(env.runs("hourly").is_empty(), "{:?}", env.runs("hourly"));
    assert!(
        !env.log_text("hourly").contains(" out fired"),
        "{}",
        env.log_text("hourly")
    );
    env.ok(&["down"]);
}

#[test]
fn ps_shows_a_job_whose_definition_cannot_be_read() {
    let env = Env::new();
    write(
        &env,
        "mrsm-jobs.yaml",
        "project: listed\njobs:\n  fine:\n    command: sleep 300\n  damaged:\n    command: sleep 300\n",
    );
    env.ok(&["up", "-d"]);
    std::fs::write(env.job_dir("damaged").join("job.json"), "garbage{").expect("written");
    env.mrsm()
        .args(["ps"])
        .assert()
        .success()
        .stdout(predicate::str::contains("fine").and(predicate::str::contains("broken")));
    env.mrsm()
        .args(["diff"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("! broken damaged"));
    env.ok(&["delete", "jobs", "damaged", "-y"]);
    env.ok(&["up", "-d"]);
    assert_eq!(env.status("damaged"), "running");
    env.ok(&["down"]);
}

#[test]
fn what_was_kept_can_be_read_and_removed_later() {
    let env = Env::new();
    write(
        &env,
        "mrsm-jobs.yaml",
        "project: keeper\njobs:\n  diary:\n    command: sh -c 'echo entry; sleep 300'\n  other:\n    command: sleep 300\n",
    );
    env.ok(&["up", "-d"]);
    wait_for(Duration::from_secs(10), "the first entry", || {
        env.log_text("diary").contains(" out entry").then_some(())
    });
    env.ok(&["down"]);
    // Still readable by name, though the job is gone.
    env.mrsm()
        .args(["show", "logs", "diary"])
        .assert()
        .success()
        .stdout(predicate::str::contains("entry"));
    env.mrsm()
        .args(["show", "runs", "diary"])
        .assert()
        .success()
        .stdout(predicate::str::contains("stopped by request"));
    env.mrsm().args(["show", "jobs", "diary"]).assert().code(1);
    // `down -v` later removes what the project's jobs left.
    env.mrsm()
        .args(["down", "-v"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "deleted the logs and run history kept for job \"diary\"",
        ));
    assert!(!env.job_dir("diary").exists());
    assert!(!env.root().join("logs/diary.log").exists());

    // So does `delete jobs NAME -y` for one job.
    env.run_d("loner", &["--", "echo", "hi"]);
    wait_for(Duration::from_secs(10), "loner to finish", || {
        (env.status("loner") == "stopped").then_some(())
    });
    std::fs::remove_file(env.job_dir("loner").join("job.json")).expect("removed");
    env.mrsm()
        .args(["delete", "jobs", "loner", "-y"])
        .assert()
        .success()
        .stdout(predicate::str::contains("kept for job \"loner\""));
    assert!(!env.root().join("logs/loner.log").exists());
}

#[test]
fn a_job_declared_paused_never_runs_before_it_is_resumed() {
    let env = Env::new();
    let side = env.work().join("side");
    let spec = |x: u32| {
        format!(
            "project: resting\njobs:\n  tick:\n    command: echo ran >> {side}\n    schedule: every 1 second\n    state: paused\n    env: {{ X: '{x}' }}\n  held:\n    command: sh -c 'echo ran >> {side}; sleep 300'\n    state: paused\n    env: {{ X: '{x}' }}\n",
            side = side.display()
        )
    };
    for x in 1..=3 {
        write(&env, "mrsm-jobs.yaml", &spec(x));
        env.ok(&["up", "-d"]);
        assert_eq!(env.status("tick"), "paused");
        assert_eq!(env.status("held"), "paused");
        support::assert_holds_for(Duration::from_millis(1200), "nothing ran", || {
            !side.exists()
        });
    }
    // Resumed, both run.
    env.ok(&["start", "jobs", "tick", "held"]);
    wait_for(Duration::from_secs(10), "both to run", || {
        let text = std::fs::read_to_string(&side).ok()?;
        (text.lines().count() >= 2).then_some(())
    });
    env.ok(&["down"]);
}

#[test]
fn counts_say_one_job_not_one_jobs() {
    let env = Env::new();
    let one = [("solo".to_string(), "sleep 300".to_string(), None)];
    write(&env, "mrsm-jobs.yaml", &jobs_yaml(&one));
    env.ok(&["up", "-d"]);
    env.mrsm()
        .args(["up", "-d"])
        .assert()
        .success()
        .stdout("project \"demo\" is up to date (1 job)\n");
    let two: Vec<_> = ["solo", "duo"]
        .iter()
        .map(|n| (n.to_string(), "sleep 300".to_string(), None))
        .collect();
    write(&env, "mrsm-jobs.yaml", &jobs_yaml(&two));
    env.ok(&["up", "-d"]);
    env.mrsm()
        .args(["up", "-d"])
        .assert()
        .success()
        .stdout("project \"demo\" is up to date (2 jobs)\n");
    env.ok(&["down"]);
}

/// `sh -c SCRIPT` on a terminal (a pty) with `mrsm` as `$0`, in the work directory;
/// what the terminal showed, escapes included.
fn on_terminal(env: &Env, script: &str, vars: &[(&str, &str)]) -> String {
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", script])
        .arg(assert_cmd::cargo::cargo_bin("mrsm"))
        .env("MRSM_ROOT_DIR", env.root())
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .current_dir(env.work());
    for (key, value) in vars {
        cmd.env(key, value);
    }
    let mut session = rexpect::session::spawn_command(cmd, Some(10_000)).expect("runs in a pty");
    let shown = session.exp_eof().expect("ends");
    // rexpect hands over each byte as a character.
    let bytes: Vec<u8> = shown.chars().map(|c| c as u8).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A terminal's lines without colour escapes.
fn plain_lines(shown: &str) -> Vec<String> {
    let mut plain = shown.to_string();
    for code in [
        "\u{1b}[0m",
        "\u{1b}[31m",
        "\u{1b}[32m",
        "\u{1b}[33m",
        "\u{1b}[35m",
    ] {
        plain = plain.replace(code, "");
    }
    plain
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}

#[test]
fn tables_fit_the_terminal_and_colour_statuses_but_not_in_a_pipe() {
    let env = Env::new();
    let long = "sh -c 'sleep 300; echo a command long enough to be cut on any narrow terminal'";
    let spec = format!(
        "project: demo\njobs:\n  runner:\n    command: {long}\n  \
         pauser:\n    command: sleep 300\n    state: paused\n  \
         failer:\n    command: sh -c 'exit 3'\n  \
         idle:\n    command: sleep 300\n    state: stopped\n"
    );
    write(&env, "mrsm-jobs.yaml", &spec);
    env.ok(&["up", "-d"]);
    wait_for(Duration::from_secs(20), "failer to fail", || {
        (ps(&env)["failer"].2 == "failed").then_some(())
    });
    for verb in ["ps", "show jobs"] {
        let script = format!("stty rows 24 cols 60; exec \"$0\" {verb}");
        let shown = on_terminal(&env, &script, &[]);
        let lines = plain_lines(&shown);
        assert_eq!(lines.len(), 5, "{shown:?}");
        for line in &lines {
            assert!(
                line.chars().count() <= 60,
                "{verb}: wider than 60: {line:?}"
            );
        }
        assert!(shown.contains('…'), "{verb}: nothing cut: {shown:?}");
        for (status, colour) in [("running", "32"), ("paused", "33"), ("failed", "31")] {
            assert!(
                shown.contains(&format!("\u{1b}[{colour}m{status}\u{1b}[0m")),
                "{verb}: {status} not coloured: {shown:?}"
            );
        }
        assert!(!shown.contains("m stopped"), "{shown:?}");
        // No colour with NO_COLOR or --no-color; COLUMNS when the terminal says nothing.
        let plain = on_terminal(&env, &script, &[("NO_COLOR", "1")]);
        assert!(!plain.contains('\u{1b}'), "{verb}: {plain:?}");
        let script = format!("stty rows 24 cols 60; exec \"$0\" {verb} --no-color");
        assert!(!on_terminal(&env, &script, &[]).contains('\u{1b}'));
        let script = format!("stty rows 0 cols 0; exec \"$0\" {verb}");
        let narrow = on_terminal(&env, &script, &[("COLUMNS", "45")]);
        for line in plain_lines(&narrow) {
            assert!(line.chars().count() <= 45, "{verb}: {line:?}");
        }
        // A pipe gets the table whole and plain, as before.
        let args: Vec<&str> = verb.split(' ').collect();
        let piped = env
            .mrsm()
            .args(&args)
            .env_remove("NO_COLOR")
            .env("COLUMNS", "45")
            .output()
            .expect("runs");
        let piped = String::from_utf8_lossy(&piped.stdout);
        assert!(!piped.contains('\u{1b}'), "{piped}");
        assert!(piped.lines().any(|l| l.chars().count() > 100), "{piped}");
        // Whole to a pipe: nothing is cut, so a failure's reason is never lost.
        assert!(!piped.contains('…'), "{piped}");
        assert!(piped.contains(long), "{piped}");
    }
    env.ok(&["down"]);
}

#[test]
fn an_up_that_would_delete_most_jobs_asks_or_needs_remove_orphans() {
    let env = Env::new();
    let names = |n: &[&str]| -> Vec<(String, String, Option<&str>)> {
        n.iter()
            .map(|n| (n.to_string(), "sleep 300".to_string(), None))
            .collect()
    };
    write(
        &env,
        "mrsm-jobs.yaml",
        &jobs_yaml(&names(&["a", "b", "c", "d"])),
    );
    write(&env, "other.yaml", &jobs_yaml(&names(&["a"])));
    write(&env, "half.yaml", &jobs_yaml(&names(&["a", "b"])));
    env.ok(&["up", "-d"]);
    // Elsewhere than a terminal: refused, nothing changed, and how to go on.
    let out = env
        .mrsm()
        .args(["up", "-d", "-f", "other.yaml"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("this deletes 3 of project \"demo\"'s 4 jobs (b, c, d), which the files no longer declare: nothing was changed")
            && said.contains("--remove-orphans"),
        "{said}"
    );
    assert_eq!(ps(&env).len(), 4);
    // On a terminal it asks; no is no.
    let ask = |answer: &str| {
        let mut cmd = support::mrsm_process();
        cmd.args(["up", "-d", "-f", "other.yaml"])
            .env("MRSM_ROOT_DIR", env.root())
            .current_dir(env.work());
        let mut session =
            rexpect::session::spawn_command(cmd, Some(15_000)).expect("runs in a pty");
        session
            .exp_string("This deletes 3 of project \"demo\"'s 4 jobs (b, c, d), which the files no longer declare: delete them? [y/N]")
            .expect("asks");
        session.send_line(answer).expect("answers");
        session.exp_eof().expect("ends")
    };
    assert!(ask("n").contains("nothing was changed"));
    assert_eq!(ps(&env).len(), 4);
    assert!(ask("y").contains("deleted job \"d\""));
    assert_eq!(ps(&env).len(), 1);
    // Half or fewer: applied as before; more with --remove-orphans.
    env.ok(&["up", "-d"]);
    env.mrsm()
        .args(["up", "-d", "-f", "half.yaml"])
        .assert()
        .success()
        .stdout(predicate::str::contains("deleted job \"c\""));
    env.ok(&["up", "-d"]);
    env.mrsm()
        .args(["up", "-d", "-f", "other.yaml", "--remove-orphans"])
        .assert()
        .success();
    assert_eq!(ps(&env).len(), 1);
    // down is not an up: it deletes every job without asking.
    env.ok(&["up", "-d"]);
    env.ok(&["down"]);
    assert!(ps(&env).is_empty());
}
