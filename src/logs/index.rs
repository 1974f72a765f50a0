//! The index beside each log file, so that a reader finds record N of a file by
//! seeking close to it rather than by counting every newline before it: reads by
//! cursor, tails and followers starting at the end cost what they return, not
//! what the log holds.
//!
//! `logs/.index/NAME.log` (and `.index/NAME.log.N`) belongs to the log file of the
//! same name. It begins with 40 bytes, `mrsmidx1` then the file's own header (its
//! sequence number as a little-endian u64, and its stamp), so that it is never
//! used for another file; then entries of 16 bytes, each the number of records in
//! the file before a place and the byte offset of that place (both little-endian
//! u64), in increasing order, one at least every [`EVERY`] bytes of the file. The
//! writer appends entries once the records they point to are written, renames the
//! index with its file on rotation, and on reopening a file keeps the entries that
//! still check out and adds the missing ones.
//!
//! Readers never trust it blindly: an index whose header is not its file's is not
//! used; an entry is used only if it points inside the file, just after a newline,
//! no further in than its count allows; from there the reader counts newlines to
//! the exact record. Without a usable index a reader counts from the top of the
//! file: slower, and the same answer.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{read_at_most, Header, CHUNK};
use super::record::STAMP_LEN;

const MAGIC: &[u8; 8] = b"mrsmidx1";
const HEAD_LEN: usize = MAGIC.len() + 8 + STAMP_LEN;
const ENTRY_LEN: u64 = 16;
/// An entry at least this often, in bytes of the log file: a reader counts at most
/// this far (and one record) from the entry it starts at.
pub(crate) const EVERY: u64 = 32 * 1024;
/// Bytes read at a time while counting from an entry to a record.
const COUNT_PIECE: usize = 8 * 1024;

/// The index of log file `log`.
fn path_of(log: &Path) -> Option<PathBuf> {
    Some(log.parent()?.join(".index").join(log.file_name()?))
}

/// What an index begins with: which file it is for.
fn head_of(header: &Header) -> [u8; HEAD_LEN] {
    let mut head = [0u8; HEAD_LEN];
    head[..8].copy_from_slice(MAGIC);
    head[8..16].copy_from_slice(&header.seq.to_le_bytes());
    head[16..].copy_from_slice(&header.stamp);
    head
}

/// Removes the index of `log`.
pub(crate) fn remove(log: &Path) {
    if let Some(path) = path_of(log) {
        let _ = std::fs::remove_file(path);
    }
}

/// Moves the index of `from` to `to`, as its file was; without one, a stale index
/// of `to` is removed.
pub(crate) fn rename(from: &Path, to: &Path) {
    let (Some(from), Some(to)) = (path_of(from), path_of(to)) else {
        return;
    };
    if std::fs::rename(&from, &to).is_err() {
        let _ = std::fs::remove_file(&to);
    }
}

/// Entry `i` of an index: (records before the place, its offset).
fn entry(index: &File, i: u64) -> Option<(u64, u64)> {
    let mut bytes = [0u8; ENTRY_LEN as usize];
    let offset = HEAD_LEN as u64 + i * ENTRY_LEN;
    if read_at_most(index, &mut bytes, offset).ok()? != bytes.len() {
        return None;
    }
    let (records, place) = bytes.split_at(8);
    Some((
        u64::from_le_bytes(records.try_into().ok()?),
        u64::from_le_bytes(place.try_into().ok()?),
    ))
}

/// Whether entry `(records, offset)` can be right for `file` (`size` bytes, header
/// `header`): inside it, no further in than one byte a record, just after a newline.
fn plausible(file: &File, header: &Header, size: u64, (records, offset): (u64, u64)) -> bool {
    if offset < header.len || offset > size || records > offset - header.len {
        return false;
    }
    if records == 0 {
        return offset == header.len;
    }
    let mut before = [0u8; 1];
    file.read_at(&mut before, offset - 1).ok() == Some(1) && before[0] == b'\n'
}

