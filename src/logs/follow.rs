//! Reading a job's log as it grows: a follower holds open every file it still has to
//! read, so a rotation (or several) between two reads loses nothing, and it moves to
//! the next file only once the one it reads can no longer grow.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::writer::rotated_path;

/// The most rotated files looked for.
const MAX_FILES: u32 = 1000;

struct OpenFile {
    file: File,
    ino: (u64, u64),
}

/// Follows one job's log across rotations and restarts.
pub struct Follower {
    current: PathBuf,
    held: VecDeque<OpenFile>,
    partial: Vec<u8>,
    /// Size of the current file when last looked at, and when it last changed.
    last_len: u64,
    last_change: Instant,
    last_check: Instant,
}

fn inode(meta: &std::fs::Metadata) -> (u64, u64) {
    (meta.dev(), meta.ino())
}

/// The job's log files that exist, oldest first: `NAME.log.N` … `NAME.log.1`,
/// `NAME.log`.
pub fn log_files(current: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = (1..=MAX_FILES)
        .map(|n| rotated_path(current, n))
        .take_while(|p| p.exists())
        .collect();
    files.reverse();
    if current.exists() {
        files.push(current.to_path_buf());
    }
    files
}

impl Follower {
    /// A follower that will read the whole log, from its oldest kept line.
    pub fn from_start(current: &Path) -> Follower {
        let mut follower = Follower::empty(current);
        follower.discover();
        follower
    }

    fn empty(current: &Path) -> Follower {
        let now = Instant::now();
        Follower {
            current: current.to_path_buf(),
            held: VecDeque::new(),
            partial: Vec::new(),
            last_len: 0,
            last_change: now,
            last_check: now,
        }
    }

    /// A follower that will read only what is written from now on.
    pub fn from_end(current: &Path) -> Follower {
        let mut follower = Follower::empty(current);
        if let Ok(mut file) = File::open(current) {
            if let (Ok(meta), Ok(_)) = (file.metadata(), file.seek(SeekFrom::End(0))) {
                follower.held.push_back(OpenFile {
                    file,
                    ino: inode(&meta),
                });
            }
        }
        follower
    }

    /// Opens newly rotated-in files when the log is busy (checked every call) or
    /// now and then when it is quiet; for a [`Grabber`] thread.
    pub fn keep_up(&mut self) {
        let busy = self.last_change.elapsed() < Duration::from_secs(1);
        if busy || self.last_check.elapsed() >= Duration::from_millis(100) {
            self.discover();
        }
    }

    /// Opens every file newer than the newest one held.
    fn discover(&mut self) {
        self.last_check = Instant::now();
        let newest = self.held.back().map(|f| f.ino);
        if let Ok(meta) = std::fs::metadata(&self.current) {
            if meta.len() != self.last_len {
                self.last_len = meta.len();
                self.last_change = self.last_check;
            }
            if newest == Some(inode(&meta)) {
                return; // the usual case: no rotation since last time
            }
            self.last_change = self.last_check;
        }
        let on_disk: Vec<(PathBuf, (u64, u64))> = log_files(&self.current)
            .into_iter()
            .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, inode(&m))))
            .collect();
        let start = match newest.and_then(|n| on_disk.iter().position(|(_, i)| *i == n)) {
            Some(pos) => pos + 1,
            // Nothing held, or ours is gone (rotated away, or the job was recreated):
            // everything on disk is newer.
            None => 0,
        };
        for (path, ino) in &on_disk[start..] {
            if self.held.iter().any(|f| f.ino == *ino) {
                continue;
            }
            if let Ok(file) = File::open(path) {
                // The file may have been replaced between listing and opening.
                let ino = file.metadata().map(|m| inode(&m)).unwrap_or(*ino);
                self.held.push_back(OpenFile { file, ino });
            }
        }
    }

    /// Appends every complete record written since the last call to `out`; returns
    /// how many bytes were added.
    pub fn poll(&mut self, out: &mut Vec<u8>, buf: &mut [u8]) -> usize {
        let before = out.len();
        loop {
            // Newer files found *before* reading mean the front one no longer grows.
            self.discover();
            let more_after_front = self.held.len() > 1;
            let Some(front) = self.held.front_mut() else {
                break;
            };
            loop {
                match front.file.read(buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        let chunk = &buf[..n];
                        match memchr::memrchr(b'\n', chunk) {
                            Some(last) => {
                                out.extend_from_slice(&self.partial);
                                self.partial.clear();
                                out.extend_from_slice(&chunk[..=last]);
                                self.partial.extend_from_slice(&chunk[last + 1..]);
                            }
                            None => self.partial.extend_from_slice(chunk),
                        }
                    }
                }
            }
            if !more_after_front {
                break;
            }
            self.held.pop_front();
            self.partial.clear();
        }
        out.len() - before
    }
}

