//! A full disk under the logs: the job keeps running, its output is dropped and
//! counted, one note says how much once space returns, and no record is torn.
//! Needs a small tmpfs, mounted as root; where mounting is not allowed the test
//! says so and does nothing.

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mrsm::logs::{log_files, parse_header, Record, Stream};
use support::{wait_for, Env};

/// A small tmpfs on a temporary directory, unmounted and removed when dropped.
struct Tmpfs {
    dir: Option<tempfile::TempDir>,
}

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = tempfile::Builder::new()
            .prefix("mrsm-tmpfs")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            // Owner-only, as mrsm requires of a root's directories (a tmpfs is
            // writable by everyone by default).
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs { dir: Some(dir) })
    }

    fn path(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), |d| d.path())
    }

    /// Bytes still free.
    fn free(&self) -> u64 {
        nix::sys::statvfs::statvfs(self.path())
            .map(|s| s.blocks_available() * s.fragment_size())
            .unwrap_or(0)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily: a process killed a moment ago may still hold a file open.
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        drop(self.dir.take());
    }
}

/// The job and the disk under its logs (`logs` a link to it), dropped in this order:
/// processes first.
struct Setup {
    env: Env,
    disk: Tmpfs,
}

/// Every line of every log file of `name`, oldest first; panics on a line that is
/// neither a header (first line only) nor a record, or a file not ending in one.
fn all_records(logs: &Path, name: &str) -> Vec<(Stream, String)> {
    let mut records = Vec::new();
    for file in log_files(&logs.join(format!("{name}.log"))) {
        let bytes = std::fs::read(&file).expect("readable");
        assert!(
            bytes.is_empty() || bytes.ends_with(b"\n"),
            "{} ends in a torn record",
            file.display()
        );
        for (i, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            let line = &line[..line.len() - 1];
            if i == 0 && parse_header(line).is_some() {
                continue;
            }
            let record = Record::parse(line).unwrap_or_else(|| {
                panic!(
                    "malformed record in {}: {:?}",
                    file.display(),
                    String::from_utf8_lossy(line)
                )
            });
            records.push((
                record.stream,
                String::from_utf8_lossy(record.line).into_owned(),
            ));
        }
    }
    records
}

/// The highest `line N` in the log, skipping anything unreadable (files are being
/// written).
fn last_logged(logs: &Path) -> u64 {
    log_files(&logs.join("chatty.log"))
        .iter()
        .flat_map(|f| mrsm::logs::parse_records("chatty", &std::fs::read(f).unwrap_or_default()))
        .filter_map(|l| l.text().strip_prefix("line ")?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// The count in a `N lines (M bytes) dropped: …` note (`1 line (1 byte)` for one).
fn dropped_count(note: &str) -> Option<u64> {
    let (count, rest) = note
        .split_once(" lines (")
        .or_else(|| note.split_once(" line ("))?;
    (rest.contains(" bytes) dropped: ") || rest.contains(" byte) dropped: "))
        .then(|| count.parse().ok())?
}

#[test]
fn a_full_disk_drops_output_with_a_count_and_never_tears_a_record() {
    let env = Env::new();
    let logs = env.root().join("logs");
    let disk = match Tmpfs::mount("2m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("SKIPPED a_full_disk_drops_output…: cannot mount a tmpfs ({why})");
            return;
        }
    };
    std::os::unix::fs::symlink(disk.path(), &logs).expect("links the logs");
    let setup = Setup { env, disk };
    let filler = logs.join("filler");
    let progress = setup.env.work().join("progress");
    let script = format!(
        "i=0; while true; do i=$((i+1)); echo \"line $i\"; \
         [ $((i % 1000)) = 0 ] && echo $i > {}; done",
        progress.display()
    );
    // Leaves room for some log files and part of one: the disk fills up in the
    // middle of a write.
    std::fs::write(&filler, vec![0u8; (1536 << 10) + 5000]).expect("filler");
    setup.env.run_d(
        "chatty",
        &[
            "--log-size",
            "200KiB",
            "--log-keep",
            "20",
            "--",
            "sh",
            "-c",
            &script,
        ],
    );
    wait_for(Duration::from_secs(60), "the disk to fill", || {
        (setup.disk.free() < 16 << 10).then_some(())
    });
    // The job goes on well past what reached the log: more than its pipe can hold,
    // so the supervisor is reading and dropping its output, not blocking it.
    wait_for(Duration::from_secs(60), "output to be dropped", || {
        let done: u64 = std::fs::read_to_string(&progress)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        (done > last_logged(&logs) + 20_000).then_some(())
    });
    let pid = setup.env.info("chatty")["pid"]
        .as_i64()
        .expect("a running step") as i32;
    let alive = || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
    assert!(alive(), "the job runs on with the disk full");
    // `show jobs` says so while it lasts.
    let warning = wait_for(Duration::from_secs(10), "a warning in show jobs", || {
        setup.env.info("chatty")["warning"]
            .as_str()
            .map(str::to_string)
    });
    assert!(
        warning.contains("the log cannot be written") && warning.contains("dropped"),
        "{warning}"
    );

    std::fs::remove_file(&filler).expect("frees space");
    // (Looked for in the raw bytes: the files are being written meanwhile.)
    wait_for(Duration::from_secs(60), "the dropped-lines note", || {
        log_files(&logs.join("chatty.log"))
            .iter()
            .any(|f| {
                let bytes = std::fs::read(f).unwrap_or_default();
                String::from_utf8_lossy(&bytes).contains(" bytes) dropped: ")
            })
            .then_some(())
    });
    assert!(alive(), "the job still runs");
    assert_eq!(setup.env.status("chatty"), "running");
    // The trouble went: the report says so once the output reaches the log again.
    wait_for(Duration::from_secs(10), "the warning to go", || {
        setup.env.info("chatty")["warning"].is_null().then_some(())
    });

    setup.env.ok(&["stop", "jobs", "chatty"]);

    // Every record whole, and the counts exact: each out line follows the one before
    // it, or the lines a note says were dropped.
    let records = all_records(&logs, "chatty");
    let (mut last, mut dropped, mut notes) = (None::<u64>, 0u64, 0);
    for (stream, line) in &records {
        match stream {
            Stream::Out => {
                let n: u64 = line
                    .strip_prefix("line ")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| panic!("not a job line: {line:?}"));
                if let Some(prev) = last {
                    assert_eq!(n, prev + 1 + dropped, "after line {prev}");
                }
                last = Some(n);
                dropped = 0;
            }
            Stream::Sys => {
                if let Some(n) = dropped_count(line) {
                    assert!(n > 0, "{line}");
                    assert!(line.contains("No space left"), "{line}");
                    dropped += n;
                    notes += 1;
                }
            }
            _ => {}
        }
    }
    assert!(notes >= 1);
}

