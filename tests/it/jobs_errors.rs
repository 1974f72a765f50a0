//! Bad input to the job verbs: a clear message, a non-zero exit, and nothing changed.

use crate::support;
use crate::support::server;

use std::time::Duration;

use predicates::prelude::*;
use support::Env;

fn assert_no_jobs(env: &Env) {
    let jobs = std::fs::read_dir(env.root().join("jobs"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(jobs, 0, "no job may be left behind by a refused command");
}

#[test]
fn unknown_jobs_are_named() {
    let env = Env::new();
    for verb in [&["start"][..], &["stop"], &["pause"], &["delete", "-y"]] {
        env.mrsm()
            .args([verb[0], "jobs", "ghost"])
            .args(&verb[1..])
            .assert()
            .code(1)
            .stderr(predicate::str::contains("job \"ghost\" does not exist"));
    }
    env.mrsm()
        .args(["show", "runs", "ghost"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("\"ghost\" does not exist"));
    assert_no_jobs(&env);
}

#[test]
fn each_name_is_reported() {
    let env = Env::new();
    env.run_d("real", &["--", "sleep", "300"]);
    env.mrsm()
        .args(["stop", "jobs", "ghost", "real"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("stopped job \"real\""))
        .stderr(predicate::str::contains("job \"ghost\" does not exist"));
    assert_eq!(env.status("real"), "stopped");
}

#[test]
fn delete_without_a_terminal_needs_yes() {
    let env = Env::new();
    env.run_d("kept", &["--", "sleep", "300"]);
    env.mrsm()
        .args(["delete", "jobs", "kept"])
        .write_stdin("y\n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("pass -y to confirm"));
    assert_eq!(env.status("kept"), "running", "nothing deleted");
    env.ok(&["delete", "jobs", "kept", "-y"]);
    assert!(!env.job_dir("kept").exists());
}

#[test]
fn schedules_faster_than_a_second_need_allow_fast() {
    let env = Env::new();
    env.mrsm()
        .args([
            "run",
            "-d",
            "--name",
            "hasty",
            "-s",
            "every 0.0001 seconds",
            "--",
            "true",
        ])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("more often than once a second")
                .and(predicate::str::contains("--allow-fast")),
        );
    assert_no_jobs(&env);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "hasty",
        "-s",
        "every 0.5 seconds",
        "--allow-fast",
        "--",
        "true",
    ]);
    env.ok(&["stop", "jobs", "hasty"]);
}

#[test]
fn a_restart_policy_on_a_scheduled_job_is_a_warning() {
    let env = Env::new();
    env.mrsm()
        .args([
            "run",
            "-d",
            "--name",
            "sched",
            "-s",
            "every 1 hour",
            "--restart",
            "always",
            "--",
            "true",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "--restart always has no effect on a scheduled job",
        ));
    env.ok(&["stop", "jobs", "sched"]);
}

#[test]
fn verbs_explain_themselves() {
    let env = Env::new();
    for (verb, words) in [
        ("start", "resume paused ones"),
        ("stop", "SIGKILL after the grace period"),
        ("pause", "hold their schedules"),
        ("delete", "logs and run history"),
    ] {
        env.mrsm()
            .args([verb, "jobs", "--help"])
            .assert()
            .success()
            .stdout(predicate::str::contains(words));
    }
}

#[test]
fn invalid_names_exit_2() {
    let env = Env::new();
    env.mrsm()
        .args(["run", "-d", "--name", "no spaces", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid job name \"no spaces\""));
    env.mrsm()
        .args(["stop", "jobs", "../etc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid job name"));
    assert_no_jobs(&env);
}

#[test]
fn bad_schedules_policies_and_signals_exit_2() {
    let env = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (
            &["-s", "every 1 fortnight"],
            "unknown unit \"fortnight\" at column 9",
        ),
        (&["-s", "daily", "--tz", "Mars/Base"], "unknown time zone"),
        (
            &["--restart", "sometimes"],
            "unknown restart policy \"sometimes\"",
        ),
        (&["--overlap", "pile-up"], "unknown overlap policy"),
        (&["--stop-signal", "SIGFOO"], "unknown signal \"SIGFOO\""),
        (&["--stop-timeout", "soon"], "bad duration \"soon\""),
        (&["--log-size", "huge"], "bad size"),
    ];
    for (args, message) in cases {
        env.mrsm()
            .args(["run", "-d", "--name", "x"])
            .args(*args)
            .args(["--", "true"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(*message));
    }
    assert_no_jobs(&env);

    env.run_d("victim", &["--", "sleep", "300"]);
    env.mrsm()
        .args(["stop", "jobs", "victim", "--signal", "SIGFOO"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown signal \"SIGFOO\""));
    assert_eq!(
        env.status("victim"),
        "running",
        "a refused stop changes nothing"
    );
    assert_eq!(env.info("victim")["desired"], "running");
}

#[test]
fn names_are_unique() {
    let env = Env::new();
    env.run_d("twin", &["--", "sleep", "300"]);
    env.mrsm()
        .args(["run", "-d", "--name", "twin", "--", "true"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("job \"twin\" already exists"));
    assert_eq!(env.info("twin")["command"][0], "sleep 300");
}

#[test]
fn pausing_a_stopped_job_is_refused() {
    let env = Env::new();
    env.run_d("done", &["--", "true"]);
    support::wait_for(std::time::Duration::from_secs(10), "the job to end", || {
        (env.status("done") == "stopped").then_some(())
    });
    env.mrsm()
        .args(["pause", "jobs", "done"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("job \"done\" is not running"));
    assert_eq!(env.info("done")["desired"], "running");
}

#[test]
fn starting_a_job_twice_at_once_gives_one_supervisor() {
    let env = Env::new();
    env.run_d("single", &["--", "sleep", "300"]);
    env.ok(&["stop", "jobs", "single"]);
    let mut starts: Vec<_> = (0..3)
        .map(|_| {
            support::mrsm_process()
                .args(["start", "jobs", "single"])
                .env("MRSM_ROOT_DIR", env.root())
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start runs")
        })
        .collect();
    for s in &mut starts {
        assert!(s.wait().expect("ends").success());
    }
    let supervisors: Vec<_> = mrsm::store::proc::all_processes()
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|c| c.contains("supervise\0single\0") && c.contains("mrsm"))
                && std::fs::read_to_string(format!("/proc/{}/environ", p.pid))
                    .is_ok_and(|e| e.contains(&env.root().display().to_string()))
        })
        .collect();
    assert_eq!(supervisors.len(), 1, "{supervisors:?}");
    assert_eq!(env.status("single"), "running");
}

#[test]
fn the_longest_name_works_under_a_long_root() {
    let env = Env::new();
    let root = env.root().join("r".repeat(40));
    let name = "n".repeat(64);
    let mrsm = |args: &[&str]| {
        let mut cmd = env.mrsm();
        cmd.env("MRSM_ROOT_DIR", &root).args(args);
        cmd
    };
    mrsm(&["run", "-d", "--name", &name, "--", "sleep", "300"])
        .assert()
        .success();
    mrsm(&["pause", "jobs", &name]).assert().success();
    mrsm(&["start", "jobs", &name]).assert().success();
    mrsm(&["stop", "jobs", &name])
        .assert()
        .success()
        .stdout(predicate::str::contains("stopped job"));
}

#[test]
fn closed_output_is_no_reason_to_panic() {
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: mute\njobs:\n  quiet:\n    command: sleep 300\n",
    )
    .expect("written");
    for args in [
        "run -d --name closed -- sleep 300",
        "show jobs",
        "up -d",
        "ps",
        "stop jobs closed",
        "down",
        "schema",
    ] {
        // Both outputs are pipes whose reader is gone: every print fails (EPIPE).
        let (reader, writer) = nix::unistd::pipe().expect("a pipe");
        drop(reader);
        let status = support::mrsm_process()
            .args(args.split(' '))
            .env("MRSM_ROOT_DIR", env.root())
            .current_dir(env.work())
            .stdout(std::process::Stdio::from(writer.try_clone().expect("dup")))
            .stderr(std::process::Stdio::from(writer))
            .status()
            .expect("runs");
        // Commands that only print may say they failed to; none panics, and the
        // ones that change jobs do their work.
        let prints_only = ["show jobs", "ps", "schema"].contains(&args);
        if prints_only {
            assert_ne!(status.code(), Some(101), "mrsm {args} panicked");
        } else {
            assert_eq!(status.code(), Some(0), "mrsm {args} with its output gone");
        }
    }
    assert_eq!(env.status("closed"), "stopped", "the work was done");
}

