//! Occurrences of a resolved schedule: each `&` group is a leapfrog over its parts
//! (an exact progression, a wall-clock progression, calendar intervals, one merged
//! cron) filtered by dates; `|` takes the earliest group. Intersections that can never
//! meet are recognised by arithmetic rather than by searching.

use super::civil::{split_day, SEARCH_YEARS, US_PER_DAY, US_PER_HOUR, US_PER_MIN};
use super::cron::Cron;
use super::fragment::DateFilter;
use super::interval::{next_exact, CalendarInterval};
use super::wall::WallProgression;
use super::zone::{Segment, Zone};

/// The occurrences `first + k·period` (k ≥ 0); no period means `first` alone.
#[derive(Clone, Copy, Debug)]
pub struct Progression {
    pub first: i64,
    pub period: Option<i64>,
}

impl Progression {
    fn next(&self, t: i64) -> Option<i64> {
        match self.period {
            Some(p) => next_exact(self.first, p, t),
            None => (t <= self.first).then_some(self.first),
        }
    }

    /// Intersects with another progression that shares the same `first`.
    pub fn intersect_same_start(&mut self, period: i64) {
        self.period = self.period.and_then(|p| lcm(p, period));
    }
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a.abs()
    } else {
        gcd(b, a % b)
    }
}

fn lcm(a: i64, b: i64) -> Option<i64> {
    (a / gcd(a, b)).checked_mul(b)
}

/// The inverse of `a` modulo `m` (a and m coprime, m ≥ 1).
fn mod_inverse(a: i64, m: i64) -> i64 {
    let (mut old_r, mut r) = (i128::from(a.rem_euclid(m)), i128::from(m));
    let (mut old_s, mut s) = (1i128, 0i128);
    while r != 0 {
        let q = old_r / r;
        (old_r, r) = (r, old_r - q * r);
        (old_s, s) = (s, old_s - q * s);
    }
    old_s.rem_euclid(i128::from(m)) as i64
}

/// The members of `prog` congruent to `residue` modulo `modulus`, as a progression
/// from the first of them (`None` when there is none).
fn restrict(prog: Progression, residue: i64, modulus: i64) -> Option<Progression> {
    let r = (residue - prog.first).rem_euclid(modulus);
    let Some(p) = prog.period else {
        return (r == 0).then_some(prog);
    };
    // Solve k·p ≡ r (mod modulus) for the least k ≥ 0.
    let g = gcd(p, modulus);
    if r % g != 0 {
        return None;
    }
    let m = modulus / g;
    let k0 = (i128::from(r / g) * i128::from(mod_inverse(p / g, m))).rem_euclid(i128::from(m));
    let first = prog
        .first
        .checked_add(i64::try_from(k0).ok()?.checked_mul(p)?)?;
    Some(Progression {
        first,
        period: lcm(p, modulus),
    })
}

/// The part of an exact progression that can coincide with a cron's fires under a
/// constant UTC offset: crons fire on whole local minutes, so the progression must
/// reach them (`None` if it never does), and one stepping by whole days keeps a single
/// time of day, which the cron must allow.
fn meet(prog: Progression, cron: &Cron, offset: i64) -> Option<Progression> {
    let reduced = restrict(prog, -offset, US_PER_MIN)?;
    if let Some(p) = reduced.period {
        // Over one cycle of lcm(p, 1 day) the progression visits at most 1440 times of
        // day (p is a whole number of minutes); the cron must allow one of them.
        let visits = lcm(p, US_PER_DAY).map_or(i64::MAX, |q| q / p).min(1440);
        let step = i128::from(p.rem_euclid(US_PER_DAY));
        let base = i128::from(reduced.first) + i128::from(offset);
        let allowed = (0..visits).any(|r| {
            let tod = (base + i128::from(r) * step).rem_euclid(i128::from(US_PER_DAY)) as i64;
            cron.allows_time((tod / US_PER_HOUR) as u32, ((tod / US_PER_MIN) % 60) as u32)
        });
        if !allowed {
            return None;
        }
    }
    Some(reduced)
}