/// A follower shared between its reader and a [`Grabber`].
pub type SharedFollower = Arc<Mutex<Follower>>;

/// Keeps followers' files open as soon as they appear, on its own thread, so that a
/// reader held up by a slow consumer (a full pipe, a slow terminal) still loses no
/// file to rotation. Stops when dropped.
pub struct Grabber {
    followers: Arc<Mutex<Vec<SharedFollower>>>,
    stop: Arc<AtomicBool>,
}

impl Grabber {
    /// Starts the thread (checking busy logs every 2 ms, quiet ones every 100 ms).
    pub fn start() -> Grabber {
        let followers: Arc<Mutex<Vec<SharedFollower>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (list, done) = (followers.clone(), stop.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                let current: Vec<SharedFollower> =
                    list.lock().map(|l| l.clone()).unwrap_or_default();
                for follower in current {
                    if let Ok(mut f) = follower.lock() {
                        f.keep_up();
                    }
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Grabber { followers, stop }
    }

    /// Takes a follower under watch and returns it shared.
    pub fn watch(&self, follower: Follower) -> SharedFollower {
        let shared = Arc::new(Mutex::new(follower));
        if let Ok(mut list) = self.followers.lock() {
            list.push(shared.clone());
        }
        shared
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
    use crate::logs::{LogWriter, Stream};
    use jiff::Timestamp;

    /// The lines (without stamp and stream) a poll returns.
    fn poll_lines(follower: &mut Follower, buf: &mut [u8]) -> Vec<String> {
        let mut out = Vec::new();
        follower.poll(&mut out, buf);
        let text = String::from_utf8(out).expect("utf-8");
        text.lines().map(|l| l[29..].to_string()).collect()
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
                writer
                    .append(
                        Timestamp::UNIX_EPOCH,
                        Stream::Out,
                        format!("{next}").as_bytes(),
                    )
                    .expect("appends");
                writer.flush().expect("flushes");
                next += 1;
                if next % 5 == 0 {
                    // Grab new files as they appear, as the real loop does.
                    seen.extend(poll_lines(&mut follower, &mut buf));
                }
            }
            seen.extend(poll_lines(&mut follower, &mut buf));
        }
        let expected: Vec<String> = (0..next).map(|i| i.to_string()).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn from_end_skips_history() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let mut writer = LogWriter::open(&path, 1 << 20, 3).expect("opens");
        writer
            .append(Timestamp::UNIX_EPOCH, Stream::Out, b"old")
            .expect("appends");
        writer.flush().expect("flushes");
        let mut follower = Follower::from_end(&path);
        writer
            .append(Timestamp::UNIX_EPOCH, Stream::Out, b"new")
            .expect("appends");
        writer.flush().expect("flushes");
        let mut out = Vec::new();
        follower.poll(&mut out, &mut [0u8; 64]);
        assert!(String::from_utf8(out)
            .expect("utf-8")
            .ends_with(" out new\n"));
    }
}
