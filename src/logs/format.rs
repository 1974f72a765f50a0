//! A log's files on disk as the writer and every reader see them: their names and
//! order (`NAME.log`, `NAME.log.1` …), opening them all at one instant, the header
//! at the top of each, and counting and finding whole records by their newlines.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use super::record::{parse_header, STAMP_LEN};

/// The most rotated files looked for.
const MAX_FILES: u32 = 1000;
/// Bytes read at once when counting or looking for newlines.
pub(crate) const CHUNK: usize = 64 * 1024;
/// A line longer than this (only in a damaged file, or one written with a huge
/// record cap) is skipped by readers rather than held in memory.
pub(crate) const MAX_LINE: usize = 64 << 20;

/// A file's device and inode: which file it is, whatever its name now.
pub(crate) type Ino = (u64, u64);

/// The identity of the file behind `meta`.
pub(crate) fn inode(meta: &std::fs::Metadata) -> Ino {
    (meta.dev(), meta.ino())
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

/// Paths of the job's log files, newest first, with the `NAME.log.N` suffix or 0;
/// one missing file in the middle (a rotation under way) does not end the list.
fn existing_files(current: &Path) -> Vec<(u32, PathBuf)> {
    let mut files = Vec::new();
    let mut misses = 0;
    for n in 0..=MAX_FILES {
        let path = rotated_path(current, n);
        if path.exists() {
            files.push((n, path));
            misses = 0;
        } else if n > 0 {
            misses += 1;
            if misses == 2 {
                break;
            }
        }
    }
    files
}

/// The job's log files that exist, oldest first: `NAME.log.N` … `NAME.log.1`,
/// `NAME.log`.
pub fn log_files(current: &Path) -> Vec<PathBuf> {
    existing_files(current)
        .into_iter()
        .rev()
        .map(|(_, p)| p)
        .collect()
}

/// Removes a log: every file of it and the index beside each.
pub fn remove_log(current: &Path) {
    for file in log_files(current) {
        let _ = std::fs::remove_file(&file);
        super::index::remove(&file);
    }
}

/// A log file opened for reading.
pub(crate) struct Opened {
    /// Where it was when it was opened (a rotation may have renamed it since).
    pub path: PathBuf,
    pub file: File,
    pub ino: Ino,
}

/// The log's files, opened, oldest first, as they were at one instant: taken again
/// when a rotation moved a file while they were being opened.
pub(crate) fn snapshot(current: &Path) -> Vec<Opened> {
    let mut opened = Vec::new();
    for _ in 0..10 {
        opened = existing_files(current)
            .into_iter()
            .rev()
            .filter_map(|(_, path)| {
                let file = crate::store::open_read(&path).ok()?;
                let ino = inode(&file.metadata().ok()?);
                Some(Opened { path, file, ino })
            })
            .collect::<Vec<_>>();
        let unchanged = opened
            .iter()
            .all(|o| std::fs::metadata(&o.path).is_ok_and(|m| inode(&m) == o.ino))
            && existing_files(current).len() == opened.len();
        if unchanged {
            break;
        }
    }
    opened
}

/// What the first line of a log file says: how many records the log held before
/// it, and when the file was begun.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Records the log held before this file.
    pub seq: u64,
    /// The header's length with its newline: where the file's first record begins.
    pub len: u64,
    pub stamp: [u8; STAMP_LEN],
}

/// The header at the top of `file`, if it has one (files written before headers
/// existed have none).
pub(crate) fn read_header(file: &File) -> std::io::Result<Option<Header>> {
    let mut buf = [0u8; 64];
    let n = read_at_most(file, &mut buf, 0)?;
    let Some(end) = memchr::memchr(b'\n', &buf[..n]) else {
        return Ok(None);
    };
    let Some(seq) = parse_header(&buf[..end]) else {
        return Ok(None);
    };
    let mut stamp = [0u8; STAMP_LEN];
    stamp.copy_from_slice(&buf[..STAMP_LEN]);
    Ok(Some(Header {
        seq,
        len: end as u64 + 1,
        stamp,
    }))
}

/// Reads from `offset` until `buf` is full or the file ends.
pub(crate) fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Newlines between `from` and `to`: the records there.
pub(crate) fn count_records(file: &File, from: u64, to: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let (mut at, mut count) = (from, 0u64);
    while at < to {
        let want = ((to - at) as usize).min(buf.len());
        let n = read_at_most(file, &mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
        at += n as u64;
    }
    Ok(count)
}

/// Where the last whole record of a file of `size` bytes ends (after its newline).
pub(crate) fn whole_records_end(file: &File, size: u64) -> std::io::Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut end = size;
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = read_at_most(file, &mut buf[..(end - start) as usize], start)?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..n]) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// How many records a log has held, up to the end of its file `path`: the file's
/// header count plus the records in it (a file without header counts from 0).
pub fn records_through(path: &Path) -> Option<u64> {
    let file = crate::store::open_read(path).ok()?;
    let header = read_header(&file).ok()?;
    let (_, records) = super::index::seek(path, &file, header.as_ref(), u64::MAX).ok()?;
    Some(header.map_or(0, |h| h.seq) + records)
}
