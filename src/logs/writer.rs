//! Appending records to a job's log, rotating by rename before a record would push
//! the current file past its size limit.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use super::record::{format_stamp, Record, Stream};

/// The writer for one job's log; records are buffered and written whole by `flush`.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    max_size: u64,
    keep: u32,
    pending: Vec<u8>,
    stamp_cache: (i64, String),
}

fn open_append(path: &Path) -> std::io::Result<File> {
    crate::store::private::open_append(path)
}

/// The path of the `n`-th rotated file (`NAME.log.n`), or the current one for 0.
pub fn rotated_path(path: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return path.to_path_buf();
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

impl LogWriter {
    /// Opens (or creates) the log at `path`; `keep` counts the current file too.
    pub fn open(path: &Path, max_size: u64, keep: u32) -> std::io::Result<LogWriter> {
        let file = open_append(path)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size: max_size.max(1),
            keep: keep.max(1),
            pending: Vec::with_capacity(64 * 1024),
            stamp_cache: (i64::MIN, String::new()),
        })
    }

    fn refresh_stamp(&mut self, t: Timestamp) {
        let ms = t.as_millisecond();
        if self.stamp_cache.0 != ms {
            self.stamp_cache = (ms, format_stamp(t));
        }
    }

    /// Adds one line (without its newline), stamped `t`. Rotation is decided here,
    /// record by record, so a record never straddles two files.
    pub fn append(&mut self, t: Timestamp, stream: Stream, line: &[u8]) -> std::io::Result<()> {
        let record_len = 24 + 5 + line.len() as u64 + 1;
        let projected = self.size + self.pending.len() as u64;
        if projected > 0 && projected + record_len > self.max_size {
            self.flush()?;
            self.rotate()?;
        }
        self.refresh_stamp(t);
        Record::encode(&mut self.pending, &self.stamp_cache.1, stream, line);
        if self.pending.len() >= 256 * 1024 {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is buffered.
    pub fn flush(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file.write_all(&self.pending)?;
        self.size += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// `NAME.log.(k-1)` → `NAME.log.k` … `NAME.log` → `NAME.log.1`, dropping the oldest.
    fn rotate(&mut self) -> std::io::Result<()> {
        let oldest = rotated_path(&self.path, self.keep - 1);
        if self.keep == 1 {
            std::fs::remove_file(&self.path).ok();
        } else {
            std::fs::remove_file(&oldest).ok();
            for n in (0..self.keep - 1).rev() {
                let from = rotated_path(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, rotated_path(&self.path, n + 1))?;
                }
            }
        }
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_without_splitting_records() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let mut w = LogWriter::open(&path, 200, 3).expect("opens");
        let t = Timestamp::UNIX_EPOCH;
        for i in 0..40 {
            w.append(t, Stream::Out, format!("line {i:03}").as_bytes())
                .expect("appends");
        }
        w.flush().expect("flushes");
        let mut lines = Vec::new();
        for n in (0..3).rev() {
            let text = std::fs::read_to_string(rotated_path(&path, n)).expect("kept file");
            assert!(text.len() <= 200, "file {n} is {} bytes", text.len());
            lines.extend(text.lines().map(|l| l[29..].to_string()));
        }
        assert!(!rotated_path(&path, 3).exists());
        let expected: Vec<String> = (40 - lines.len()..40)
            .map(|i| format!("line {i:03}"))
            .collect();
        assert_eq!(lines, expected);
    }
}
