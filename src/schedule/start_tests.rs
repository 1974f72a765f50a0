//! The `starting …` phrase: what parses, to what, and what is refused.

use super::civil::{US_PER_HOUR, US_PER_MIN};
use super::start::*;

fn ok(s: &str) -> Start {
    parse(s).unwrap_or_else(|e| panic!("{s}: {}", e.message))
}

#[test]
fn phrases() {
    assert_eq!(ok("now"), Start::Now);
    assert_eq!(ok("in 2 hours"), Start::In(2 * US_PER_HOUR));
    assert_eq!(
        ok("tomorrow at 5:30 PM"),
        Start::At {
            date: DatePart::Tomorrow,
            time: 17 * US_PER_HOUR + 30 * US_PER_MIN,
            offset: None
        }
    );
    assert_eq!(
        ok("2024-01-01 09:30 -05:00"),
        Start::At {
            date: DatePart::Ymd(2024, 1, 1),
            time: 9 * US_PER_HOUR + 30 * US_PER_MIN,
            offset: Some(-5 * US_PER_HOUR)
        }
    );
    assert_eq!(
        ok("May 2, 2024"),
        Start::At {
            date: DatePart::Ymd(2024, 5, 2),
            time: 0,
            offset: None
        }
    );
    assert_eq!(
        ok("2024-01-01T00:00:00Z"),
        Start::At {
            date: DatePart::Ymd(2024, 1, 1),
            time: 0,
            offset: Some(0)
        }
    );
    assert_eq!(
        ok("6am"),
        Start::At {
            date: DatePart::Unset,
            time: 6 * US_PER_HOUR,
            offset: None
        }
    );
}

#[test]
fn rejects() {
    for bad in [
        "",
        "noon",
        "the 15th",
        "next monday",
        "2024-01-01 00:00 America/New_York",
        "2024-02-30",
        "1714567890",
        "in 2 months",
        "25:00",
        "13pm",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} should be rejected");
    }
}
