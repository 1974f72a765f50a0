//! Every record of the shared conformance corpus (`../shared/reference/schedules.json`),
//! read in place: the exact fire times, `never`, or a parse error.

use std::path::PathBuf;

use jiff::Timestamp;
use serde::Deserialize;

#[derive(Deserialize)]
struct Record {
    schedule: String,
    now: String,
    expect: String,
    #[serde(default)]
    next: Vec<String>,
}

fn corpus_path() -> PathBuf {
    match std::env::var_os("MRSM_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir).join("reference/schedules.json"),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/schedules.json")
        }
    }
}

/// What mrsm answers for a record, in the corpus's terms.
fn answer(schedule: &str, now: Timestamp) -> (String, Vec<Timestamp>) {
    let parsed = match mrsm::parse_schedule(schedule) {
        Ok(s) => s,
        Err(e) => return (format!("error ({e})"), vec![]),
    };
    match parsed.fire_times(now) {
        Err(e) => (format!("error ({e})"), vec![]),
        Ok(fires) => {
            let fires: Vec<Timestamp> = fires.take(10).collect();
            if fires.is_empty() {
                ("never".into(), fires)
            } else {
                ("fires".into(), fires)
            }
        }
    }
}

#[test]
fn every_corpus_record_agrees() {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "the conformance corpus must be readable at {}: {e} (the tests read the workspace's \
                 `shared/` beside this repository; set MRSM_SHARED_DIR to where it is)",
            path.display()
        )
    });
    let records: Vec<Record> = serde_json::from_str(&text).expect("corpus is JSON");
    assert!(
        records.len() >= 800,
        "corpus looks truncated: {} records",
        records.len()
    );

    let mut mismatches = Vec::new();
    for r in &records {
        let now: Timestamp = r.now.parse().expect("corpus now is RFC 3339");
        let started = std::time::Instant::now();
        let (kind, got) = answer(&r.schedule, now);
        let elapsed = started.elapsed();
        let kind_word = kind.split_whitespace().next().unwrap_or_default();
        let expected: Vec<Timestamp> = r
            .next
            .iter()
            .map(|t| t.parse().expect("RFC 3339"))
            .collect();
        let ok = kind_word == r.expect && (r.expect != "fires" || got == expected);
        if !ok {
            mismatches.push(format!(
                "{:?} at {}: expected {} {:?}\n    got {} {:?}",
                r.schedule,
                r.now,
                r.expect,
                r.next,
                kind,
                got.iter().map(|t| t.to_string()).collect::<Vec<_>>()
            ));
        }
        assert!(
            elapsed.as_millis() < 1000,
            "{:?} at {} took {elapsed:?}",
            r.schedule,
            r.now
        );
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} records disagree:\n{}",
        mismatches.len(),
        records.len(),
        mismatches.join("\n")
    );
}
