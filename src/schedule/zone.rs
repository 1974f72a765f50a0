//! The zone a schedule is evaluated in: a fixed UTC offset or an IANA time zone.
//!
//! Everything calendar-shaped (cron fields, date fragments, month arithmetic, start
//! phrases) is computed on local wall-clock readings; this module maps between those and
//! instants, and applies the DST rules: a local time inside a gap maps to the first
//! instant after the gap, and a local time that happens twice maps to its first instant.

use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::Timestamp;

use super::civil::US_PER_SEC;

/// A zone: fixed offsets take a fast path with no lookups at all.
#[derive(Clone, Debug)]
pub enum Zone {
    /// A constant offset from UTC, in microseconds (UTC itself is `Fixed(0)`).
    Fixed(i64),
    /// A zone with transitions, from the time zone database.
    Tz(TimeZone),
}

/// A stretch of time over which a zone's offset is constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The transition that began this stretch, if any (an instant, µs).
    pub start: Option<i64>,
    /// The offset in force before `start` (µs); equal to `offset` when there is no start.
    pub prev_offset: i64,
    /// The offset in force over the stretch (µs).
    pub offset: i64,
    /// The next transition, which ends this stretch (an instant, µs).
    pub end: Option<i64>,
}

impl Segment {
    /// Whether the stretch begins with clocks going back, so that some local readings
    /// just after `start` already happened once before it.
    pub fn begins_with_fold(&self) -> bool {
        self.start.is_some() && self.prev_offset > self.offset
    }

    /// Whether the stretch begins with clocks going forward (local readings skipped).
    pub fn begins_with_gap(&self) -> bool {
        self.start.is_some() && self.prev_offset < self.offset
    }
}

fn to_timestamp(us: i64) -> Timestamp {
    Timestamp::from_microsecond(us).unwrap_or(if us < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    })
}

fn offset_us(offset: jiff::tz::Offset) -> i64 {
    i64::from(offset.seconds()) * US_PER_SEC
}

impl Zone {
    /// UTC.
    pub const UTC: Zone = Zone::Fixed(0);

    /// A zone from a time zone database entry; fixed zones (UTC, `Etc/GMT+5`) are
    /// turned into the fast fixed-offset form.
    pub fn from_time_zone(tz: &TimeZone) -> Zone {
        match tz.to_fixed_offset() {
            Ok(offset) => Zone::Fixed(offset_us(offset)),
            Err(_) => Zone::Tz(tz.clone()),
        }
    }

    /// The offset in force at an instant, in microseconds.
    pub fn offset_at(&self, instant: i64) -> i64 {
        match self {
            Zone::Fixed(offset) => *offset,
            Zone::Tz(tz) => offset_us(tz.to_offset(to_timestamp(instant))),
        }
    }

    /// The local wall-clock reading of an instant.
    pub fn to_local(&self, instant: i64) -> i64 {
        instant + self.offset_at(instant)
    }

    /// The stretch of constant offset that contains `instant`.
    pub fn segment(&self, instant: i64) -> Segment {
        match self {
            Zone::Fixed(offset) => Segment {
                start: None,
                prev_offset: *offset,
                offset: *offset,
                end: None,
            },
            Zone::Tz(tz) => {
                let ts = to_timestamp(instant);
                let offset = offset_us(tz.to_offset(ts));
                let start = tz
                    .preceding(to_timestamp(instant.saturating_add(1)))
                    .next()
                    .map(|t| t.timestamp().as_microsecond());
                let prev_offset = match start {
                    Some(s) => offset_us(tz.to_offset(to_timestamp(s - 1))),
                    None => offset,
                };
                let end = tz
                    .following(ts)
                    .next()
                    .map(|t| t.timestamp().as_microsecond());
                Segment {
                    start,
                    prev_offset,
                    offset,
                    end,
                }
            }
        }
    }

    /// The instant of a local reading: a reading in a gap gives the first instant after
    /// the gap, a reading that happens twice gives the earlier instant.
    pub fn instant_of_local(&self, local: i64) -> i64 {
        match self {
            Zone::Fixed(offset) => local - offset,
            Zone::Tz(tz) => {
                let dt = TimeZone::UTC.to_datetime(to_timestamp(local));
                match tz.to_ambiguous_timestamp(dt).offset() {
                    AmbiguousOffset::Unambiguous { offset } => local - offset_us(offset),
                    AmbiguousOffset::Fold { before, .. } => local - offset_us(before),
                    AmbiguousOffset::Gap { after, .. } => {
                        // Just before the transition the reading is still in the old
                        // offset's range, so the next transition after that is the gap.
                        let probe = local - offset_us(after);
                        tz.following(to_timestamp(probe))
                            .next()
                            .map(|t| t.timestamp().as_microsecond())
                            .unwrap_or(probe)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::civil::{days_from_civil, US_PER_DAY, US_PER_HOUR, US_PER_MIN};

    fn local(y: i64, m: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, m, d) * US_PER_DAY + h * US_PER_HOUR + mi * US_PER_MIN
    }

    fn new_york() -> Zone {
        Zone::from_time_zone(&TimeZone::get("America/New_York").expect("tzdb has New York"))
    }

    #[test]
    fn gap_maps_to_end_of_gap() {
        let ny = new_york();
        // 2024-03-10 02:30 does not exist in New York; 03:00 EDT is 07:00 UTC.
        assert_eq!(
            ny.instant_of_local(local(2024, 3, 10, 2, 30)),
            local(2024, 3, 10, 7, 0)
        );
    }

    #[test]
    fn fold_maps_to_first_instant() {
        let ny = new_york();
        // 2024-11-03 01:30 happens at 05:30 UTC (EDT) and 06:30 UTC (EST).
        assert_eq!(
            ny.instant_of_local(local(2024, 11, 3, 1, 30)),
            local(2024, 11, 3, 5, 30)
        );
        let seg = ny.segment(local(2024, 11, 3, 6, 30));
        assert!(seg.begins_with_fold());
        assert_eq!(seg.start, Some(local(2024, 11, 3, 6, 0)));
    }

    #[test]
    fn utc_is_fixed() {
        assert!(matches!(
            Zone::from_time_zone(&TimeZone::UTC),
            Zone::Fixed(0)
        ));
    }
}
