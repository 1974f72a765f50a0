//! Each job's runs counted for `/metrics` from its run history (`runs.jsonl`),
//! never from its log: the first scrape reads the history, later ones `stat` it
//! and read only what was appended since (the whole of it again only after it
//! was rotated or replaced). Counts are the server's own from then on, so they
//! only grow while it runs; a restart of the server starts them again from the
//! kept history, which Prometheus takes as a counter reset.

use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::Histogram;
use crate::executor::Executor;
use crate::job::{RunEnd, RunRecord};
use crate::store::Root;

/// Upper bounds (seconds) of the run duration histogram's buckets.
pub const DURATION_BOUNDS: [f64; 12] = [
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 21600.0,
];

/// The most bytes read of a history at once (a history is far smaller).
const MAX_READ: u64 = 64 << 20;

/// How far below the newest run a run may still be recorded later (runs that
/// overlap end out of order) and be counted then.
const LATE_RUNS: u64 = 10_000;

/// How a run ended, as the `result` label says it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// A stop ended it: not the job's failure.
    Stopped,
}

impl Outcome {
    /// Every outcome, in the order they are written.
    pub const ALL: [Outcome; 3] = [Outcome::Success, Outcome::Failure, Outcome::Stopped];

    /// The label's value.
    pub const fn label(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Stopped => "stopped",
        }
    }

    fn of(end: &RunEnd) -> Outcome {
        match end {
            RunEnd::Succeeded | RunEnd::NothingToRun => Outcome::Success,
            RunEnd::Stopped { .. } => Outcome::Stopped,
            RunEnd::Failed { .. } | RunEnd::NotStarted { .. } | RunEnd::Aborted => Outcome::Failure,
        }
    }
}

/// One job's runs, counted.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// By [`Outcome::ALL`]'s order.
    pub outcomes: [u64; 3],
    pub durations: Histogram,
    /// The newest scheduled run's start minus its planned fire time (seconds).
    pub lag: Option<f64>,
    /// The newest run counted.
    last_run: u64,
    /// Runs below `last_run` not recorded yet (still going when a later one
    /// ended): counted when they are, and only then.
    late: BTreeSet<u64>,
}

impl Tally {
    /// How many runs ended so.
    pub fn count(&self, outcome: Outcome) -> u64 {
        self.outcomes[Outcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or_default()]
    }

    fn add(&mut self, record: &RunRecord) {
        if record.run > self.last_run {
            let from = (self.last_run + 1).max(record.run.saturating_sub(LATE_RUNS));
            self.late.extend(from..record.run);
            self.last_run = record.run;
            let floor = self.last_run.saturating_sub(LATE_RUNS);
            self.late = self.late.split_off(&floor);
        } else if !self.late.remove(&record.run) {
            // Counted already.
            return;
        }
        let index = Outcome::ALL
            .iter()
            .position(|o| *o == Outcome::of(&record.result.end))
            .unwrap_or_default();
        self.outcomes[index] += 1;
        let seconds = record.ended.duration_since(record.started).as_secs_f64();
        self.durations.observe(seconds.max(0.0), &DURATION_BOUNDS);
        if let Some(planned) = record.planned {
            self.lag = Some(record.started.duration_since(planned).as_secs_f64());
        }
    }
}

/// Which file: its inode and its birth time (an inode is reused by the next file
/// made, such as the history of a job made again under the name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    inode: u64,
    born: Option<std::time::SystemTime>,
}

impl FileId {
    fn of(meta: &std::fs::Metadata) -> FileId {
        FileId {
            inode: meta.ino(),
            born: meta.created().ok(),
        }
    }
}

/// Where a history file was read to: which file, and how far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    file: FileId,
    read_to: u64,
}

#[derive(Default)]
struct Kept {
    tally: Tally,
    mark: Option<Mark>,
}

/// Every job's tally, kept between scrapes.
#[derive(Default)]
pub struct Tallies {
    jobs: HashMap<String, Kept>,
}

impl Tallies {
    /// The tallies of `names` (the jobs there are now), brought up to date;
    /// forgotten jobs are dropped.
    pub fn update(&mut self, executor: &dyn Executor, root: &Root, names: &[&str]) -> Vec<Tally> {
        self.jobs.retain(|name, _| names.contains(&name.as_str()));
        names
            .iter()
            .map(|name| {
                let kept = self.jobs.entry((*name).to_string()).or_default();
                refresh(kept, &root.runs_file(name), || {
                    executor.runs(name).ok().map(|h| h.runs)
                });
                kept.tally.clone()
            })
            .collect()
    }
}

/// Brings one job's tally up to date with its history file (`whole` reads all
/// of the history, rotated part included).
fn refresh(kept: &mut Kept, path: &Path, whole: impl FnOnce() -> Option<Vec<RunRecord>>) {
    let Ok(meta) = std::fs::metadata(path) else {
        // No history (yet, or any more): nothing to add.
        return;
    };
    let file = FileId::of(&meta);
    match kept.mark {
        Some(mark) if mark.file == file && mark.read_to == meta.len() => {}
        Some(mark) if mark.file == file && mark.read_to < meta.len() => {
            if let Some(read_to) = read_appended(&mut kept.tally, path, mark.read_to) {
                kept.mark = Some(Mark { file, read_to });
            }
        }
        previous => {
            // First read, rotated, or replaced: the whole history (both files).
            let Some(runs) = whole() else {
                return;
            };
            // Rotated, the file read before is the older one now; otherwise it is
            // another job's history (deleted, and made again under the name).
            let rotated = previous.is_some_and(|mark| {
                std::fs::metadata(crate::store::older_runs_file(path))
                    .is_ok_and(|older| FileId::of(&older) == mark.file)
            });
            if previous.is_some() && !rotated {
                kept.tally = Tally::default();
            }
            for record in &runs {
                kept.tally.add(record);
            }
            kept.mark = Some(Mark {
                file,
                read_to: meta.len(),
            });
        }
    }
}

