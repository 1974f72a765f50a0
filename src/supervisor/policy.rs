//! The supervisor's decisions as pure functions of what happened, so they can be
//! tested without processes or clocks: whether a finished run is started again and
//! after how long, and what a schedule fire does while a run is in progress.

use std::time::Duration;

use crate::job::{OverlapPolicy, RestartPolicy};

/// The first restart delay.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(1);
/// The longest restart delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// A run that lasted this long was healthy: the next delay starts over.
pub const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);

/// Whether a job without a schedule runs again after a run that ended `ok` or not.
pub fn should_restart(policy: RestartPolicy, ok: bool) -> bool {
    match policy {
        RestartPolicy::Never => false,
        RestartPolicy::OnFailure => !ok,
        RestartPolicy::Always => true,
    }
}

/// Restart delays: 1 s, doubling up to 5 min, back to 1 s after a healthy run, so a
/// crashing job does not spin and a job that crashes once a day restarts at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: BACKOFF_FIRST,
        }
    }
}

impl Backoff {
    /// The delay before starting again a run that lasted `ran_for`.
    pub fn delay_after(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= BACKOFF_RESET_AFTER {
            self.next = BACKOFF_FIRST;
        }
        let delay = self.next;
        self.next = (delay * 2).min(BACKOFF_MAX);
        delay
    }
}

/// What a schedule fire does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FireDecision {
    /// Start a run now.
    Start,
    /// Ignore this fire.
    Skip,
    /// Start one run as soon as the current one is over (fires meanwhile merge).
    Queue,
    /// Stop the current run, then start a new one once it is over.
    Replace,
}

/// What a fire does when `busy` (a run is still in progress, its leftovers included).
pub fn on_fire(policy: OverlapPolicy, busy: bool) -> FireDecision {
    if !busy {
        return FireDecision::Start;
    }
    match policy {
        OverlapPolicy::Skip => FireDecision::Skip,
        OverlapPolicy::Queue => FireDecision::Queue,
        OverlapPolicy::Replace => FireDecision::Replace,
        OverlapPolicy::Allow => FireDecision::Start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn restart_policies() {
        use RestartPolicy::*;
        let table = [
            (Never, true, false),
            (Never, false, false),
            (OnFailure, true, false),
            (OnFailure, false, true),
            (Always, true, true),
            (Always, false, true),
        ];
        for (policy, ok, expected) in table {
            assert_eq!(should_restart(policy, ok), expected, "{policy:?} ok={ok}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let mut backoff = Backoff::default();
        let delays: Vec<u64> = (0..12).map(|_| backoff.delay_after(S).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn backoff_resets_after_a_minute_of_running() {
        let mut backoff = Backoff::default();
        for _ in 0..5 {
            backoff.delay_after(S);
        }
        // 59.999 s is not long enough; 60 s is.
        assert_eq!(
            backoff.delay_after(Duration::from_millis(59_999)).as_secs(),
            32
        );
        assert_eq!(backoff.delay_after(60 * S).as_secs(), 1);
        assert_eq!(backoff.delay_after(S).as_secs(), 2);
        // From the cap as well.
        for _ in 0..20 {
            backoff.delay_after(S);
        }
        assert_eq!(backoff.delay_after(S), BACKOFF_MAX);
        assert_eq!(backoff.delay_after(3600 * S), BACKOFF_FIRST);
    }

    #[test]
    fn fires_while_busy_follow_the_overlap_policy() {
        use OverlapPolicy::*;
        for policy in [Skip, Queue, Replace, Allow] {
            assert_eq!(on_fire(policy, false), FireDecision::Start, "{policy:?}");
        }
        assert_eq!(on_fire(Skip, true), FireDecision::Skip);
        assert_eq!(on_fire(Queue, true), FireDecision::Queue);
        assert_eq!(on_fire(Replace, true), FireDecision::Replace);
        assert_eq!(on_fire(Allow, true), FireDecision::Start);
    }
}
