//! Appending records to a job's log: rotation by rename before a record would push
//! the current file past its size limit, a header at the top of every new file that
//! carries the record count across rotations (so readers can count what rotation
//! deleted), lines longer than the record cap split into continued records, and
//! write failures (a full disk) absorbed without ever leaving a torn record.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use nix::errno::Errno;
use nix::fcntl::{fallocate, FallocateFlags};

use super::format::{
    count_records, read_header, records_through, rotated_path, whole_records_end, Header,
};
use super::index::{self, IndexWriter};
use super::record::{encode_header, format_stamp, Record, Stream, PREFIX_MAX};
use crate::store::LogTrouble;

/// The most output bytes in one record unless configured otherwise.
pub const DEFAULT_MAX_LINE: u64 = 64 * 1024;
/// Records are buffered up to this many bytes before being written.
const FLUSH_AT: usize = 256 * 1024;
/// Disk space is set aside this far ahead of the end of the file, so a record is
/// either written whole or not at all when the disk fills up.
const RESERVE_AHEAD: u64 = 256 * 1024;
/// While writes fail, how often one is tried again (output in between is dropped).
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// The writer for one job's log; records are buffered and written whole by `flush`.
pub struct LogWriter {
    path: PathBuf,
    file: File,
    /// Bytes in the current file, always whole records.
    size: u64,
    max_size: u64,
    keep: u32,
    max_line: usize,
    /// Where the space set aside in the file ends; `None` once the file system said it
    /// cannot set space aside.
    reserved: Option<u64>,
    /// A failed write left bytes past `size` that could not be cut off yet.
    torn: bool,
    /// The current file was renamed away but its successor could not be created.
    rotated_away: bool,
    pending: Vec<u8>,
    /// Bytes at the start of `pending` that are the file's header, never dropped.
    head: usize,
    pending_records: u64,
    pending_bytes: u64,
    /// Length of the header in the current file (0: none yet, or an old file).
    header_len: u64,
    /// Records the log held before the current file (its header; 0 without one).
    base: u64,
    /// Records in the current file when it was opened, counted when first needed.
    before: Option<u64>,
    /// Records written to the current file since it was opened.
    written: u64,
    /// The current file's index (none for a file without header).
    index: IndexWriter,
    trouble: Option<LogTrouble>,
    last_attempt: Option<Instant>,
    stamp_cache: (i64, String),
}

/// Where to cut `bytes` to keep at most `max` of them: not inside a UTF-8 character
/// when the text looks like UTF-8.
fn cut_point(bytes: &[u8], max: usize) -> usize {
    let mut cut = max;
    while cut > max.saturating_sub(3) && cut > 1 && (bytes[cut] & 0xC0) == 0x80 {
        cut -= 1;
    }
    if (bytes[cut] & 0xC0) == 0x80 {
        max // not UTF-8 after all
    } else {
        cut
    }
}

