//! Meerschaum's command line, as its reference table writes it: `-y`/`--yes` and
//! `-f`/`--force` on the job verbs, `--executor-keys` for `-e`, `show jobs
//! --nopretty`, and verbs without names acting on every job once confirmed.

use crate::support::Env;

fn statuses(env: &Env, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| env.status(n)).collect()
}

#[test]
fn meerschaum_s_flags_are_taken() {
    let env = Env::new();
    env.mrsm()
        .args([
            "run",
            "-d",
            "--executor-keys",
            "local",
            "--name",
            "a",
            "--",
            "sleep",
            "300",
        ])
        .assert()
        .success();
    env.run_d("b", &["--", "sleep", "300"]);
    env.ok(&["pause", "jobs", "b", "-y"]);
    env.ok(&["stop", "jobs", "a", "-y"]);
    assert_eq!(statuses(&env, &["a", "b"]), ["stopped", "paused"]);
    env.ok(&["start", "jobs", "a", "--yes"]);
    env.ok(&["stop", "jobs", "b", "-f"]);
    assert_eq!(statuses(&env, &["a", "b"]), ["running", "stopped"]);
    env.run_d("c", &["--", "sleep", "300"]);
    env.ok(&["pause", "jobs", "c"]);
    // Running, then paused, then the others; names only.
    let out = env
        .mrsm()
        .args(["show", "jobs", "--nopretty", "--executor-keys", "local"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a\nc\nb\n");
    env.ok(&["delete", "jobs", "a", "b", "c", "--force"]);
}

#[test]
fn verbs_without_names_act_on_every_job_once_confirmed() {
    let env = Env::new();
    for name in ["a", "b", "c"] {
        env.run_d(name, &["--", "sleep", "300"]);
    }
    env.ok(&["stop", "jobs", "c"]);
    // Not a terminal and no -y: refused, nothing stopped.
    let out = env.mrsm().args(["stop", "jobs"]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to stop every job (2)"),
        "{stderr}"
    );
    assert_eq!(
        statuses(&env, &["a", "b", "c"]),
        ["running", "running", "stopped"]
    );

    env.ok(&["pause", "jobs", "-y"]);
    assert_eq!(
        statuses(&env, &["a", "b", "c"]),
        ["paused", "paused", "stopped"]
    );
    env.ok(&["start", "jobs", "-y"]);
    assert_eq!(
        statuses(&env, &["a", "b", "c"]),
        ["running", "running", "running"]
    );
    env.ok(&["stop", "jobs", "-y"]);
    assert_eq!(
        statuses(&env, &["a", "b", "c"]),
        ["stopped", "stopped", "stopped"]
    );
    let out = env
        .mrsm()
        .args(["stop", "jobs", "-y"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("no running or paused jobs to stop"));

    let out = env.mrsm().args(["delete", "jobs"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(env.info("a")["status"], "stopped", "nothing deleted");
    env.ok(&["delete", "jobs", "-y"]);
    let out = env
        .mrsm()
        .args(["show", "jobs", "--json"])
        .output()
        .expect("runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

/// `start job CMD…` makes a job of the command, as `run -d` does, with
/// Meerschaum's flags among the words taken as options; a job's name stays a
/// start of that job, and a word that is neither is reported as a missing job.
#[test]
fn start_job_with_a_command_makes_it_a_job() {
    let env = Env::new();
    env.ok(&[
        "start",
        "job",
        "sh",
        "-c",
        "echo from start job; sleep 300",
        "--name",
        "sj",
        "-y",
    ]);
    assert_eq!(env.status("sj"), "running");
    crate::support::wait_for(std::time::Duration::from_secs(10), "its line", || {
        env.log_text("sj").contains("from start job").then_some(())
    });
    let command = env.info("sj")["command"].to_string();
    assert!(
        !command.contains("--name") && !command.contains("-y"),
        "{command}"
    );
    env.ok(&["stop", "jobs", "sj"]);
    env.ok(&["start", "jobs", "sj"]);
    assert_eq!(env.status("sj"), "running");
    let out = env
        .mrsm()
        .args(["start", "job", "no-such-job-or-program"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    env.ok(&["delete", "jobs", "-y", "sj"]);
}
