//! Five-field crons: parsing into bit masks, and finding the next matching minute of a
//! local wall-clock reading.

use super::civil::{
    ceil_to, civil_from_days, days_from_civil, days_in_month, split_day, weekday, SEARCH_YEARS,
    US_PER_DAY, US_PER_HOUR, US_PER_MIN,
};
use super::field::{DAY, HOUR, MINUTE, MONTH, WEEKDAY};

/// Which days a cron allows: a day-of-month set and a weekday set, joined the way
/// cron joins them (both must hold when either field has a `*`, otherwise either).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct DayRule {
    doms: u32,
    dows: u8,
    both: bool,
}

impl DayRule {
    fn matches(&self, dom: u32, dow: u32) -> bool {
        let d = self.doms & (1 << dom) != 0;
        let w = self.dows & (1 << dow) != 0;
        if self.both {
            d && w
        } else {
            d || w
        }
    }
}

/// A cron (or the intersection of several): minute, hour and month masks, and the
/// day rules that must all hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    months: u16,
    days: Vec<DayRule>,
    /// Every hour matches, so a repeated (DST) hour fires twice rather than once.
    pub hour_any: bool,
}

/// Which of the five fields failed, and why.
pub struct FieldError {
    pub field: usize,
    pub message: String,
}

fn next_bit(mask: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = mask >> from;
    (rest != 0).then(|| from + rest.trailing_zeros())
}

impl Cron {
    /// Parses the five fields (already lower-cased).
    pub fn parse(fields: [&str; 5]) -> Result<Cron, FieldError> {
        let kinds = [&MINUTE, &HOUR, &DAY, &MONTH, &WEEKDAY];
        let mut masks = [0u64; 5];
        for (i, (kind, text)) in kinds.iter().zip(fields).enumerate() {
            masks[i] = kind
                .parse(text, false)
                .map_err(|message| FieldError { field: i, message })?;
        }
        let both = fields[2].contains('*') || fields[4].contains('*');
        let hours = masks[1] as u32;
        Ok(Cron {
            minutes: masks[0],
            hours,
            months: masks[3] as u16,
            days: vec![DayRule {
                doms: masks[2] as u32,
                dows: masks[4] as u8,
                both,
            }],
            hour_any: hours == (1 << 24) - 1,
        })
    }

    /// The intersection of two crons: an instant matches when it matches both.
    pub fn intersect(&mut self, other: &Cron) {
        self.minutes &= other.minutes;
        self.hours &= other.hours;
        self.months &= other.months;
        self.days.extend_from_slice(&other.days);
        self.hour_any = self.hour_any && other.hour_any;
    }

    /// How often the cron's pattern of days repeats, in days, when that is short:
    /// 1 when every day is allowed, 7 when only weekdays restrict; `None` when months or
    /// days of the month do (the pattern then repeats only every 400 years).
    pub fn day_period(&self) -> Option<i64> {
        if self.months & 0x1ffe != 0x1ffe {
            return None;
        }
        let mut period = 1;
        for r in &self.days {
            let all_doms = r.doms & 0xffff_fffe == 0xffff_fffe;
            match (all_doms, r.both) {
                // `*` in a field: both must hold, and the weekdays alone decide.
                (true, true) if r.dows & 0x7f != 0x7f => period = 7,
                (true, _) => {}
                // Either may match: a weekday rule adds days of the month.
                (false, false) if r.dows & 0x7f == 0x7f => {}
                (false, _) => return None,
            }
        }
        Some(period)
    }

    /// Whether a local minute-of-day (hour, minute) is allowed.
    pub fn allows_time(&self, hour: u32, minute: u32) -> bool {
        self.hours & (1 << hour) != 0 && self.minutes & (1 << minute) != 0
    }

    fn day_matches(&self, days: i64, dom: u32) -> bool {
        let dow = weekday(days);
        self.days.iter().all(|r| r.matches(dom, dow))
    }

