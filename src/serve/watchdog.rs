//! The server's watchdog: a job meant to run whose supervisor died (killed from
//! outside, the machine's OOM killer) is started again, as Meerschaum's API server
//! restarts killed jobs. It looks every half second, so a death is repaired within
//! about a second; a job stopped or paused on purpose is never touched. A job that
//! keeps dying is started again less and less often (up to once a minute), so a
//! crash loop cannot keep the machine busy. The same look ends the jobs whose
//! lease ran out (`leases.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::leases::Leases;
use crate::executor::Executor;
use crate::job::DesiredState;
use crate::store::Root;

/// How often the watchdog looks.
pub const LOOK_EVERY: Duration = Duration::from_millis(500);
/// Restarts allowed before the waits between them grow.
const FREE_RESTARTS: u32 = 3;
/// The longest wait between two restarts of a job that keeps dying.
const LONGEST_WAIT: Duration = Duration::from_secs(60);
/// A job that has not died for this long starts afresh.
const FORGIVEN_AFTER: Duration = Duration::from_secs(300);

/// The restarts of one job, for the backoff.
struct Restarts {
    count: u32,
    last: Instant,
}

impl Restarts {
    /// When the next restart may happen.
    fn next_allowed(&self) -> Instant {
        if self.count < FREE_RESTARTS {
            return self.last;
        }
        let doublings = (self.count - FREE_RESTARTS).min(10);
        self.last + (LOOK_EVERY * 2u32.pow(doublings)).min(LONGEST_WAIT)
    }
}

/// Runs until `stop` is set: restarts every job that died while meant to run (or
/// be paused: it comes back paused). Each restart runs on a thread of its own, so
/// one that waits (for what a killed supervisor left to stop, up to its grace
/// period) holds up neither the others nor the next looks.
pub fn run(executor: &dyn Executor, root: &Root, leases: Arc<Leases>, stop: Arc<AtomicBool>) {
    let mut restarts: HashMap<String, Restarts> = HashMap::new();
    let reviving: Mutex<HashSet<String>> = Mutex::new(HashSet::new());
    std::thread::scope(|scope| {
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            restarts.retain(|_, r| now.duration_since(r.last) < FORGIVEN_AFTER);
            if let Ok(jobs) = executor.list(None) {
                let ended = leases.end_expired(executor, root, &jobs);
                for job in jobs.into_iter().filter(|j| !ended.contains(&j.name)) {
                    if !job.status.is_over() || !job.died || job.desired == DesiredState::Stopped {
                        continue;
                    }
                    let waiting = restarts
                        .get(&job.name)
                        .is_some_and(|r| now < r.next_allowed());
                    // One restart of a job at a time.
                    let claimed = !waiting
                        && reviving
                            .lock()
                            .is_ok_and(|mut set| set.insert(job.name.clone()));
                    if !claimed {
                        continue;
                    }
                    let entry = restarts.entry(job.name.clone()).or_insert(Restarts {
                        count: 0,
                        last: now,
                    });
                    entry.count += 1;
                    entry.last = now;
                    let reviving = &reviving;
                    scope.spawn(move || {
                        revive(executor, &job.name);
                        if let Ok(mut set) = reviving.lock() {
                            set.remove(&job.name);
                        }
                    });
                }
            }
            std::thread::sleep(LOOK_EVERY);
        }
    });
}

/// Starts job `name` again if it still died meant to run (decided again under its
/// lock: the look that found it may be stale), and says so.
fn revive(executor: &dyn Executor, name: &str) {
    match executor.revive(name) {
        Ok(None) => {}
        Ok(Some(_)) => eprintln!(
            "mrsm serve: job {name:?} had died (its supervisor was killed); started it again"
        ),
        Err(e) => eprintln!("mrsm serve: job {name:?} died and could not be started again: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_that_keeps_dying_waits_longer_and_longer() {
        let last = Instant::now();
        let wait = |count| Restarts { count, last }.next_allowed().duration_since(last);
        assert_eq!(wait(1), Duration::ZERO);
        assert_eq!(wait(FREE_RESTARTS - 1), Duration::ZERO);
        assert_eq!(wait(FREE_RESTARTS), LOOK_EVERY);
        assert_eq!(wait(FREE_RESTARTS + 2), LOOK_EVERY * 4);
        assert_eq!(wait(FREE_RESTARTS + 40), LONGEST_WAIT);
    }
}
