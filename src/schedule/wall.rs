//! `every N days|weeks` in a zone with transitions: the repeats keep the start's local
//! wall time (k·N days of the local clock, not k·N·24 elapsed hours), as cron and
//! systemd timers do, so a nightly job stays at 02:00 across DST changes. A reading
//! that falls in a gap fires when the gap ends; a reading that happens twice fires
//! once, at its first instant. Fractional days count the same way (`every 1.5 days`
//! from 09:00 is 21:00 the next day, then 09:00, …, on the local clock).

use super::civil::US_PER_HOUR;
use super::eval::Progression;
use super::start::Anchor;
use super::zone::Zone;

/// A bound on how far an instant lies from its local reading: UTC offsets stay within
/// ±26 hours.
const MAX_OFFSET: i64 = 26 * US_PER_HOUR;

/// The local readings `first + k·period` (k ≥ 0), each fired at the instant that
/// reading maps to ([`Zone::instant_of_local`]).
#[derive(Clone, Copy, Debug)]
pub struct WallProgression {
    /// The readings, as a progression of local wall-clock microseconds.
    pub readings: Progression,
    /// The instant of the first reading: the start itself when the first reading is the
    /// start's (a start inside a gap or in the second copy of a repeated hour is not
    /// where its reading maps to).
    first_instant: i64,
}

impl WallProgression {
    /// Every `period` (µs of local clock) from the start's wall time.
    pub fn new(start: Anchor, period: i64) -> Self {
        WallProgression {
            readings: Progression {
                first: start.local,
                period: Some(period),
            },
            first_instant: start.instant,
        }
    }

    /// Replaces the readings by a subset of them (a later first reading, a multiple of
    /// the period), as intersecting with a cron does.
    pub fn narrow(&mut self, readings: Progression, zone: &Zone) {
        if readings.first != self.readings.first {
            self.first_instant = zone.instant_of_local(readings.first);
        }
        self.readings = readings;
    }

    /// The first occurrence at or after `t`.
    ///
    /// Readings map to instants monotonically (a gap sends several readings to one
    /// instant, a fold skips its second copy), so the occurrences after the first are
    /// found by bisecting the few readings within the largest offset of `t`.
    pub fn next(&self, t: i64, zone: &Zone) -> Option<i64> {
        if t <= self.first_instant {
            return Some(self.first_instant);
        }
        let period = self.readings.period?;
        let first = self.readings.first;
        let at = |k: i64| {
            k.checked_mul(period)
                .and_then(|d| first.checked_add(d))
                .map(|local| zone.instant_of_local(local))
        };
        // A reading more than MAX_OFFSET before `t` maps before it; one more than
        // MAX_OFFSET after maps after it. The first occurrence itself is done above.
        let mut lo = (t.checked_sub(MAX_OFFSET)? - first)
            .div_euclid(period)
            .max(1);
        let mut hi = ceil_div(t.checked_add(MAX_OFFSET)? - first, period).max(lo);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if at(mid)? >= t {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        at(lo)
    }
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::civil::{days_from_civil, US_PER_DAY, US_PER_MIN};
    use jiff::tz::TimeZone;

    fn at(y: i64, m: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, m, d) * US_PER_DAY + h * US_PER_HOUR + mi * US_PER_MIN
    }

    #[test]
    fn occurrences_never_go_back_and_fire_once() {
        let ny = Zone::from_time_zone(&TimeZone::get("America/New_York").expect("tzdb"));
        // Every 10 minutes of local clock through the 2024-11-03 fold (06:00Z).
        let start = Anchor::at(at(2024, 11, 3, 4, 55), &ny);
        let w = WallProgression::new(start, 10 * US_PER_MIN);
        let mut t = start.instant;
        let mut fires = Vec::new();
        for _ in 0..10 {
            let f = w.next(t, &ny).expect("fires");
            fires.push(f);
            t = f + 1;
        }
        assert!(fires.windows(2).all(|p| p[0] < p[1]), "{fires:?}");
        // 01:55 EDT (05:55Z) is followed by 02:05 EST (07:05Z): the readings 01:05 …
        // 01:55 of the second copy already fired.
        let i = fires.iter().position(|&f| f == at(2024, 11, 3, 5, 55));
        assert_eq!(
            fires.get(i.expect("01:55 EDT fires") + 1),
            Some(&at(2024, 11, 3, 7, 5))
        );
    }
}
