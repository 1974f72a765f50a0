//! Properties of the schedule engine over generated schedules: the parser never panics,
//! fire times strictly increase, and restarting at any fire continues the same series.

use jiff::Timestamp;
use proptest::prelude::*;

/// A cron field item for a field whose values run from `lo` to `hi`.
fn item(lo: u32, hi: u32) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_string()),
        (lo..=hi).prop_map(|v| v.to_string()),
        (lo..=hi, lo..=hi).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        (1..=hi.max(2)).prop_map(|s| format!("*/{s}")),
        (lo..=hi, 1..=5u32).prop_map(|(a, s)| format!("{a}/{s}")),
    ]
}

fn field(lo: u32, hi: u32) -> impl Strategy<Value = String> {
    prop::collection::vec(item(lo, hi), 1..3).prop_map(|v| v.join(","))
}

fn cron() -> impl Strategy<Value = String> {
    (
        field(0, 59),
        field(0, 23),
        field(1, 31),
        field(1, 12),
        prop_oneof![field(0, 7), Just("mon-fri".into()), Just("sat-sun".into())],
    )
        .prop_map(|(a, b, c, d, e)| format!("{a} {b} {c} {d} {e}"))
}

fn interval() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            1..=120u32,
            prop::sample::select(vec!["seconds", "minutes", "hours", "days", "weeks"])
        )
            .prop_map(|(n, u)| format!("every {n} {u}")),
        (1..=18u32, prop::sample::select(vec!["months", "years"]))
            .prop_map(|(n, u)| format!("every {n} {u}")),
        prop::sample::select(vec![
            "secondly", "minutely", "hourly", "daily", "weekly", "monthly", "yearly"
        ])
        .prop_map(str::to_string),
        Just("every 1.5 hours".to_string()),
    ]
}

fn fragment() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "mon-fri",
        "sat-sun",
        "fri-mon",
        "jun-aug",
        "nov-feb",
        "2025",
        "2024-2030",
        "tue,thu",
    ])
    .prop_map(str::to_string)
}

/// Schedules whose series does not depend on `now` beyond its catch-up: an absolute
/// start (day ≤ 28, so month clamping cannot re-anchor) or a cron.
fn anchored_schedule() -> impl Strategy<Value = String> {
    let part = prop_oneof![3 => interval(), 2 => cron(), 1 => fragment()];
    (
        prop::collection::vec(part, 1..3),
        prop::bool::ANY,
        2020..2030i32,
        1..=12u32,
        1..=28u32,
        0..24u32,
        0..60u32,
    )
        .prop_map(|(parts, any, y, m, d, h, mi)| {
            let joiner = if any { " | " } else { " & " };
            format!(
                "{} starting {y}-{m:02}-{d:02} {h:02}:{mi:02}",
                parts.join(joiner)
            )
        })
}

fn zone() -> impl Strategy<Value = Option<&'static str>> {
    prop::sample::select(vec![
        None,
        Some("America/New_York"),
        Some("Europe/Berlin"),
        Some("Asia/Kolkata"),
    ])
}

fn instant() -> impl Strategy<Value = Timestamp> {
    // 2019 to 2031, to the microsecond.
    (1_546_300_800_000_000i64..1_924_992_000_000_000)
        .prop_map(|us| Timestamp::from_microsecond(us).expect("in range"))
}

fn fire_list(text: &str, zone: Option<&str>, now: Timestamp, n: usize) -> Option<Vec<Timestamp>> {
    let mut s = mrsm::parse_schedule(text).ok()?;
    if let Some(z) = zone {
        s = s.in_zone(z).expect("known zone");
    }
    Some(s.fire_times(now).ok()?.take(n).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_any_text(text in any::<String>()) {
        let _ = mrsm::parse_schedule(&text);
    }

    #[test]
    fn parser_never_panics_on_word_soup(words in prop::collection::vec(prop::sample::select(vec![
        "every", "1", "0.5", "seconds", "day", "months", "starting", "beginning", "&", "|", "and", "or",
        "mon-fri", "*", "*/5", "0", "29", "2", "sun", "jan-mar", "tomorrow", "today", "at", "12:15",
        "PM", "2nd", "2024-02-29", "in", "hours", "now", "-", "through", "+05:30", "Z", "May", "2,", "2024",
    ]), 0..10)) {
        let text = words.join(" ");
        if let Ok(s) = mrsm::parse_schedule(&text) {
            let now: Timestamp = "2024-05-01T12:34:56Z".parse().expect("instant");
            if let Ok(fires) = s.fire_times(now) {
                let _ = fires.take(5).count();
            }
        }
    }

    #[test]
    fn fire_times_strictly_increase(text in anchored_schedule(), zone in zone(), now in instant()) {
        if let Some(fires) = fire_list(&text, zone, now, 25) {
            for pair in fires.windows(2) {
                prop_assert!(pair[0] < pair[1], "{text:?} in {zone:?}: {} then {}", pair[0], pair[1]);
            }
            if let Some(first) = fires.first() {
                prop_assert!(*first >= now, "{text:?}: first fire {first} before now {now}");
            }
        }
    }

    #[test]
    fn restarting_at_a_fire_continues_the_series(
        text in anchored_schedule(),
        zone in zone(),
        now in instant(),
        pick in 1usize..8,
    ) {
        let Some(fires) = fire_list(&text, zone, now, 16) else { return Ok(()) };
        if fires.len() <= pick { return Ok(()) }
        let restart = fires[pick];
        let again = fire_list(&text, zone, restart, 16 - pick).expect("still valid");
        prop_assert_eq!(&again[..], &fires[pick..], "{} in {:?} restarted at {}", text, zone, restart);
    }

    #[test]
    fn crons_without_start_restart_cleanly(text in cron(), zone in zone(), now in instant(), pick in 0usize..6) {
        let Some(fires) = fire_list(&text, zone, now, 12) else { return Ok(()) };
        if fires.len() <= pick { return Ok(()) }
        let again = fire_list(&text, zone, fires[pick], 12 - pick).expect("still valid");
        prop_assert_eq!(&again[..], &fires[pick..], "{}", text);
    }
}

/// Guards the properties above against passing vacuously: most generated schedules
/// must parse, resolve and fire.
#[test]
fn generated_schedules_mostly_fire() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let strategy = (anchored_schedule(), zone());
    let now: Timestamp = "2025-01-01T00:00:00Z".parse().expect("instant");
    let mut firing = 0;
    for _ in 0..200 {
        let (text, zone) = strategy.new_tree(&mut runner).expect("generates").current();
        if fire_list(&text, zone, now, 3).is_some_and(|f| f.len() == 3) {
            firing += 1;
        }
    }
    assert!(
        firing >= 120,
        "only {firing} of 200 generated schedules fire"
    );
}

