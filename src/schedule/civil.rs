//! Proleptic Gregorian calendar arithmetic on plain integers.
//!
//! The scheduler works on microseconds since the Unix epoch (`i64`), either as an
//! instant (UTC) or as a local wall-clock reading (the instant plus the zone's offset).
//! Converting between day numbers and calendar dates by hand keeps the hot path of
//! "next fire" free of allocation and of any library's validation overhead.

/// Microseconds in one second.
pub const US_PER_SEC: i64 = 1_000_000;
/// Microseconds in one minute.
pub const US_PER_MIN: i64 = 60 * US_PER_SEC;
/// Microseconds in one hour.
pub const US_PER_HOUR: i64 = 60 * US_PER_MIN;
/// Microseconds in one (absolute, 24-hour) day.
pub const US_PER_DAY: i64 = 24 * US_PER_HOUR;
/// How far ahead a search looks before it decides a schedule never fires: a little more
/// than one full 400-year Gregorian cycle, after which every calendar pattern repeats.
pub const SEARCH_YEARS: i64 = 402;

/// Whether `year` has a February 29th.
pub fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` (1-12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a calendar date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The calendar date `(year, month, day)` of a day number since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Day of the week of a day number, 0 = Sunday … 6 = Saturday (cron's numbering).
pub fn weekday(days: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    (days + 4).rem_euclid(7) as u32
}

/// Splits a local reading into its day number and the microseconds into that day.
pub fn split_day(local: i64) -> (i64, i64) {
    (local.div_euclid(US_PER_DAY), local.rem_euclid(US_PER_DAY))
}

/// Rounds `value` up to the next multiple of `step` (unchanged when already a multiple).
pub fn ceil_to(value: i64, step: i64) -> i64 {
    let rem = value.rem_euclid(step);
    if rem == 0 {
        value
    } else {
        value + (step - rem)
    }
}

/// Adds `months` to a `(year, month)` pair.
pub fn add_months(year: i64, month: u32, months: i64) -> (i64, u32) {
    let index = year * 12 + i64::from(month) - 1 + months;
    (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_days_across_four_centuries() {
        for days in (-200_000..200_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
            assert!(d >= 1 && d <= days_in_month(y, m));
        }
    }

    #[test]
    fn known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(19_783), (2024, 3, 1));
        assert_eq!(weekday(days_from_civil(2024, 5, 1)), 3); // a Wednesday
        assert_eq!(days_in_month(2024, 2), 29);
        assert_eq!(days_in_month(2100, 2), 28);
        assert_eq!(add_months(2024, 11, 3), (2025, 2));
        assert_eq!(add_months(2024, 1, -1), (2023, 12));
        assert_eq!(ceil_to(61, 60), 120);
        assert_eq!(ceil_to(-61, 60), -60);
    }
}