/// The first instant at or after `t` that is a fire of both `wall` and `prog`, or
/// `None` past `horizon`. Over a stretch of constant offset the wall's fires (except a
/// gap's end) are the progression of its readings shifted by the offset, so where the
/// two meet in that stretch is a matter of congruences: each stretch costs a few steps
/// however rarely, or never, the two coincide.
fn wall_and_exact_next(
    wall: &WallProgression,
    prog: Progression,
    t: i64,
    zone: &Zone,
    horizon: i64,
    cache: &mut Option<Segment>,
) -> Option<i64> {
    let mut c = t;
    loop {
        let w = wall.next(c, zone)?;
        let x = prog.next(w)?;
        if x == w {
            return Some(w);
        }
        c = x;
        if c > horizon {
            return None;
        }
        let seg = segment_at(zone, c, cache);
        let Some(period) = wall.readings.period else {
            continue;
        };
        if seg.begins_with_gap() && seg.start == Some(c) {
            // The gap's end is a wall fire off the grid: let the step above test it.
            continue;
        }
        let candidate =
            restrict(prog, wall.readings.first - seg.offset, period).and_then(|both| both.next(c));
        c = match (candidate, seg.end) {
            (Some(n), Some(end)) if n < end => n,
            (Some(n), None) => n,
            (_, end) => end?,
        };
    }
}

/// One `&` group: every part must hold at the same instant.
#[derive(Clone, Debug)]
pub struct Group {
    pub exact: Option<Progression>,
    /// Days and weeks on the local clock of a zone with transitions.
    pub wall: Option<WallProgression>,
    pub calendars: Vec<CalendarInterval>,
    pub cron: Option<Cron>,
    pub filter: DateFilter,
    /// Known to have no occurrence at all.
    pub empty: bool,
    /// When set, the group repeats with this period, so a search needs to look no
    /// further than one period ahead.
    pub period: Option<i64>,
}

impl Group {
    /// Settles what arithmetic can: an exact progression meeting a cron must land on
    /// whole minutes, at times of day the cron allows (see [`meet`]). In a
    /// fixed zone this is decided once here; zones with transitions check it per
    /// stretch of constant offset while searching (see [`Group::next`]).
    pub fn simplify(&mut self, zone: &Zone) {
        if let (Some(wall), Some(cron)) = (&mut self.wall, &self.cron) {
            // Both are local readings: they meet where their readings do.
            match meet(wall.readings, cron, 0) {
                None => self.empty = true,
                Some(reduced) => wall.narrow(reduced, zone),
            }
        }
        let (Some(prog), Some(cron), Zone::Fixed(offset)) = (self.exact, self.cron.as_ref(), zone)
        else {
            return;
        };
        match meet(prog, cron, *offset) {
            None => self.empty = true,
            Some(reduced) => {
                self.exact = Some(reduced);
                // Everything else repeating every day or week makes the whole group
                // periodic: one period without a match means no match ever.
                let days = match (cron.day_period(), self.filter.day_period()) {
                    (Some(a), Some(b)) if self.calendars.is_empty() => Some(a.max(b)),
                    _ => None,
                };
                if let (Some(days), Some(p)) = (days, reduced.period) {
                    self.period = lcm(p, days * US_PER_DAY).and_then(|q| q.checked_add(p));
                }
            }
        }
    }

