//! Reading a log by position: every record has a number (how many records the log
//! held before it, counted across rotations by the file headers), so a reader that
//! lost its connection resumes from the number it reached, without repeating or
//! losing a line; records rotation deleted in between come back as one `gap` line.
//!
//! A page costs what it returns, wherever it is in the log: the file holding the
//! cursor is found by the headers, the record in it by the file's index, and only
//! the records taken are read.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::format::{
    inode, read_at_most, read_header, snapshot, Header, Ino, Opened, CHUNK, MAX_LINE,
};
use super::index;
use super::line::LogLine;
use super::record::{format_stamp, Record, Stream};

/// Where a reader is in a log: the number of the next record to read.
pub type Cursor = u64;

/// The most bytes of lines in one page or tail (at least one line), so that a read
/// holds about this much whatever the log's size; a line counts as its bytes and
/// 64 more, about what its other fields take in memory and in JSON.
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// What a line of `len` bytes counts toward [`PAGE_BYTES`].
pub(crate) fn cost(len: usize) -> usize {
    len + 64
}

/// A record of job `job`'s log as readers hand it out.
pub(crate) fn line_of(job: &str, record: &Record<'_>) -> LogLine {
    LogLine {
        job: job.to_string(),
        stamp: record.stamp.to_string(),
        stream: record.stream,
        line: record.line.to_vec(),
        continues: record.continues,
    }
}

/// A note that `dropped` records were deleted by rotation before they were read.
pub(crate) fn gap_line(job: &str, stamp: String, dropped: u64) -> LogLine {
    LogLine {
        job: job.to_string(),
        stamp,
        stream: Stream::Gap,
        line: dropped.to_string().into_bytes(),
        continues: false,
    }
}

/// The lines of a page so far, and what is left of it.
struct Taking<'a> {
    job: &'a str,
    lines: Vec<LogLine>,
    max: usize,
    bytes: usize,
    /// The number of the next record to take.
    next: Cursor,
}

impl Taking<'_> {
    fn new(job: &str, cursor: Cursor, max: usize) -> Taking<'_> {
        Taking {
            job,
            lines: Vec::new(),
            max,
            bytes: 0,
            next: cursor,
        }
    }

    fn full(&self) -> bool {
        self.lines.len() >= self.max
    }

    /// Takes `line` unless the page is full (then it is full from now on).
    fn push(&mut self, line: LogLine) -> bool {
        let cost = cost(line.line.len());
        if !self.lines.is_empty() && self.bytes + cost > PAGE_BYTES {
            self.max = self.lines.len();
        }
        if self.full() {
            return false;
        }
        self.bytes += cost;
        self.lines.push(line);
        true
    }

    /// Takes record number `next`; false when the page is full.
    fn take(&mut self, record: &Record<'_>) -> bool {
        let taken = self.push(line_of(self.job, record));
        self.next += u64::from(taken);
        taken
    }

    /// A line that is not a record (damage) still has its number.
    fn skip(&mut self) {
        self.next += 1;
    }

    /// Records before `start` are gone: one gap line for them, unless the page is
    /// full.
    fn gap_to(&mut self, start: Cursor) -> bool {
        if start <= self.next {
            return true;
        }
        let gap = gap_line(
            self.job,
            format_stamp(jiff::Timestamp::now()),
            start - self.next,
        );
        let taken = self.push(gap);
        if taken {
            self.next = start;
        }
        taken
    }
}

