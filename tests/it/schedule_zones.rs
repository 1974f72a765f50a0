//! Schedules evaluated in time zones: DST gaps and folds in New York and Berlin, a leap
//! day and a year boundary.

use jiff::Timestamp;

fn fires(schedule: &str, zone: Option<&str>, now: &str, n: usize) -> Vec<String> {
    let mut s = mrsm::parse_schedule(schedule).expect("valid schedule");
    if let Some(z) = zone {
        s = s.in_zone(z).expect("known zone");
    }
    let now: Timestamp = now.parse().expect("RFC 3339");
    s.fire_times(now)
        .expect("resolves")
        .take(n)
        .map(|t| t.to_string())
        .collect()
}

const NY: Option<&str> = Some("America/New_York");
const BERLIN: Option<&str> = Some("Europe/Berlin");

#[test]
fn new_york_spring_gap_fires_when_the_gap_ends() {
    // 02:30 does not exist on 2024-03-10; the first instant after the gap is 03:00 EDT.
    assert_eq!(
        fires("30 2 * * *", NY, "2024-03-09T12:00:00Z", 3),
        [
            "2024-03-10T07:00:00Z",
            "2024-03-11T06:30:00Z",
            "2024-03-12T06:30:00Z"
        ]
    );
    // Every minute of the gap maps to the same instant, which fires once.
    assert_eq!(
        fires("*/20 2 * * *", NY, "2024-03-10T06:00:00Z", 2),
        ["2024-03-10T07:00:00Z", "2024-03-11T06:00:00Z"]
    );
}

#[test]
fn new_york_fold_fixed_time_fires_once() {
    assert_eq!(
        fires("30 1 * * *", NY, "2024-11-02T12:00:00Z", 3),
        [
            "2024-11-03T05:30:00Z",
            "2024-11-04T06:30:00Z",
            "2024-11-05T06:30:00Z"
        ]
    );
}

#[test]
fn new_york_fold_every_hour_fires_through_both_copies() {
    assert_eq!(
        fires("30 * * * *", NY, "2024-11-03T04:00:00Z", 4),
        [
            "2024-11-03T04:30:00Z", // 00:30 EDT
            "2024-11-03T05:30:00Z", // 01:30 EDT
            "2024-11-03T06:30:00Z", // 01:30 EST
            "2024-11-03T07:30:00Z", // 02:30 EST
        ]
    );
}

#[test]
fn intervals_count_absolute_time_across_dst() {
    assert_eq!(
        fires(
            "every 1 hour starting 2024-11-03 00:00",
            NY,
            "2024-11-03T04:00:00Z",
            4
        ),
        [
            "2024-11-03T04:00:00Z",
            "2024-11-03T05:00:00Z",
            "2024-11-03T06:00:00Z",
            "2024-11-03T07:00:00Z"
        ]
    );
    // 24 hours are not a day: 09:00 EST becomes 10:00 EDT after spring forward.
    assert_eq!(
        fires(
            "every 24 hours starting 2024-03-09 09:00",
            NY,
            "2024-03-09T00:00:00Z",
            2
        ),
        ["2024-03-09T14:00:00Z", "2024-03-10T14:00:00Z"]
    );
    // Hours stay hours: 36 of them cross the spring change as 36 elapsed hours.
    assert_eq!(
        fires(
            "every 36 hours starting 2024-03-09 09:00",
            NY,
            "2024-03-09T00:00:00Z",
            3
        ),
        [
            "2024-03-09T14:00:00Z",
            "2024-03-11T02:00:00Z",
            "2024-03-12T14:00:00Z"
        ]
    );
}

