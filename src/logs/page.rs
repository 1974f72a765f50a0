//! Reading a log by position: every record has a number (how many records the log
//! held before it, counted across rotations by the file headers), so a reader that
//! lost its connection resumes from the number it reached, without repeating or
//! losing a line; records rotation deleted in between come back as one `gap` line.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::follow::log_files;
use super::line::LogLine;
use super::record::{format_stamp, parse_header, Record, Stream};

/// Where a reader is in a log: the number of the next record to read.
pub type Cursor = u64;

/// The sequence number in a file's header, reading only its first line.
fn header_of(file: &Path) -> Option<u64> {
    let mut head = [0u8; 128];
    let n = crate::store::open_read(file).ok()?.read(&mut head).ok()?;
    let first = head[..n].split(|&b| b == b'\n').next()?;
    parse_header(first)
}

/// The complete records of `bytes`: a last line without its newline is still
/// being written, and is not a record yet.
fn complete(bytes: &[u8]) -> &[u8] {
    match memchr::memrchr(b'\n', bytes) {
        Some(end) => &bytes[..=end],
        None => &[],
    }
}

fn line_of(job: &str, record: &Record<'_>) -> LogLine {
    LogLine {
        job: job.to_string(),
        stamp: record.stamp.to_string(),
        stream: record.stream,
        line: record.line.to_vec(),
        continues: record.continues,
    }
}

fn gap(job: &str, dropped: u64) -> LogLine {
    LogLine {
        job: job.to_string(),
        stamp: format_stamp(jiff::Timestamp::now()),
        stream: Stream::Gap,
        line: dropped.to_string().into_bytes(),
        continues: false,
    }
}

/// Up to `max` lines of the log at `current` from record `cursor` on, and the
/// cursor after them. A cursor past the end (the log was removed and begun again)
/// reads from the end. Rotated files that end before the cursor (their
/// successor's header says where) are not read, and only the records taken are
/// copied, so a reader near the end of a long log reads the current file only.
pub fn read_page(job: &str, current: &Path, cursor: Cursor, max: usize) -> (Vec<LogLine>, Cursor) {
    let files = log_files(current);
    let starts: Vec<Option<u64>> = files.iter().map(|f| header_of(f)).collect();
    let mut lines = Vec::new();
    let mut next = cursor;
    let mut end = 0;
    for (i, file) in files.iter().enumerate() {
        // Full: the cursor is inside what was taken, `end` no longer matters.
        if !lines.is_empty() && lines.len() >= max {
            break;
        }
        if let (Some(_), Some(Some(following))) = (starts[i], starts.get(i + 1)) {
            if *following <= next {
                end = *following;
                continue;
            }
        }
        // Rotated away since it was listed: what it held is the next file's, or gone.
        let Ok(bytes) = crate::store::read_file(file, u64::MAX) else {
            continue;
        };
        let start = starts[i].unwrap_or(end);
        let mut index = start;
        for raw in complete(&bytes).split(|&b| b == b'\n') {
            let Some(record) = Record::parse(raw) else {
                continue;
            };
            if index >= next && lines.len() < max {
                if index > next {
                    lines.push(gap(job, index - next));
                    next = index;
                }
                if lines.len() < max {
                    lines.push(line_of(job, &record));
                    next += 1;
                }
            }
            index += 1;
        }
        end = index;
    }
    (lines, next.min(end))
}

/// A reader that keeps up with one log: it remembers where the current file's
/// records end, and reads only what was appended since, falling back to
/// [`read_page`] after a rotation, a jump of the cursor or a new file.
#[derive(Debug)]
pub struct PageReader {
    job: String,
    current: PathBuf,
    /// The current file's inode, the byte after the last record read and that
    /// record's successor's number.
    at: Option<(u64, u64, Cursor)>,
}

/// The most bytes read from the current file in one step.
const STEP: u64 = 4 * 1024 * 1024;

impl PageReader {
    /// A reader of job `job`'s log at `current`.
    pub fn new(job: &str, current: &Path) -> PageReader {
        PageReader {
            job: job.to_string(),
            current: current.to_path_buf(),
            at: None,
        }
    }

    /// Like [`read_page`].
    pub fn read(&mut self, cursor: Cursor, max: usize) -> (Vec<LogLine>, Cursor) {
        if let Some(page) = self.appended(cursor, max) {
            return page;
        }
        let (lines, next) = read_page(&self.job, &self.current, cursor, max);
        self.at = if lines.len() < max || max == 0 {
            self.locate(next)
        } else {
            None
        };
        (lines, next)
    }

    /// What was appended to the current file since the last read, if the cursor
    /// is where that read ended and the file is the same.
    fn appended(&mut self, cursor: Cursor, max: usize) -> Option<(Vec<LogLine>, Cursor)> {
        let (ino, offset, index) = self.at?;
        let mut file = crate::store::open_read(&self.current).ok()?;
        let meta = file.metadata().ok()?;
        if index != cursor || meta.ino() != ino || meta.len() < offset {
            self.at = None;
            return None;
        }
        let mut bytes = Vec::new();
        file.seek(SeekFrom::Start(offset)).ok()?;
        file.take(STEP).read_to_end(&mut bytes).ok()?;
        let mut lines = Vec::new();
        let mut used = 0;
        for raw in complete(&bytes).split_inclusive(|&b| b == b'\n') {
            if lines.len() >= max {
                break;
            }
            used += raw.len();
            if let Some(record) = Record::parse(&raw[..raw.len() - 1]) {
                lines.push(line_of(&self.job, &record));
            }
        }
        let next = index + lines.len() as u64;
        self.at = Some((ino, offset + used as u64, next));
        Some((lines, next))
    }

