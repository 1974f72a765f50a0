//! Schedule engine speed: parse time per schedule, next-fire throughput for an
//! interval, a cron and an `&` combination, and how fast "never" is answered.
//!
//! Baseline measured in the same run: one jiff timestamp-to-civil conversion in UTC,
//! the least work any "next fire" must do. Run with `cargo bench --bench schedule`.
//! Timestamps are parsed once, outside every timed loop.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use jiff::tz::TimeZone;
use jiff::Timestamp;

const SCHEDULES: [&str; 8] = [
    "every 30 minutes starting 00:00",
    "daily and mon-fri starting May 2, 2024",
    "*/15 9-17 * * mon-fri",
    "0 0,6,12,18 * jun-aug mon-fri",
    "every 6 hours & mon-fri & jun-aug & 2024 starting 2024-06-03",
    "weekly starting Monday at 12:15 PM",
    "0 9 * * mon-fri | 0 12 * * sat,sun",
    "monthly starting 2nd",
];

/// The job start every benchmark uses (parsed once per benchmark, never while timing).
fn now() -> Timestamp {
    "2024-05-01T12:34:56Z".parse().expect("instant")
}

fn baseline(c: &mut Criterion) {
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(1));
    let mut t = now();
    let step = jiff::SignedDuration::from_secs(61);
    group.bench_function("jiff_utc_to_civil", |b| {
        b.iter(|| {
            t = t.checked_add(step).expect("in range");
            black_box(TimeZone::UTC.to_datetime(black_box(t)))
        })
    });
    group.finish();
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(SCHEDULES.len() as u64));
    group.bench_function("8_schedules", |b| {
        b.iter(|| {
            for s in SCHEDULES {
                black_box(mrsm::parse_schedule(black_box(s)).expect("valid"));
            }
        })
    });
    group.finish();
}

fn next_fire(c: &mut Criterion) {
    let mut group = c.benchmark_group("next_fire");
    group.throughput(Throughput::Elements(1));
    let now = now();
    for (name, text, zone) in [
        ("interval", "every 10 seconds", None),
        ("cron", "*/15 9-17 * * mon-fri", None),
        (
            "cron_new_york",
            "*/15 9-17 * * mon-fri",
            Some("America/New_York"),
        ),
        ("and_combination", "every 1.5 hours & mon-fri", None),
        ("or_crons", "0 9 * * mon-fri | 0 12 * * sat,sun", None),
        // Days on the local clock of a zone with DST.
        ("daily_new_york", "daily", Some("America/New_York")),
    ] {
        let mut schedule = mrsm::parse_schedule(text).expect("valid");
        if let Some(z) = zone {
            schedule = schedule.in_zone(z).expect("zone");
        }
        let mut fires = schedule.fire_times(now).expect("resolves");
        group.bench_function(name, |b| {
            b.iter(|| match fires.next() {
                Some(t) => black_box(t),
                // Millions of fires can run past the year 9999; start over (rarely).
                None => {
                    fires = schedule.fire_times(now).expect("resolves");
                    black_box(fires.next().expect("fires"))
                }
            })
        });
    }
    group.finish();
}

fn never(c: &mut Criterion) {
    let mut group = c.benchmark_group("never");
    let now = now();
    for (name, text, zone) in [
        ("impossible_date", "0 0 30 2 *", None),
        ("past_year", "hourly & 2023", None),
        ("disjoint_and", "daily & 0 14 * * *", None),
        (
            "disjoint_and_new_york",
            "daily & 0 14 * * *",
            Some("America/New_York"),
        ),
        ("disjoint_crons", "0 9 * * * & 0 10 * * *", None),
    ] {
        let mut schedule = mrsm::parse_schedule(text).expect("valid");
        if let Some(z) = zone {
            schedule = schedule.in_zone(z).expect("zone");
        }
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut fires = schedule.fire_times(black_box(now)).expect("resolves");
                assert!(fires.next().is_none());
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = baseline, parse, next_fire, never
}
criterion_main!(benches);