/// Adds the whole lines appended after `from`; where they end, or `None` when the
/// file could not be read.
fn read_appended(tally: &mut Tally, path: &Path, from: u64) -> Option<u64> {
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_READ).read_to_end(&mut bytes).ok()?;
    // A line still being written is left for the next scrape.
    let whole = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    for line in bytes[..whole].split(|&b| b == b'\n') {
        if let Ok(record) = serde_json::from_slice::<RunRecord>(line) {
            tally.add(&record);
        }
    }
    Some(from + whole as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{RunResult, StepExit, Trigger};
    use std::io::Write;

    fn record(run: u64, end: RunEnd, seconds: i64) -> String {
        let started: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().expect("time");
        let record = RunRecord {
            run,
            trigger: Trigger::Schedule,
            started,
            ended: started + jiff::SignedDuration::from_secs(seconds),
            result: RunResult::new(end, "x"),
            slurm_jobs: Vec::new(),
            after: Vec::new(),
            planned: Some(started - jiff::SignedDuration::from_millis(250)),
        };
        format!("{}\n", serde_json::to_string(&record).expect("json"))
    }

    #[test]
    fn appended_runs_are_counted_once_and_a_half_written_line_waits() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        std::fs::create_dir_all(root.job_dir("a")).expect("dir");
        let path = root.runs_file("a");
        std::fs::write(&path, record(1, RunEnd::Succeeded, 2)).expect("written");
        let executor = crate::executor::LocalExecutor::new(root.clone());
        let mut tallies = Tallies::default();
        let first = &tallies.update(&executor, &root, &["a"])[0];
        assert_eq!(first.count(Outcome::Success), 1);
        assert_eq!(first.lag, Some(0.25));
        let failed = RunEnd::Failed {
            step: 1,
            exit: StepExit::Code(3),
        };
        let line = record(2, failed, 40);
        let (head, tail) = line.split_at(10);
        let mut file = crate::store::open_append(&path).expect("open");
        file.write_all(head.as_bytes()).expect("write");
        let again = &tallies.update(&executor, &root, &["a"])[0];
        assert_eq!(again.count(Outcome::Failure), 0, "half a line is not a run");
        file.write_all(tail.as_bytes()).expect("write");
        let done = &tallies.update(&executor, &root, &["a"])[0];
        assert_eq!(
            (done.count(Outcome::Success), done.count(Outcome::Failure)),
            (1, 1)
        );
        assert_eq!(done.durations.count, 2);
        assert_eq!(done.durations.sum, 42.0);
        // Rotated: the same runs read again are not counted again.
        std::fs::rename(&path, crate::store::older_runs_file(&path)).expect("rotated");
        std::fs::write(&path, record(3, RunEnd::Succeeded, 1)).expect("written");
        let rotated = &tallies.update(&executor, &root, &["a"])[0];
        assert_eq!(rotated.count(Outcome::Success), 2);
        assert_eq!(rotated.durations.count, 3);
        // Replaced (the job deleted and made again): counted anew. (Made while
        // the old one is there, so that it has another inode on any file system.)
        let new = path.with_extension("new");
        std::fs::write(&new, record(5, RunEnd::Succeeded, 1)).expect("written");
        std::fs::remove_file(crate::store::older_runs_file(&path)).expect("removed");
        std::fs::rename(&new, &path).expect("replaced");
        let anew = &tallies.update(&executor, &root, &["a"])[0];
        assert_eq!(
            (anew.count(Outcome::Success), anew.count(Outcome::Failure)),
            (1, 0)
        );
    }

    #[test]
    fn runs_that_end_out_of_order_are_each_counted_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        std::fs::create_dir_all(root.job_dir("a")).expect("dir");
        let path = root.runs_file("a");
        let executor = crate::executor::LocalExecutor::new(root.clone());
        let mut tallies = Tallies::default();
        let stopped = RunEnd::Stopped {
            step: 1,
            exit: StepExit::Signal("SIGTERM".into()),
        };
        let mut text = String::new();
        for run in [1, 3, 4] {
            text.push_str(&record(run, RunEnd::Succeeded, 1));
        }
        std::fs::write(&path, &text).expect("written");
        assert_eq!(
            tallies.update(&executor, &root, &["a"])[0].count(Outcome::Success),
            3
        );
        let mut file = crate::store::open_append(&path).expect("open");
        file.write_all(record(2, stopped, 1).as_bytes())
            .expect("write");
        file.write_all(record(4, RunEnd::Succeeded, 1).as_bytes())
            .expect("write");
        let tally = &tallies.update(&executor, &root, &["a"])[0];
        assert_eq!(
            (tally.count(Outcome::Success), tally.count(Outcome::Stopped)),
            (3, 1),
            "run 2 is counted when it ends, and run 4 once"
        );
        // Read whole (a server started now): the same counts.
        let fresh = &Tallies::default().update(&executor, &root, &["a"])[0];
        assert_eq!(
            (fresh.count(Outcome::Success), fresh.count(Outcome::Stopped)),
            (3, 1)
        );
    }
}
