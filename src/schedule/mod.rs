//! The schedule language: `every 30 minutes starting 00:00`, crons with names,
//! fragments such as `mon-fri`, and `&`/`|` combinations, evaluated in a time zone.
//!
//! Parsing ([`parse_schedule`]) checks the whole string; evaluation
//! ([`Schedule::fire_times`]) takes the job's start instant as a parameter. Nothing here
//! reads the system clock, so every answer is reproducible. The rules are those of the
//! conformance corpus (`SCHEDULES.md`): one catch-up fire when the start is in the past,
//! month ends that clamp, fragments that filter dates, and a prompt "never" when a
//! schedule has no occurrence left. In a zone with DST, days and weeks follow the local
//! wall clock like months do (`wall`), while seconds, minutes and hours count elapsed
//! time; zone rules come from [`tz_data`].

mod civil;
mod coalesce;
mod cron;
mod error;
mod eval;
mod field;
mod fragment;
mod interval;
mod lexer;
mod start;
#[cfg(test)]
mod start_tests;
mod tzdb;
mod wall;
mod zone;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

pub use coalesce::{coalesced, COALESCE_MAX};
pub use error::ScheduleError;
pub use tzdb::{tz_data, TzData, TzSource};

use cron::Cron;
use eval::{Group, Progression};
use fragment::DateFilter;
use interval::{CalendarInterval, Every};
use lexer::{column_of, Joiner, Token};
use start::{Anchor, Start};
use wall::WallProgression;
use zone::Zone;

/// One part between `&`/`|`.
#[derive(Clone, Debug)]
enum Part {
    Every(Every),
    Cron(Cron),
    Fragment(DateFilter),
}

/// A parsed schedule: what to fire and from when, independent of any clock.
#[derive(Clone, Debug)]
pub struct Schedule {
    text: String,
    parts: Vec<Part>,
    joiner: Joiner,
    start: Start,
    tz: Option<TimeZone>,
    /// The zone the string names (`… tz Europe/Berlin`) and its column: another
    /// zone given beside it ([`Schedule::in_zone`]) is an error.
    written_zone: Option<(String, usize)>,
}

/// Parses a schedule string, reporting the first fault with its column.
///
/// ```
/// use jiff::Timestamp;
///
/// let schedule = mrsm::parse_schedule("daily and mon-fri starting May 2, 2024")?;
/// let now: Timestamp = "2024-05-01T12:00:00Z".parse()?;
/// let fires: Vec<String> = schedule
///     .fire_times(now)?
///     .take(3)
///     .map(|t| t.to_string())
///     .collect();
/// assert_eq!(fires, ["2024-05-02T00:00:00Z", "2024-05-03T00:00:00Z", "2024-05-06T00:00:00Z"]);
///
/// let err = mrsm::parse_schedule("every 1 fortnight").unwrap_err();
/// assert_eq!(err.column(), Some(9));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn parse_schedule(text: &str) -> Result<Schedule, ScheduleError> {
    let (body, zone) = lexer::split_zone(text)?;
    let (tz, written_zone) = match zone {
        None => (None, None),
        Some((name, at)) => {
            let column = column_of(text, at);
            let tz = tz_data()
                .get(name)
                .ok_or_else(|| ScheduleError::new(unknown_zone(name), Some(column), text))?;
            (Some(tz), Some((name.to_string(), column)))
        }
    };
    let (freq, start_phrase) = lexer::split_start(body);
    let start = match start_phrase {
        None => Start::Now,
        Some((phrase, offset)) => start::parse(phrase).map_err(|e| {
            ScheduleError::new(
                format!("start time: {}", e.message),
                Some(column_of(text, offset + e.at + leading_space(phrase, e.at))),
                text,
            )
        })?,
    };
    let tokens = lexer::tokenize(freq);
    if tokens.is_empty() {
        return Err(ScheduleError::new(
            "empty schedule: expected \"every N UNIT\", a cron, or a fragment such as mon-fri",
            Some(1),
            text,
        ));
    }
    let (token_parts, joiner) = lexer::split_parts(tokens, text)?;
    let parts = token_parts
        .iter()
        .map(|tokens| parse_part(tokens, text))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Schedule {
        text: text.to_string(),
        parts,
        joiner,
        start,
        tz,
        written_zone,
    })
}

