//! Reads of a large log cost what they return, not what the log holds. Each test
//! writes tens of MB of log in several rotated files with the writer jobs use, then
//! counts what a real `mrsm serve` or `mrsm show logs` read to answer (`rchar` in
//! /proc/PID/io) and the memory it took (`VmHWM`): a tail reads from the end, a
//! page at a cursor seeks to it, a whole log goes by pages of bounded cost and
//! memory. Bytes are counted, never time.

use crate::support;
use crate::support::server;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use jiff::Timestamp;
use mrsm::logs::{log_files, records_through, LogWriter, Stream};
use serde_json::Value;
use server::Server;
use support::{wait_for, Env};

const MIB: u64 = 1024 * 1024;

/// The text of line `i` of the logs written here: 90 bytes.
fn text(i: u64) -> String {
    format!("line {i:09} {}", "x".repeat(75))
}

/// Appends `count` lines to job `name`'s log under `root` with the writer jobs
/// use, in files of `file_size` bytes, `keep` of them kept; returns the bytes the
/// log's files hold.
fn write_log(root: &Path, name: &str, count: u64, file_size: u64, keep: u32) -> u64 {
    let path = root.join("logs").join(format!("{name}.log"));
    let mut writer = LogWriter::open(&path, file_size, keep).expect("opens");
    let t: Timestamp = "2026-01-01T00:00:00Z".parse().expect("an instant");
    for i in 0..count {
        writer.append(t, Stream::Out, text(i).as_bytes());
    }
    drop(writer);
    let files = log_files(&path);
    assert!(files.len() >= 4, "several rotated files: {files:?}");
    files
        .iter()
        .map(|f| std::fs::metadata(f).expect("a log file").len())
        .sum()
}

/// A number in `/proc/PID/FILE` (`io` or `status`), by field name.
fn proc_field(pid: u32, file: &str, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{file}")).expect("readable");
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {text}"))
}

/// Bytes process `pid` has read so far (files and sockets).
fn read_by(pid: u32) -> u64 {
    proc_field(pid, "io", "rchar")
}

/// The most memory process `pid` has held so far, in bytes.
fn peak_of(pid: u32) -> u64 {
    proc_field(pid, "status", "VmHWM") * 1024
}

/// A server whose job `big` ended and whose log then got `count` more lines.
fn server_with_log(count: u64, file_size: u64, keep: u32) -> (Server, u64) {
    let server = Server::start();
    server.env.run_d("big", &["--", "true"]);
    let supervisor = wait_for(Duration::from_secs(30), "the job to end", || {
        (server.env.status("big") == "stopped")
            .then(|| server.env.supervisor("big"))
            .flatten()
    });
    wait_for(Duration::from_secs(30), "its supervisor to exit", || {
        (!supervisor.is_alive()).then_some(())
    });
    let size = write_log(server.env.root(), "big", count, file_size, keep);
    (server, size)
}

/// `GET PATH` with the server's token: the body of a 200 answer.
fn get(url: &str, token: &str, path: &str) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut answer = agent
        .get(&format!("{url}{path}"))
        .header("Authorization", &format!("Bearer {token}"))
        .call()
        .expect("answered");
    let status = answer.status();
    let body = answer
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_string()
        .expect("a body");
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[test]
fn a_tail_and_a_page_in_the_middle_read_what_they_return_not_the_log() {
    const LINES: u64 = 400_000;
    let (server, size) = server_with_log(LINES, 8 * MIB, 8);
    assert!(size > 40 * MIB, "{size} bytes");
    let (pid, url, token) = (server.pid(), server.url(), server.token.clone());
    let end = records_through(&server.env.root().join("logs/big.log")).expect("a log");
    let first = end - LINES; // the run's own notes come before these lines

    let before = read_by(pid);
    let tail: Value =
        serde_json::from_str(&get(&url, &token, "/v1/jobs/big/logs?tail=1")).expect("JSON");
    let read = read_by(pid) - before;
    assert_eq!(tail[0]["line"], text(LINES - 1), "{tail}");
    eprintln!("tail=1 of a {size}-byte log: the server read {read} bytes");
    assert!(read < MIB, "tail=1 of a {size}-byte log read {read} bytes");

    let cursor = first + LINES / 2 + 123;
    let before = read_by(pid);
    let path = format!("/v1/jobs/big/logs/page?cursor={cursor}&max=1000");
    let page: Value = serde_json::from_str(&get(&url, &token, &path)).expect("JSON");
    let read = read_by(pid) - before;
    let lines = page["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 1000);
    assert_eq!(lines[0]["line"], text(cursor - first));
    assert_eq!(lines[999]["line"], text(cursor - first + 999));
    assert_eq!(page["cursor"], cursor + 1000);
    eprintln!("a page of 1000 lines in the middle: the server read {read} bytes");
    assert!(
        read < 2 * MIB,
        "a page of 1000 lines in the middle of a {size}-byte log read {read} bytes"
    );

    let before = read_by(pid);
    let body: String = serde_json::from_str(&get(&url, &token, "/logs/big")).expect("JSON");
    let read = read_by(pid) - before;
    let lines: Vec<&str> = body.lines().collect();
    assert!(
        lines[0].starts_with("[mrsm: only the last 50000 lines"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len(), 50_001);
    assert_eq!(lines[50_000], text(LINES - 1));
    eprintln!("GET /logs/big (the last 50,000 lines): the server read {read} bytes");
    assert!(
        read < 16 * MIB,
        "the last 50,000 lines of a {size}-byte log read {read} bytes"
    );
}

#[test]
fn eight_text_logs_read_at_once_take_bounded_memory() {
    const LINES: u64 = 400_000;
    let (server, size) = server_with_log(LINES, 8 * MIB, 8);
    let (pid, url, token) = (server.pid(), server.url(), server.token.clone());
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (url, token) = (url.clone(), token.clone());
            std::thread::spawn(move || get(&url, &token, "/logs/big"))
        })
        .collect();
    for reader in readers {
        let body: String = serde_json::from_str(&reader.join().expect("a reader")).expect("JSON");
        assert_eq!(body.lines().last(), Some(text(LINES - 1).as_str()));
    }
    let peak = peak_of(pid);
    eprintln!(
        "8 x GET /logs/big at once: the server peaked at {} MiB",
        peak / MIB
    );
    assert!(
        peak < 200 * MIB,
        "8 reads of the last lines of a {size}-byte log at once: the server peaked at {} MiB",
        peak / MIB
    );
}

