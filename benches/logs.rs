//! Log read costs against the log's size: a page of 1000 lines in the middle, a
//! tail of one line and of 1000, each in a 1 MiB and a 64 MiB log (8 rotated files
//! each, lines of about 100 bytes, written by the writer jobs use). A read that
//! seeks costs the same in both (ratio about 1); reading the whole log costs 64
//! times more in the larger one, and is measured in the same run as the baseline
//! of what a read that scans would cost (the files read whole, and the log read by
//! pages from its first line to its last).
//!
//! Run with `cargo bench --bench logs`; the ratios (64 MiB over 1 MiB) are printed
//! at the end, from criterion's estimates.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion};
use jiff::Timestamp;
use mrsm::logs::{log_files, read_page, read_tail, records_through, LogWriter, Selection, Stream};

const MIB: u64 = 1024 * 1024;
const SIZES: [(&str, u64); 2] = [("1MiB", MIB), ("64MiB", 64 * MIB)];
const GROUPS: [&str; 5] = [
    "page_in_the_middle",
    "tail_1",
    "tail_1000",
    "baseline_read_files_whole",
    "baseline_all_pages",
];

/// Writes a log of about `size` bytes in 8 files to `dir/NAME.log`.
fn write_log(dir: &Path, name: &str, size: u64) -> PathBuf {
    let path = dir.join(format!("{name}.log"));
    let mut writer = LogWriter::open(&path, size / 8 + 1, 9).expect("opens");
    let t: Timestamp = "2026-01-01T00:00:00Z".parse().expect("an instant");
    let mut written = 0;
    let mut i = 0u64;
    while written < size {
        let line = format!("line {i:09} {}", "x".repeat(70));
        written += line.len() as u64 + 30;
        writer.append(t, Stream::Out, line.as_bytes());
        i += 1;
    }
    drop(writer);
    path
}

/// A group of benchmarks, each sampled for about 4 seconds.
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group
}

fn benches(c: &mut Criterion, logs: &[(&str, PathBuf)]) {
    let all = Selection::default();
    let mut pages = group(c, GROUPS[0]);
    for (size, path) in logs {
        let middle = records_through(path).expect("a log") / 2;
        pages.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| black_box(read_page("j", path, black_box(middle), 1000)))
        });
    }
    pages.finish();
    for (name, lines) in [(GROUPS[1], 1), (GROUPS[2], 1000)] {
        let mut tails = group(c, name);
        for (size, path) in logs {
            tails.bench_function(BenchmarkId::from_parameter(size), |b| {
                b.iter(|| black_box(read_tail("j", path, &all, lines, usize::MAX)))
            });
        }
        tails.finish();
    }
    let mut whole = group(c, GROUPS[3]);
    for (size, path) in logs {
        whole.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                for file in log_files(path) {
                    black_box(std::fs::read(file).expect("readable"));
                }
            })
        });
    }
    whole.finish();
    let mut by_pages = group(c, GROUPS[4]);
    for (size, path) in logs {
        by_pages.bench_function(BenchmarkId::from_parameter(size), |b| {
            b.iter(|| {
                let mut cursor = 0;
                loop {
                    let (page, next) = read_page("j", path, cursor, 1000);
                    if page.is_empty() {
                        break;
                    }
                    cursor = next;
                }
            })
        });
    }
    by_pages.finish();
}

/// Criterion's mean for one benchmark, in nanoseconds.
fn mean_ns(dir: &Path, group: &str, size: &str) -> Option<f64> {
    let path = dir.join(group).join(size).join("new/estimates.json");
    let estimates: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    estimates["mean"]["point_estimate"].as_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let logs: Vec<(&str, PathBuf)> = SIZES
        .iter()
        .map(|(size, bytes)| (*size, write_log(dir.path(), size, *bytes)))
        .collect();
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion, &logs);
    criterion.final_summary();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let estimates = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("criterion"));
    println!(
        "\n{:<28} {:>12} {:>12} {:>8}",
        "64 MiB over 1 MiB", "1 MiB", "64 MiB", "ratio"
    );
    for group in GROUPS {
        match (
            mean_ns(&estimates, group, SIZES[0].0),
            mean_ns(&estimates, group, SIZES[1].0),
        ) {
            (Some(small), Some(large)) => println!(
                "{group:<28} {:>10.1}µs {:>10.1}µs {:>8.2}",
                small / 1e3,
                large / 1e3,
                large / small
            ),
            _ => println!("{group:<28} (no estimates in {})", estimates.display()),
        }
    }
}
