//! A job moving to a real `mrsm serve` that will not take it (the client's token
//! may not create jobs there): the job is never deleted before its new copy exists,
//! so it keeps running where it was.

use crate::support;
use crate::support::server;

use std::time::Duration;

use server::Server;
use support::wait_for;

#[test]
fn a_move_to_a_server_that_refuses_the_job_keeps_it_running_here() {
    let server = Server::start();
    // It may look, but not create jobs.
    let token = server.env.token("viewer", &["jobs:read", "logs:read"]);
    let client = server.client_with(&token);
    let spec = client.env.work().join("mrsm-jobs.yaml");
    let declare = |executor: &str| {
        std::fs::write(
            &spec,
            format!("project: moving\njobs:\n  important:\n    command: sleep 300\n    executor: {executor}\n"),
        )
        .expect("spec written");
    };
    declare("local");
    client.mrsm().args(["up", "-d"]).assert().success();
    let first = wait_for(Duration::from_secs(10), "important to run", || {
        client.env.supervisor("important")
    });

    declare("test");
    let out = client.mrsm().args(["up", "-d"]).output().expect("runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(!stdout.contains("deleted"), "{stdout}");
    assert!(
        stderr.contains("not moved to api:test") && stderr.contains("it stays on local"),
        "{stderr}"
    );
    let info = client.env.info("important");
    assert_eq!(info["status"], "running", "{info}");
    let now = client.env.supervisor("important").expect("a supervisor");
    assert!(
        now.is_alive() && !first.is_alive(),
        "stopped, then started again"
    );
    // Nothing was made on the server.
    assert!(!server.env.job_dir("important").exists());
}

#[test]
fn a_server_on_this_very_root_is_the_same_place_not_a_copy_to_delete() {
    let server = Server::start();
    let env = &server.env;
    // The server's own root names the server as an executor too.
    let config = env.work().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[executors.test]\nurl = \"{}\"\ntoken = \"{}\"\n",
            server.url(),
            server.token
        ),
    )
    .expect("settings written");
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: here\njobs:\n  solo:\n    command: sleep 300\n",
    )
    .expect("spec written");
    let mrsm = |args: &[&str]| {
        let out = env
            .mrsm()
            .env("MRSM_CONFIG", &config)
            .args(args)
            .output()
            .expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    assert_eq!(mrsm(&["up", "-d"]).0, Some(0));
    let first = env.supervisor("solo").expect("a supervisor");
    let (code, plan) = mrsm(&["diff"]);
    assert_eq!((code, plan.as_str()), (Some(0), ""), "{plan}");
    let (code, said) = mrsm(&["up", "-d"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(!said.contains("deleted"), "{said}");
    assert_eq!(env.supervisor("solo"), Some(first));
    // Listed once, by the executor it is on.
    let (_, table) = mrsm(&["show", "jobs"]);
    assert_eq!(table.matches("solo").count(), 1, "{table}");
    let (_, table) = mrsm(&["ps"]);
    assert_eq!(table.matches("solo").count(), 1, "{table}");
    assert_eq!(mrsm(&["down"]).0, Some(0));
}

#[test]
fn one_server_under_two_names_holds_one_copy_of_a_job() {
    let server = Server::start();
    let port = server.port;
    let client = server.client();
    // The settings file names it `test` (127.0.0.1); the spec names it `prod`
    // (localhost): two names, one server.
    std::fs::write(
        client.env.work().join("mrsm-jobs.yaml"),
        format!(
            "project: alias\nexecutors:\n  prod:\n    url: http://localhost:{port}\n    token: {}\njobs:\n  al1:\n    command: sleep 300\n    executor: prod\n",
            server.token
        ),
    )
    .expect("spec written");
    let mrsm = |args: &[&str]| {
        let out = client.mrsm().args(args).output().expect("runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = mrsm(&["up", "-d"]);
    assert_eq!(code, Some(0), "{out}{err}");
    for _ in 0..2 {
        let (code, plan, err) = mrsm(&["diff"]);
        assert_eq!((code, plan.as_str()), (Some(0), ""), "{err}");
        let (code, out, err) = mrsm(&["up", "-d"]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(!out.contains("deleted"), "{out}");
    }
    assert!(server.env.job_dir("al1").join("job.json").exists());
    let (_, table, _) = mrsm(&["ps"]);
    assert_eq!(table.matches("al1").count(), 1, "{table}");
    let (_, table, _) = mrsm(&["show", "jobs"]);
    assert_eq!(table.matches("al1").count(), 1, "{table}");
    let (code, out, err) = mrsm(&["down"]);
    assert_eq!(code, Some(0), "{out}{err}");
}