/// What an unknown zone name is told.
fn unknown_zone(name: &str) -> String {
    format!("unknown time zone {name:?}: expected an IANA name such as Europe/Berlin")
}

/// How many whitespace bytes precede the culprit at `at` when it is the phrase start
/// (an error at offset 0 points at the first word, not the space before it).
fn leading_space(phrase: &str, at: usize) -> usize {
    if at == 0 {
        phrase.len() - phrase.trim_start().len()
    } else {
        0
    }
}

fn parse_part(tokens: &[Token], input: &str) -> Result<Part, ScheduleError> {
    let col = |t: &Token| Some(column_of(input, t.start));
    let first = &tokens[0];
    if first.text == "every" {
        return parse_every_part(tokens, input);
    }
    match tokens.len() {
        1 => DateFilter::parse(&first.text)
            .map(|(f, _)| Part::Fragment(f))
            .map_err(|m| ScheduleError::new(m, col(first), input)),
        5 => {
            let fields = [
                tokens[0].text.as_str(),
                tokens[1].text.as_str(),
                tokens[2].text.as_str(),
                tokens[3].text.as_str(),
                tokens[4].text.as_str(),
            ];
            Cron::parse(fields)
                .map(Part::Cron)
                .map_err(|e| ScheduleError::new(e.message, col(&tokens[e.field]), input))
        }
        n => Err(ScheduleError::new(
            format!("expected a 5-field cron (minute hour day month weekday), found {n} fields"),
            col(first),
            input,
        )),
    }
}

fn parse_every_part(tokens: &[Token], input: &str) -> Result<Part, ScheduleError> {
    let col = |t: &Token| Some(column_of(input, t.start));
    if tokens.len() != 3 {
        let at = tokens.get(1).unwrap_or(&tokens[0]);
        return Err(ScheduleError::new(
            "bad interval: expected \"every N UNIT\", like \"every 5 minutes\"",
            col(at),
            input,
        ));
    }
    // Words typed by the user must be separated by exactly one space.
    for pair in tokens.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if !(a.expanded && a.start == b.start) && &input[a.end..b.start] != " " {
            return Err(ScheduleError::new(
                "bad interval: expected exactly one space between words",
                Some(column_of(input, a.end)),
                input,
            ));
        }
    }
    interval::parse_every(&tokens[1].text, &tokens[2].text)
        .map(Part::Every)
        .map_err(|(i, m)| ScheduleError::new(m, col(&tokens[1 + i]), input))
}

impl Schedule {
    /// The schedule string as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Evaluates this schedule in an IANA time zone (`Europe/Berlin`) instead of UTC,
    /// with the rules of [`tz_data`] (the system's zoneinfo, else the bundled copy).
    /// A schedule whose string names its zone (`… tz Europe/Berlin`) keeps it: the
    /// same zone again is fine, another one is an error (the zone is given once).
    pub fn in_zone(mut self, zone: &str) -> Result<Schedule, ScheduleError> {
        let tz = tz_data()
            .get(zone)
            .ok_or_else(|| ScheduleError::new(unknown_zone(zone), None, &self.text))?;
        if let Some((written, column)) = &self.written_zone {
            if self.tz.as_ref().and_then(|t| t.iana_name()) != tz.iana_name() {
                return Err(ScheduleError::new(
                    format!(
                        "a second time zone, {zone}, beside tz {written}: expected the zone in one place"
                    ),
                    Some(*column),
                    &self.text,
                ));
            }
        }
        self.tz = Some(tz);
        Ok(self)
    }

    /// The zone the schedule string itself names (`… tz Europe/Berlin`), if any.
    pub fn written_zone(&self) -> Option<&str> {
        self.written_zone.as_ref().map(|(name, _)| name.as_str())
    }

