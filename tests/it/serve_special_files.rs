//! `mrsm serve` with a FIFO (or another file that is not a regular one) in place
//! of one of its root's files: nothing waits on it. `/healthcheck` answers, a
//! request is answered within a deadline (an error naming what could not be read
//! where that is all it needs), the job listing and the watchdog go on for every
//! other job, the broken job can be deleted, and SIGTERM stops the server in its
//! usual time.

use crate::support;
use crate::support::server;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use server::Server;
use support::wait_for;

/// How long a request may take here: far more than any needs, far less than
/// forever (what one waiting on a FIFO would take).
const ANSWER_WITHIN: Duration = Duration::from_secs(4);
/// How long the server may take to stop once told to.
const STOP_WITHIN: Duration = Duration::from_secs(8);

/// Puts a FIFO at `path`, in place of whatever was there.
fn fifo(path: &Path) {
    let _ = std::fs::remove_file(path);
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
}

/// `METHOD url` (with the server's token unless `token` is `None`), which must be
/// answered within [`ANSWER_WITHIN`]: its status and body.
fn timed(method: &str, url: &str, token: Option<&str>) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(ANSWER_WITHIN))
        .build()
        .into();
    let asked = Instant::now();
    let mut request = match method {
        "DELETE" => agent.delete(url),
        _ => agent.get(url),
    };
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request
        .call()
        .unwrap_or_else(|e| panic!("{method} {url}: no answer within {ANSWER_WITHIN:?}: {e}"));
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    assert!(
        asked.elapsed() < ANSWER_WITHIN,
        "{method} {url} took {:?}",
        asked.elapsed()
    );
    (status, body)
}

/// SIGTERM, which must end the server within [`STOP_WITHIN`].
fn stops_in_time(server: &Server) {
    let pid = nix::unistd::Pid::from_raw(server.pid() as i32);
    let told = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signalled");
    wait_for(STOP_WITHIN, "the server to exit after SIGTERM", || {
        // Reaped by the test's child handle later; gone or a zombie is exited.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        (stat.is_empty() || state.starts_with('Z')).then_some(())
    });
    eprintln!("the server stopped {:?} after SIGTERM", told.elapsed());
}

#[test]
fn a_fifo_at_the_tokens_file_holds_up_neither_the_healthcheck_nor_shutdown() {
    let server = Server::start();
    let url = server.url();
    fifo(&server.env.root().join("tokens.json"));
    let (status, _) = timed("GET", &format!("{url}/healthcheck"), None);
    assert_eq!(status, 200);
    // Several at once: none is held up by another.
    std::thread::scope(|scope| {
        let asked: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| timed("GET", &format!("{url}/v1/jobs"), Some(&server.token))))
            .collect();
        for answer in asked {
            let (status, body) = answer.join().expect("asked");
            assert_eq!(status, 500, "{body}");
            assert!(body.contains("cannot read its tokens"), "{body}");
        }
    });
    let (status, _) = timed("GET", &format!("{url}/healthcheck"), None);
    assert_eq!(status, 200);
    // The command line says what is wrong, at once.
    let out = server
        .env
        .mrsm()
        .args(["token", "list"])
        .timeout(ANSWER_WITHIN)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("tokens.json is a FIFO, not a file"), "{err}");
    stops_in_time(&server);
}

/// The job of `name` in a `GET /v1/jobs` listing.
fn listed(jobs: &str, name: &str) -> Value {
    let jobs: Vec<Value> = serde_json::from_str(jobs).expect("JSON");
    jobs.into_iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed"))
}

#[test]
fn a_fifo_at_a_job_s_files_holds_up_neither_the_listing_nor_the_watchdog() {
    let server = Server::start();
    let url = server.url();
    let token = Some(server.token.as_str());
    let env = &server.env;
    env.run_d("plugged", &["--", "sleep", "300"]);
    env.run_d("steady", &["--", "sleep", "300"]);
    env.run_d("noisy", &["--", "sh", "-c", "echo said; sleep 300"]);
    fifo(&env.job_dir("plugged").join("job.json"));
    fifo(&env.job_dir("noisy").join("runs.jsonl"));
    fifo(&env.root().join("logs/noisy.log"));

    let (status, body) = timed("GET", &format!("{url}/v1/jobs"), token);
    assert_eq!(status, 200, "{body}");
    let plugged = listed(&body, "plugged");
    assert_eq!(plugged["status"], "broken", "{plugged}");
    let reason = plugged["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("job.json is a FIFO, not a file"),
        "{reason}"
    );
    assert_eq!(listed(&body, "steady")["status"], "running");
    let (status, body) = timed("GET", &format!("{url}/jobs"), token);
    assert_eq!(status, 200, "{body}");
    let (status, body) = timed("GET", &format!("{url}/v1/jobs/noisy/runs"), token);
    assert_eq!(status, 500, "{body}");
    let (status, body) = timed("GET", &format!("{url}/v1/jobs/noisy/logs?tail=10"), token);
    assert_eq!(status, 200, "{body}");
    let (status, body) = timed("GET", &format!("{url}/logs/noisy"), token);
    assert_eq!(status, 200, "{body}");

    // The watchdog still starts again a job whose supervisor was killed.
    let before = env.supervisor("steady").expect("a supervisor");
    support::kill_job(before);
    wait_for(
        Duration::from_secs(10),
        "the watchdog to start the killed job again",
        || {
            env.supervisor("steady")
                .filter(|s| *s != before && s.is_alive())
        },
    );

    let (status, body) = timed(
        "DELETE",
        &format!("{url}/v1/jobs/plugged?purge=true"),
        token,
    );
    assert_eq!(status, 200, "{body}");
    assert!(!env.job_dir("plugged").exists());
    stops_in_time(&server);
}
