//! `every N UNIT`: exact intervals (seconds, minutes and hours, counted in absolute
//! time), day intervals (days and weeks, counted on the local wall clock of a zone with
//! DST, see [`super::wall`]) and calendar intervals (months and years, counted on the
//! local calendar with month-end clamping).

use super::civil::{
    add_months, civil_from_days, days_from_civil, days_in_month, split_day, US_PER_DAY,
    US_PER_HOUR, US_PER_MIN, US_PER_SEC,
};
use super::start::Anchor;
use super::zone::Zone;

/// What `every N UNIT` means once parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Every {
    /// Seconds, minutes or hours: a fixed number of microseconds of elapsed time.
    Exact(i64),
    /// Days or weeks (possibly fractional), in microseconds of 24-hour days: elapsed
    /// time in a fixed-offset zone, local wall-clock time in a zone with transitions.
    Days(i64),
    /// A whole number of months (years are 12 months).
    Months(i64),
}

/// The longest interval accepted: ten thousand years, far past any search horizon.
const MAX_US: u128 = 10_000 * 366 * US_PER_DAY as u128;

/// Reads a decimal amount (`90`, `1.5`) of a unit into whole microseconds, exactly.
pub fn parse_amount(text: &str, unit_us: i64) -> Result<i64, String> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let is_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !is_digits(whole) || (text.contains('.') && !is_digits(frac)) {
        return Err(format!(
            "bad number {text:?}: expected digits, like 5 or 1.5"
        ));
    }
    let too_big = || format!("number {text:?} is too large");
    let whole = whole.trim_start_matches('0');
    if whole.len() > 20 {
        return Err(too_big());
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| too_big())?
    };
    // Only the first 12 fractional digits can matter at microsecond precision for any
    // unit up to a week.
    let frac = &frac[..frac.len().min(12)];
    let scale = 10u128.pow(frac.len() as u32);
    let frac_num: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| too_big())?
    };
    let unit = unit_us as u128;
    let total = whole
        .checked_mul(unit)
        .and_then(|w| w.checked_add(frac_num * unit / scale))
        .ok_or_else(too_big)?;
    if total == 0 {
        return Err(format!("interval {text:?} must be positive"));
    }
    if total > MAX_US {
        return Err(too_big());
    }
    Ok(total as i64)
}

/// Parses `N` and `UNIT` of `every N UNIT`; errors say which word is wrong (0 = the
/// number, 1 = the unit).
pub fn parse_every(n: &str, unit: &str) -> Result<Every, (usize, String)> {
    let base = unit.strip_suffix('s').unwrap_or(unit);
    let elapsed = |unit_us: i64| parse_amount(n, unit_us).map_err(|m| (0, m));
    match base {
        "second" => elapsed(US_PER_SEC).map(Every::Exact),
        "minute" => elapsed(US_PER_MIN).map(Every::Exact),
        "hour" => elapsed(US_PER_HOUR).map(Every::Exact),
        "day" => elapsed(US_PER_DAY).map(Every::Days),
        "week" => elapsed(7 * US_PER_DAY).map(Every::Days),
        "month" => parse_months(n, base).map(Every::Months),
        "year" => parse_months(n, base).map(|years| Every::Months(years * 12)),
        _ => Err((1, format!("unknown unit {unit:?}: expected seconds, minutes, hours, days, weeks, months or years"))),
    }
}

/// A whole count of months or years (`base` names which, for messages).
fn parse_months(n: &str, base: &str) -> Result<i64, (usize, String)> {
    let (whole, frac) = n.split_once('.').unwrap_or((n, ""));
    let whole_ok = !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit());
    if !whole_ok || !frac.bytes().all(|b| b == b'0') || (n.contains('.') && frac.is_empty()) {
        return Err((0, format!("{base}s need a whole number, found {n:?}")));
    }
    whole
        .parse()
        .ok()
        .filter(|c| (1..=120_000).contains(c))
        .ok_or_else(|| {
            (
                0,
                format!(
                    "interval {n:?} must be a positive whole number of {base}s (at most 120000)"
                ),
            )
        })
}

/// The occurrences `start + k·period`, k ≥ 0: first at or after `t`.
pub fn next_exact(start: i64, period: i64, t: i64) -> Option<i64> {
    if t <= start {
        return Some(start);
    }
    let k = (t - start - 1) / period + 1;
    start.checked_add(k.checked_mul(period)?)
}

/// A calendar interval anchored at the start's local date and time of day.
#[derive(Clone, Debug)]
pub struct CalendarInterval {
    months: i64,
    start: i64,
    year: i64,
    month: u32,
    day: u32,
    time_of_day: i64,
}

impl CalendarInterval {
    /// Anchors `every N months` at the start's instant and wall time.
    pub fn new(months: i64, start: Anchor) -> Self {
        let (days, time_of_day) = split_day(start.local);
        let (year, month, day) = civil_from_days(days);
        CalendarInterval {
            months,
            start: start.instant,
            year,
            month,
            day,
            time_of_day,
        }
    }

    /// The k-th occurrence: k·N months on, the anchor day clamped to the month's end.
    fn occurrence(&self, k: i64, zone: &Zone) -> i64 {
        if k == 0 {
            return self.start;
        }
        let (y, m) = add_months(self.year, self.month, k * self.months);
        let d = self.day.min(days_in_month(y, m));
        zone.instant_of_local(days_from_civil(y, m, d) * US_PER_DAY + self.time_of_day)
    }

    /// The first occurrence at or after `t`.
    pub fn next(&self, t: i64, zone: &Zone) -> Option<i64> {
        if t <= self.start {
            return Some(self.start);
        }
        let (days, _) = split_day(zone.to_local(t));
        let (y, m, _) = civil_from_days(days);
        let elapsed = (y - self.year) * 12 + i64::from(m) - i64::from(self.month);
        let mut k = (elapsed / self.months - 1).max(0);
        loop {
            let at = self.occurrence(k, zone);
            if at >= t {
                return Some(at);
            }
            k += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact() {
        assert_eq!(parse_amount("0.5", US_PER_SEC), Ok(500_000));
        assert_eq!(parse_amount("1.5", US_PER_HOUR), Ok(90 * US_PER_MIN));
        for bad in ["0", "-5", "1e2", "inf", "", ".5", "1."] {
            assert!(parse_amount(bad, US_PER_SEC).is_err(), "{bad}");
        }
    }

    #[test]
    fn units() {
        assert_eq!(parse_every("2", "second"), Ok(Every::Exact(2 * US_PER_SEC)));
        assert_eq!(
            parse_every("1.5", "days"),
            Ok(Every::Days(36 * US_PER_HOUR))
        );
        assert_eq!(parse_every("1", "week"), Ok(Every::Days(7 * US_PER_DAY)));
        assert_eq!(parse_every("2", "years"), Ok(Every::Months(24)));
        assert!(parse_every("1", "fortnight").is_err());
        assert!(parse_every("3", "dayss").is_err());
        assert!(parse_every("1.5", "months").is_err());
        assert!(parse_every("5", "mins").is_err());
    }

    #[test]
    fn month_ends_clamp_then_return() {
        let zone = Zone::UTC;
        let start = days_from_civil(2024, 1, 31) * US_PER_DAY;
        let c = CalendarInterval::new(1, Anchor::at(start, &zone));
        let days: Vec<(i64, u32, u32)> = (0..4)
            .map(|k| civil_from_days(split_day(c.occurrence(k, &zone)).0))
            .collect();
        assert_eq!(
            days,
            [(2024, 1, 31), (2024, 2, 29), (2024, 3, 31), (2024, 4, 30)]
        );
    }
}