#[test]
fn berlin_transitions() {
    // Spring: 02:00 CET does not exist on 2024-03-31; 03:00 CEST is 01:00 UTC.
    assert_eq!(
        fires("0 2 * * *", BERLIN, "2024-03-30T12:00:00Z", 2),
        ["2024-03-31T01:00:00Z", "2024-04-01T00:00:00Z"]
    );
    // Autumn: 02:15 happens twice on 2024-10-27; it fires at the first (CEST).
    assert_eq!(
        fires("15 2 * * *", BERLIN, "2024-10-26T12:00:00Z", 2),
        ["2024-10-27T00:15:00Z", "2024-10-28T01:15:00Z"]
    );
    // Calendar months keep wall time; a wall time in the gap fires as the gap ends.
    assert_eq!(
        fires(
            "monthly starting 2024-01-31 02:30",
            BERLIN,
            "2024-01-01T00:00:00Z",
            4
        ),
        [
            "2024-01-31T01:30:00Z",
            "2024-02-29T01:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-04-30T00:30:00Z"
        ]
    );
}

#[test]
fn start_phrases_are_read_in_the_zone() {
    assert_eq!(
        fires(
            "daily starting tomorrow 09:00",
            BERLIN,
            "2024-07-01T12:00:00Z",
            2
        ),
        ["2024-07-02T07:00:00Z", "2024-07-03T07:00:00Z"]
    );
    // Cron fields follow local time: 09:00 Berlin is 08:00 UTC in winter, 07:00 in summer.
    assert_eq!(
        fires("0 9 * * *", BERLIN, "2024-03-30T09:00:00Z", 2),
        ["2024-03-31T07:00:00Z", "2024-04-01T07:00:00Z"]
    );
}

#[test]
fn leap_days() {
    assert_eq!(
        fires("0 12 29 2 *", None, "2023-06-01T00:00:00Z", 2),
        ["2024-02-29T12:00:00Z", "2028-02-29T12:00:00Z"]
    );
    assert_eq!(
        fires(
            "yearly starting 2024-02-29",
            None,
            "2024-01-01T00:00:00Z",
            5
        ),
        [
            "2024-02-29T00:00:00Z",
            "2025-02-28T00:00:00Z",
            "2026-02-28T00:00:00Z",
            "2027-02-28T00:00:00Z",
            "2028-02-29T00:00:00Z"
        ]
    );
}

