//! Reading a job's log as it grows, across rotations and restarts.
//!
//! A follower reads one file at a time and moves to the next once the one it reads
//! can no longer grow. Files are opened as soon as they appear and held open until
//! read (by the follower itself, and by a [`Grabber`] thread for a reader that may be
//! held up by a slow consumer), so rotation does not take them away. When it did
//! anyway (a reader further behind than the queue allows, or one that was not
//! scheduled in time), the follower notices from the record counts in the file
//! headers and reports exactly how many records it missed, as one `gap` record.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use super::activity::Activity;
use super::format::{inode, read_header, snapshot, Header, Ino, Opened, MAX_LINE};
use super::index;
use super::record::{parse_header, Record, Stream, STAMP_LEN};

/// A grabber with no change to act on still looks this often (a safety net).
const GRAB_AT_LEAST_EVERY: Duration = Duration::from_secs(1);
/// The most files held open ahead of a reader, and the most bytes in them: beyond
/// these the oldest is let go (and reported as a gap once the reader gets there),
/// so a stuck reader pins neither file descriptors nor deleted files' disk space
/// without bound.
const MAX_AHEAD: usize = 64;
const MAX_AHEAD_BYTES: u64 = 256 << 20;
/// The most bytes one [`Follower::poll`] reads.
const POLL_BUDGET: usize = 1 << 20;

/// Files opened ahead of the reader; shared with the [`Grabber`].
struct Ahead {
    queue: VecDeque<Opened>,
    /// The newest file taken so far (queued, or being read).
    newest: Option<Ino>,
}

/// One followed log, as the grabber sees it.
struct Watched {
    current: PathBuf,
    ahead: Mutex<Ahead>,
}

/// The file being read.
struct Reading {
    file: File,
    offset: u64,
    /// Records the log held before this file (its header, or 0 for a file without
    /// one); `None` until the first line has been read.
    base: Option<u64>,
    /// Records of this file read so far.
    records: u64,
}

/// Follows one job's log across rotations and restarts.
pub struct Follower {
    watched: Arc<Watched>,
    reading: Option<Reading>,
    partial: Vec<u8>,
    /// The partial line is too long to keep: drop it up to its newline.
    skipping: bool,
    /// Records the log held at the end of the last file read, to count a gap.
    prev_end: Option<u64>,
}

impl Watched {
    /// Opens every file newer than the newest one taken, when the current file
    /// changed since. Cheap when it did not: one `stat`.
    fn grab(&self) {
        let Ok(mut ahead) = self.ahead.lock() else {
            return;
        };
        let Ok(meta) = std::fs::metadata(&self.current) else {
            return; // mid-rotation, or the log was removed
        };
        if ahead.newest == Some(inode(&meta)) {
            return; // the usual case: no rotation since last time
        }
        let files = snapshot(&self.current);
        // Files are deleted oldest first, so when the newest one taken is gone (or
        // the log was removed and started again), everything on disk is newer.
        let start = ahead
            .newest
            .and_then(|n| files.iter().position(|f| f.ino == n))
            .map_or(0, |p| p + 1);
        for file in files.into_iter().skip(start) {
            ahead.newest = Some(file.ino);
            ahead.queue.push_back(file);
        }
        let held = |q: &VecDeque<Opened>| {
            q.iter()
                .filter_map(|o| o.file.metadata().ok())
                .map(|m| m.len())
                .sum::<u64>()
        };
        while ahead.queue.len() > MAX_AHEAD
            || (ahead.queue.len() > 1 && held(&ahead.queue) > MAX_AHEAD_BYTES)
        {
            ahead.queue.pop_front();
        }
    }

    /// The oldest file opened ahead, to read next.
    fn next(&self) -> Option<Opened> {
        self.ahead.lock().ok()?.queue.pop_front()
    }

    /// Whether a file newer than the one being read is there.
    fn has_next(&self) -> bool {
        self.ahead.lock().is_ok_and(|a| !a.queue.is_empty())
    }
}

impl Follower {
    fn empty(current: &Path) -> Follower {
        Follower {
            watched: Arc::new(Watched {
                current: current.to_path_buf(),
                ahead: Mutex::new(Ahead {
                    queue: VecDeque::new(),
                    newest: None,
                }),
            }),
            reading: None,
            partial: Vec::new(),
            skipping: false,
            prev_end: None,
        }
    }