/// Takes the records of `file` from `offset`, where record `taking.next` begins,
/// until the page is full or the file's whole records end (a record still being
/// written is left for later); returns where the next record begins and whether
/// the page is full. Reads only a chunk past what it takes.
fn read_from(file: &File, offset: u64, taking: &mut Taking<'_>) -> std::io::Result<(u64, bool)> {
    let mut buf: Vec<u8> = Vec::new();
    // The offset of `buf[0]`, and where the line it holds (or skips) began.
    let (mut at, mut line_start) = (offset, offset);
    let mut skipping = false;
    loop {
        if taking.full() {
            return Ok((line_start, true));
        }
        let held = buf.len();
        // A line longer than what is held doubles what is read next.
        buf.resize(held + CHUNK.max(held), 0);
        let n = read_at_most(file, &mut buf[held..], at + held as u64)?;
        buf.truncate(held + n);
        if n == 0 {
            return Ok((line_start, false));
        }
        let mut used = 0;
        for newline in memchr::memchr_iter(b'\n', &buf[held..]).map(|i| held + i) {
            match Record::parse(&buf[used..newline]) {
                Some(record) if !skipping => {
                    if !taking.take(&record) {
                        return Ok((line_start, true));
                    }
                }
                _ => taking.skip(),
            }
            skipping = false;
            used = newline + 1;
            line_start = at + used as u64;
        }
        buf.drain(..used);
        at += used as u64;
        if buf.len() > MAX_LINE {
            skipping = true;
            at += buf.len() as u64;
            buf.clear();
        }
    }
}

/// Where record `Cursor` of the log is, in which file, to read on from there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    ino: Ino,
    header: Option<Header>,
    offset: u64,
    next: Cursor,
}

/// A page, and the place where reading stopped.
struct Page {
    lines: Vec<LogLine>,
    next: Cursor,
    place: Option<Place>,
}

/// The number of the first record of each file: its header's, or for a file
/// written before headers, where the one before it ends (0 for the first).
fn starts_of(files: &[Opened], headers: &[Option<Header>]) -> Vec<Cursor> {
    let mut starts: Vec<Cursor> = Vec::with_capacity(files.len());
    for (i, header) in headers.iter().enumerate() {
        let start = match (header, i.checked_sub(1)) {
            (Some(header), _) => header.seq,
            (None, None) => 0,
            (None, Some(before)) => {
                let earlier = &files[before];
                let (_, records) = index::seek(
                    &earlier.path,
                    &earlier.file,
                    headers[before].as_ref(),
                    u64::MAX,
                )
                .unwrap_or((0, 0));
                starts[before] + records
            }
        };
        starts.push(start);
    }
    starts
}

/// Up to `max` lines from record `cursor` on, as [`read_page`], and where reading
/// stopped.
fn page_at(job: &str, current: &Path, cursor: Cursor, max: usize) -> Page {
    let files = snapshot(current);
    let headers: Vec<Option<Header>> = files
        .iter()
        .map(|f| read_header(&f.file).ok().flatten())
        .collect();
    let starts = starts_of(&files, &headers);
    let mut taking = Taking::new(job, cursor, max);
    let mut place = None;
    // The file holding the cursor: the last one that starts at or before it.
    let first = starts.iter().rposition(|&s| s <= cursor).unwrap_or(0);
    let last = files.len().saturating_sub(1);
    for (i, file) in files.iter().enumerate().skip(first) {
        let header = headers[i];
        if max > 0 && !taking.gap_to(starts[i]) {
            break;
        }
        let Some(k) = taking.next.checked_sub(starts[i]) else {
            break; // only without lines to take (max 0), before the first file
        };
        let Ok((offset, reached)) = index::seek(&file.path, &file.file, header.as_ref(), k) else {
            continue;
        };
        if reached < k || max == 0 {
            // Past this file's records, or no lines to take: on to the next file;
            // at the last one the cursor stops at the end of the log.
            if i == last {
                taking.next = taking.next.min(starts[i] + reached);
                place = (taking.next == starts[i] + reached).then_some(Place {
                    ino: file.ino,
                    header,
                    offset,
                    next: taking.next,
                });
            }
            continue;
        }
        let Ok((offset, full)) = read_from(&file.file, offset, &mut taking) else {
            continue;
        };
        place = Some(Place {
            ino: file.ino,
            header,
            offset,
            next: taking.next,
        });
        if full {
            break;
        }
    }
    if files.is_empty() {
        taking.next = 0;
    }
    Page {
        lines: taking.lines,
        next: taking.next,
        place,
    }
}

