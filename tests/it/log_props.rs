//! Properties of the log format over arbitrary bytes: parsing, following and
//! reopening never panic on any file content (a damaged log); what a writer
//! writes a follower reads back exactly, or with gaps that account for every
//! record it missed; and pages from any cursor, and tails, give exactly what a full
//! read of the files gives, whatever state the indexes beside them are in.

use std::path::Path;

use jiff::Timestamp;
use mrsm::logs::{
    log_files, parse_header, parse_records, read_page, read_tail, records_through, rotated_path,
    Follower, LogLine, LogWriter, PageReader, Record, Selection, Stream,
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

/// What a reader compares of a line, short enough to read in a failure: its
/// stream and mark, its length, the first bytes and a hash of all of them; for a
/// gap, the count.
fn key(line: &LogLine) -> String {
    let head = String::from_utf8_lossy(&line.line[..line.line.len().min(6)]).into_owned();
    let hash = line.line.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    let mark = if line.continues { "+" } else { "" };
    format!(
        "{}{mark} {} {head:?} {hash:x}",
        line.stream.tag(),
        line.line.len()
    )
}

fn gap(dropped: u64) -> String {
    key(&LogLine {
        job: "job".into(),
        stamp: String::new(),
        stream: Stream::Gap,
        line: dropped.to_string().into_bytes(),
        continues: false,
    })
}

/// Every record of the log's kept files with its number, read the slow way: each
/// file whole, numbered from its header.
fn numbered(path: &Path) -> Vec<(u64, LogLine)> {
    let mut records = Vec::new();
    for file in log_files(path) {
        let bytes = std::fs::read(&file).expect("a kept file");
        let mut lines = bytes.split(|&b| b == b'\n');
        let first = lines.next().unwrap_or_default();
        let start = parse_header(first).expect("the writer writes headers");
        let whole = bytes.iter().filter(|&&b| b == b'\n').count() - 1;
        for (n, raw) in lines.take(whole).enumerate() {
            let line = parse_records("job", &[raw, b"\n"].concat())
                .pop()
                .expect("a record");
            records.push((start + n as u64, line));
        }
    }
    records
}

/// What reading on from `cursor` must give: every record from there, with one gap
/// for each run of numbers that is missing.
fn expected_from(records: &[(u64, LogLine)], cursor: u64) -> Vec<String> {
    let (mut next, mut want) = (cursor, Vec::new());
    for (n, line) in records.iter().filter(|(n, _)| *n >= cursor) {
        if *n > next {
            want.push(gap(n - next));
        }
        want.push(key(line));
        next = n + 1;
    }
    want
}

/// Damage done to the index files beside the log: none, removed, entries made
/// junk, or cut in the middle of an entry. Readers must give the same answers.
fn damage_indexes(dir: &Path, how: u8) {
    let Ok(entries) = std::fs::read_dir(dir.join(".index")) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let mut bytes = std::fs::read(&path).expect("an index");
        match how {
            1 => std::fs::remove_file(&path).expect("removed"),
            2 => {
                for (i, b) in bytes.iter_mut().enumerate().skip(40) {
                    *b = (i as u8).wrapping_mul(37);
                }
                std::fs::write(&path, &bytes).expect("written");
            }
            3 => {
                bytes.truncate(bytes.len().saturating_sub(9));
                std::fs::write(&path, &bytes).expect("written");
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn pages_from_any_cursor_and_tails_give_what_a_full_read_gives(
        ops in proptest::collection::vec((0usize..3000, any::<bool>(), any::<bool>(), 0u8..10), 1..200),
        // Small files, and files large enough to have entries in their index.
        max_size in prop_oneof![200u64..4000, 40_000u64..120_000],
        keep in 1u32..6,
        max_line in 8u64..5000,
        damage in 0u8..4,
        hole: bool,
        cursors in proptest::collection::vec(0u64..3000, 1..4),
        max in 10usize..200,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let open = || LogWriter::open(&path, max_size, keep).expect("opens").with_max_line(max_line);
        let mut writer = open();
        for (i, (len, ends_line, err, action)) in ops.into_iter().enumerate() {
            let stream = if err { Stream::Err } else { Stream::Out };
            let bytes = format!("{i} {}", "z".repeat(len));
            writer.append_part(Timestamp::UNIX_EPOCH, stream, bytes.as_bytes(), ends_line);
            match action {
                0 => writer.flush(),
                // A new supervisor takes the log over, sometimes from a damaged index.
                1 => {
                    drop(writer);
                    damage_indexes(dir.path(), damage);
                    writer = open();
                }
                _ => {}
            }
        }
        drop(writer);
        damage_indexes(dir.path(), damage);
        if hole && rotated_path(&path, 2).exists() {
            // A file lost in the middle: its records are a gap for every reader.
            std::fs::remove_file(rotated_path(&path, 2)).expect("removed");
        }
        let records = numbered(&path);
        let end = records_through(&path).expect("a log");
        let first = records.first().map_or(end, |(n, _)| *n);
        for cursor in cursors.into_iter().chain([0, first, end, end + 3]) {
            let want = expected_from(&records, cursor);
            let mut reader = PageReader::new("job", &path);
            for by_reader in [false, true] {
                let (mut got, mut at) = (Vec::new(), cursor);
                loop {
                    let (page, next) = if by_reader { reader.read(at, max) } else { read_page("job", &path, at, max) };
                    prop_assert!(page.len() <= max);
                    if page.is_empty() {
                        prop_assert_eq!(next, at.min(end), "an empty page stays where it is");
                        break;
                    }
                    got.extend(page.iter().map(key));
                    at = next;
                }
                prop_assert_eq!(&got, &want, "from {} by {}", cursor, if by_reader { "a reader" } else { "pages" });
            }
        }
        // Tails: the last lines of a full read from the oldest kept record.
        let all = expected_from(&records, first);
        for n in [1, 2, 7, all.len(), all.len() + 1] {
            let tail = read_tail("job", &path, &Selection::default(), n, usize::MAX);
            let got: Vec<_> = tail.lines.iter().map(key).collect();
            prop_assert_eq!(&got[..], &all[all.len().saturating_sub(n)..], "tail {}", n);
        }
    }
}