    /// A follower that will read the whole log, from its oldest kept line.
    pub fn from_start(current: &Path) -> Follower {
        let follower = Follower::empty(current);
        follower.watched.grab();
        follower
    }

    /// A follower for a log that is new: it expects the log's very first record, so
    /// files rotated away before it could open them are reported as a gap (a job
    /// created while a slow reader follows everything).
    pub fn from_first_record(current: &Path) -> Follower {
        let mut follower = Follower::from_start(current);
        follower.prev_end = Some(0);
        follower
    }

    /// A follower that will read only what is written from now on.
    pub fn from_end(current: &Path) -> Follower {
        let Some(opened) = crate::store::open_read(current).ok().and_then(|file| {
            let ino = inode(&file.metadata().ok()?);
            Some(Opened {
                path: current.to_path_buf(),
                file,
                ino,
            })
        }) else {
            return Follower::empty(current);
        };
        // Start after the last whole record, counting the ones before it.
        let header = read_header(&opened.file).ok().flatten();
        let (end, records) =
            index::seek(current, &opened.file, header.as_ref(), u64::MAX).unwrap_or((0, 0));
        Follower::after(current, opened, end, header.as_ref(), records)
    }

    /// A follower that reads the log's current file `opened` (whose header is
    /// `header`) from `end`, where its record `records` begins, and the files that
    /// come after it.
    pub(crate) fn after(
        current: &Path,
        mut opened: Opened,
        end: u64,
        header: Option<&Header>,
        records: u64,
    ) -> Follower {
        let mut follower = Follower::empty(current);
        if opened.file.seek(SeekFrom::Start(end)).is_err() {
            return follower;
        }
        if let Ok(mut ahead) = follower.watched.ahead.lock() {
            ahead.newest = Some(opened.ino);
        }
        follower.reading = Some(Reading {
            file: opened.file,
            offset: end,
            base: (end > 0).then(|| header.map_or(0, |h| h.seq)),
            records,
        });
        follower
    }

    /// Appends the complete records written since the last call to `out` (at most
    /// about 1 MiB of them), preceded by a `gap` record where rotation deleted some
    /// before they could be read. Returns whether it stopped early, with more to
    /// read now.
    pub fn poll(&mut self, out: &mut Vec<u8>, buf: &mut [u8]) -> bool {
        self.poll_at_most(out, buf, POLL_BUDGET)
    }

