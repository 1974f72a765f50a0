//! Waking log readers when a log changes instead of polling: the kernel (inotify,
//! through `notify`) says when anything in the logs or jobs directory is written,
//! created or renamed, so a follower prints a line within a millisecond of its write
//! and costs nothing while the jobs are quiet. Where the kernel cannot watch (no
//! inotify, or its per-user limit reached), readers fall back to looking every 10 ms.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher as _};

/// How often to look when the kernel cannot say.
const FALLBACK_POLL: Duration = Duration::from_millis(10);

/// A count of changes seen, and a way to wait for the next one.
#[derive(Default)]
struct Pulse {
    count: Mutex<u64>,
    changed: Condvar,
}

/// Changes in a few directories, for any number of waiting threads.
pub struct Activity {
    pulse: Arc<Pulse>,
    /// `None` when watching failed: waits then end after [`FALLBACK_POLL`].
    _watcher: Option<notify::RecommendedWatcher>,
}

impl Activity {
    /// Watches `dirs` (not their subdirectories), creating them when they are not
    /// there yet (a fresh root); if none can be watched, waiting falls back to
    /// polling.
    pub fn watch(dirs: &[PathBuf]) -> Arc<Activity> {
        for dir in dirs {
            let _ = crate::store::private::create_dir_all(dir);
        }
        let pulse = Arc::new(Pulse::default());
        let signal = pulse.clone();
        let watcher = notify::recommended_watcher(move |_event: notify::Result<notify::Event>| {
            if let Ok(mut count) = signal.count.lock() {
                *count += 1;
                signal.changed.notify_all();
            }
        })
        .ok()
        .and_then(|mut watcher| {
            let watched = dirs
                .iter()
                .filter(|d| watcher.watch(d, RecursiveMode::NonRecursive).is_ok())
                .count();
            (watched > 0).then_some(watcher)
        });
        Arc::new(Activity {
            pulse,
            _watcher: watcher,
        })
    }

    /// The changes seen so far: take it before reading, and [`wait`](Self::wait)
    /// with it after finding nothing, so a change made while reading is not missed.
    pub fn seen(&self) -> u64 {
        self.pulse.count.lock().map(|c| *c).unwrap_or_default()
    }

    /// Waits until there were changes since `seen` or `timeout` passed (at most
    /// [`FALLBACK_POLL`] without a watcher); returns the count now.
    pub fn wait(&self, seen: u64, timeout: Duration) -> u64 {
        let timeout = match self._watcher {
            Some(_) => timeout,
            None => timeout.min(FALLBACK_POLL),
        };
        let deadline = Instant::now() + timeout;
        let Ok(mut count) = self.pulse.count.lock() else {
            std::thread::sleep(timeout);
            return seen;
        };
        while *count == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            count = match self.pulse.changed.wait_timeout(count, left) {
                Ok((guard, _)) => guard,
                Err(_) => return seen,
            };
        }
        *count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_wakes_a_waiter_and_quiet_lets_it_sleep() {
        let dir = tempfile::tempdir().expect("temp dir");
        let activity = Activity::watch(&[dir.path().to_path_buf()]);
        assert!(activity._watcher.is_some(), "inotify works here");
        let seen = activity.seen();
        let path = dir.path().join("a.log");
        let writer = std::thread::spawn(move || std::fs::write(path, b"line\n"));
        let now = activity.wait(seen, Duration::from_secs(30));
        assert!(now > seen, "woken by the write");
        writer.join().expect("writer").expect("written");

        let quiet_dir = tempfile::tempdir().expect("temp dir");
        let quiet = Activity::watch(&[quiet_dir.path().to_path_buf()]);
        let started = Instant::now();
        assert_eq!(quiet.wait(quiet.seen(), Duration::from_millis(200)), 0);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
