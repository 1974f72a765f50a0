//! The `starting …` phrase: parsed once, resolved against the job's `now` (never the
//! machine clock) and the schedule's zone.

use super::civil::{
    civil_from_days, days_from_civil, days_in_month, split_day, weekday, US_PER_DAY, US_PER_HOUR,
    US_PER_MIN, US_PER_SEC,
};
use super::interval::parse_amount;
use super::zone::Zone;

/// Which day a start phrase names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatePart {
    /// No date written: now's date.
    Unset,
    Today,
    Tomorrow,
    Ymd(i64, u32, u32),
    /// Today if today is this weekday (0 = Sunday), else the next one.
    Weekday(u32),
    /// This day of now's month.
    Ordinal(u32),
}

/// A parsed start phrase, still relative to `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Start {
    /// The job's start (also what no phrase means).
    Now,
    /// `in N UNIT`: now plus a duration in microseconds.
    In(i64),
    /// A date and/or a time of day, optionally with an explicit UTC offset.
    At {
        date: DatePart,
        time: i64,
        offset: Option<i64>,
    },
}

/// A start phrase that cannot be read: message and byte offset of the culprit within
/// the phrase.
pub struct StartError {
    pub message: String,
    pub at: usize,
}

fn err(message: impl Into<String>, at: usize) -> StartError {
    StartError {
        message: message.into(),
        at,
    }
}

const WEEKDAYS: [(&str, u32); 17] = [
    ("sun", 0),
    ("sunday", 0),
    ("mon", 1),
    ("monday", 1),
    ("tue", 2),
    ("tues", 2),
    ("tuesday", 2),
    ("wed", 3),
    ("wednesday", 3),
    ("thu", 4),
    ("thur", 4),
    ("thurs", 4),
    ("thursday", 4),
    ("fri", 5),
    ("friday", 5),
    ("sat", 6),
    ("saturday", 6),
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_number(word: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| {
            *m == word
                || (word.len() == 3 && m.starts_with(word))
                || word == "sept" && *m == "september"
        })
        .map(|i| i as u32 + 1)
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn num(s: &str) -> Option<u32> {
    if digits(s) && s.len() <= 4 {
        s.parse().ok()
    } else {
        None
    }
}

/// A valid calendar date, or the reason it is not.
fn check_date(y: i64, m: u32, d: u32, text: &str, at: usize) -> Result<DatePart, StartError> {
    if !(1..=12).contains(&m) {
        return Err(err(format!("month is out of range in {text:?}"), at));
    }
    if d == 0 || d > days_in_month(y, m) {
        return Err(err(
            format!("day is out of range for month in {text:?}"),
            at,
        ));
    }
    Ok(DatePart::Ymd(y, m, d))
}

/// Parses `HH:MM[:SS[.ffffff]]` with an optional `am`/`pm` suffix, or `H am`.
fn parse_time(text: &str, at: usize) -> Result<Option<i64>, StartError> {
    let (body, meridiem) = if let Some(b) = text.strip_suffix("am") {
        (b, Some(false))
    } else if let Some(b) = text.strip_suffix("pm") {
        (b, Some(true))
    } else {
        (text, None)
    };
    let parts: Vec<&str> = body.split(':').collect();
    if parts.len() == 1 && meridiem.is_none() {
        return Ok(None);
    }
    if parts.len() > 3 || !digits(parts[0]) || parts[0].len() > 2 {
        return Ok(None);
    }
    let bad = || err(format!("bad time {text:?}"), at);
    let hour: i64 = parts[0].parse().map_err(|_| bad())?;
    let minute: i64 = match parts.get(1) {
        Some(m) if digits(m) && m.len() == 2 => m.parse().map_err(|_| bad())?,
        Some(_) => return Err(bad()),
        None => 0,
    };
    let micros: i64 = match parts.get(2) {
        Some(s) => {
            let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
            if !digits(whole)
                || whole.len() != 2
                || (!frac.is_empty() && !digits(frac))
                || frac.len() > 6
            {
                return Err(bad());
            }
            let sec: i64 = whole.parse().map_err(|_| bad())?;
            if sec > 59 {
                return Err(bad());
            }
            let frac_us: i64 = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<6}").parse().map_err(|_| bad())?
            };
            sec * US_PER_SEC + frac_us
        }
        None => 0,
    };
    let hour = match meridiem {
        None if hour <= 23 => hour,
        Some(pm) if (1..=12).contains(&hour) => (hour % 12) + if pm { 12 } else { 0 },
        _ => return Err(err(format!("hour is out of range in {text:?}"), at)),
    };
    if minute > 59 {
        return Err(err(format!("minute is out of range in {text:?}"), at));
    }
    Ok(Some(hour * US_PER_HOUR + minute * US_PER_MIN + micros))
}