impl LogWriter {
    /// Opens (or creates) the log at `path`; `keep` counts the current file too. A
    /// record torn by a crash at the end of the file is cut off.
    pub fn open(path: &Path, max_size: u64, keep: u32) -> std::io::Result<LogWriter> {
        // Never through a link, never anything but a regular file: the job's output
        // reaches this file only.
        let file = crate::store::open_append(path)?;
        let mut size = file.metadata()?.len();
        let whole = whole_records_end(&file, size)?;
        if whole < size {
            file.set_len(whole)?;
            size = whole;
        }
        let header = read_header(&file)?;
        let mut writer = LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            max_size: max_size.max(1),
            keep: keep.max(1),
            max_line: DEFAULT_MAX_LINE as usize,
            reserved: Some(size),
            torn: false,
            rotated_away: false,
            pending: Vec::with_capacity(FLUSH_AT + 64 * 1024),
            head: 0,
            pending_records: 0,
            pending_bytes: 0,
            header_len: header.map_or(0, |h| h.len),
            base: header.map_or(0, |h| h.seq),
            before: None,
            written: 0,
            index: IndexWriter::none(),
            trouble: None,
            last_attempt: None,
            stamp_cache: (i64::MIN, String::new()),
        };
        if size == 0 {
            // A new file continues the count of the one rotated before it.
            writer.base = records_through(&rotated_path(path, 1)).unwrap_or(0);
            writer.before = Some(0);
            writer.start_header(Timestamp::now());
            writer.flush();
        } else if let Some(header) = header {
            let (index, records) = IndexWriter::resume(path, &writer.file, &header, size);
            writer.index = index;
            writer.before = records.ok();
        }
        Ok(writer)
    }

    /// Sets the most output bytes in one record; longer lines are split into
    /// records marked as continued.
    pub fn with_max_line(mut self, max_line: u64) -> LogWriter {
        self.max_line = usize::try_from(max_line).unwrap_or(usize::MAX).max(1);
        self
    }

    /// The most output bytes in one record.
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Whether writes are failing, and what was dropped since they started to.
    pub fn health(&self) -> Option<&LogTrouble> {
        self.trouble.as_ref()
    }

    /// Takes over what an earlier writer of this log dropped and could not report
    /// (its supervisor ended while the disk was full): the first write that works
    /// says so, with these figures added.
    pub fn carry(&mut self, earlier: LogTrouble) {
        match self.trouble.as_mut() {
            Some(now) => {
                now.dropped_lines += earlier.dropped_lines;
                now.dropped_bytes += earlier.dropped_bytes;
                now.since = now.since.min(earlier.since);
            }
            None => self.trouble = Some(earlier),
        }
    }

    fn refresh_stamp(&mut self, t: Timestamp) {
        let ms = t.as_millisecond();
        if self.stamp_cache.0 != ms {
            self.stamp_cache = (ms, format_stamp(t));
        }
    }

    /// Adds one line (without its newline), stamped `t`.
    pub fn append(&mut self, t: Timestamp, stream: Stream, line: &[u8]) {
        self.append_part(t, stream, line, true);
    }

    /// Adds output bytes of `stream`; `ends_line` says a newline followed them. Bytes
    /// past the record cap go to further records, each marked as continued, as is
    /// the last one unless it ends the line.
    pub fn append_part(&mut self, t: Timestamp, stream: Stream, bytes: &[u8], ends_line: bool) {
        let mut rest = bytes;
        loop {
            let cut = if rest.len() > self.max_line {
                cut_point(rest, self.max_line)
            } else {
                rest.len()
            };
            let (piece, after) = rest.split_at(cut);
            let last = after.is_empty();
            if !piece.is_empty() || ends_line {
                self.record(t, stream, piece, !(last && ends_line));
            }
            if last {
                return;
            }
            rest = after;
        }
    }

    /// Adds one record. Rotation is decided here, record by record, so a record never
    /// straddles two files.
    fn record(&mut self, t: Timestamp, stream: Stream, line: &[u8], continues: bool) {
        if self.backing_off() {
            self.note_failure(1, line.len() as u64, "");
            return;
        }
        let record_len = (PREFIX_MAX + line.len() + 1) as u64;
        let has_records = self.pending_records > 0 || self.size > self.header_len;
        if self.rotated_away
            || (has_records && self.size + self.pending.len() as u64 + record_len > self.max_size)
        {
            self.flush();
            if let Err(e) = self.rotate(t) {
                self.last_attempt = Some(Instant::now());
                self.note_failure(1, line.len() as u64, &format!("rotating: {e}"));
                return;
            }
        }
        self.refresh_stamp(t);
        Record::encode(
            &mut self.pending,
            &self.stamp_cache.1,
            stream,
            line,
            continues,
        );
        self.pending_records += 1;
        self.pending_bytes += line.len() as u64;
        if self.pending.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Puts the header of a new, empty current file first in line to be written.
    fn start_header(&mut self, t: Timestamp) {
        self.refresh_stamp(t);
        let mut header = Vec::new();
        encode_header(&mut header, &self.stamp_cache.1, self.base);
        self.index = match self.stamp_cache.1.as_bytes().try_into() {
            Ok(stamp) => IndexWriter::create(
                &self.path,
                &Header {
                    seq: self.base,
                    len: header.len() as u64,
                    stamp,
                },
            ),
            Err(_) => IndexWriter::none(),
        };
        self.pending.splice(0..0, header.iter().copied());
        self.head = header.len();
    }

    /// Records the log held when the current file ends.
    fn end_seq(&mut self) -> u64 {
        let before = match self.before {
            Some(n) => n,
            None => {
                // The file holds what was there at open and what was written since.
                let all = count_records(&self.file, self.header_len, self.size).unwrap_or(0);
                let n = all.saturating_sub(self.written);
                self.before = Some(n);
                n
            }
        };
        self.base + before + self.written
    }

    /// Writes what is buffered. A failed write leaves the file as it was (whole
    /// records only) and counts the buffered records as dropped; once a write
    /// succeeds again it first writes one `sys` note saying what was dropped.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.backing_off() {
            self.drop_pending(None);
            return;
        }
        let marker = self.trouble.as_ref().map(|trouble| {
            let note = format!(
                "{} ({}) dropped: {}",
                crate::print::count(trouble.dropped_lines, "line"),
                crate::print::count(trouble.dropped_bytes, "byte"),
                trouble.error
            );
            let mut bytes = Vec::new();
            let stamp = format_stamp(Timestamp::now());
            Record::encode(&mut bytes, &stamp, Stream::Sys, note.as_bytes(), false);
            bytes
        });
        let marker_len = marker.as_ref().map_or(0, Vec::len);
        if let Some(bytes) = marker {
            self.pending.splice(self.head..self.head, bytes);
        }
        match self.write_pending() {
            Ok(()) => {
                if let Some(before) = self.before {
                    let records = &self.pending[self.head..];
                    let at = self.size + self.head as u64;
                    self.index.wrote(at, records, before + self.written);
                }
                self.size += self.pending.len() as u64;
                self.written += self.pending_records + u64::from(marker_len > 0);
                if self.head > 0 {
                    self.header_len = self.head as u64;
                }
                self.trouble = None;
                self.last_attempt = None;
                self.pending.clear();
                self.head = 0;
                self.pending_records = 0;
                self.pending_bytes = 0;
            }
            Err(e) => {
                self.pending.drain(self.head..self.head + marker_len);
                self.last_attempt = Some(Instant::now());
                self.drop_pending(Some(e));
            }
        }
    }

    /// Counts a failure that dropped `lines` records of `bytes` output bytes.
    fn note_failure(&mut self, lines: u64, bytes: u64, error: &str) {
        let trouble = self.trouble.get_or_insert_with(|| LogTrouble {
            dropped_lines: 0,
            dropped_bytes: 0,
            error: String::new(),
            since: Timestamp::now(),
        });
        trouble.dropped_lines += lines;
        trouble.dropped_bytes += bytes;
        if !error.is_empty() {
            trouble.error = error.to_string();
        }
    }

    /// Writes failed a moment ago: output is dropped without trying again yet.
    fn backing_off(&self) -> bool {
        self.trouble.is_some() && self.last_attempt.is_some_and(|a| a.elapsed() < RETRY_EVERY)
    }

    /// Drops the buffered records (not the header), counting them.
    fn drop_pending(&mut self, error: Option<std::io::Error>) {
        let error = error.map(|e| e.to_string()).unwrap_or_default();
        self.note_failure(self.pending_records, self.pending_bytes, &error);
        self.pending.truncate(self.head);
        self.pending_records = 0;
        self.pending_bytes = 0;
    }

    /// Writes `pending` whole, or nothing: space is set aside first, and a short
    /// write is cut back off.
    fn write_pending(&mut self) -> std::io::Result<()> {
        if self.rotated_away {
            return Err(std::io::Error::other("the log file is being replaced"));
        }
        if self.torn {
            self.file.set_len(self.size)?;
            self.torn = false;
        }
        self.reserve(self.pending.len() as u64)?;
        if let Err(e) = self.file.write_all(&self.pending) {
            match self.file.set_len(self.size) {
                Ok(()) => self.reserved = self.reserved.map(|_| self.size),
                Err(_) => self.torn = true,
            }
            return Err(e);
        }
        Ok(())
    }

    /// Sets disk space aside for `len` more bytes (and some ahead, up to the size
    /// limit), so that the write cannot run out of space halfway.
    fn reserve(&mut self, len: u64) -> std::io::Result<()> {
        let Some(reserved) = self.reserved else {
            return Ok(());
        };
        let need = self.size + len;
        if need <= reserved {
            return Ok(());
        }
        let ahead = (self.size + RESERVE_AHEAD).min(self.max_size).max(need);
        let size = self.size;
        let file = &self.file;
        let set_aside = |end: u64| {
            fallocate(
                file,
                FallocateFlags::FALLOC_FL_KEEP_SIZE,
                size as nix::libc::off_t,
                (end - size) as nix::libc::off_t,
            )
        };
        let result = match set_aside(ahead) {
            Err(Errno::ENOSPC) if ahead > need => set_aside(need).map(|()| need),
            other => other.map(|()| ahead),
        };
        match result {
            Ok(end) => self.reserved = Some(end),
            Err(Errno::EOPNOTSUPP | Errno::ENOSYS | Errno::EINVAL) => self.reserved = None,
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// `NAME.log.(k-1)` → `NAME.log.k` … `NAME.log` → `NAME.log.1`, dropping the
    /// oldest, then a new `NAME.log` whose header continues the record count.
    fn rotate(&mut self, t: Timestamp) -> std::io::Result<()> {
        let seq = self.end_seq();
        if !self.rotated_away {
            if self.reserved.is_some_and(|r| r > self.size) {
                // Give back the space set aside past the end.
                let _ = self.file.set_len(self.size);
            }
            let oldest = rotated_path(&self.path, self.keep - 1);
            if self.keep == 1 {
                std::fs::remove_file(&self.path).ok();
                index::remove(&self.path);
            } else {
                std::fs::remove_file(&oldest).ok();
                index::remove(&oldest);
                for n in (0..self.keep - 1).rev() {
                    let (from, to) = (rotated_path(&self.path, n), rotated_path(&self.path, n + 1));
                    if from.exists() {
                        std::fs::rename(&from, &to)?;
                        index::rename(&from, &to);
                    }
                }
            }
            self.rotated_away = true;
        }
        self.file = crate::store::open_append(&self.path)?;
        self.rotated_away = false;
        self.size = 0;
        self.reserved = Some(0);
        self.torn = false;
        self.header_len = 0;
        self.base = seq;
        self.before = Some(0);
        self.written = 0;
        self.start_header(t);
        Ok(())
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.flush();
        if self.reserved.is_some_and(|r| r > self.size) {
            let _ = self.file.set_len(self.size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines (without stamp and stream) of every kept file, oldest first.
    fn kept(path: &Path, keep: u32) -> Vec<String> {
        let mut lines = Vec::new();
        for n in (0..keep).rev() {
            let Ok(text) = std::fs::read_to_string(rotated_path(path, n)) else {
                continue;
            };
            lines.extend(
                text.lines()
                    .filter_map(|l| Record::parse(l.as_bytes()))
                    .map(|r| String::from_utf8_lossy(r.line).into_owned()),
            );
        }
        lines
    }

    #[test]
    fn rotates_without_splitting_records() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let mut w = LogWriter::open(&path, 200, 3).expect("opens");
        let t = Timestamp::UNIX_EPOCH;
        for i in 0..40 {
            w.append(t, Stream::Out, format!("line {i:03}").as_bytes());
        }
        w.flush();
        for n in 0..3 {
            let len = std::fs::metadata(rotated_path(&path, n))
                .expect("kept file")
                .len();
            assert!(len <= 200, "file {n} is {len} bytes");
        }
        assert!(!rotated_path(&path, 3).exists());
        let lines = kept(&path, 3);
        let expected: Vec<String> = (40 - lines.len()..40)
            .map(|i| format!("line {i:03}"))
            .collect();
        assert_eq!(lines, expected);
    }

    #[test]
    fn headers_count_records_across_rotations_and_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let t = Timestamp::UNIX_EPOCH;
        let mut w = LogWriter::open(&path, 300, 4).expect("opens");
        for i in 0..7 {
            w.append(t, Stream::Out, format!("{i}").as_bytes());
        }
        drop(w);
        // Reopened (a new supervisor), it goes on counting where the file ends.
        let mut w = LogWriter::open(&path, 300, 4).expect("reopens");
        for i in 7..30 {
            w.append(t, Stream::Out, format!("{i}").as_bytes());
        }
        w.flush();
        for n in 0..4 {
            let file = File::open(rotated_path(&path, n)).expect("kept");
            let seq = read_header(&file).expect("reads").expect("a header").seq;
            let text = std::fs::read_to_string(rotated_path(&path, n)).expect("text");
            let first = text
                .lines()
                .find_map(|l| Record::parse(l.as_bytes()))
                .expect("a record");
            assert_eq!(
                std::str::from_utf8(first.line).expect("number"),
                seq.to_string(),
                "file {n}: the header counts the records before it"
            );
        }
    }

    #[test]
    fn a_torn_last_record_is_cut_off_on_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        std::fs::write(
            &path,
            "2024-05-01T12:34:56.789Z out whole\n2024-05-01T12:34:56.789Z out to",
        )
        .expect("writes");
        let mut w = LogWriter::open(&path, 1 << 20, 2).expect("opens");
        w.append(Timestamp::UNIX_EPOCH, Stream::Out, b"next");
        w.flush();
        assert_eq!(kept(&path, 2), ["whole", "next"]);
    }

    #[test]
    fn long_lines_are_split_into_continued_records() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let mut w = LogWriter::open(&path, 1 << 20, 2)
            .expect("opens")
            .with_max_line(4);
        let t = Timestamp::UNIX_EPOCH;
        w.append(t, Stream::Out, b"abcdefghij");
        // Not inside a UTF-8 character.
        w.append(t, Stream::Err, "aaa€b".as_bytes());
        w.append_part(t, Stream::Out, b"prompt", false);
        w.append(t, Stream::Out, b"");
        w.flush();
        let text = std::fs::read(&path).expect("log");
        let records: Vec<(String, bool)> = text
            .split(|&b| b == b'\n')
            .filter_map(Record::parse)
            .map(|r| (String::from_utf8_lossy(r.line).into_owned(), r.continues))
            .collect();
        let expected = [
            ("abcd", true),
            ("efgh", true),
            ("ij", false),
            ("aaa", true),
            ("€b", false),
            ("prom", true),
            ("pt", true),
            ("", false),
        ];
        let expected: Vec<(String, bool)> =
            expected.iter().map(|(s, c)| (s.to_string(), *c)).collect();
        assert_eq!(records, expected);
    }
}