/// The index of `log`, opened, if it is the index of the file whose header is
/// `header`; and how many entries it has.
fn open_matching(log: &Path, header: &Header, write: bool) -> Option<(File, u64)> {
    let path = path_of(log)?;
    // Never through a link, never anything but a regular file.
    let index = match write {
        false => crate::store::open_read(&path).ok()?,
        true if std::fs::symlink_metadata(&path).is_ok() => crate::store::open_lock(&path).ok()?,
        true => return None,
    };
    let mut head = [0u8; HEAD_LEN];
    if read_at_most(&index, &mut head, 0).ok()? != HEAD_LEN || head != head_of(header) {
        return None;
    }
    let len = index.metadata().ok()?.len();
    Some((index, (len - HEAD_LEN as u64) / ENTRY_LEN))
}

/// The usable entry of `log`'s index closest before record `k`.
fn nearest(log: &Path, file: &File, header: &Header, size: u64, k: u64) -> Option<(u64, u64)> {
    let (index, entries) = open_matching(log, header, false)?;
    // Entries increase: find the last one whose count is at most k.
    let (mut low, mut high) = (0, entries);
    while low < high {
        let middle = low + (high - low) / 2;
        if entry(&index, middle)?.0 <= k {
            low = middle + 1;
        } else {
            high = middle;
        }
    }
    let found = entry(&index, low.checked_sub(1)?)?;
    plausible(file, header, size, found).then_some(found)
}

/// Counts records from `offset` (where record `reached` begins) until record `k`:
/// where it begins and `k`, or, when the file holds fewer, where its whole records
/// end and how many there are.
fn count_to(file: &File, mut offset: u64, mut reached: u64, k: u64) -> std::io::Result<(u64, u64)> {
    // Small pieces: the record sought is usually a few KiB past the entry, and the
    // reader reads on from there anyway.
    let mut buf = vec![0u8; COUNT_PIECE];
    let mut at = offset;
    while reached < k {
        let n = read_at_most(file, &mut buf, at)?;
        if n == 0 {
            break;
        }
        for newline in memchr::memchr_iter(b'\n', &buf[..n]) {
            reached += 1;
            offset = at + newline as u64 + 1;
            if reached == k {
                return Ok((offset, reached));
            }
        }
        at += n as u64;
    }
    Ok((offset, reached))
}

/// Where record `k` of log file `log` begins (its records counted from the first
/// after its header, `header`, when it has one), and `k`; when the file holds
/// fewer, where its whole records end (never inside a record still being
/// written) and how many there are.
pub(crate) fn seek(
    log: &Path,
    file: &File,
    header: Option<&Header>,
    k: u64,
) -> std::io::Result<(u64, u64)> {
    let top = header.map_or(0, |h| h.len);
    let start = match header {
        Some(header) if k > 0 => {
            let size = file.metadata()?.len();
            nearest(log, file, header, size, k)
        }
        _ => None,
    };
    let (offset, reached) = start.map_or((top, 0), |(records, offset)| (offset, records));
    count_to(file, offset, reached, k)
}

/// The index a writer keeps for its current file.
pub(crate) struct IndexWriter {
    file: Option<File>,
    /// Bytes of the index written whole: the next entry goes there.
    len: u64,
    /// The offset in the log file from which a record gets an entry.
    next_mark: u64,
}

impl IndexWriter {
    /// No index: a file without header, or an index that could not be written.
    pub fn none() -> IndexWriter {
        IndexWriter {
            file: None,
            len: 0,
            next_mark: u64::MAX,
        }
    }

    /// A new, empty index for log file `log`, whose header is `header`.
    pub fn create(log: &Path, header: &Header) -> IndexWriter {
        let made = path_of(log).and_then(|path| {
            let file = crate::store::open_lock(&path).ok()?;
            file.set_len(0).ok()?;
            file.write_all_at(&head_of(header), 0).ok()?;
            Some(file)
        });
        match made {
            Some(file) => IndexWriter {
                file: Some(file),
                len: HEAD_LEN as u64,
                next_mark: header.len + EVERY,
            },
            None => {
                remove(log);
                IndexWriter::none()
            }
        }
    }