/// Up to `max` lines of the log at `current` from record `cursor` on (and never
/// more than [`PAGE_BYTES`] of them, at least one line), and the cursor after
/// them. A cursor past the end (the log was removed and begun again) reads from
/// the end. Only the file holding the cursor and those after it are read, each
/// from where the page needs it.
pub fn read_page(job: &str, current: &Path, cursor: Cursor, max: usize) -> (Vec<LogLine>, Cursor) {
    let page = page_at(job, current, cursor, max);
    (page.lines, page.next)
}

/// A reader that keeps up with one log: it remembers where it stopped in the
/// current file, and reads on from there while the cursor and the file are the
/// same, falling back to [`read_page`] after a rotation or a jump of the cursor.
#[derive(Debug)]
pub struct PageReader {
    job: String,
    current: PathBuf,
    at: Option<Place>,
}

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
        let page = page_at(&self.job, &self.current, cursor, max);
        self.at = page.place;
        (page.lines, page.next)
    }

    /// What was appended to the current file since the last read, if the cursor
    /// is where that read stopped and the file is the same.
    fn appended(&mut self, cursor: Cursor, max: usize) -> Option<(Vec<LogLine>, Cursor)> {
        let at = self.at.take().filter(|at| at.next == cursor)?;
        let file = crate::store::open_read(&self.current).ok()?;
        let meta = file.metadata().ok()?;
        if inode(&meta) != at.ino || meta.len() < at.offset || read_header(&file).ok()? != at.header
        {
            return None;
        }
        let mut taking = Taking::new(&self.job, cursor, max);
        let (offset, _) = read_from(&file, at.offset, &mut taking).ok()?;
        self.at = Some(Place {
            offset,
            next: taking.next,
            ..at
        });
        Some((taking.lines, taking.next))
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

    use crate::logs::texts;

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

    #[test]
    fn a_page_holds_at_most_page_bytes_of_lines_and_at_least_one() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("j.log");
        let mut out = Vec::new();
        encode_header(&mut out, "2026-01-01T00:00:00.000Z", 0);
        for size in [1_500_000, 1_500_000, 1_500_000, 5_000_000, 10] {
            let line = vec![b'x'; size];
            Record::encode(
                &mut out,
                "2026-01-01T00:00:00.000Z",
                Stream::Out,
                &line,
                false,
            );
        }
        std::fs::write(&log, out).expect("written");
        let sizes = |page: &[LogLine]| page.iter().map(|l| l.line.len()).collect::<Vec<_>>();
        let mut reader = PageReader::new("j", &log);
        let mut cursor = 0;
        for want in [
            vec![1_500_000, 1_500_000],
            vec![1_500_000],
            vec![5_000_000],
            vec![10],
        ] {
            let (page, next) = read_page("j", &log, cursor, 100);
            assert_eq!(sizes(&page), want);
            assert_eq!(reader.read(cursor, 100), (page, next));
            cursor = next;
        }
        assert_eq!(cursor, 5);
    }

    #[test]
    fn a_damaged_line_has_its_number_as_the_headers_count_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("j.log");
        write(&dir.path().join("j.log.1"), Some(0), 0..2);
        let mut bytes = std::fs::read(dir.path().join("j.log.1")).expect("read");
        bytes.extend_from_slice(b"not a record\n");
        std::fs::write(dir.path().join("j.log.1"), &bytes).expect("written");
        write(&log, Some(3), 3..5);
        assert_eq!(texts(&read_page("j", &log, 0, 10).0), ["0", "1", "3", "4"]);
        let (page, next) = read_page("j", &log, 2, 10);
        assert_eq!((texts(&page), next), (vec!["3".into(), "4".into()], 5));
    }
}
