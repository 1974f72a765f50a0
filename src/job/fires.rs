//! A job's next fire times, as its supervisor would compute them: its schedule in
//! its time zone, from its next fire (or from now). The dashboard lists them.

use jiff::Timestamp;

use super::JobInfo;
use crate::schedule::{parse_schedule, ScheduleError};

impl JobInfo {
    /// Up to `count` fire times from the job's next one (or from `now`), or none
    /// when it has no schedule.
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
        Ok(schedule
            .fire_times(self.next_fire.unwrap_or(now))?
            .take(count)
            .collect())
    }
}
