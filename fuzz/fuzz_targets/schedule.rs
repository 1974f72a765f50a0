//! Arbitrary text into the schedule parser: it must never panic, and whatever parses
//! must produce strictly increasing fire times, promptly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(schedule) = mrsm::parse_schedule(text) else {
        return;
    };
    if let Some(shortest) = schedule.shortest_interval() {
        assert!(!shortest.is_zero(), "{text:?}: a zero interval");
    }
    // 2024-05-01 12:34:56Z, and 05:30Z on 2024-11-03: the first 01:30 of New York's
    // repeated hour, so wall-clock days and crons start next to a DST fold.
    for now in [1_714_566_896_000_000i64, 1_730_611_800_000_000] {
        let now = jiff::Timestamp::from_microsecond(now).expect("valid instant");
        for zone in [None, Some("America/New_York"), Some("Europe/Berlin")] {
            let schedule = match zone {
                Some(z) => schedule.clone().in_zone(z).expect("known zone"),
                None => schedule.clone(),
            };
            let Ok(fires) = schedule.fire_times(now) else {
                continue;
            };
            let mut last: Option<jiff::Timestamp> = None;
            for fire in fires.take(12) {
                assert!(fire >= now, "{text:?}: {fire} before {now}");
                if let Some(prev) = last {
                    assert!(fire > prev, "{text:?}: {fire} after {prev}");
                }
                last = Some(fire);
            }
        }
    }
});