#[test]
fn a_whole_log_through_the_api_costs_the_server_about_its_size() {
    const LINES: u64 = 130_000;
    let (server, size) = server_with_log(LINES, 2 * MIB, 16);
    let client = server.client();
    let before = read_by(server.pid());
    let out = client
        .mrsm()
        .args(["show", "logs", "-e", "api:test", "--output-only", "big"])
        .output()
        .expect("runs");
    let read = read_by(server.pid()) - before;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut count = 0;
    for (i, line) in out.stdout.lines().enumerate() {
        let line = line.expect("UTF-8");
        if !line.ends_with(&text(i as u64)) {
            // Whether the files hold the line as it came (the writer's doing) or
            // not (the reader's): seen once under load, not understood yet.
            let path = server.env.root().join("logs/big.log");
            let shown = line.split(" | ").nth(1).unwrap_or(&line).to_string();
            let in_files: Vec<String> = log_files(&path)
                .iter()
                .filter(|f| {
                    std::fs::read(f)
                        .is_ok_and(|b| b.windows(shown.len()).any(|w| w == shown.as_bytes()))
                })
                .map(|f| f.display().to_string())
                .collect();
            panic!("line {i}: {line}\nthe log files holding it as shown: {in_files:?}");
        }
        count += 1;
    }
    assert_eq!(count, LINES);
    eprintln!("show logs -e api:test of a {size}-byte log: the server read {read} bytes");
    assert!(
        read < 3 * size,
        "the server read {read} bytes to give a {size}-byte log by pages"
    );
}

/// `mrsm ARGS…` on `env`'s root, its output piped.
fn spawn(env: &Env, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_mrsm"))
        .args(args)
        .env("MRSM_ROOT_DIR", env.root())
        .env("NO_COLOR", "1")
        .env_remove("MRSM_CONFIG")
        .env_remove("MRSM_BIN")
        .current_dir(env.work())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mrsm starts")
}

/// Waits for `child` to exit without reaping it, so that its counts can still be
/// read from /proc; then what it read, and its output.
fn read_by_exited(mut child: Child) -> (u64, String) {
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let flags = nix::sys::wait::WaitPidFlag::WEXITED | nix::sys::wait::WaitPidFlag::WNOWAIT;
    nix::sys::wait::waitid(nix::sys::wait::Id::Pid(pid), flags).expect("it exits");
    let read = read_by(child.id());
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut out)
        .expect("its output");
    assert!(child.wait().expect("reaped").success());
    (read, out)
}

#[test]
fn show_logs_reads_tails_from_the_end_and_a_whole_log_in_bounded_memory() {
    const LINES: u64 = 400_000;
    let env = Env::new();
    let size = write_log(env.root(), "big", LINES, 8 * MIB, 8);
    let last_three = |out: &str| {
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        for (line, i) in lines.iter().zip(LINES - 3..) {
            assert!(line.ends_with(&text(i)), "{line}");
        }
    };

    let (read, out) = read_by_exited(spawn(&env, &["show", "logs", "--tail", "3", "big"]));
    last_three(&out);
    eprintln!("show logs --tail 3 of a {size}-byte log read {read} bytes");
    assert!(
        read < MIB,
        "show logs --tail 3 of a {size}-byte log read {read} bytes"
    );

    // Following starts where the tail ends, after reading only the tail.
    let mut follower = spawn(&env, &["show", "logs", "-f", "--tail", "3", "big"]);
    let mut lines = BufReader::new(follower.stdout.take().expect("piped")).lines();
    let shown: Vec<String> = (0..3)
        .map(|_| lines.next().expect("a line").expect("UTF-8"))
        .collect();
    let read = read_by(follower.id());
    let _ = follower.kill();
    let _ = follower.wait();
    last_three(&shown.join("\n"));
    eprintln!("show logs -f --tail 3 of a {size}-byte log read {read} bytes to start");
    assert!(
        read < MIB,
        "logs -f --tail 3 of a {size}-byte log read {read} bytes to start"
    );

    // The whole log, merged a batch at a time: memory does not grow with the log.
    let mut whole = spawn(&env, &["show", "logs", "big"]);
    let pid = whole.id();
    let mut out = BufReader::new(whole.stdout.take().expect("piped"));
    let (mut count, mut peak, mut line) = (0u64, 0u64, String::new());
    while out.read_line(&mut line).expect("output") > 0 {
        assert!(
            line.trim_end().ends_with(&text(count)),
            "line {count}: {line}"
        );
        if count % 50_000 == 0 && count + 1 < LINES {
            // It is still running: more lines are coming.
            peak = peak.max(peak_of(pid));
        }
        count += 1;
        line.clear();
    }
    assert!(whole.wait().expect("reaped").success());
    assert_eq!(count, LINES);
    eprintln!(
        "show logs of a {size}-byte log peaked at {} MiB",
        peak / MIB
    );
    assert!(
        peak < 40 * MIB,
        "show logs of a {size}-byte log peaked at {} MiB",
        peak / MIB
    );
}