    /// The first matching local reading at or after `local` (rounded up to a whole
    /// minute), or `None` when nothing matches within the search horizon.
    pub fn next_local(&self, local: i64) -> Option<i64> {
        if self.minutes == 0 || self.hours == 0 || self.months == 0 {
            return None;
        }
        let local = ceil_to(local, US_PER_MIN);
        let (mut days, rem) = split_day(local);
        let (mut year, mut month, mut dom) = civil_from_days(days);
        let limit = year + SEARCH_YEARS;
        let mut minute_of_day = (rem / US_PER_MIN) as u32;
        loop {
            if self.months & (1 << month) == 0 {
                // Jump to the first day of the next allowed month.
                let (y, m) = match next_bit(u64::from(self.months), month + 1) {
                    Some(m) => (year, m),
                    None => (year + 1, self.months.trailing_zeros()),
                };
                if y > limit {
                    return None;
                }
                (year, month, dom) = (y, m, 1);
                days = days_from_civil(year, month, 1);
                minute_of_day = 0;
                continue;
            }
            if self.day_matches(days, dom) {
                let hour = minute_of_day / 60;
                if let Some(h) = next_bit(u64::from(self.hours), hour) {
                    let from = if h == hour { minute_of_day % 60 } else { 0 };
                    if let Some(m) = next_bit(self.minutes, from) {
                        return Some(
                            days * US_PER_DAY
                                + i64::from(h) * US_PER_HOUR
                                + i64::from(m) * US_PER_MIN,
                        );
                    }
                    if let Some(h2) = next_bit(u64::from(self.hours), h + 1) {
                        let m = self.minutes.trailing_zeros();
                        return Some(
                            days * US_PER_DAY
                                + i64::from(h2) * US_PER_HOUR
                                + i64::from(m) * US_PER_MIN,
                        );
                    }
                }
            }
            // Next day.
            days += 1;
            dom += 1;
            minute_of_day = 0;
            if dom > days_in_month(year, month) {
                (year, month, dom) = civil_from_days(days);
                if year > limit {
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cron(s: &str) -> Cron {
        let f: Vec<&str> = s.split_whitespace().collect();
        Cron::parse([f[0], f[1], f[2], f[3], f[4]]).unwrap_or_else(|e| panic!("{}", e.message))
    }

    fn at(y: i64, m: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, m, d) * US_PER_DAY + h * US_PER_HOUR + mi * US_PER_MIN
    }

    #[test]
    fn earliest_match_on_a_later_day_keeps_nothing_of_the_time() {
        // The reference would give June 15 at 12:34; the rule gives 00:00.
        let c = cron("0 0 15 * *");
        assert_eq!(
            c.next_local(at(2024, 5, 1, 12, 34)),
            Some(at(2024, 5, 15, 0, 0))
        );
        let c = cron("0 0 29 2 *");
        assert_eq!(
            c.next_local(at(2024, 5, 1, 12, 34)),
            Some(at(2028, 2, 29, 0, 0))
        );
    }

    #[test]
    fn impossible_dates_end_quickly() {
        assert_eq!(cron("0 0 30 2 *").next_local(0), None);
        assert_eq!(cron("0 0 31 4,6,9,11 *").next_local(0), None);
    }

    #[test]
    fn day_of_month_or_weekday() {
        // Every Friday and every 13th.
        let c = cron("0 0 13 * fri");
        assert_eq!(
            c.next_local(at(2024, 5, 1, 0, 1)),
            Some(at(2024, 5, 3, 0, 0))
        );
        assert_eq!(
            c.next_local(at(2024, 5, 11, 0, 0)),
            Some(at(2024, 5, 13, 0, 0))
        );
        // Mondays with an odd day number.
        let c = cron("0 0 */2 * mon");
        assert_eq!(
            c.next_local(at(2024, 5, 1, 0, 1)),
            Some(at(2024, 5, 13, 0, 0))
        );
    }

    #[test]
    fn same_day_later_hour() {
        let c = cron("30 9,17 * * *");
        assert_eq!(
            c.next_local(at(2024, 5, 1, 9, 31)),
            Some(at(2024, 5, 1, 17, 30))
        );
        assert_eq!(
            c.next_local(at(2024, 5, 1, 17, 31)),
            Some(at(2024, 5, 2, 9, 30))
        );
    }
}