    /// The name of the zone the schedule is evaluated in (`UTC` unless set).
    pub fn zone_name(&self) -> &str {
        self.tz
            .as_ref()
            .and_then(|tz| tz.iana_name())
            .unwrap_or("UTC")
    }

    /// The shortest `every N UNIT` part, as elapsed time (a day counts 24 hours, a week
    /// 7 days); months, years, crons and fragments are ignored, and `None` means there is
    /// no such part. The language accepts any positive interval (`every 0.5 seconds`);
    /// this lets a caller such as the job layer set its own floor. For `a & b` it is
    /// the shorter of the two, which is conservative: the combination fires no more
    /// often than that.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let s = mrsm::parse_schedule("every 0.5 seconds | every 2 minutes")?;
    /// assert_eq!(s.shortest_interval(), Some(Duration::from_millis(500)));
    /// assert_eq!(mrsm::parse_schedule("0 9 * * *")?.shortest_interval(), None);
    /// # Ok::<(), mrsm::ScheduleError>(())
    /// ```
    pub fn shortest_interval(&self) -> Option<Duration> {
        self.parts
            .iter()
            .filter_map(|part| match part {
                Part::Every(Every::Exact(us) | Every::Days(us)) => u64::try_from(*us).ok(),
                _ => None,
            })
            .min()
            .map(Duration::from_micros)
    }

    /// The fire times of a job started at `now`: one catch-up fire at `now` when the
    /// schedule's first occurrence is already past, then every later occurrence. Fails
    /// only when the start phrase has no meaning at `now` (`starting 31st` in April).
    pub fn fire_times(&self, now: Timestamp) -> Result<FireTimes, ScheduleError> {
        let resolved = self.resolve(now.as_microsecond())?;
        Ok(FireTimes::new(resolved, now.as_microsecond()))
    }

    fn resolve(&self, now: i64) -> Result<Resolved, ScheduleError> {
        let zone = match (&self.tz, self.start.explicit_offset()) {
            (None, Some(offset)) => Zone::Fixed(offset),
            (Some(tz), _) => Zone::from_time_zone(tz),
            (None, None) => Zone::UTC,
        };
        let start = self
            .start
            .resolve(now, &zone)
            .map_err(|m| ScheduleError::new(format!("start time: {m}"), None, &self.text))?;
        let groups = match self.joiner {
            Joiner::All => vec![build_group(&self.parts, start, &zone)],
            Joiner::Any => self
                .parts
                .iter()
                .map(|p| build_group(std::slice::from_ref(p), start, &zone))
                .collect(),
        };
        Ok(Resolved {
            zone,
            start: start.instant,
            groups,
        })
    }
}

fn build_group(parts: &[Part], start: Anchor, zone: &Zone) -> Group {
    let mut group = Group {
        exact: None,
        wall: None,
        calendars: Vec::new(),
        cron: None,
        filter: DateFilter::default(),
        empty: false,
        period: None,
    };
    for part in parts {
        match part {
            Part::Every(Every::Exact(period)) => add_exact(&mut group.exact, start, *period),
            // Without transitions the local clock is elapsed time: the fast path.
            Part::Every(Every::Days(period)) => match zone {
                Zone::Fixed(_) => add_exact(&mut group.exact, start, *period),
                Zone::Tz(_) => match &mut group.wall {
                    Some(w) => w.readings.intersect_same_start(*period),
                    None => group.wall = Some(WallProgression::new(start, *period)),
                },
            },
            Part::Every(Every::Months(n)) => group.calendars.push(CalendarInterval::new(*n, start)),
            Part::Cron(c) => match &mut group.cron {
                Some(mine) => mine.intersect(c),
                None => group.cron = Some(c.clone()),
            },
            Part::Fragment(f) => group.filter.intersect(f),
        }
    }
    if group.exact.is_none()
        && group.wall.is_none()
        && group.calendars.is_empty()
        && group.cron.is_none()
    {
        // Fragments alone fire hourly at the start's minute and second.
        add_exact(&mut group.exact, start, civil::US_PER_HOUR);
    }
    group.simplify(zone);
    group
}