#[test]
fn run_d_of_a_first_step_that_cannot_start_is_an_error() {
    let env = Env::new();
    let plain = env.work().join("not-a-program");
    std::fs::write(&plain, "data").expect("written");
    let plain = plain.display().to_string();
    // Not found, and not executable: exit 1 with the reason; the job shows failed.
    for (name, program, reason) in [
        ("nf", "no-such-program-mrsm", "not found"),
        ("nx", plain.as_str(), "Permission denied"),
    ] {
        env.mrsm()
            .args(["run", "-d", "--name", name, "--", program])
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicates::str::contains(format!(
                "error: job \"{name}\": step 1/1"
            )))
            .stderr(predicates::str::contains(reason))
            .stderr(predicates::str::contains(format!(
                "the job stays, failed (`mrsm delete jobs {name}` removes it)"
            )));
        assert_eq!(env.status(name), "failed");
        assert_eq!(env.info(name)["last_result"]["not_started"], true);
    }
    // With a restart policy it is still an error, and the job is left to its policy.
    env.mrsm()
        .args([
            "run",
            "-d",
            "--name",
            "retried",
            "--restart",
            "on-failure",
            "--",
        ])
        .arg("no-such-program-mrsm")
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "tried again by its restart policy",
        ));
    env.ok(&["delete", "jobs", "retried", "-y"]);
    // A job that removes itself once over (`--rm`) is not said to stay.
    env.mrsm()
        .args([
            "run",
            "-d",
            "--rm",
            "--name",
            "gone",
            "--",
            "no-such-program-mrsm",
        ])
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "on PATH); the job is gone (--rm)",
        ));
    support::wait_for(Duration::from_secs(10), "the --rm job gone", || {
        (!env.root().join("jobs/gone/job.json").exists()).then_some(())
    });
    // A step that starts and fails, or a later step that cannot start, is the job's
    // business, not `run -d`'s.
    for (name, command) in [
        ("fails", vec!["sh", "-c", "exit 3"]),
        ("later", vec!["true", "+", "no-such-program-mrsm"]),
    ] {
        env.mrsm()
            .args(["run", "-d", "--name", name, "--"])
            .args(&command)
            .assert()
            .success();
    }
}

