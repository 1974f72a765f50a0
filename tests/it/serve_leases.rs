//! A foreground run on a server (`mrsm run -e api:NAME -- …`) whose client is killed
//! with SIGKILL leaves nothing running there: its job lives on a lease the client
//! renews, and the server stops and deletes it once the lease runs out, also after
//! the server itself was started again.

use crate::support;
use crate::support::server;

use std::process::{Child, Stdio};
use std::time::Duration;

use server::{Client, Server};
use support::{assert_holds_for, wait_for};

const LEASE: &str = "1s";

/// `mrsm run -e api:test --name NAME -- sleep 300` on the client, in the background.
fn remote_run(client: &Client, name: &str) -> Child {
    support::mrsm_process()
        .args([
            "run", "-e", "api:test", "--name", name, "--", "sleep", "300",
        ])
        .env("MRSM_ROOT_DIR", client.env.root())
        .env("MRSM_CONFIG", &client.config)
        .env("MRSM_REMOTE_LEASE", LEASE)
        .env_remove("MRSM_BIN")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mrsm run starts")
}

/// Waits until the server runs the job's step; its pid.
fn running_there(server: &Server, name: &str) -> i32 {
    wait_for(
        Duration::from_secs(10),
        "the job to run on the server",
        || {
            let info = server.env.try_info(name)?;
            let pid = info["pid"].as_i64()?;
            (info["status"] == "running").then_some(pid as i32)
        },
    )
}

fn gone_there(server: &Server, name: &str) {
    wait_for(
        Duration::from_secs(10),
        "the server to delete the job",
        || (!server.env.job_dir(name).join("job.json").exists()).then_some(()),
    );
}

#[test]
fn a_killed_client_s_job_is_stopped_and_deleted_when_its_lease_runs_out() {
    let server = Server::start();
    let client = server.client();
    let mut run = remote_run(&client, "leased");
    let step = running_there(&server, "leased");
    // While its client renews it, the job outlives many lease times.
    assert_holds_for(Duration::from_secs(3), "the job runs on", || {
        server.env.job_dir("leased").join("job.json").exists()
    });
    let _ = run.kill(); // SIGKILL: no chance to stop or delete it
    let _ = run.wait();
    gone_there(&server, "leased");
    wait_for(Duration::from_secs(10), "its step to be gone", || {
        mrsm::store::ProcessIdentity::of(step)
            .is_none()
            .then_some(())
    });
}

#[test]
fn a_server_started_again_still_ends_a_killed_client_s_job() {
    let mut server = Server::start();
    let client = server.client();
    let mut run = remote_run(&client, "leased");
    running_there(&server, "leased");
    let _ = run.kill();
    let _ = run.wait();
    // The server goes down before the lease runs out, and comes back.
    server.kill_and_restart();
    gone_there(&server, "leased");
}

/// A second `mrsm serve` on `server`'s root (killed when dropped).
struct Second(std::process::Child);

impl Drop for Second {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn second_server(server: &Server) -> Second {
    let mut child = support::mrsm_process()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("MRSM_ROOT_DIR", server.env.root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("a second server starts");
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().expect("piped")),
        &mut first,
    )
    .expect("it says where it listens");
    Second(child)
}

#[test]
fn two_servers_on_one_root_share_a_job_s_lease() {
    let server = Server::start();
    // Started after the job's lease began: it would give it a whole lease from its
    // start if it did not see the renewals the first server takes.
    let client = server.client();
    let mut run = remote_run(&client, "shared");
    running_there(&server, "shared");
    let _second = second_server(&server);
    assert_holds_for(Duration::from_secs(3), "the job runs on", || {
        server.env.job_dir("shared").join("job.json").exists()
    });
    let _ = run.kill();
    let _ = run.wait();
    gone_there(&server, "shared");
}

#[test]
fn a_lease_needs_what_a_delete_needs() {
    let server = Server::start();
    let token = server.env.token(
        "maker",
        &["jobs:read", "jobs:execute", "jobs:write", "jobs:stop"],
    );
    let body = |lease: bool| {
        let mut body = serde_json::json!({
            "spec": { "name": "leased", "command": ["sleep 300"] },
            "desired": "running",
        });
        if lease {
            body["lease_ms"] = serde_json::json!(1);
        }
        body.to_string()
    };
    let url = format!("{}/v1/jobs/leased", server.url());
    let (status, answer) = server::call("POST", &url, Some(&token), &body(true));
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("lacks jobs:delete"), "{answer}");
    assert!(!server.env.job_dir("leased").join("job.json").exists());
    let (status, answer) = server::call("PUT", &url, Some(&token), &body(true));
    assert_eq!(status, 403, "{answer}");
    // Without a lease, what creating needs is enough.
    let (status, answer) = server::call("POST", &url, Some(&token), &body(false));
    assert_eq!(status, 201, "{answer}");
}
