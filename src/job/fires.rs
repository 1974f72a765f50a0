//! A job's next fire times, as its supervisor computes them: its schedule in its
//! time zone, anchored where its supervisor began (so `starting tomorrow` means the
//! day after that), from its next fire on (or from now). The dashboard lists them.

use jiff::Timestamp;

use super::JobInfo;
use crate::schedule::{parse_schedule, ScheduleError};

impl JobInfo {
    /// Up to `count` fire times from the job's next one (or, when it has none, the
    /// schedule's from `now`); none when it has no schedule.
    pub fn upcoming_fires(
        &self,
        count: usize,
        now: Timestamp,
    ) -> Result<Vec<Timestamp>, ScheduleError> {
        let Some(text) = &self.schedule else {
            return Ok(Vec::new());
        };
        let mut schedule = parse_schedule(text)?;
        if let Some(zone) = &self.timezone {
            schedule = schedule.in_zone(zone)?;
        }
        let Some(next) = self.next_fire else {
            return Ok(schedule.fire_times(now)?.take(count).collect());
        };
        // The supervisor's series: anchored at its start, taken up after its next
        // fire (which may be a catch-up fire of its own, outside the series).
        let after = next + jiff::SignedDuration::from_micros(1);
        let series = schedule
            .fire_times(self.began.unwrap_or(now))?
            .resume_at(after);
        Ok(std::iter::once(next).chain(series).take(count).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().expect("a time")
    }

    fn scheduled(schedule: &str, began: &str, next: Option<&str>) -> JobInfo {
        let mut info = JobInfo::broken("j", String::new(), None, "local");
        info.schedule = Some(schedule.to_string());
        info.began = Some(at(began));
        info.next_fire = next.map(at);
        info
    }

    #[test]
    fn a_start_phrase_counts_from_where_the_supervisor_began() {
        let job = scheduled(
            "daily starting tomorrow 02:00",
            "2026-12-07T08:00:00Z",
            Some("2026-12-08T02:00:00Z"),
        );
        let fires = job
            .upcoming_fires(3, at("2026-12-07T09:00:00Z"))
            .expect("fires");
        assert_eq!(
            fires,
            [
                at("2026-12-08T02:00:00Z"),
                at("2026-12-09T02:00:00Z"),
                at("2026-12-10T02:00:00Z")
            ]
        );
    }

    #[test]
    fn a_catch_up_fire_comes_first_then_the_series() {
        let job = scheduled(
            "every 10 minutes starting 00:00",
            "2026-12-07T08:03:00Z",
            Some("2026-12-07T08:03:00Z"),
        );
        let fires = job
            .upcoming_fires(3, at("2026-12-07T08:03:00Z"))
            .expect("fires");
        assert_eq!(
            fires,
            [
                at("2026-12-07T08:03:00Z"),
                at("2026-12-07T08:10:00Z"),
                at("2026-12-07T08:20:00Z")
            ]
        );
        let none = JobInfo::broken("j", String::new(), None, "local");
        assert!(none
            .upcoming_fires(3, at("2026-12-07T08:03:00Z"))
            .expect("none")
            .is_empty());
    }
}
