//! A job moving to a real `mrsm serve` that will not take it (the client's token
//! may not create jobs there): the job is never deleted before its new copy exists,
//! so it keeps running where it was.

#[path = "support/server.rs"]
mod server;
mod support;

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