    /// Takes over the index of log file `log` (open as `file`, `size` bytes of whole
    /// records under header `header`) from an earlier writer: its entries that
    /// check out are kept, the rest made again from the file. Returns how many
    /// records the file holds.
    pub fn resume(
        log: &Path,
        file: &File,
        header: &Header,
        size: u64,
    ) -> (IndexWriter, std::io::Result<u64>) {
        let mut kept = None;
        if let Some((index, entries)) = open_matching(log, header, true) {
            let last = (0..entries).rev().find_map(|i| {
                entry(&index, i)
                    .filter(|&e| plausible(file, header, size, e))
                    .map(|e| (i, e))
            });
            let (len, from) = match last {
                Some((i, e)) => (HEAD_LEN as u64 + (i + 1) * ENTRY_LEN, e),
                None => (HEAD_LEN as u64, (0, header.len)),
            };
            if index.set_len(len).is_ok() {
                let writer = IndexWriter {
                    file: Some(index),
                    len,
                    next_mark: from.1 + EVERY,
                };
                kept = Some((writer, from));
            }
        }
        let (mut writer, (records, offset)) =
            kept.unwrap_or_else(|| (IndexWriter::create(log, header), (0, header.len)));
        let count = writer.scan(file, records, offset, size);
        (writer, count)
    }

    /// Adds the entries for the records of `file` from `offset` (where record
    /// `records` begins) to `size`; returns how many records there are up to `size`.
    fn scan(
        &mut self,
        file: &File,
        mut records: u64,
        offset: u64,
        size: u64,
    ) -> std::io::Result<u64> {
        let mut buf = vec![0u8; CHUNK];
        let mut entries = Vec::new();
        let mut at = offset;
        while at < size {
            let want = ((size - at) as usize).min(buf.len());
            let n = read_at_most(file, &mut buf[..want], at)?;
            if n == 0 {
                break;
            }
            for newline in memchr::memchr_iter(b'\n', &buf[..n]) {
                records += 1;
                let start = at + newline as u64 + 1;
                if start < size {
                    self.mark(records, start, &mut entries);
                }
            }
            at += n as u64;
        }
        self.append(&entries);
        Ok(records)
    }

    /// Notes an entry for the record `records` beginning at `start`, when one is due.
    fn mark(&mut self, records: u64, start: u64, entries: &mut Vec<u8>) {
        if start >= self.next_mark {
            entries.extend_from_slice(&records.to_le_bytes());
            entries.extend_from_slice(&start.to_le_bytes());
            self.next_mark = start + EVERY;
        }
    }

    /// `bytes`, whole records, were written to the log file at offset `at`, the
    /// first of them record `first` of the file: adds their entries.
    pub fn wrote(&mut self, at: u64, bytes: &[u8], first: u64) {
        if self.file.is_none() || at + bytes.len() as u64 <= self.next_mark {
            return;
        }
        let mut entries = Vec::new();
        self.mark(first, at, &mut entries);
        let mut records = first;
        for newline in memchr::memchr_iter(b'\n', bytes) {
            records += 1;
            if newline + 1 < bytes.len() {
                self.mark(records, at + newline as u64 + 1, &mut entries);
            }
        }
        self.append(&entries);
    }