/// Parses `z`, `+05:30`, `-0500`, `+05` into microseconds east of UTC.
fn parse_offset(text: &str) -> Option<i64> {
    if text == "z" {
        return Some(0);
    }
    let sign = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let body = text[1..].replace(':', "");
    if !digits(&body) || !(body.len() == 2 || body.len() == 4) {
        return None;
    }
    let h: i64 = body[..2].parse().ok()?;
    let m: i64 = if body.len() == 4 {
        body[2..].parse().ok()?
    } else {
        0
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * US_PER_HOUR + m * US_PER_MIN))
}

/// Splits `2024-01-01T00:00:00+05:00` style text into date, time and offset pieces.
fn split_iso(word: &str) -> Option<(&str, Option<&str>)> {
    let (date, rest) = match word.split_once('t') {
        Some((d, r)) => (d, Some(r)),
        None => (word, None),
    };
    let shape = date.len() == 10
        && date.as_bytes()[4] == b'-'
        && date.as_bytes()[7] == b'-'
        && digits(&date[..4])
        && digits(&date[5..7])
        && digits(&date[8..]);
    shape.then_some((date, rest))
}

/// Splits a time with a glued-on offset (`00:00:00z`, `09:30+05:30`).
fn split_glued_offset(word: &str) -> (&str, Option<&str>) {
    if let Some(t) = word.strip_suffix('z') {
        return (t, Some("z"));
    }
    match word.rfind(['+', '-']) {
        Some(i) if i > 0 => (&word[..i], Some(&word[i..])),
        _ => (word, None),
    }
}

#[derive(Default)]
struct Pieces {
    date: Option<(DatePart, usize)>,
    time: Option<(i64, usize)>,
    offset: Option<(i64, usize)>,
    month: Option<(u32, usize)>,
    numbers: Vec<(u32, &'static str, usize)>,
}

impl Pieces {
    fn set_date(&mut self, d: DatePart, at: usize, text: &str) -> Result<(), StartError> {
        if self.date.is_some() || self.month.is_some() {
            return Err(err(format!("a second date {text:?}"), at));
        }
        self.date = Some((d, at));
        Ok(())
    }

    fn set_time(&mut self, t: i64, at: usize, text: &str) -> Result<(), StartError> {
        if self.time.is_some() {
            return Err(err(format!("a second time {text:?}"), at));
        }
        self.time = Some((t, at));
        Ok(())
    }

