//! Date fragments (`mon-fri`, `jun-aug`, `2024-2026`): filters on a local date.

use super::civil::{civil_from_days, days_from_civil, weekday, SEARCH_YEARS};
use super::field::{MONTH, WEEKDAY};

/// The allowed dates: weekdays, months and (optionally) years, all of which must hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateFilter {
    weekdays: u8,
    months: u16,
    /// Inclusive year ranges; `None` allows every year.
    years: Option<Vec<(i64, i64)>>,
}

impl Default for DateFilter {
    fn default() -> Self {
        DateFilter {
            weekdays: 0x7f,
            months: 0x1ffe,
            years: None,
        }
    }
}

/// The kind of a one-word fragment, for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragmentKind {
    Weekday,
    Month,
    Year,
}

impl DateFilter {
    /// Parses a one-word fragment: weekday names, month names, or four-digit years.
    pub fn parse(word: &str) -> Result<(DateFilter, FragmentKind), String> {
        if word
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'-' || b == b',')
        {
            return parse_years(word).map(|years| {
                (
                    DateFilter {
                        years: Some(years),
                        ..DateFilter::default()
                    },
                    FragmentKind::Year,
                )
            });
        }
        if let Ok(mask) = WEEKDAY.parse(word, true) {
            return Ok((
                DateFilter {
                    weekdays: mask as u8,
                    ..DateFilter::default()
                },
                FragmentKind::Weekday,
            ));
        }
        if let Ok(mask) = MONTH.parse(word, true) {
            return Ok((
                DateFilter {
                    months: mask as u16,
                    ..DateFilter::default()
                },
                FragmentKind::Month,
            ));
        }
        Err(format!(
            "unknown word {word:?}: expected \"every N UNIT\", a 5-field cron, or a weekday, month or year"
        ))
    }

    /// Whether nothing is filtered out.
    pub fn is_trivial(&self) -> bool {
        *self == DateFilter::default()
    }

    /// How often the allowed days repeat (1 or 7 days) when only weekdays restrict.
    pub fn day_period(&self) -> Option<i64> {
        if self.months & 0x1ffe != 0x1ffe || self.years.is_some() {
            return None;
        }
        Some(if self.weekdays & 0x7f == 0x7f { 1 } else { 7 })
    }

    /// Narrows this filter by another (both must hold).
    pub fn intersect(&mut self, other: &DateFilter) {
        self.weekdays &= other.weekdays;
        self.months &= other.months;
        if let Some(theirs) = &other.years {
            self.years = Some(match self.years.take() {
                None => theirs.clone(),
                Some(mine) => {
                    let mut out = Vec::new();
                    for &(a, b) in &mine {
                        for &(c, d) in theirs {
                            if a.max(c) <= b.min(d) {
                                out.push((a.max(c), b.min(d)));
                            }
                        }
                    }
                    out
                }
            });
        }
    }

    fn year_ok(&self, year: i64) -> bool {
        self.years
            .as_ref()
            .is_none_or(|ys| ys.iter().any(|&(a, b)| a <= year && year <= b))
    }

    /// The first allowed year at or after `year`.
    fn next_year(&self, year: i64) -> Option<i64> {
        match &self.years {
            None => Some(year),
            Some(ys) => ys
                .iter()
                .filter(|&&(_, b)| b >= year)
                .map(|&(a, _)| a.max(year))
                .min(),
        }
    }

    /// Whether a day (number since 1970-01-01) is allowed.
    pub fn matches(&self, days: i64) -> bool {
        let (y, m, _) = civil_from_days(days);
        self.months & (1 << m) != 0 && self.weekdays & (1 << weekday(days)) != 0 && self.year_ok(y)
    }

    /// The first allowed day at or after `days`, or `None` if there is none within the
    /// search horizon.
    pub fn next_day(&self, days: i64) -> Option<i64> {
        if self.weekdays == 0 || self.months == 0 {
            return None;
        }
        let (start_year, _, _) = civil_from_days(days);
        let limit = start_year + SEARCH_YEARS;
        let mut day = days;
        loop {
            let (y, m, _) = civil_from_days(day);
            if y > limit {
                return None;
            }
            let ny = self.next_year(y)?;
            if ny != y {
                day = days_from_civil(ny, 1, 1);
                continue;
            }
            if self.months & (1 << m) == 0 {
                day = match (m + 1..=12).find(|mm| self.months & (1 << mm) != 0) {
                    Some(mm) => days_from_civil(y, mm, 1),
                    None => days_from_civil(y + 1, 1, 1),
                };
                continue;
            }
            if self.weekdays & (1 << weekday(day)) != 0 {
                return Some(day);
            }
            // Step one day at a time so that month and year changes are checked.
            day += 1;
        }
    }
}

fn parse_year(text: &str) -> Result<i64, String> {
    if text.len() == 4 && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().map_err(|_| format!("bad year {text:?}"))
    } else {
        Err(format!("bad year {text:?}: expected four digits"))
    }
}

fn parse_years(word: &str) -> Result<Vec<(i64, i64)>, String> {
    let mut out = Vec::new();
    for item in word.split(',') {
        let range = match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (parse_year(a)?, parse_year(b)?);
                if a > b {
                    return Err(format!("descending year range {item:?}"));
                }
                (a, b)
            }
            None => {
                let y = parse_year(item)?;
                (y, y)
            }
        };
        out.push(range);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            DateFilter::parse("mon-fri").unwrap().1,
            FragmentKind::Weekday
        );
        assert_eq!(DateFilter::parse("jun-aug").unwrap().1, FragmentKind::Month);
        assert_eq!(
            DateFilter::parse("2024-2026").unwrap().1,
            FragmentKind::Year
        );
        for bad in ["1st", "weekdays", "24", "2026-2024", "1-5", "someday"] {
            assert!(DateFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn next_day_skips_to_allowed_dates() {
        let (f, _) = DateFilter::parse("2026").unwrap();
        let from = days_from_civil(2024, 5, 1);
        assert_eq!(f.next_day(from), Some(days_from_civil(2026, 1, 1)));
        let (f, _) = DateFilter::parse("2023").unwrap();
        assert_eq!(f.next_day(from), None);
        let (f, _) = DateFilter::parse("sat,sun").unwrap();
        assert_eq!(f.next_day(from), Some(days_from_civil(2024, 5, 4)));
    }
}
