//! Prints when a job started now would fire, for a few schedules, using the library.
//!
//! Run with `cargo run --example schedule_preview`.

use jiff::Timestamp;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Timestamp::now();
    for text in [
        "every 30 minutes starting 00:00",
        "daily and mon-fri starting tomorrow 09:00",
        "0 9 * * mon-fri | 0 12 * * sat,sun",
    ] {
        let schedule = mrsm::parse_schedule(text)?.in_zone("Europe/Berlin")?;
        println!("{text} (in {}):", schedule.zone_name());
        for fire in schedule.fire_times(now)?.take(3) {
            println!("  {fire}");
        }
    }
    match mrsm::parse_schedule("every 1 fortnight") {
        Ok(_) => unreachable!("fortnight is not a unit"),
        Err(e) => println!("rejected: {e}"),
    }
    Ok(())
}