    fn set_offset(&mut self, text: &str, at: usize) -> Result<(), StartError> {
        let o = parse_offset(text).ok_or_else(|| err(format!("bad UTC offset {text:?}"), at))?;
        if self.offset.is_some() {
            return Err(err(format!("a second UTC offset {text:?}"), at));
        }
        self.offset = Some((o, at));
        Ok(())
    }
}

/// Parses the text after `starting` (byte offsets in errors are within `phrase`).
pub fn parse(phrase: &str) -> Result<Start, StartError> {
    let lower = phrase.to_lowercase();
    let mut words: Vec<(&str, usize)> = Vec::new();
    let mut begin = None;
    for (i, c) in lower.char_indices() {
        if c.is_whitespace() || c == ',' {
            if let Some(b) = begin.take() {
                words.push((&lower[b..i], b));
            }
        } else if begin.is_none() {
            begin = Some(i);
        }
    }
    if let Some(b) = begin {
        words.push((&lower[b..], b));
    }
    let Some(&(first, first_at)) = words.first() else {
        return Err(err("expected a start time after `starting`", 0));
    };
    if first == "now" {
        return match words.get(1) {
            None => Ok(Start::Now),
            Some(&(w, at)) => Err(err(format!("unexpected {w:?} after `now`"), at)),
        };
    }
    if first == "in" {
        return parse_in(&words, first_at);
    }

    let mut p = Pieces::default();
    let mut i = 0;
    while i < words.len() {
        let (w, at) = words[i];
        i += 1;
        if w == "at" {
            continue;
        }
        if w == "today" {
            p.set_date(DatePart::Today, at, w)?;
        } else if w == "tomorrow" {
            p.set_date(DatePart::Tomorrow, at, w)?;
        } else if let Some(&(_, wd)) = WEEKDAYS.iter().find(|(n, _)| *n == w) {
            p.set_date(DatePart::Weekday(wd), at, w)?;
        } else if let Some(m) = month_number(w) {
            if p.date.is_some() || p.month.is_some() {
                return Err(err(format!("a second date {w:?}"), at));
            }
            p.month = Some((m, at));
        } else if (w == "am" || w == "pm") && p.time.is_some() {
            // `12:15 pm`: re-read the previous word with its suffix.
            let (prev, prev_at) = words[i - 2];
            let glued = format!("{prev}{w}");
            let t = parse_time(&glued, prev_at)?
                .ok_or_else(|| err(format!("bad time {glued:?}"), prev_at))?;
            p.time = Some((t, prev_at));
        } else if let Some((date, rest)) = split_iso(w) {
            let y: i64 = date[..4].parse().map_err(|_| err("bad year", at))?;
            let m = num(&date[5..7]).unwrap_or(0);
            let d = num(&date[8..]).unwrap_or(0);
            let date_part = check_date(y, m, d, date, at)?;
            p.set_date(date_part, at, w)?;
            if let Some(rest) = rest {
                let (time, offset) = split_glued_offset(rest);
                let t =
                    parse_time(time, at)?.ok_or_else(|| err(format!("bad time {rest:?}"), at))?;
                p.set_time(t, at, w)?;
                if let Some(o) = offset {
                    p.set_offset(o, at)?;
                }
            }
        } else if let Some((m, rest)) = w.split_once('/') {
            let parts: Vec<&str> = rest.split('/').collect();
            match (num(m), parts.as_slice()) {
                (Some(m), [d, y]) if digits(d) && digits(y) && y.len() == 4 => {
                    let date_part = check_date(
                        i64::from(num(y).unwrap_or(0)),
                        m,
                        num(d).unwrap_or(0),
                        w,
                        at,
                    )?;
                    p.set_date(date_part, at, w)?;
                }
                _ => return Err(err(format!("bad date {w:?}: expected MM/DD/YYYY"), at)),
            }
        } else if let Some(day) = ordinal(w) {
            p.set_date(DatePart::Ordinal(day), at, w)?;
        } else if w == "z" || w.starts_with('+') || (w.starts_with('-') && w.len() > 1) {
            p.set_offset(w, at)?;
        } else if let Some(t) = time_with_offset(w, at)? {
            p.set_time(t.0, at, w)?;
            if let Some(o) = t.1 {
                p.set_offset(o, at)?;
            }
        } else if digits(w) && w.len() <= 2 {
            p.numbers.push((num(w).unwrap_or(0), "day", at));
        } else if digits(w) && w.len() == 4 {
            p.numbers.push((num(w).unwrap_or(0), "year", at));
        } else {
            return Err(err(format!("unknown start time {w:?}"), at));
        }
    }
    finish(p, phrase)
}

/// A time, possibly with an offset glued on (`09:30z`).
fn time_with_offset(w: &str, at: usize) -> Result<Option<(i64, Option<&str>)>, StartError> {
    if let Some(t) = parse_time(w, at)? {
        return Ok(Some((t, None)));
    }
    let (time, offset) = split_glued_offset(w);
    if offset.is_some() && time.contains(':') {
        if let Some(t) = parse_time(time, at)? {
            return Ok(Some((t, offset)));
        }
    }
    Ok(None)
}

fn ordinal(w: &str) -> Option<u32> {
    let n = w
        .strip_suffix("st")
        .or_else(|| w.strip_suffix("nd"))
        .or_else(|| w.strip_suffix("rd"))
        .or_else(|| w.strip_suffix("th"))?;
    (digits(n) && n.len() <= 2)
        .then(|| num(n))
        .flatten()
        .filter(|d| (1..=31).contains(d))
}

fn parse_in(words: &[(&str, usize)], at: usize) -> Result<Start, StartError> {
    let bad = || {
        err(
            "bad relative start: expected `in N seconds|minutes|hours|days|weeks`",
            at,
        )
    };
    let [_, (n, n_at), (unit, unit_at)] = words else {
        return Err(bad());
    };
    let unit_us = match unit.trim_end_matches('s') {
        "second" => US_PER_SEC,
        "minute" => US_PER_MIN,
        "hour" => US_PER_HOUR,
        "day" => US_PER_DAY,
        "week" => 7 * US_PER_DAY,
        _ => {
            return Err(err(
                format!("bad unit {unit:?} in relative start: expected seconds to weeks"),
                *unit_at,
            ))
        }
    };
    if unit.ends_with("ss") {
        return Err(err(format!("bad unit {unit:?}"), *unit_at));
    }
    let amount = parse_amount(n, unit_us).map_err(|m| err(m, *n_at))?;
    Ok(Start::In(amount))
}

fn finish(mut p: Pieces, phrase: &str) -> Result<Start, StartError> {
    if let Some((month, at)) = p.month.take() {
        // `Jan 1 2025`, `May 2, 2024`: a day number, then an optional year.
        let mut numbers = std::mem::take(&mut p.numbers).into_iter();
        let Some((day, kind, day_at)) = numbers.next() else {
            return Err(err("expected a day after the month name", at));
        };
        if kind != "day" {
            return Err(err("expected a day after the month name", day_at));
        }
        let year = match numbers.next() {
            Some((y, "year", _)) => Some(i64::from(y)),
            Some((_, _, n_at)) => return Err(err("expected a four-digit year", n_at)),
            None => None,
        };
        if let Some((_, n_at)) = numbers.next().map(|(a, _, b)| (a, b)) {
            return Err(err("unexpected number", n_at));
        }
        p.date = Some((
            match year {
                Some(y) => check_date(y, month, day, phrase.trim(), at)?,
                // Year from now: checked when resolved.
                None => DatePart::Ymd(i64::MIN, month, day),
            },
            at,
        ));
    }
    if let Some(&(_, kind, at)) = p.numbers.first() {
        return Err(err(
            format!("unexpected bare number (a {kind}?): expected a date or a time"),
            at,
        ));
    }
    if p.date.is_none() && p.time.is_none() {
        return Err(err("expected a date or a time", 0));
    }
    Ok(Start::At {
        date: p.date.map(|(d, _)| d).unwrap_or(DatePart::Unset),
        time: p.time.map(|(t, _)| t).unwrap_or(0),
        offset: p.offset.map(|(o, _)| o),
    })
}

impl Start {
    /// Whether the phrase carries its own UTC offset (which then becomes the zone).
    pub fn explicit_offset(&self) -> Option<i64> {
        match self {
            Start::At { offset, .. } => *offset,
            _ => None,
        }
    }