    /// [`Follower::poll`], reading at most about `budget` bytes (at least one
    /// `buf`): many logs read side by side each hold little.
    pub fn poll_at_most(&mut self, out: &mut Vec<u8>, buf: &mut [u8], budget: usize) -> bool {
        let start = out.len();
        loop {
            if self.reading.is_none() {
                self.watched.grab();
                let Some(next) = self.watched.next() else {
                    return false;
                };
                self.reading = Some(Reading {
                    file: next.file,
                    offset: 0,
                    base: None,
                    records: 0,
                });
            }
            // A newer file found *before* reading means this one no longer grows.
            self.watched.grab();
            let finished = self.watched.has_next();
            loop {
                if out.len() - start >= budget {
                    return true;
                }
                let Some(reading) = self.reading.as_mut() else {
                    return false;
                };
                match reading.file.read(buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        reading.offset += n as u64;
                        self.take(n, buf, out);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
            if !finished {
                self.rewind_if_truncated();
                return false;
            }
            if let Some(Reading {
                base: Some(base),
                records,
                ..
            }) = self.reading.take()
            {
                self.prev_end = Some(base + records);
            }
            self.partial.clear();
            self.skipping = false;
        }
    }

    /// A write that failed halfway is cut off by the writer: what was read of it is
    /// dropped, and reading goes on from where the file now ends.
    fn rewind_if_truncated(&mut self) {
        let Some(reading) = self.reading.as_mut() else {
            return;
        };
        let Ok(len) = reading.file.metadata().map(|m| m.len()) else {
            return;
        };
        if len < reading.offset && reading.file.seek(SeekFrom::Start(len)).is_ok() {
            reading.offset = len;
            self.partial.clear();
            self.skipping = false;
        }
    }

    /// Takes in `buf[..n]`, just read: complete records go to `out`, the file header
    /// is read (and a gap reported), a trailing incomplete record is kept.
    fn take(&mut self, n: usize, buf: &[u8], out: &mut Vec<u8>) {
        let mut chunk = &buf[..n];
        let Some(reading) = self.reading.as_mut() else {
            return;
        };
        if reading.base.is_none() {
            let Some(i) = memchr::memchr(b'\n', chunk) else {
                self.partial.extend_from_slice(chunk);
                if self.partial.len() > MAX_LINE {
                    // Not a header: a damaged file.
                    reading.base = Some(0);
                    self.partial.clear();
                    self.skipping = true;
                }
                return;
            };
            self.partial.extend_from_slice(&chunk[..i]);
            chunk = &chunk[i + 1..];
            let first = std::mem::take(&mut self.partial);
            match parse_header(&first) {
                Some(seq) => {
                    reading.base = Some(seq);
                    if let Some(end) = self.prev_end.filter(|&end| seq > end) {
                        let stamp = std::str::from_utf8(&first[..STAMP_LEN]).unwrap_or_default();
                        let count = (seq - end).to_string();
                        Record::encode(out, stamp, Stream::Gap, count.as_bytes(), false);
                    }
                }
                None => {
                    // A file written before headers: its records count from 0.
                    reading.base = Some(0);
                    reading.records += 1;
                    out.extend_from_slice(&first);
                    out.push(b'\n');
                }
            }
        }
        match memchr::memrchr(b'\n', chunk) {
            Some(last) => {
                reading.records += memchr::memchr_iter(b'\n', &chunk[..=last]).count() as u64;
                let first_end = memchr::memchr(b'\n', chunk).unwrap_or(last);
                if self.skipping {
                    self.skipping = false;
                    out.extend_from_slice(&chunk[first_end + 1..=last]);
                } else {
                    out.extend_from_slice(&self.partial);
                    out.extend_from_slice(&chunk[..=last]);
                }
                self.partial.clear();
                self.partial.extend_from_slice(&chunk[last + 1..]);
            }
            None if self.skipping => {}
            None => {
                self.partial.extend_from_slice(chunk);
                if self.partial.len() > MAX_LINE {
                    self.partial.clear();
                    self.skipping = true;
                }
            }
        }
    }
}

/// Keeps followers' files open as soon as they appear, on its own thread, so that a
/// reader held up by a slow consumer (a full pipe, a slow terminal) still loses no
/// file to rotation. Never waits for a reader: readers share only the queue of files
/// opened ahead with it. Stops when dropped.
pub struct Grabber {
    watched: Arc<Mutex<Vec<Weak<Watched>>>>,
    stop: Arc<AtomicBool>,
}

impl Grabber {
    /// Starts the thread, which looks at every watched log whenever `activity` sees
    /// a change (a rotation included) and at least once a second.
    pub fn start(activity: Arc<Activity>) -> Grabber {
        let watched: Arc<Mutex<Vec<Weak<Watched>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (list, done) = (watched.clone(), stop.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let mark = activity.seen();
                let current: Vec<Arc<Watched>> = match list.lock() {
                    Ok(mut l) => {
                        l.retain(|w| w.strong_count() > 0);
                        l.iter().filter_map(Weak::upgrade).collect()
                    }
                    Err(_) => Vec::new(),
                };
                for w in current {
                    w.grab();
                }
                activity.wait(mark, GRAB_AT_LEAST_EVERY);
            }
        });
        Grabber { watched, stop }
    }

    /// Keeps the files of `follower`'s log open ahead of it, for as long as the
    /// follower exists.
    pub fn watch(&self, follower: &Follower) {
        if let Ok(mut list) = self.watched.lock() {
            list.push(Arc::downgrade(&follower.watched));
        }
    }
}