    /// Writes entries after the last whole one; an index that cannot be written
    /// is given up (readers then count from the top of the file).
    fn append(&mut self, entries: &[u8]) {
        let Some(file) = &self.file else {
            return;
        };
        if entries.is_empty() {
            return;
        }
        match file.write_all_at(entries, self.len) {
            Ok(()) => self.len += entries.len() as u64,
            Err(_) => {
                // A later write goes to the same place; a torn entry past the end
                // is not a whole entry, and readers check entries anyway.
                let _ = file.set_len(self.len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::format::read_header;
    use crate::logs::{LogWriter, Stream};
    use jiff::Timestamp;

    fn opened(path: &Path) -> (File, Option<Header>) {
        let file = File::open(path).expect("opens");
        let header = read_header(&file).expect("reads");
        (file, header)
    }

    /// Where each record begins, counted the slow way.
    fn starts(path: &Path) -> Vec<u64> {
        let bytes = std::fs::read(path).expect("reads");
        let top = memchr::memchr(b'\n', &bytes).expect("a header") + 1;
        let mut starts = vec![top as u64];
        starts.extend(memchr::memchr_iter(b'\n', &bytes[top..]).map(|i| (top + i + 1) as u64));
        starts
    }

    fn write_lines(writer: &mut LogWriter, lines: std::ops::Range<u32>) {
        for i in lines {
            let line = format!("{i} {}", "x".repeat((i % 300) as usize));
            writer.append(Timestamp::UNIX_EPOCH, Stream::Out, line.as_bytes());
            if i % 7 == 0 {
                writer.flush();
            }
        }
        writer.flush();
    }

    #[test]
    fn seeks_find_every_record_with_entries_every_so_often() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.log");
        let mut writer = LogWriter::open(&path, 1 << 30, 2).expect("opens");
        write_lines(&mut writer, 0..5000);
        let (file, header) = opened(&path);
        let starts = starts(&path);
        let (_, entries) =
            open_matching(&path, header.as_ref().expect("a header"), false).expect("an index");
        let size = *starts.last().expect("an end");
        assert!(
            entries >= size / EVERY - 1,
            "{entries} entries for {size} bytes"
        );
        for k in (0..starts.len() as u64)
            .step_by(37)
            .chain([4999, 5000, 9999])
        {
            let want = starts.get(k as usize).map_or((size, 5000), |&s| (s, k));
            assert_eq!(seek(&path, &file, header.as_ref(), k).expect("seeks"), want);
        }
    }

    #[test]
    fn a_reopened_writer_keeps_the_index_going_and_a_stale_one_is_not_used() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.log");
        let mut writer = LogWriter::open(&path, 1 << 30, 2).expect("opens");
        write_lines(&mut writer, 0..2000);
        drop(writer);
        // Entries past what the file holds (a crash lost the file's last writes).
        let index = path_of(&path).expect("a path");
        let mut bytes = std::fs::read(&index).expect("an index");
        bytes.extend_from_slice(&[0xff; 16]);
        std::fs::write(&index, &bytes).expect("written");
        let mut writer = LogWriter::open(&path, 1 << 30, 2).expect("reopens");
        write_lines(&mut writer, 2000..4000);
        drop(writer);
        let (file, header) = opened(&path);
        let starts = starts(&path);
        for k in (0..4000).step_by(113) {
            assert_eq!(
                seek(&path, &file, header.as_ref(), k).expect("seeks"),
                (starts[k as usize], k)
            );
        }
        // An index made for another file: not used, and the answer is the same.
        let mut other = std::fs::read(&index).expect("an index");
        other[8] ^= 1;
        std::fs::write(&index, &other).expect("written");
        assert!(open_matching(&path, header.as_ref().expect("a header"), false).is_none());
        assert_eq!(
            seek(&path, &file, header.as_ref(), 3001).expect("seeks"),
            (starts[3001], 3001)
        );
        // Entries pointing anywhere: not used either.
        let mut wrong = bytes[..HEAD_LEN].to_vec();
        for (records, offset) in [(5u64, 7u64), (3000, starts[2000] + 1), (9000, 1 << 40)] {
            wrong.extend_from_slice(&records.to_le_bytes());
            wrong.extend_from_slice(&offset.to_le_bytes());
        }
        std::fs::write(&index, &wrong).expect("written");
        for k in [6, 3000, 3500, 9000] {
            let want = starts
                .get(k as usize)
                .map_or((*starts.last().expect("end"), 4000), |&s| (s, k));
            assert_eq!(seek(&path, &file, header.as_ref(), k).expect("seeks"), want);
        }
    }

    #[test]
    fn the_index_moves_with_its_file_on_rotation() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.log");
        let mut writer = LogWriter::open(&path, 200 * 1024, 3).expect("opens");
        write_lines(&mut writer, 0..6000);
        drop(writer);
        let files = crate::logs::log_files(&path);
        assert_eq!(files.len(), 3);
        for log in &files {
            let (file, header) = opened(log);
            let header = header.expect("a header");
            let (_, entries) = open_matching(log, &header, false).expect("its own index");
            let full = std::fs::metadata(log).expect("a file").len() > 150 * 1024;
            assert!(!full || entries >= 4, "{}: {entries}", log.display());
            let starts = starts(log);
            assert_eq!(
                seek(log, &file, Some(&header), 100).expect("seeks"),
                (starts[100], 100)
            );
        }
        assert!(!path_of(&crate::logs::rotated_path(&path, 3))
            .expect("a path")
            .exists());
        crate::logs::remove_log(&path);
        assert_eq!(
            std::fs::read_dir(dir.path().join(".index"))
                .expect("dir")
                .count(),
            0
        );
    }
}
