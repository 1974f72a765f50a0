//! `mrsm show schedule` through the real binary.

use assert_cmd::Command;
use predicates::prelude::*;

fn mrsm() -> Command {
    let mut cmd = Command::cargo_bin("mrsm").expect("binary is built");
    cmd.env_remove("TZ");
    cmd
}

#[test]
fn prints_the_next_five_like_the_seed() {
    mrsm()
        .args(["show", "schedule", "daily and mon-fri starting May 2, 2024"])
        .args(["--now", "2024-05-01T00:00:00Z"])
        .assert()
        .success()
        .stdout(
            "Next 5 timestamps for schedule 'daily and mon-fri starting May 2, 2024':\n\n\
             \x20 2024-05-02 00:00:00+00:00\n\
             \x20 2024-05-03 00:00:00+00:00\n\
             \x20 2024-05-06 00:00:00+00:00\n\
             \x20 2024-05-07 00:00:00+00:00\n\
             \x20 2024-05-08 00:00:00+00:00\n",
        );
}

#[test]
fn count_argument_and_json() {
    let out = mrsm()
        .args(["show", "schedule", "every 0.5 seconds", "3", "--json"])
        .args(["--now", "2024-12-31T23:59:59Z"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "[\"2024-12-31T23:59:59Z\",\"2024-12-31T23:59:59.5Z\",\"2025-01-01T00:00:00Z\"]\n"
    );
    let lines = mrsm()
        .args([
            "show",
            "schedule",
            "hourly",
            "10",
            "--now",
            "2024-05-01T12:00:00Z",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(lines).expect("utf-8");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("  20")).count(),
        10,
        "{text}"
    );
}

#[test]
fn time_zone_option_prints_local_offsets() {
    mrsm()
        .args([
            "show",
            "schedule",
            "0 9 * * *",
            "2",
            "--tz",
            "Europe/Berlin",
        ])
        .args(["--now", "2024-03-30T09:00:00Z"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "  2024-03-31 09:00:00+02:00\n  2024-04-01 09:00:00+02:00\n",
        ));
}

#[test]
fn never_firing_schedules_say_so_and_succeed() {
    for schedule in ["0 0 30 2 *", "hourly & 2023", "daily & 0 14 * * *"] {
        mrsm()
            .args([
                "show",
                "schedule",
                schedule,
                "--now",
                "2024-05-01T12:34:56Z",
            ])
            .assert()
            .success()
            .stdout(predicate::str::contains("never fires"));
        mrsm()
            .args([
                "show",
                "schedule",
                schedule,
                "--json",
                "--now",
                "2024-05-01T12:34:56Z",
            ])
            .assert()
            .success()
            .stdout("[]\n");
    }
}

#[test]
fn bad_input_exits_2_with_the_location() {
    mrsm()
        .args(["show", "schedule", "every 1 fortnight"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::starts_with(
            "error: unknown unit \"fortnight\" at column 9 in \"every 1 fortnight\"",
        ));
    mrsm()
        .args(["show", "schedule", "daily", "--tz", "Nowhere/Special"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown time zone"));
    mrsm()
        .args(["show", "schedule", "daily", "--now", "yesterday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--now"));
}

#[test]
fn help_explains_the_language() {
    mrsm()
        .args(["show", "schedule", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("--tz").and(predicate::str::contains("every 30 minutes")));
}

#[test]
fn daily_keeps_its_local_time_across_the_autumn_change() {
    mrsm()
        .args([
            "show",
            "schedule",
            "daily starting 2024-10-26 02:00",
            "3",
            "--tz",
            "Europe/Berlin",
        ])
        .args(["--now", "2024-10-25T12:00:00Z"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "  2024-10-26 02:00:00+02:00\n  2024-10-27 02:00:00+02:00\n  2024-10-28 02:00:00+01:00\n",
        ));
}

#[test]
fn a_fire_a_job_runs_with_its_catch_up_fire_is_marked() {
    let out = mrsm()
        .args([
            "show",
            "schedule",
            "every 10 seconds starting 2024-01-01",
            "3",
            "--now",
            "2024-12-31T23:59:59.5Z",
        ])
        .output()
        .expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(!lines[0].contains("catch-up"), "{text}");
    assert!(
        lines[1].contains("2025-01-01 00:00:00+00:00")
            && lines[1].contains("with the catch-up fire before it"),
        "{text}"
    );
    assert!(!lines[2].contains("catch-up"), "{text}");
}

#[test]
fn a_schedule_may_name_its_time_zone_with_tz() {
    let fires = |args: &[&str]| {
        let out = mrsm()
            .args(["show", "schedule"])
            .args(args)
            .args(["3", "--json", "--now", "2024-05-01T00:00:00Z"])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).expect("utf-8")
    };
    let berlin = "[\"2024-05-01T07:00:00Z\",\"2024-05-02T07:00:00Z\",\"2024-05-03T07:00:00Z\"]\n";
    assert_eq!(fires(&["daily starting 09:00 tz Europe/Berlin"]), berlin);
    assert_eq!(
        fires(&["daily starting 09:00", "--tz", "Europe/Berlin"]),
        berlin
    );
    // The same zone twice is one zone.
    assert_eq!(
        fires(&[
            "daily starting 09:00 TZ Europe/Berlin",
            "--tz",
            "Europe/Berlin"
        ]),
        berlin
    );
    // Without a start, and in a cron; the text shows the zone's offset.
    mrsm()
        .args(["show", "schedule", "0 9 * * * tz America/New_York", "1"])
        .args(["--now", "2024-05-01T00:00:00Z"])
        .assert()
        .success()
        .stdout(predicate::str::contains("2024-05-01 09:00:00-04:00"));
    for (schedule, extra, said) in [
        (
            "daily starting 09:00 tz Europe/Berlin",
            &["--tz", "America/New_York"][..],
            "a second time zone, America/New_York, beside tz Europe/Berlin at column 25",
        ),
        (
            "daily tz Mars/Base",
            &[][..],
            "unknown time zone \"Mars/Base\" at column 10",
        ),
        ("daily tz", &[][..], "no time zone after tz at column 7"),
        (
            "daily tz Europe/Berlin starting 09:00",
            &[][..],
            "more than one word after tz at column 24",
        ),
        // A zone name alone is still not a start time, as in the reference.
        (
            "daily starting 09:00 Europe/Berlin",
            &[][..],
            "start time: bad date",
        ),
    ] {
        mrsm()
            .args(["show", "schedule", schedule])
            .args(extra)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(said));
    }
}
