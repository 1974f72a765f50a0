//! A reader too slow for the rotation (`mrsm logs -f … | (sleep 14; cat)`): it
//! shows every line, or says exactly how many it missed, never silently. In a test
//! binary of its own, so the heavy job does not compete with other log tests.

use crate::support;
use crate::support::following;

use std::time::Duration;

use following::Following;
use serde_json::Value;
use support::{wait_for, Env};

#[test]
fn a_slow_reader_gets_every_line_or_an_exact_gap_count() {
    let env = Env::new();
    let go = env.work().join("go");
    let script = format!(
        "while [ ! -e {} ]; do sleep 0.05; done; seq 1 200000",
        go.display()
    );
    // Small files, so that rotation outruns a reader that is not reading.
    env.run_d(
        "fast",
        &[
            "--log-size",
            "16KiB",
            "--log-keep",
            "2",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    let mut follower = Following::start_held(&env, &["--json", "fast"], 1);
    let first = follower
        .next(Duration::from_secs(30))
        .expect("the follower shows the run starting");
    assert!(first.contains("\"sys\""), "{first}");
    // From here on nobody reads: the follower's pipe fills and it blocks while the
    // job writes 200,000 lines through more than 400 rotations.
    std::fs::write(&go, "").expect("go");
    wait_for(Duration::from_secs(120), "the job to end", || {
        (env.status("fast") == "stopped").then_some(())
    });
    let total = mrsm::logs::records_through(&env.root().join("logs/fast.log")).expect("a log");
    follower.release();

    // Lines seen plus gap counts add up to what was written; out lines come in
    // order, each gap exactly covering the numbers missing before the next one.
    let (mut seen, mut dropped, mut gaps) = (1u64, 0u64, 0);
    let mut last_out = 0u64;
    let mut pending_gap = 0u64;
    while seen + dropped < total {
        let line = follower.next(Duration::from_secs(30)).unwrap_or_else(|| {
            panic!("silent after {seen} lines and {dropped} dropped of {total}")
        });
        let v: Value = serde_json::from_str(&line).expect("JSON lines");
        match v["stream"].as_str() {
            Some("gap") => {
                let n = v["dropped"].as_u64().expect("a count");
                assert!(n > 0, "{line}");
                assert!(
                    v["line"]
                        .as_str()
                        .is_some_and(|l| l.contains("lines dropped")),
                    "{line}"
                );
                dropped += n;
                pending_gap += n;
                gaps += 1;
            }
            Some("out") => {
                let n: u64 = v["line"]
                    .as_str()
                    .and_then(|l| l.parse().ok())
                    .expect("a number");
                if last_out > 0 {
                    assert_eq!(
                        n,
                        last_out + 1 + pending_gap,
                        "{line}: out of order or uncounted"
                    );
                }
                last_out = n;
                pending_gap = 0;
                seen += 1;
            }
            _ => seen += 1,
        }
    }
    assert_eq!(seen + dropped, total);
    assert_eq!(last_out, 200_000, "the last line is shown");
    assert!(gaps >= 1, "the reader was slow enough to miss lines");
    assert!(
        follower.next(Duration::from_millis(300)).is_none(),
        "nothing more"
    );
}

#[test]
fn a_job_created_while_the_reader_is_held_up_is_counted_from_its_first_line() {
    let env = Env::new();
    // Something to fill the follower's pipe with, so that it blocks.
    env.run_d("filler", &["--", "sh", "-c", "seq 1 20000; sleep 300"]);
    let mut follower = Following::start_held(&env, &["--json"], 1);
    follower
        .next(Duration::from_secs(30))
        .expect("the follower shows something");
    // Nobody reads now; a new job fills and rotates small files many times over.
    env.run_d(
        "newcomer",
        &[
            "--log-size",
            "16KiB",
            "--log-keep",
            "2",
            "--",
            "sh",
            "-c",
            "seq 1 100000",
        ],
    );
    wait_for(Duration::from_secs(120), "the new job to end", || {
        (env.status("newcomer") == "stopped").then_some(())
    });
    let total = mrsm::logs::records_through(&env.root().join("logs/newcomer.log")).expect("a log");
    follower.release();
    let (mut seen, mut dropped) = (0u64, 0u64);
    while seen + dropped < total {
        let line = follower.next(Duration::from_secs(30)).unwrap_or_else(|| {
            panic!("silent after {seen} lines and {dropped} dropped of {total}")
        });
        let v: Value = serde_json::from_str(&line).expect("JSON lines");
        if v["job"] != "newcomer" {
            continue;
        }
        match v["stream"].as_str() {
            Some("gap") => dropped += v["dropped"].as_u64().expect("a count"),
            _ => seen += 1,
        }
    }
    assert_eq!(seen + dropped, total, "every record seen or counted");
    assert!(dropped > 0, "the held reader missed some, and said so");
    env.ok(&["stop", "jobs", "filler"]);
}

#[test]
fn a_reader_resumes_by_cursor_without_repeating_or_losing_a_line() {
    use mrsm::executor::{Executor, LocalExecutor};
    let env = Env::new();
    env.run_d(
        "counted",
        &[
            "--log-size",
            "16KiB",
            "--log-keep",
            "2",
            "--",
            "seq",
            "1",
            "5000",
        ],
    );
    wait_for(Duration::from_secs(30), "the job to end", || {
        (env.status("counted") == "stopped").then_some(())
    });
    let local = LocalExecutor::new(mrsm::store::Root::at(env.root()));
    let (mut cursor, mut expected, mut dropped) = (0, None::<u64>, 0);
    loop {
        // Small pages, as a follower that keeps reconnecting would read them.
        let (page, next) = local.read_logs("counted", cursor, 97).expect("readable");
        if page.is_empty() {
            assert_eq!(next, cursor, "nothing read, nothing skipped");
            break;
        }
        for line in &page {
            if let Some(n) = line.dropped() {
                dropped += n;
                continue;
            }
            if line.stream != mrsm::logs::Stream::Out {
                continue;
            }
            let n: u64 = String::from_utf8_lossy(&line.line)
                .parse()
                .expect("a number");
            if let Some(want) = expected {
                assert_eq!(n, want, "repeated or lost after {}", want - 1);
            }
            expected = Some(n + 1);
        }
        cursor = next;
    }
    assert_eq!(expected, Some(5001), "read to the last line");
    assert!(
        dropped > 0,
        "rotation took the oldest records, counted in a gap"
    );
    assert!(
        local.read_logs("nope", 0, 10).is_err(),
        "a job that does not exist"
    );
}