#[test]
fn run_d_on_a_server_of_a_step_that_cannot_start_is_an_error() {
    let server = server::Server::start();
    let client = server.client();
    client
        .mrsm()
        .args(["run", "-d", "-e", "api:test", "--name", "nf", "--"])
        .arg("no-such-program-mrsm")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("could not start"))
        .stderr(predicates::str::contains("not found"));
}

#[test]
fn a_stop_timeout_beyond_the_longest_is_refused_everywhere() {
    let env = Env::new();
    env.mrsm()
        .args([
            "run",
            "-d",
            "--name",
            "ovf",
            "--stop-timeout",
            "18446744073709551615s",
        ])
        .args(["--", "sleep", "300"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("is over the longest, 7days"));
    env.run_d("ok", &["--", "sleep", "300"]);
    env.mrsm()
        .args(["stop", "jobs", "ok", "--timeout", "18446744073709551615s"])
        .assert()
        .code(2);
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "jobs:\n  slow:\n    command: sleep 300\n    stop: { timeout: 9999999999s }\n",
    )
    .expect("written");
    env.mrsm()
        .arg("validate")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("mrsm-jobs.yaml:4:"))
        .stderr(predicates::str::contains("over the longest"));
    // Through the API, a stop that asks for more waits the longest (not a panic).
    let server = server::Server::start();
    server.env.run_d("far", &["--", "sleep", "300"]);
    let (status, body) = server::call(
        "POST",
        &format!(
            "{}/v1/jobs/far/stop?timeout_ms=18446744073709551615",
            server.url()
        ),
        Some(&server.token),
        "",
    );
    assert_eq!(status, 200, "{body}");
    env.ok(&["stop", "jobs", "ok"]);
}

#[test]
fn a_job_without_finished_runs_says_so_by_its_name() {
    let env = Env::new();
    env.run_d("fresh", &["--", "sleep", "300"]);
    env.mrsm()
        .args(["show", "runs", "fresh"])
        .assert()
        .success()
        .stdout("No finished runs of \"fresh\".\n");
    env.ok(&["stop", "jobs", "fresh"]);
}