#[test]
fn year_boundary() {
    assert_eq!(
        fires("0 0 1 1 *", None, "2024-12-31T23:59:59.5Z", 2),
        ["2025-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]
    );
    assert_eq!(
        fires("hourly & 2025", None, "2024-12-31T22:30:00Z", 2),
        ["2025-01-01T00:30:00Z", "2025-01-01T01:30:00Z"]
    );
    assert_eq!(
        fires("0 0 1 1 *", NY, "2024-12-31T12:00:00Z", 1),
        ["2025-01-01T05:00:00Z"]
    );
}

#[test]
fn unknown_zone_is_an_error() {
    let err = mrsm::parse_schedule("daily")
        .expect("valid")
        .in_zone("Mars/Olympus_Mons")
        .expect_err("no such zone");
    assert!(err.to_string().contains("unknown time zone"), "{err}");
}

#[test]
fn disjoint_parts_in_a_dst_zone_end_without_a_long_search() {
    // Found by the fuzzer: a start in 1491 is read in New York's local mean time
    // (UTC-4:56:02), so the interval never lands on a whole minute of modern time.
    for text in [
        "every 15 minutes & */10 * * * * starting 1491-01-01",
        "every 1 day & 0 14 * * * starting 2024-01-01",
        // Wall-clock days against elapsed minutes: after 1883 New York's offsets are
        // whole hours, so the days' readings never land on the LMT start's :02 seconds.
        "every 1 day & every 1 minute starting 1491-01-01",
        "every 0.001 days & every 1 minute starting 1491-01-01",
    ] {
        // On a thread, so that a search that never ends fails the test, not hangs it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(fires(text, NY, "2024-05-01T12:34:56Z", 1)));
        let answer = rx
            .recv_timeout(std::time::Duration::from_secs(2))
            .unwrap_or_else(|_| panic!("{text:?}: no answer within 2 s"));
        assert!(answer.is_empty(), "{text:?}: {answer:?}");
    }
}

#[test]
fn days_keep_the_wall_time_across_berlin_changes() {
    // The README's nightly job, across the October change: 02:00 stays 02:00 local.
    // 2024-10-27 02:00 happens twice (CEST, then CET): it fires once, at the first.
    assert_eq!(
        fires(
            "daily starting tomorrow 02:00",
            BERLIN,
            "2024-10-24T12:00:00Z",
            5
        ),
        [
            "2024-10-25T00:00:00Z",
            "2024-10-26T00:00:00Z",
            "2024-10-27T00:00:00Z",
            "2024-10-28T01:00:00Z",
            "2024-10-29T01:00:00Z"
        ]
    );
    // Spring: 02:30 does not exist on 2024-03-31, so that day fires when the gap ends
    // (03:00 CEST); the next day is back at 02:30.
    assert_eq!(
        fires(
            "daily starting 2024-03-29 02:30",
            BERLIN,
            "2024-03-28T12:00:00Z",
            5
        ),
        [
            "2024-03-29T01:30:00Z",
            "2024-03-30T01:30:00Z",
            "2024-03-31T01:00:00Z",
            "2024-04-01T00:30:00Z",
            "2024-04-02T00:30:00Z"
        ]
    );
}

#[test]
fn days_keep_the_wall_time_across_new_york_changes() {
    assert_eq!(
        fires(
            "daily starting 2024-03-08 02:30",
            NY,
            "2024-03-08T00:00:00Z",
            5
        ),
        [
            "2024-03-08T07:30:00Z",
            "2024-03-09T07:30:00Z",
            "2024-03-10T07:00:00Z", // 02:30 is in the gap: 03:00 EDT
            "2024-03-11T06:30:00Z",
            "2024-03-12T06:30:00Z"
        ]
    );
    // 01:30 on 2024-11-03 happens at 05:30Z (EDT) and 06:30Z (EST): once, the first.
    assert_eq!(
        fires(
            "every 1 day starting 2024-11-01 01:30",
            NY,
            "2024-11-01T00:00:00Z",
            5
        ),
        [
            "2024-11-01T05:30:00Z",
            "2024-11-02T05:30:00Z",
            "2024-11-03T05:30:00Z",
            "2024-11-04T06:30:00Z",
            "2024-11-05T06:30:00Z"
        ]
    );
    // A start inside the gap fires at its end, then returns to 02:30.
    assert_eq!(
        fires(
            "daily starting 2024-03-10 02:30",
            NY,
            "2024-03-09T00:00:00Z",
            2
        ),
        ["2024-03-10T07:00:00Z", "2024-03-11T06:30:00Z"]
    );
    // Weeks too: Monday 09:00 stays Monday 09:00.
    assert_eq!(
        fires(
            "weekly starting 2024-03-04 09:00",
            NY,
            "2024-03-01T00:00:00Z",
            3
        ),
        [
            "2024-03-04T14:00:00Z",
            "2024-03-11T13:00:00Z",
            "2024-03-18T13:00:00Z"
        ]
    );
}

#[test]
fn a_job_started_in_the_second_copy_of_a_repeated_hour_keeps_its_wall_time() {
    // Started at 01:30 EST, the second 01:30 of 2024-11-03. Every 0.01 days (14.4
    // minutes of the local clock): 01:44:24 and 01:58:48 already happened in the first
    // copy, so they do not fire again; the next fire is 02:13:12 EST.
    assert_eq!(
        fires("every 0.01 days", NY, "2024-11-03T06:30:00Z", 3),
        [
            "2024-11-03T06:30:00Z",
            "2024-11-03T07:13:12Z",
            "2024-11-03T07:27:36Z"
        ]
    );
}

#[test]
fn fractional_days_count_wall_clock_time_too() {
    // 1.5 days = 36 hours of the local clock: 09:00, 21:00 two days on, 09:00 …,
    // whatever the offset; compare `every 36 hours` in intervals_count_absolute_time….
    assert_eq!(
        fires(
            "every 1.5 days starting 2024-03-09 09:00",
            NY,
            "2024-03-09T00:00:00Z",
            3
        ),
        [
            "2024-03-09T14:00:00Z",
            "2024-03-11T01:00:00Z",
            "2024-03-12T13:00:00Z"
        ]
    );
    // A fraction small enough to step through the repeated hour: readings in it fire
    // once (at their first instant), and the series never goes back.
    let list = fires(
        "every 0.25 days starting 2024-11-02 19:30",
        NY,
        "2024-11-02T00:00:00Z",
        5,
    );
    assert_eq!(
        list,
        [
            "2024-11-02T23:30:00Z", // 19:30 EDT
            "2024-11-03T05:30:00Z", // 01:30 EDT, the first 01:30
            "2024-11-03T12:30:00Z", // 07:30 EST
            "2024-11-03T18:30:00Z",
            "2024-11-04T00:30:00Z"
        ]
    );
}

#[test]
fn fixed_zones_count_days_as_24_hours() {
    // No transitions: wall time and elapsed time agree, and nothing changes.
    assert_eq!(
        fires(
            "daily starting 2024-03-09 09:00",
            Some("Etc/GMT+5"),
            "2024-03-09T00:00:00Z",
            2
        ),
        ["2024-03-09T14:00:00Z", "2024-03-10T14:00:00Z"]
    );
}

#[test]
fn a_monthly_start_inside_the_gap_returns_to_its_wall_time() {
    // 02:30 does not exist on 2026-03-08 in New York: the first fire is 03:00 EDT, the
    // later ones 02:30 (EDT, then EST from November).
    assert_eq!(
        fires(
            "monthly starting 2026-03-08 02:30",
            NY,
            "2026-03-01T00:00:00Z",
            4
        ),
        [
            "2026-03-08T07:00:00Z",
            "2026-04-08T06:30:00Z",
            "2026-05-08T06:30:00Z",
            "2026-06-08T06:30:00Z"
        ]
    );
    let later = fires(
        "monthly starting 2026-03-08 02:30",
        NY,
        "2026-03-01T00:00:00Z",
        9,
    );
    assert_eq!(later[8], "2026-11-08T07:30:00Z");
    // Yearly: 2027 and 2028 change clocks later in March; 2037-03-08 is a change day
    // again, so only that year moves to the end of the gap.
    let years = fires(
        "yearly starting 2026-03-08 02:30",
        NY,
        "2026-03-01T00:00:00Z",
        12,
    );
    assert_eq!(
        years[..3],
        [
            "2026-03-08T07:00:00Z",
            "2027-03-08T07:30:00Z",
            "2028-03-08T07:30:00Z"
        ]
    );
    assert_eq!(years[10], "2036-03-08T07:30:00Z");
    assert_eq!(years[11], "2037-03-08T07:00:00Z");
}

#[test]
fn days_combined_with_crons_and_fragments_stay_on_the_wall_clock() {
    let daily = [
        "2024-10-25T00:00:00Z",
        "2024-10-26T00:00:00Z",
        "2024-10-27T00:00:00Z",
        "2024-10-28T01:00:00Z",
    ];
    assert_eq!(
        fires(
            "daily & 0 2 * * * starting 2024-10-25 02:00",
            BERLIN,
            "2024-10-24T12:00:00Z",
            4
        ),
        daily
    );
    // Sat 26 and Sun 27 are filtered out on the local calendar.
    assert_eq!(
        fires(
            "daily & mon-fri starting 2024-10-25 02:00",
            BERLIN,
            "2024-10-24T12:00:00Z",
            3
        ),
        [
            "2024-10-25T00:00:00Z",
            "2024-10-28T01:00:00Z",
            "2024-10-29T01:00:00Z"
        ]
    );
    // A wall-clock day meets an elapsed-time grid only while the offset is the start's:
    // midnight EST is on the 6-hour grid from the start, midnight EDT is not.
    assert_eq!(
        fires(
            "every 1 day & every 6 hours starting 2024-03-08 00:00",
            NY,
            "2024-03-01T00:00:00Z",
            4
        ),
        [
            "2024-03-08T05:00:00Z",
            "2024-03-09T05:00:00Z",
            "2024-03-10T05:00:00Z",
            "2024-11-04T05:00:00Z"
        ]
    );
    // Readings that never meet the cron's: decided at once, not searched.
    assert!(fires(
        "daily & 0 3 * * * starting 2024-10-25 02:00",
        BERLIN,
        "2024-10-24T12:00:00Z",
        1
    )
    .is_empty());
}