    /// Where record `cursor` begins in the current file, if it is there (or at
    /// its end).
    fn locate(&self, cursor: Cursor) -> Option<(u64, u64, Cursor)> {
        let mut file = crate::store::open_read(&self.current).ok()?;
        let ino = file.metadata().ok()?.ino();
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).ok()?;
        let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let mut index = parse_header(first).unwrap_or(0);
        let mut offset = 0;
        for raw in complete(&bytes).split_inclusive(|&b| b == b'\n') {
            if index == cursor && Record::parse(&raw[..raw.len() - 1]).is_some() {
                return Some((ino, offset as u64, cursor));
            }
            if Record::parse(&raw[..raw.len() - 1]).is_some() {
                index += 1;
            }
            offset += raw.len();
        }
        (index == cursor).then_some((ino, offset as u64, cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::record::{encode_header, Record};

    fn write(path: &Path, seq: Option<u64>, lines: std::ops::Range<u64>) {
        let mut out = Vec::new();
        let stamp = "2026-01-01T00:00:00.000Z";
        if let Some(seq) = seq {
            encode_header(&mut out, stamp, seq);
        }
        for i in lines {
            Record::encode(
                &mut out,
                stamp,
                Stream::Out,
                i.to_string().as_bytes(),
                false,
            );
        }
        std::fs::write(path, out).expect("written");
    }

    fn texts(lines: &[LogLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| match l.stream {
                Stream::Gap => format!("gap {}", String::from_utf8_lossy(&l.line)),
                _ => String::from_utf8_lossy(&l.line).into_owned(),
            })
            .collect()
    }

    #[test]
    fn pages_resume_where_they_stopped_and_count_what_rotation_took() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("j.log");
        // Records 0..10 were rotated away; .1 holds 10..15, the current file 15..18.
        write(&dir.path().join("j.log.1"), Some(10), 10..15);
        write(&log, Some(15), 15..18);
        let (page, next) = read_page("j", &log, 0, 4);
        assert_eq!(texts(&page), ["gap 10", "10", "11", "12"]);
        assert_eq!(next, 13);
        let (page, next) = read_page("j", &log, next, 4);
        assert_eq!(texts(&page), ["13", "14", "15", "16"]);
        let (page, next) = read_page("j", &log, next, 4);
        assert_eq!(texts(&page), ["17"]);
        assert_eq!(next, 18);
        let (page, again) = read_page("j", &log, next, 4);
        assert!(page.is_empty());
        assert_eq!(again, 18);
        // Files without headers count from 0.
        let old = dir.path().join("old.log");
        write(&old, None, 0..3);
        let (page, next) = read_page("old", &old, 1, 10);
        assert_eq!((texts(&page), next), (vec!["1".into(), "2".into()], 3));
        // Past the end (the log began again): from the end.
        let (page, next) = read_page("old", &old, 99, 10);
        assert!(page.is_empty());
        assert_eq!(next, 3);
        // Where the end is, without a line.
        assert_eq!(read_page("j", &log, Cursor::MAX, 0), (Vec::new(), 18));
    }

    #[test]
    fn a_record_still_being_written_is_not_read_until_it_is_whole() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("j.log");
        write(&log, Some(0), 0..2);
        let mut bytes = std::fs::read(&log).expect("read");
        bytes.extend_from_slice(b"2026-01-01T00:00:00.000Z out 2 and mo");
        std::fs::write(&log, &bytes).expect("written");
        let mut reader = PageReader::new("j", &log);
        for (page, next) in [read_page("j", &log, 0, 10), reader.read(0, 10)] {
            assert_eq!(texts(&page), ["0", "1"]);
            assert_eq!(next, 2);
        }
        bytes.extend_from_slice(b"re\n");
        std::fs::write(&log, &bytes).expect("written");
        for (page, next) in [read_page("j", &log, 2, 10), reader.read(2, 10)] {
            assert_eq!(texts(&page), ["2 and more"]);
            assert_eq!(next, 3);
        }
    }

    #[test]
    fn a_reader_that_keeps_up_reads_what_was_appended_and_follows_rotation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("j.log");
        write(&log, Some(0), 0..3);
        let mut reader = PageReader::new("j", &log);
        let (page, next) = reader.read(0, 2);
        assert_eq!((texts(&page), next), (vec!["0".into(), "1".into()], 2));
        let (page, next) = reader.read(next, 10);
        assert_eq!((texts(&page), next), (vec!["2".into()], 3));
        assert!(reader.at.is_some(), "caught up: the place is kept");
        // Appended: read from where it was.
        let mut more = Vec::new();
        Record::encode(
            &mut more,
            "2026-01-01T00:00:00.000Z",
            Stream::Out,
            b"3",
            false,
        );
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        std::io::Write::write_all(&mut f, &more).expect("appended");
        let (page, next) = reader.read(next, 10);
        assert_eq!((texts(&page), next), (vec!["3".into()], 4));
        // Rotated: the old file moves, a new one begins at 4.
        std::fs::rename(&log, dir.path().join("j.log.1")).expect("rotated");
        write(&log, Some(4), 4..6);
        let (page, next) = reader.read(next, 10);
        assert_eq!((texts(&page), next), (vec!["4".into(), "5".into()], 6));
        // The same pages as read_page, from anywhere.
        for from in 0..7 {
            let mut fresh = PageReader::new("j", &log);
            assert_eq!(
                texts(&fresh.read(from, 3).0),
                texts(&read_page("j", &log, from, 3).0)
            );
        }
    }
}