impl Drop for Grabber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{rotated_path, LogWriter, Stream};
    use jiff::Timestamp;

    /// The records (stream tag and line) a poll returns.
    fn poll_lines(follower: &mut Follower, buf: &mut [u8]) -> Vec<String> {
        let mut out = Vec::new();
        while follower.poll(&mut out, buf) {}
        out.split(|&b| b == b'\n')
            .filter_map(Record::parse)
            .map(|r| match r.stream {
                Stream::Gap => format!("gap {}", String::from_utf8_lossy(r.line)),
                _ => String::from_utf8_lossy(r.line).into_owned(),
            })
            .collect()
    }

    fn write(writer: &mut LogWriter, n: usize) {
        writer.append(Timestamp::UNIX_EPOCH, Stream::Out, n.to_string().as_bytes());
        writer.flush();
    }

    #[test]
    fn follows_across_many_rotations_without_loss() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let mut writer = LogWriter::open(&path, 300, 3).expect("opens");
        let mut follower = Follower::from_start(&path);
        let mut seen = Vec::new();
        let mut buf = vec![0u8; 128];
        let mut next = 0;
        for round in 0..50 {
            // Sometimes many rotations happen between two polls.
            for _ in 0..(round % 7) * 3 {
                write(&mut writer, next);
                next += 1;
                if next % 5 == 0 {
                    // Grab new files as they appear, as the grabber does.
                    follower.watched.grab();
                }
            }
            seen.extend(poll_lines(&mut follower, &mut buf));
        }
        let expected: Vec<String> = (0..next).map(|i| i.to_string()).collect();
        assert_eq!(seen, expected);
    }

    /// Checks that `seen` holds `first..end` in order, each line either there or
    /// counted by a gap before it; returns the number of gaps.
    fn every_line_or_counted(seen: &[String], first: u64, end: u64) -> usize {
        let mut expected_next = first;
        let mut gaps = 0;
        for line in seen {
            if let Some(count) = line.strip_prefix("gap ") {
                expected_next += count.parse::<u64>().expect("a count");
                gaps += 1;
            } else {
                assert_eq!(line, &expected_next.to_string(), "{seen:?}");
                expected_next += 1;
            }
        }
        assert_eq!(expected_next, end, "{seen:?}");
        gaps
    }

    #[test]
    fn a_reader_left_behind_is_told_exactly_how_much_it_missed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        // About 6 records a file, 3 files kept.
        let mut writer = LogWriter::open(&path, 250, 3).expect("opens");
        write(&mut writer, 0);
        let mut follower = Follower::from_start(&path);
        let mut buf = vec![0u8; 64];
        let mut seen = poll_lines(&mut follower, &mut buf);
        for n in 1..100 {
            write(&mut writer, n);
        }
        seen.extend(poll_lines(&mut follower, &mut buf));
        assert_eq!(every_line_or_counted(&seen, 0, 100), 1);
    }

    #[test]
    fn from_end_skips_history_and_counts_on() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let mut writer = LogWriter::open(&path, 250, 3).expect("opens");
        write(&mut writer, 0);
        let mut follower = Follower::from_end(&path);
        let mut buf = vec![0u8; 64];
        write(&mut writer, 1);
        assert_eq!(poll_lines(&mut follower, &mut buf), ["1"]);
        for n in 2..40 {
            write(&mut writer, n);
        }
        let seen = poll_lines(&mut follower, &mut buf);
        assert_eq!(every_line_or_counted(&seen, 2, 40), 1);
    }

    #[test]
    fn logs_written_before_headers_are_read_and_continued() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let old: String = (0..3)
            .map(|i| format!("2024-05-01T12:34:56.789Z out {i}\n"))
            .collect();
        std::fs::write(rotated_path(&path, 1), &old).expect("writes");
        let current: String = (3..5)
            .map(|i| format!("2024-05-01T12:34:56.789Z out {i}\n"))
            .collect();
        std::fs::write(&path, &current).expect("writes");
        let mut follower = Follower::from_start(&path);
        let mut buf = vec![0u8; 64];
        let mut seen = poll_lines(&mut follower, &mut buf);
        // A new writer goes on in the old file, then rotates into files with headers.
        let mut writer = LogWriter::open(&path, 250, 3).expect("opens");
        for n in 5..20 {
            write(&mut writer, n);
            if n % 2 == 0 {
                seen.extend(poll_lines(&mut follower, &mut buf));
            }
        }
        seen.extend(poll_lines(&mut follower, &mut buf));
        let expected: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        assert_eq!(seen, expected);
    }
}