    /// The start of a job started at `now`, read in `zone`.
    pub fn resolve(&self, now: i64, zone: &Zone) -> Result<Anchor, String> {
        let (date, time, offset) = match self {
            Start::Now => return Ok(Anchor::at(now, zone)),
            Start::In(d) => {
                return now
                    .checked_add(*d)
                    .map(|instant| Anchor::at(instant, zone))
                    .ok_or_else(|| "start is too far away".to_string())
            }
            Start::At { date, time, offset } => (date, *time, *offset),
        };
        let local_now = match offset {
            Some(o) => now + o,
            None => zone.to_local(now),
        };
        let (today, _) = split_day(local_now);
        let day = match *date {
            DatePart::Unset | DatePart::Today => today,
            DatePart::Tomorrow => today + 1,
            DatePart::Ymd(y, m, d) => {
                let y = if y == i64::MIN {
                    civil_from_days(today).0
                } else {
                    y
                };
                if d > days_in_month(y, m) {
                    return Err(format!("day is out of range for month: {y}-{m:02}-{d:02}"));
                }
                days_from_civil(y, m, d)
            }
            DatePart::Weekday(w) => today + i64::from((w + 7 - weekday(today)) % 7),
            DatePart::Ordinal(d) => {
                let (y, m, _) = civil_from_days(today);
                if d > days_in_month(y, m) {
                    return Err(format!(
                        "day is out of range for month: the {d}th of {y}-{m:02}"
                    ));
                }
                days_from_civil(y, m, d)
            }
        };
        let local = day * US_PER_DAY + time;
        Ok(match offset {
            Some(o) => Anchor::at(local - o, zone),
            // The written wall time is kept even when it does not exist that day.
            None => Anchor {
                instant: zone.instant_of_local(local),
                local,
            },
        })
    }
}

/// Where a schedule starts: the instant of its first occurrence, and the local wall
/// time that calendar-shaped repeats (days, weeks, months in a zone) come back to.
/// They differ only when the written time falls in a DST gap (`02:30` on a day that
/// skips from 02:00 to 03:00 starts at 03:00 but repeats at 02:30).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    /// The first occurrence (µs since the epoch).
    pub instant: i64,
    /// The local wall-clock reading the repeats are anchored at (µs).
    pub local: i64,
}

impl Anchor {
    /// An anchor at an instant, with the wall time it reads in `zone`.
    pub fn at(instant: i64, zone: &Zone) -> Anchor {
        Anchor {
            instant,
            local: zone.to_local(instant),
        }
    }
}
