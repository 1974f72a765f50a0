//! Reading a log by position: every record has a number (how many records the log
//! held before it, counted across rotations by the file headers), so a reader that
//! lost its connection resumes from the number it reached, without repeating or
//! losing a line; records rotation deleted in between come back as one `gap` line.

use std::path::Path;

use super::follow::log_files;
use super::line::{parse_records, LogLine};
use super::record::{format_stamp, parse_header, Stream};

/// Where a reader is in a log: the number of the next record to read.
pub type Cursor = u64;

/// Up to `max` lines of the log at `current` from record `cursor` on, and the
/// cursor after them. A cursor past the end (the log was removed and begun again)
/// reads from the end.
pub fn read_page(job: &str, current: &Path, cursor: Cursor, max: usize) -> (Vec<LogLine>, Cursor) {
    let mut lines = Vec::new();
    let mut next = cursor;
    let mut end = 0;
    for file in log_files(current) {
        // Rotated away since it was listed: what it held is the next file's, or gone.
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        let start = parse_header(first).unwrap_or(end);
        let records = parse_records(job, &bytes);
        end = start + records.len() as u64;
        if lines.len() >= max || end <= next {
            continue;
        }
        if start > next {
            lines.push(LogLine {
                job: job.to_string(),
                stamp: format_stamp(jiff::Timestamp::now()),
                stream: Stream::Gap,
                line: (start - next).to_string().into_bytes(),
                continues: false,
            });
            next = start;
        }
        let skip = (next - start) as usize;
        let take = max.saturating_sub(lines.len());
        let taken: Vec<LogLine> = records.into_iter().skip(skip).take(take).collect();
        next += taken.len() as u64;
        lines.extend(taken);
    }
    (lines, next.min(end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::record::{encode_header, Record};

    fn write(path: &Path, seq: Option<u64>, lines: std::ops::Range<u64>) {
        let mut out = Vec::new();
        let stamp = "2026-01-01T00:00:00.000Z";
        if let Some(seq) = seq {
            encode_header(&mut out, stamp, seq);
        }
        for i in lines {
            Record::encode(
                &mut out,
                stamp,
                Stream::Out,
                i.to_string().as_bytes(),
                false,
            );
        }
        std::fs::write(path, out).expect("written");
    }

    fn texts(lines: &[LogLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| match l.stream {
                Stream::Gap => format!("gap {}", String::from_utf8_lossy(&l.line)),
                _ => String::from_utf8_lossy(&l.line).into_owned(),
            })
            .collect()
    }

    #[test]
    fn pages_resume_where_they_stopped_and_count_what_rotation_took() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("j.log");
        // Records 0..10 were rotated away; .1 holds 10..15, the current file 15..18.
        write(&dir.path().join("j.log.1"), Some(10), 10..15);
        write(&log, Some(15), 15..18);
        let (page, next) = read_page("j", &log, 0, 4);
        assert_eq!(texts(&page), ["gap 10", "10", "11", "12"]);
        assert_eq!(next, 13);
        let (page, next) = read_page("j", &log, next, 4);
        assert_eq!(texts(&page), ["13", "14", "15", "16"]);
        let (page, next) = read_page("j", &log, next, 4);
        assert_eq!(texts(&page), ["17"]);
        assert_eq!(next, 18);
        let (page, again) = read_page("j", &log, next, 4);
        assert!(page.is_empty());
        assert_eq!(again, 18);
        // Files without headers count from 0.
        let old = dir.path().join("old.log");
        write(&old, None, 0..3);
        let (page, next) = read_page("old", &old, 1, 10);
        assert_eq!((texts(&page), next), (vec!["1".into(), "2".into()], 3));
        // Past the end (the log began again): from the end.
        let (page, next) = read_page("old", &old, 99, 10);
        assert!(page.is_empty());
        assert_eq!(next, 3);
    }
}
