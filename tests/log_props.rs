//! Properties of the log format over arbitrary bytes: parsing, following and
//! reopening never panic on any file content (a damaged log), and what a writer
//! writes a follower reads back exactly, or with gaps that account for every
//! record it missed.

use jiff::Timestamp;
use mrsm::logs::{
    parse_header, parse_records, records_through, rotated_path, Follower, LogWriter, Record, Stream,
};
use proptest::prelude::*;

/// Everything a follower reads from the log at `path`, until it has nothing more.
fn read_all(follower: &mut Follower) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 97];
    while follower.poll(&mut out, &mut buf) {}
    out
}

/// Bytes that look like records now and then, and like damage otherwise.
fn log_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        Just(b"2024-05-01T12:34:56.789Z out ".to_vec()),
        Just(b"2024-05-01T12:34:56.789Z err+ ".to_vec()),
        Just(b"2024-05-01T12:34:56.789Z seq 12\n".to_vec()),
        Just(b"2024-05-01T12:34:56.789Z out".to_vec()),
        Just(b"\n".to_vec()),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn parsing_never_panics(bytes in log_bytes()) {
        for line in bytes.split(|&b| b == b'\n') {
            let _ = Record::parse(line);
            let _ = parse_header(line);
        }
        let _ = parse_records("job", &bytes);
    }

    #[test]
    fn records_round_trip(line in proptest::collection::vec(any::<u8>().prop_filter("no newline", |b| *b != b'\n'), 0..100), continues: bool, err: bool) {
        let stream = if err { Stream::Err } else { Stream::Out };
        let mut buf = Vec::new();
        Record::encode(&mut buf, "2024-05-01T12:34:56.789Z", stream, &line, continues);
        let record = Record::parse(&buf[..buf.len() - 1]).expect("parses");
        prop_assert_eq!(record.line, &line[..]);
        prop_assert_eq!(record.stream, stream);
        prop_assert_eq!(record.continues, continues);
    }

    #[test]
    fn damaged_files_are_read_and_reopened_without_panic(current in log_bytes(), older in log_bytes()) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        std::fs::write(&path, &current).expect("writes");
        std::fs::write(rotated_path(&path, 1), &older).expect("writes");
        for mut follower in [Follower::from_start(&path), Follower::from_end(&path)] {
            let out = read_all(&mut follower);
            prop_assert!(out.is_empty() || out.ends_with(b"\n"));
            let _ = parse_records("job", &out);
        }
        let mut writer = LogWriter::open(&path, 300, 3).expect("opens");
        writer.append(Timestamp::UNIX_EPOCH, Stream::Out, b"after");
        writer.flush();
        drop(writer);
        // Whatever was there, the file now ends in whole records, the new one last
        // and on its own line.
        let bytes = std::fs::read(&path).expect("reads");
        let last = bytes[..bytes.len() - 1].rsplit(|&b| b == b'\n').next().unwrap_or_default();
        prop_assert_eq!(Record::parse(last).map(|r| r.line), Some(&b"after"[..]), "{:?}", String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn a_follower_reads_what_was_written_or_counts_what_it_missed(
        ops in proptest::collection::vec(
            (proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'\xc3'), Just(b'\xa9'), Just(b'\r')], 0..40), any::<bool>(), any::<bool>(), 0u8..4),
            1..80,
        ),
        max_size in 120u64..1500,
        keep in 1u32..4,
        max_line in 1u64..50,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let mut writer = LogWriter::open(&path, max_size, keep).expect("opens").with_max_line(max_line);
        let mut follower = Follower::from_start(&path);
        let mut read = Vec::new();
        let mut written: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        for (bytes, ends_line, err, poll) in ops {
            let (stream, i) = if err { (Stream::Err, 1) } else { (Stream::Out, 0) };
            writer.append_part(Timestamp::UNIX_EPOCH, stream, &bytes, ends_line);
            written[i].extend_from_slice(&bytes);
            if ends_line {
                written[i].push(b'\n');
            }
            writer.flush();
            if poll == 0 {
                read.extend(read_all(&mut follower));
            }
        }
        read.extend(read_all(&mut follower));
        let lines = parse_records("job", &read);
        let dropped: u64 = lines.iter().filter_map(|l| l.dropped()).sum();
        let seen = lines.iter().filter(|l| l.stream != Stream::Gap).count() as u64;
        prop_assert_eq!(seen + dropped, records_through(&path).expect("a log"), "seen {} dropped {}", seen, dropped);
        if dropped == 0 {
            // Nothing missed: each stream's output comes back byte for byte.
            for (i, stream) in [Stream::Out, Stream::Err].into_iter().enumerate() {
                let mut back = Vec::new();
                for l in lines.iter().filter(|l| l.stream == stream) {
                    prop_assert!(l.line.len() as u64 <= max_line);
                    back.extend_from_slice(&l.line);
                    if !l.continues {
                        back.push(b'\n');
                    }
                }
                prop_assert_eq!(&back, &written[i]);
            }
        }
    }
}
