//! Output that never ends its line: a 30 MB line is kept whole, in records of at
//! most 64 KiB within the file size limit, without the supervisor holding it in
//! memory; progress output (`\r`, no newline) shows up as it is written.

use crate::support;
use crate::support::following;

use std::path::PathBuf;
use std::time::Duration;

use following::Following;
use mrsm::logs::{log_files, parse_records, Stream};
use serde_json::Value;
use support::{wait_for, Env};

/// The job's log files, oldest first.
fn files(env: &Env, name: &str) -> Vec<PathBuf> {
    log_files(&env.root().join("logs").join(format!("{name}.log")))
}

/// A field of `/proc/PID/status`, in KiB.
fn status_kib(pid: i32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

#[test]
fn a_thirty_megabyte_line_stays_within_limits_and_whole() {
    const SIZE: u64 = 30_000_000;
    let env = Env::new();
    let measured = env.work().join("measured");
    let script = format!(
        "head -c {SIZE} /dev/zero | tr '\\0' x; while [ ! -e {} ]; do sleep 0.05; done",
        measured.display()
    );
    env.run_d(
        "wide",
        &[
            "--log-size",
            "1MiB",
            "--log-keep",
            "40",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    let supervisor = env.supervisor("wide").expect("a supervisor");
    let out_records = || {
        files(&env, "wide")
            .iter()
            .flat_map(|f| parse_records("wide", &std::fs::read(f).unwrap_or_default()))
            .filter(|l| l.stream == Stream::Out)
            .collect::<Vec<_>>()
    };
    // The line never ends, yet all of it reaches the log while the job runs.
    let records = wait_for(
        Duration::from_secs(120),
        "the whole line in the log",
        || {
            let on_disk: u64 = files(&env, "wide")
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            if on_disk < SIZE {
                return None;
            }
            let records = out_records();
            let bytes: u64 = records.iter().map(|l| l.line.len() as u64).sum();
            (bytes == SIZE).then_some(records)
        },
    );
    let peak_kib = status_kib(supervisor.pid, "VmHWM");
    std::fs::write(&measured, "").expect("signal");
    wait_for(Duration::from_secs(30), "the job to end", || {
        (env.status("wide") == "stopped").then_some(())
    });

    assert!(
        peak_kib < 24 * 1024,
        "the supervisor peaked at {peak_kib} KiB: it held the line in memory"
    );
    for f in files(&env, "wide") {
        let size = std::fs::metadata(&f).expect("exists").len();
        assert!(size <= 1 << 20, "{} is {size} bytes", f.display());
    }
    assert!(records.len() >= 458, "{} records", records.len());
    for r in &records {
        assert!(r.line.len() <= 64 * 1024, "a record of {}", r.line.len());
        assert!(
            r.continues,
            "no newline was written, so every record continues"
        );
        assert!(r.line.iter().all(|&b| b == b'x'));
    }
}

#[test]
fn progress_output_shows_up_as_it_is_written() {
    let env = Env::new();
    let next = env.work().join("next");
    let script = format!(
        "printf 'step 1\\r'; while [ ! -e {} ]; do sleep 0.05; done; printf 'step 2\\r'; echo done",
        next.display()
    );
    env.run_d("progress", &["--", "sh", "-c", &script]);
    let follower = Following::start(&env, &["--output-only", "--json", "progress"]);
    let line = |what: &str| -> Value {
        let line = follower
            .next(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{what} does not show"));
        serde_json::from_str(&line).expect("JSON")
    };
    // Shown while the job still waits: no newline needed.
    let first = line("the first step");
    assert_eq!(first["line"], "step 1\r");
    assert_eq!(first["continues"], true);
    std::fs::write(&next, "").expect("signal");
    let mut rest = String::new();
    loop {
        let v = line("the second step");
        rest.push_str(v["line"].as_str().expect("text"));
        if v.get("continues").is_none() {
            break;
        }
    }
    assert_eq!(rest, "step 2\rdone");
}