/// The wall time `hour:minute` on `date` in `tz`: the instant it is read at (the first
/// one when it is read twice), or the end of the gap when it is never read.
fn wall_time(tz: &jiff::tz::TimeZone, date: jiff::civil::Date, hour: i8, minute: i8) -> Timestamp {
    use jiff::tz::AmbiguousOffset;
    let dt = date.at(hour, minute, 0, 0);
    match tz.to_ambiguous_timestamp(dt).offset() {
        AmbiguousOffset::Unambiguous { offset } | AmbiguousOffset::Fold { before: offset, .. } => {
            offset.to_timestamp(dt).expect("in range")
        }
        AmbiguousOffset::Gap { before, .. } => {
            // The gap's transition is the first one in the 3 hours before the instant
            // this reading would have at the old offset (no gap lasts longer).
            let at_old_offset = before.to_timestamp(dt).expect("in range");
            tz.following(at_old_offset - jiff::SignedDuration::from_hours(3))
                .next()
                .map(|t| t.timestamp())
                .expect("a transition ends the gap")
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// `every N days|weeks` in a zone with DST: every fire after the first is N days (or
    /// weeks) of the local calendar after the previous one, at the start's wall time,
    /// or at the end of the gap when that wall time does not exist that day.
    #[test]
    fn days_in_a_dst_zone_keep_the_start_wall_time(
        n in 1..=3i64,
        weeks in prop::bool::ANY,
        zone in prop::sample::select(vec!["America/New_York", "Europe/Berlin", "Australia/Lord_Howe"]),
        start_day in 0..3650i64,
        hour in 0..24i8,
        minute in prop::sample::select(vec![0i8, 15, 30, 59]),
    ) {
        let tz = jiff::tz::TimeZone::get(zone).expect("tzdb");
        let first = jiff::civil::date(2020, 1, 1) + jiff::Span::new().days(start_day);
        let unit = if weeks { "weeks" } else { "days" };
        let text = format!("every {n} {unit} starting {first} {hour:02}:{minute:02}");
        let now = Timestamp::from_second(1_577_836_800 - 86_400).expect("instant");
        let fires = fire_list(&text, Some(zone), now, 40).expect("valid");
        prop_assert_eq!(fires.len(), 40);
        let step = if weeks { 7 * n } else { n };
        for (k, fire) in fires.iter().enumerate() {
            let date = first + jiff::Span::new().days(step * k as i64);
            prop_assert_eq!(*fire, wall_time(&tz, date, hour, minute), "{} fire {}", text, k);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// `every N days & every M UNIT` in a DST zone fires exactly at the wall-clock days
    /// that are also on the elapsed-time grid from the start (checked fire by fire
    /// against the days alone).
    #[test]
    fn days_and_elapsed_intervals_meet_where_both_fire(
        days in prop::sample::select(vec!["1", "2", "0.5", "1.5", "7"]),
        every in prop::sample::select(vec!["6 hours", "12 hours", "90 minutes", "5 hours", "1 hours", "48 hours"]),
        zone in prop::sample::select(vec!["America/New_York", "Europe/Berlin"]),
        start_day in 0..2000i64,
        hour in 0..24i8,
    ) {
        let first = jiff::civil::date(2020, 1, 1) + jiff::Span::new().days(start_day);
        let start = format!("starting {first} {hour:02}:00");
        let now = Timestamp::from_second(1_577_836_800 - 86_400).expect("instant");
        let both = fire_list(&format!("every {days} days & every {every} {start}"), Some(zone), now, 6)
            .expect("valid");
        let grid = fire_list(&format!("every {every} {start}"), Some(zone), now, 1).expect("valid")[0];
        let period = fire_list(&format!("every {every} {start}"), Some(zone), now, 2).expect("valid");
        let step = period[1].as_microsecond() - period[0].as_microsecond();
        let expected: Vec<Timestamp> = fire_list(&format!("every {days} days {start}"), Some(zone), now, 3000)
            .expect("valid")
            .into_iter()
            .filter(|f| (f.as_microsecond() - grid.as_microsecond()).rem_euclid(step) == 0)
            .take(6)
            .collect();
        if expected.len() == 6 {
            prop_assert_eq!(both, expected, "every {} days & every {} {} in {}", days, every, start, zone);
        } else {
            // Fewer meetings within the days listed: the combination agrees on those.
            prop_assert_eq!(&both[..expected.len()], &expected[..]);
        }
    }
}