    /// The first occurrence at or after `t` (and at or after `start`), if any.
    pub fn next(&self, t: i64, start: i64, zone: &Zone) -> Option<i64> {
        if self.empty {
            return None;
        }
        let mut c = t.max(start);
        let mut segment: Option<Segment> = None;
        let horizon = match self.period {
            Some(q) => c.checked_add(q)?,
            None => c.saturating_add(SEARCH_YEARS * 366 * US_PER_DAY),
        };
        loop {
            if let (Some(prog), Some(cron), Zone::Tz(_)) = (self.exact, &self.cron, zone) {
                // Skip stretches of constant offset in which the two can never meet.
                let seg = segment_at(zone, c, &mut segment);
                if meet(prog, cron, seg.offset).is_none() {
                    c = seg.end?;
                    if c > horizon {
                        return None;
                    }
                    continue;
                }
            }
            // Leapfrog until every part agrees on `c`.
            let mut moved = true;
            while moved {
                moved = false;
                let n = match (&self.exact, &self.wall) {
                    (Some(p), Some(w)) => {
                        wall_and_exact_next(w, *p, c, zone, horizon, &mut segment)?
                    }
                    (Some(p), None) => p.next(c)?,
                    (None, Some(w)) => w.next(c, zone)?,
                    (None, None) => c,
                };
                moved |= n != c;
                c = n;
                for cal in &self.calendars {
                    let n = cal.next(c, zone)?;
                    moved |= n != c;
                    c = n;
                }
                if let Some(cron) = &self.cron {
                    let n = cron_next(cron, zone, c, &mut segment)?;
                    moved |= n != c;
                    c = n;
                }
                if c > horizon {
                    return None;
                }
            }
            if self.filter.is_trivial() {
                return Some(c);
            }
            let (day, _) = split_day(zone.to_local(c));
            if self.filter.matches(day) {
                return Some(c);
            }
            let next_day = self.filter.next_day(day + 1)?;
            c = zone.instant_of_local(next_day * US_PER_DAY).max(c + 1);
        }
    }
}

/// The stretch of constant offset containing `t`, reusing the last one looked up
/// when it still applies (zone lookups far from the present are not cheap).
fn segment_at(zone: &Zone, t: i64, cache: &mut Option<Segment>) -> Segment {
    if let Some(seg) = *cache {
        let after_start = seg.start.is_none_or(|s| s <= t);
        let before_end = seg.end.is_none_or(|e| t < e);
        if after_start && before_end {
            return seg;
        }
    }
    let seg = zone.segment(t);
    *cache = Some(seg);
    seg
}

/// The first instant at or after `t` at which the cron matches the local clock of
/// `zone`, applying the DST rules: a match inside a gap fires when the gap ends, and a
/// repeated hour fires again only when the cron's hour field allows every hour.
pub fn cron_next(cron: &Cron, zone: &Zone, t: i64, cache: &mut Option<Segment>) -> Option<i64> {
    if let Zone::Fixed(offset) = zone {
        return cron.next_local(t + offset).map(|l| l - offset);
    }
    let mut t = t;
    loop {
        let seg = segment_at(zone, t, cache);
        if let Some(s) = seg.start {
            if seg.begins_with_gap() && t == s {
                let (from, to) = (s + seg.prev_offset, s + seg.offset);
                if cron.next_local(from).is_some_and(|l| l < to) {
                    return Some(s);
                }
            }
        }
        let mut local = t + seg.offset;
        if let (Some(s), true) = (seg.start, seg.begins_with_fold() && !cron.hour_any) {
            local = local.max(s + seg.prev_offset);
        }
        let instant = cron.next_local(local)? - seg.offset;
        match seg.end {
            Some(end) if instant >= end => t = end,
            _ => return Some(instant),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modular_inverse() {
        assert_eq!(mod_inverse(3, 7), 5);
        assert_eq!(mod_inverse(1, 1), 0);
        assert_eq!(lcm(4, 6), Some(12));
    }

    #[test]
    fn restrict_keeps_the_members_of_a_residue_class() {
        let every6 = Progression {
            first: 0,
            period: Some(6),
        };
        // 0, 6, 12, 18, 24 …: 24 is the first ≡ 4 (mod 10), then every 30.
        let r = restrict(every6, 4, 10).expect("members exist");
        assert_eq!((r.first, r.period), (24, Some(30)));
        // Even numbers are never odd.
        assert!(restrict(every6, 1, 4).is_none());
        let single = Progression {
            first: 14,
            period: None,
        };
        assert!(restrict(single, 4, 10).is_some());
        assert!(restrict(single, 5, 10).is_none());
    }
}
