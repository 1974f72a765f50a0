//! A job's runtime policy on top of its fire times: a catch-up fire (a start in the
//! past fires once at once, R1) and the schedule's next regular fire can fall a
//! moment apart (0.5 s in the conformance corpus). The fire times stay as the
//! corpus says; a job runs such a pair once, so a job started (or continued after a
//! killed supervisor) just before a regular fire does not run twice in a row.

use jiff::{SignedDuration, Timestamp};

/// The longest gap between a catch-up fire and a regular one that are run as one.
pub const COALESCE_MAX: SignedDuration = SignedDuration::from_secs(60);

/// Whether the regular fire `next`, after a catch-up fire at `caught_up`, is run
/// with it: it comes less than half the schedule's own period (`next` to `after`,
/// the fire that follows it) and less than [`COALESCE_MAX`] later.
pub fn coalesced(caught_up: Timestamp, next: Timestamp, after: Option<Timestamp>) -> bool {
    let gap = next.duration_since(caught_up);
    let period = after.map_or(SignedDuration::MAX, |a| a.duration_since(next));
    gap * 2 < period && gap < COALESCE_MAX
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("an instant")
    }

    #[test]
    fn a_regular_fire_a_moment_after_a_catch_up_is_run_with_it() {
        let t = |s| at(&format!("2025-01-01T00:{s}Z"));
        // every 10 seconds: 0.5 s after the catch-up.
        assert!(coalesced(
            at("2024-12-31T23:59:59.5Z"),
            t("00:00"),
            Some(t("00:10"))
        ));
        // 6 s after, with a 10 s period: more than half of it.
        assert!(!coalesced(
            at("2024-12-31T23:59:54Z"),
            t("00:00"),
            Some(t("00:10"))
        ));
        // 90 s after, with a day's period: more than a moment.
        assert!(!coalesced(
            at("2024-12-31T23:58:30Z"),
            at("2025-01-01T00:00:00Z"),
            Some(at("2025-01-02T00:00:00Z"))
        ));
        // A month apart: a day after the catch-up is a run of its own.
        assert!(!coalesced(
            at("2025-02-28T23:59:30Z"),
            at("2025-03-02T00:00:00Z"),
            Some(at("2025-04-02T00:00:00Z"))
        ));
        // The last fire of a schedule: half of no period is no limit.
        assert!(coalesced(t("00:00"), t("00:01"), None));
    }
}
