//! Saying what a slow stop waits for: a stop still going after a second says on
//! stderr which job, which signal it was sent and when SIGKILL follows (and again
//! once SIGKILL is sent), so a command that seems stuck says why. A stop that ends
//! sooner says nothing and is not slowed down: the notice waits on a thread of its
//! own. Off unless the command line turns it on: a server or a supervisor that
//! stops jobs prints nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::job::SignalName;

/// Whether slow stops are announced (see [`announce_slow_stops`]).
static ANNOUNCE: AtomicBool = AtomicBool::new(false);

/// How long a stop may take before it is announced.
const AFTER: Duration = Duration::from_secs(1);

/// Turns the notices of slow stops on stderr on (the command line's verbs).
pub fn announce_slow_stops(on: bool) {
    ANNOUNCE.store(on, Ordering::Relaxed);
}

/// A stop under way, announced if it is slow; dropping it ends the notices.
pub(crate) struct SlowStop {
    done: Arc<(Mutex<bool>, Condvar)>,
}

impl SlowStop {
    /// Watches the stop of job `name`, sent `signal` now, with SIGKILL after `grace`.
    pub fn watch(name: &str, signal: SignalName, grace: Duration) -> Option<SlowStop> {
        if !ANNOUNCE.load(Ordering::Relaxed) {
            return None;
        }
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let (shared, name) = (done.clone(), name.to_string());
        let began = Instant::now();
        std::thread::spawn(move || {
            let over = |until: Instant| wait_until(&shared, until);
            if over(began + AFTER) {
                return;
            }
            let left = grace.saturating_sub(began.elapsed());
            if !left.is_zero() {
                // Whole seconds, rounded up: "in 4s" a second into a 5 s grace.
                let seconds = left.as_millis().div_ceil(1000);
                err!("waiting for job {name:?} to stop ({signal} sent; SIGKILL in {seconds}s)");
                if over(began + grace) {
                    return;
                }
            }
            let grace = humantime::format_duration(grace);
            err!("waiting for job {name:?} to stop (SIGKILL sent: {signal} did not stop it in {grace})");
        });
        Some(SlowStop { done })
    }
}

/// Waits until `until` or until the stop is over; whether it is over.
fn wait_until(done: &(Mutex<bool>, Condvar), until: Instant) -> bool {
    let (lock, wake) = done;
    let mut over = lock.lock().unwrap_or_else(|e| e.into_inner());
    while !*over {
        let Some(left) = until.checked_duration_since(Instant::now()) else {
            return false;
        };
        over = match wake.wait_timeout(over, left) {
            Ok((guard, _)) => guard,
            Err(e) => e.into_inner().0,
        };
    }
    true
}

impl Drop for SlowStop {
    fn drop(&mut self) {
        let (lock, wake) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
    }
}
