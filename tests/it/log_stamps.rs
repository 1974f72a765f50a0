//! Each log line is stamped with the time it was written. In a test binary of its
//! own, so no heavy test of the same binary competes with it for the CPU.

use crate::support;

use std::time::Duration;

use support::{wait_for, Env};

#[test]
fn each_line_is_stamped_when_written() {
    let env = Env::new();
    env.run_d(
        "clock",
        &[
            "--",
            "sh",
            "-c",
            "for i in 1 2 3 4 5 6; do date +%s.%N; sleep 0.2; done",
        ],
    );
    wait_for(Duration::from_secs(20), "the job to end", || {
        (env.status("clock") == "stopped").then_some(())
    });
    let bytes = std::fs::read(env.root().join("logs/clock.log")).expect("log");
    let lines: Vec<_> = mrsm::logs::parse_records("clock", &bytes)
        .into_iter()
        .filter(|l| l.stream == mrsm::logs::Stream::Out)
        .collect();
    assert_eq!(lines.len(), 6);
    for line in lines {
        let written: f64 = line.text().trim().parse().expect("epoch seconds");
        let stamped = line.time().expect("stamp").as_millisecond() as f64 / 1000.0;
        let late = stamped - written;
        assert!(
            (-0.002..0.050).contains(&late),
            "stamped {late:.3} s after writing: {}",
            line.stamp
        );
    }
}
