//! `mrsm show schedule SCHEDULE [N]`: a preview of a schedule's next fire times.

use std::io::Write;

use anyhow::Context;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::UsageError;
use crate::schedule::{parse_schedule, tz_data};

/// Arguments of `show schedule`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The schedule, e.g. 'every 30 minutes starting 00:00', '0 9 * * mon-fri', 'daily & jun-aug'.
    schedule: String,
    /// How many fire times to print.
    #[arg(default_value_t = 5)]
    count: usize,
    /// Evaluate as if the job started at this instant (RFC 3339, e.g. 2024-05-01T12:00:00Z).
    #[arg(long, value_name = "RFC3339")]
    now: Option<String>,
    /// Evaluate the schedule in this IANA time zone (default UTC; the same as a
    /// `tz ZONE` at the end of the schedule, and refused beside another one).
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// Print a JSON array of RFC 3339 UTC instants instead of text.
    #[arg(long)]
    json: bool,
}

/// Prints the next fire times.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    let now = match &args.now {
        Some(text) => text
            .parse::<Timestamp>()
            .map_err(|e| UsageError(format!("--now {text:?} is not an RFC 3339 instant: {e}")))?,
        None => Timestamp::now(),
    };
    let mut schedule = parse_schedule(&args.schedule).map_err(|e| UsageError(e.to_string()))?;
    if let Some(tz) = &args.tz {
        schedule = schedule
            .in_zone(tz)
            .map_err(|e| UsageError(e.to_string()))?;
    }
    // Three at least, to tell a catch-up fire's neighbour (below).
    let ahead: Vec<Timestamp> = schedule
        .fire_times(now)
        .map_err(|e| UsageError(e.to_string()))?
        .take(args.count.max(3))
        .collect();
    let fires = &ahead[..args.count.min(ahead.len())];

    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<String> = fires.iter().map(|t| t.to_string()).collect();
        writeln!(out, "{}", serde_json::to_string(&list)?)?;
        return Ok(0);
    }
    // Nothing asked is not a schedule that never fires.
    if fires.is_empty() && ahead.is_empty() {
        writeln!(
            out,
            "Schedule '{}' never fires at or after {now}.",
            schedule.as_str()
        )?;
        return Ok(0);
    }
    // The zone of `--tz` or of the string's own `tz ZONE`.
    let zone = match schedule.zone_name() {
        "UTC" => TimeZone::UTC,
        name => tz_data()
            .get(name)
            .with_context(|| format!("time zone {name}"))?,
    };
    writeln!(
        out,
        "Next {} timestamps for schedule '{}':\n",
        fires.len(),
        schedule.as_str()
    )?;
    // A catch-up fire (the start is past: it fires now) and a regular fire a
    // moment later are one run of a job: said beside the second.
    let caught_up = fires.first().filter(|f| **f <= now).copied();
    for (i, fire) in fires.iter().enumerate() {
        let local = fire.to_zoned_datetime(zone.clone());
        let note = match caught_up {
            Some(first)
                if i == 1 && crate::schedule::coalesced(first, *fire, ahead.get(2).copied()) =>
            {
                "  (a job runs this one with the catch-up fire before it)"
            }
            _ => "",
        };
        writeln!(out, "  {}{note}", local.strftime("%Y-%m-%d %H:%M:%S%.f%:z"))?;
    }
    Ok(0)
}