/// Adds `every period` (elapsed time from the start) to a group's exact progression.
fn add_exact(exact: &mut Option<Progression>, start: Anchor, period: i64) {
    match exact {
        Some(p) => p.intersect_same_start(period),
        None => {
            *exact = Some(Progression {
                first: start.instant,
                period: Some(period),
            })
        }
    }
}

/// A schedule bound to a zone and a start instant.
#[derive(Clone, Debug)]
struct Resolved {
    zone: Zone,
    start: i64,
    groups: Vec<Group>,
}

impl Resolved {
    /// The first occurrence at or after `t`.
    fn next_occurrence(&self, t: i64) -> Option<i64> {
        self.groups
            .iter()
            .filter_map(|g| g.next(t, self.start, &self.zone))
            .min()
    }
}

/// The fire times of a job, in order; empty when the schedule never fires.
#[derive(Clone, Debug)]
pub struct FireTimes {
    resolved: Resolved,
    pending: Option<i64>,
    cursor: Option<i64>,
    never: bool,
}

impl FireTimes {
    fn new(resolved: Resolved, now: i64) -> Self {
        let upcoming = resolved.next_occurrence(now);
        let pending = match upcoming {
            None => None,
            Some(next) => {
                let first = resolved.next_occurrence(resolved.start);
                match first {
                    Some(f) if f < now => Some(now),
                    _ => Some(next),
                }
            }
        };
        FireTimes {
            resolved,
            never: pending.is_none(),
            pending,
            cursor: None,
        }
    }

    /// Whether the schedule has no fire at all from its `now` on (decided up front,
    /// promptly, without searching the fires one by one).
    pub fn is_never(&self) -> bool {
        self.never
    }

    /// The same series, continuing from its first occurrence at or after `t`
    /// (without stepping through the fires before it): a schedule carried across a
    /// restart, or past fires missed while paused.
    pub fn resume_at(mut self, t: Timestamp) -> FireTimes {
        self.pending = self.resolved.next_occurrence(t.as_microsecond());
        self.cursor = None;
        self
    }
}

impl Iterator for FireTimes {
    type Item = Timestamp;

    fn next(&mut self) -> Option<Timestamp> {
        let at = match self.pending.take() {
            Some(at) => at,
            None => self
                .resolved
                .next_occurrence(self.cursor?.checked_add(1)?)?,
        };
        self.cursor = Some(at);
        match Timestamp::from_microsecond(at) {
            Ok(ts) => Some(ts),
            Err(_) => {
                self.cursor = None;
                None
            }
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_schedule(s)
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.zone_name() == other.zone_name()
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_schedule(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shortest(text: &str) -> Option<Duration> {
        parse_schedule(text)
            .unwrap_or_else(|e| panic!("{e}"))
            .shortest_interval()
    }

    #[test]
    fn shortest_interval_is_the_shortest_every_part() {
        assert_eq!(
            shortest("every 0.5 seconds"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            shortest("every 0.0001 seconds"),
            Some(Duration::from_micros(100))
        );
        assert_eq!(shortest("secondly"), Some(Duration::from_secs(1)));
        assert_eq!(
            shortest("every 90 minutes & mon-fri starting 09:00"),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            shortest("every 1.5 days"),
            Some(Duration::from_secs(129_600))
        );
        assert_eq!(
            shortest("weekly | every 3 hours"),
            Some(Duration::from_secs(3 * 3600))
        );
        assert_eq!(
            shortest("every 2 seconds & every 3 seconds"),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn calendar_units_crons_and_fragments_have_no_interval() {
        for text in [
            "monthly",
            "every 2 years",
            "*/1 * * * *",
            "mon-fri",
            "0 9 * * * | jun",
        ] {
            assert_eq!(shortest(text), None, "{text}");
        }
        // Months do not hide a shorter exact part.
        assert_eq!(
            shortest("monthly | every 10 seconds"),
            Some(Duration::from_secs(10))
        );
    }
}