/// The warning `show jobs` gives for the job, if any.
fn warning(env: &Env, name: &str) -> Option<String> {
    env.info(name)["warning"].as_str().map(str::to_string)
}

/// The number in `(N lines, …)` of a warning.
fn warned_count(warning: &str) -> u64 {
    warning
        .rsplit_once('(')
        .and_then(|(_, rest)| rest.split_once(' '))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or(0)
}

#[test]
fn what_a_killed_supervisor_dropped_is_reported_when_the_job_runs_again() {
    let env = Env::new();
    let logs = env.root().join("logs");
    let disk = match Tmpfs::mount("1m") {
        Ok(disk) => disk,
        Err(why) => {
            eprintln!("SKIPPED what_a_killed_supervisor_dropped…: cannot mount a tmpfs ({why})");
            return;
        }
    };
    std::os::unix::fs::symlink(disk.path(), &logs).expect("links the logs");
    let setup = Setup { env, disk };
    let filler = logs.join("filler");
    std::fs::write(&filler, vec![0u8; 900 << 10]).expect("filler");
    setup.env.run_d(
        "chatty",
        &[
            "--",
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo \"line $i\"; done",
        ],
    );
    let first = wait_for(Duration::from_secs(60), "a warning", || {
        warning(&setup.env, "chatty")
    });
    // The figures move while it lasts.
    wait_for(Duration::from_secs(10), "the figures to move", || {
        let now = warning(&setup.env, "chatty")?;
        (warned_count(&now) > warned_count(&first)).then_some(())
    });
    // Its supervisor is killed with the disk still full: what it dropped was never
    // written down in the log, only in its state.
    let supervisor = setup.env.supervisor("chatty").expect("a supervisor");
    support::kill_job(supervisor);
    wait_for(Duration::from_secs(5), "the supervisor to die", || {
        (!supervisor.is_alive()).then_some(())
    });
    let all_text = || {
        log_files(&logs.join("chatty.log"))
            .iter()
            .map(|f| String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()).into_owned())
            .collect::<String>()
    };
    let notes_before = all_text().matches(" bytes) dropped: ").count();
    std::fs::remove_file(&filler).expect("frees space");
    setup.env.ok(&["start", "jobs", "chatty"]);
    // Before the new run's first line, a note counts what the killed one dropped.
    wait_for(
        Duration::from_secs(30),
        "the note from the earlier run",
        || {
            let text = all_text();
            let start = text.find(" sys run 2 started")?;
            (text[..start].matches(" bytes) dropped: ").count() > notes_before).then_some(())
        },
    );
    setup.env.ok(&["stop", "jobs", "chatty"]);
}
