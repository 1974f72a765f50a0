//! Bad schedules name the word or field at fault and its column.

fn error(schedule: &str) -> mrsm::ScheduleError {
    match mrsm::parse_schedule(schedule) {
        Ok(_) => panic!("{schedule:?} should not parse"),
        Err(e) => e,
    }
}

#[test]
fn errors_point_at_the_culprit() {
    let cases: &[(&str, usize, &str)] = &[
        ("every 1 fortnight", 9, "unknown unit \"fortnight\""),
        ("every 5 mins", 9, "unknown unit \"mins\""),
        ("every  5 minutes", 6, "one space"),
        ("every 0 seconds", 7, "must be positive"),
        ("every -5 minutes", 7, "bad number \"-5\""),
        ("every 1.5 months", 7, "whole number"),
        ("hourly & mon-fri | sat", 18, "cannot mix"),
        ("daily &", 7, "empty part"),
        ("daily || hourly", 8, "empty part"),
        ("0 0 * * 8", 9, "weekday value 8 out of range 0-7"),
        ("*/0 * * * *", 1, "bad step"),
        ("1-0 * * * *", 1, "descending range"),
        ("0 0 L * *", 5, "bad day-of-month value \"l\""),
        ("0 0 * * * *", 1, "found 6 fields"),
        ("mon-fri 9-17", 1, "found 2 fields"),
        ("daily & someday", 9, "unknown word \"someday\""),
        ("weekdays", 1, "unknown word \"weekdays\""),
        ("daily starting noon", 16, "unknown start time \"noon\""),
        ("daily starting 2024-02-30", 16, "day is out of range"),
        ("daily starting", 15, "expected a start time"),
        ("daily starting in 2 months", 21, "bad unit \"months\""),
    ];
    let mut wrong = Vec::new();
    for &(input, column, needle) in cases {
        let e = error(input);
        let text = e.to_string();
        if e.column() != Some(column)
            || !text.contains(needle)
            || !text.contains(&format!("{input:?}"))
        {
            wrong.push(format!("{input:?}: got column {:?}, {text}", e.column()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_message_reads_as_documented() {
    assert_eq!(
        error("every 1 fortnight").to_string(),
        "unknown unit \"fortnight\" at column 9 in \"every 1 fortnight\": \
         expected seconds, minutes, hours, days, weeks, months or years"
    );
}

#[test]
fn ordinal_beyond_the_month_fails_when_resolved() {
    let s = mrsm::parse_schedule("monthly starting 31st").expect("syntax is fine");
    let now: jiff::Timestamp = "2025-02-28T23:59:30Z".parse().expect("instant");
    let err = s.fire_times(now).expect_err("February has no 31st");
    assert!(err.to_string().contains("out of range"), "{err}");
}
