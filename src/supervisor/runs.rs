//! The run history: one JSON line per finished run, the newest [`KEEP_RUNS`] kept.
//! `runs.jsonl` never holds more than that many lines; when it is full it becomes
//! `runs.jsonl.1` (replacing the older one) and a new file starts, so appending stays
//! cheap and a reader always finds the newest [`KEEP_RUNS`] runs in the two files.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::job::{RunHistory, RunRecord};
use crate::store::StoreError;

/// How many finished runs are kept.
pub const KEEP_RUNS: usize = 1000;

/// The most bytes of one run history file read: [`KEEP_RUNS`] records take far
/// less; a larger file is refused rather than read into memory.
const MAX_FILE: u64 = 64 << 20;

/// Appends run records.
pub struct RunLog {
    path: PathBuf,
    lines: usize,
    last_run: u64,
}

use crate::store::older_runs_file as older;

/// The run number recorded on a line, if it is a record.
fn run_number(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<RunRecord>(line)
        .ok()
        .map(|r| r.run)
}

impl RunLog {
    /// Opens the run log at `path`, counting what is there.
    pub fn open(path: &Path) -> RunLog {
        let bytes = crate::store::read_file(path, MAX_FILE).unwrap_or_default();
        let lines: Vec<&[u8]> = bytes
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let last_run = lines
            .iter()
            .rev()
            .find_map(|l| run_number(l))
            .or_else(|| read_runs(path).ok()?.runs.last().map(|r| r.run))
            .unwrap_or(0);
        RunLog {
            path: path.to_path_buf(),
            lines: lines.len(),
            last_run,
        }
    }

    /// The number of the last recorded run (0 when none), so run numbers keep
    /// counting across restarts of the job.
    pub fn last_run(&self) -> u64 {
        self.last_run
    }

    /// Appends one record.
    pub fn append(&mut self, record: &RunRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(record).map_err(|source| StoreError::Json {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        if self.lines >= KEEP_RUNS {
            std::fs::rename(&self.path, older(&self.path))
                .map_err(|e| StoreError::io("rotating", &self.path, e))?;
            self.lines = 0;
        }
        crate::store::open_append(&self.path)
            .and_then(|mut f| f.write_all(&line))
            .map_err(|e| StoreError::io("appending to", &self.path, e))?;
        self.lines += 1;
        self.last_run = self.last_run.max(record.run);
        Ok(())
    }
}

/// Reads a job's run history (missing files: none). Damaged lines are skipped and
/// counted.
pub fn read_runs(path: &Path) -> Result<RunHistory, StoreError> {
    let mut history = RunHistory::default();
    for file in [older(path), path.to_path_buf()] {
        let bytes = match crate::store::read_file(&file, MAX_FILE) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(StoreError::io("reading", &file, e)),
        };
        for line in bytes.split(|&b| b == b'\n') {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<RunRecord>(line) {
                Ok(record) => history.runs.push(record),
                Err(_) => history.unreadable += 1,
            }
        }
    }
    let excess = history.runs.len().saturating_sub(KEEP_RUNS);
    history.runs.drain(..excess);
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{RunEnd, RunResult, Trigger};

    fn record(run: u64) -> RunRecord {
        RunRecord {
            run,
            trigger: Trigger::Schedule,
            started: jiff::Timestamp::UNIX_EPOCH,
            ended: jiff::Timestamp::UNIX_EPOCH,
            result: RunResult::new(RunEnd::Succeeded, "exited with status 0"),
            slurm_jobs: Vec::new(),
            after: Vec::new(),
            planned: None,
        }
    }

    fn line_count(path: &Path) -> usize {
        std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
    }

    #[test]
    fn keeps_exactly_the_newest_thousand() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("runs.jsonl");
        let mut log = RunLog::open(&path);
        for run in 1..=2345 {
            log.append(&record(run)).expect("appends");
            assert!(line_count(&path) <= KEEP_RUNS, "run {run}");
        }
        let history = read_runs(&path).expect("reads");
        assert_eq!(history.runs.len(), KEEP_RUNS);
        assert_eq!(history.runs[0].run, 1346);
        assert_eq!(history.runs[KEEP_RUNS - 1].run, 2345);
        assert_eq!(RunLog::open(&path).last_run(), 2345);
    }

    #[test]
    fn damaged_lines_are_skipped_and_counted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("runs.jsonl");
        let mut log = RunLog::open(&path);
        log.append(&record(1)).expect("appends");
        let mut f = crate::store::open_append(&path).expect("opens");
        f.write_all(b"garbage \xff{\n\n").expect("writes");
        log.append(&record(2)).expect("appends");
        let history = read_runs(&path).expect("reads");
        assert_eq!(
            history.runs.iter().map(|r| r.run).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(history.unreadable, 1);
        // A damaged last line does not lose the count of runs.
        f.write_all(b"{\"run\":").expect("writes");
        assert_eq!(RunLog::open(&path).last_run(), 2);
    }
}
