//! Meerschaum 4.1.7's own Python client drives `mrsm serve`: lists, creates, starts,
//! pauses, stops and deletes jobs and reads their logs, over HTTP and the logs
//! WebSocket (`tests/meerschaum/drive.py`). The client lives in a virtualenv under
//! `target/` that `.ci/run` makes; this test makes it when it is missing.

use crate::support::server;

use std::path::{Path, PathBuf};
use std::process::Command;

use server::Server;

pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The virtualenv's Python with Meerschaum 4.1.7 and websockets, made if missing.
pub fn meerschaum_python() -> PathBuf {
    let venv = target_dir().join("meerschaum-venv");
    let python = venv.join("bin/python");
    let ready = venv.join(".ready-4.1.7-jobs");
    if ready.exists() {
        return python;
    }
    let made = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .expect("python3 runs");
    assert!(made.success(), "python3 -m venv {}", venv.display());
    let installed = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "meerschaum[formatting,core,jobs]==4.1.7",
            "websockets>=15",
            "pytest>=8",
        ])
        .status()
        .expect("pip runs");
    assert!(
        installed.success(),
        "pip install meerschaum[formatting,core,jobs]==4.1.7 websockets pytest"
    );
    std::fs::write(&ready, "").expect("marked ready");
    python
}

/// Runs `tests/meerschaum/SCRIPT URL TOKEN ARGS…` with Meerschaum's Python against
/// `server` (Meerschaum keeps its own files under MRSM_ROOT_DIR too: a directory of
/// its own) and asserts that every check of the script passed.
fn drive_with_meerschaum(server: &Server, script: &str, args: &[&std::ffi::OsStr]) {
    let python = meerschaum_python();
    let home = tempfile::tempdir().expect("temp dir");
    let out = Command::new(&python)
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/meerschaum")
                .join(script),
        )
        .arg(server.url())
        .arg(&server.token)
        .args(args)
        .env("MRSM_ROOT_DIR", home.path())
        .env("HOME", home.path())
        .env("MRSM_NO_AUTO_INSTALL", "1")
        .output()
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all checks passed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn meerschaum_s_command_line_drives_mrsm_serve_as_an_api_instance() {
    let cli = meerschaum_python().with_file_name("mrsm");
    let server = Server::start();
    drive_with_meerschaum(&server, "cli.py", &[cli.as_os_str()]);
    assert!(server.env.supervisor("j").is_none());
}

#[test]
fn meerschaum_s_own_client_drives_mrsm_serve() {
    let server = Server::start();
    drive_with_meerschaum(&server, "drive.py", &[]);
    // What the client made on the server, it removed.
    assert!(server.env.supervisor("greeter").is_none());
}

#[test]
fn websocket_followers_joining_mid_stream_see_every_line_once() {
    let python = meerschaum_python();
    let server = Server::start();
    let client = server.client();
    const LINES: usize = 400;
    client
        .mrsm()
        .args([
            "run",
            "-d",
            "-e",
            "api:test",
            "--name",
            "fast",
            "--",
            "sh",
            "-c",
            &format!("for i in $(seq 1 {LINES}); do echo n$i; sleep 0.005; done"),
        ])
        .assert()
        .success();
    let out = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/meerschaum/ws_exactly_once.py"))
        .args([
            &server.url(),
            &server.token,
            "fast",
            &LINES.to_string(),
            "8",
        ])
        .output()
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.starts_with("ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_read_only_socket_cannot_type_into_a_job_and_a_revoke_closes_it() {
    use std::io::{BufRead, BufReader};
    let python = meerschaum_python();
    let server = Server::start();
    let client = server.client();
    let reader = server.env.token("reader", &["jobs:read", "logs:read"]);
    client
        .mrsm()
        .args([
            "run",
            "-d",
            "-e",
            "api:test",
            "--name",
            "asker",
            "--",
            "sh",
            "-c",
            "read line; echo \"got $line\"; sleep 300",
        ])
        .assert()
        .success();
    let mut script = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/meerschaum/ws_scopes.py"))
        .args([&server.url(), &reader, "asker"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the script runs");
    let mut lines = BufReader::new(script.stdout.take().expect("piped")).lines();
    assert_eq!(lines.next().and_then(Result::ok).as_deref(), Some("sent"));
    // The first line the job reads is the one sent with a token that may.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let sent = agent
        .post(&format!("{}/v1/jobs/asker/stdin", server.url()))
        .header("Authorization", &format!("Bearer {}", server.token))
        .send(&b"from the owner\n"[..])
        .expect("answered");
    assert_eq!(sent.status().as_u16(), 204);
    assert_eq!(
        lines.next().and_then(Result::ok).as_deref(),
        Some("got from the owner")
    );
    server.env.ok(&["token", "revoke", "reader"]);
    let closed = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(closed.starts_with("closed ConnectionClosed"), "{closed}");
    let _ = script.wait();
}
