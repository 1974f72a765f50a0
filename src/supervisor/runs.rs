//! `runs.jsonl`: one line per finished run, the newest 1000 kept.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use crate::job::RunRecord;
use crate::store::StoreError;

/// How many finished runs are kept.
pub const KEEP_RUNS: usize = 1000;

/// Appends run records, trimming the file when it grows well past the limit.
pub struct RunLog {
    path: PathBuf,
    lines: usize,
}

impl RunLog {
    /// Opens the run log at `path`, counting what is there.
    pub fn open(path: &Path) -> RunLog {
        let lines = std::fs::File::open(path)
            .map(|f| BufReader::new(f).lines().count())
            .unwrap_or(0);
        RunLog {
            path: path.to_path_buf(),
            lines,
        }
    }

    /// Appends one record.
    pub fn append(&mut self, record: &RunRecord) -> Result<(), StoreError> {
        let mut line = serde_json::to_vec(record).map_err(|source| StoreError::Json {
            path: self.path.clone(),
            source,
        })?;
        line.push(b'\n');
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.write_all(&line))
            .map_err(|e| StoreError::io("appending to", &self.path, e))?;
        self.lines += 1;
        if self.lines >= KEEP_RUNS + KEEP_RUNS / 10 {
            self.trim()?;
        }
        Ok(())
    }

    fn trim(&mut self) -> Result<(), StoreError> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| StoreError::io("reading", &self.path, e))?;
        let lines: Vec<&str> = text.lines().collect();
        let keep = &lines[lines.len().saturating_sub(KEEP_RUNS)..];
        let tmp = self.path.with_extension("jsonl.tmp");
        std::fs::write(&tmp, keep.join("\n") + "\n")
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| StoreError::io("trimming", &self.path, e))?;
        self.lines = keep.len();
        Ok(())
    }
}

/// Reads every record of a run log (missing file: none).
pub fn read_runs(path: &Path) -> Result<Vec<RunRecord>, StoreError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("reading", path, e)),
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            serde_json::from_str(l).map_err(|source| StoreError::Json {
                path: path.to_path_buf(),
                source,
            })
        })
        .collect()
}
