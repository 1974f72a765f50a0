//! A foreground run on a server (`mrsm run -e api:NAME -- …`) whose client is killed
//! with SIGKILL leaves nothing running there: its job lives on a lease the client
//! renews, and the server stops and deletes it once the lease runs out, also after
//! the server itself was started again.

#[path = "support/server.rs"]
mod server;
mod support;

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
