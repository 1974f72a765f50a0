//! The last lines of a log, read from its end backwards, file by file, so that a
//! tail costs what it returns whatever the log's size; and a follower that goes on
//! exactly where such a tail ends.

use std::fs::File;
use std::path::Path;

use super::follow::Follower;
use super::format::{
    read_at_most, read_header, snapshot, whole_records_end, Header, Opened, CHUNK, MAX_LINE,
};
use super::index;
use super::line::{LogLine, Selection};
use super::page::{cost, gap_line, line_of};
use super::record::Record;

/// The last lines of a log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tail {
    /// Oldest first.
    pub lines: Vec<LogLine>,
    /// Older lines the selection admits were left out, to keep within the count or
    /// the bytes asked for.
    pub cut: bool,
}

/// Lines gathered going backwards, newest first.
struct Backwards<'a> {
    job: &'a str,
    selection: &'a Selection,
    tail: Tail,
    max: usize,
    bytes: usize,
    max_bytes: usize,
}

impl Backwards<'_> {
    /// Takes the line before the ones taken so far, if the selection admits it;
    /// false once the tail is complete.
    fn take(&mut self, line: LogLine) -> bool {
        if !self.selection.admits(&line) {
            return true;
        }
        let cost = cost(line.line.len());
        let lines = &mut self.tail.lines;
        if lines.len() >= self.max || (!lines.is_empty() && self.bytes + cost > self.max_bytes) {
            self.tail.cut = true;
            return false;
        }
        self.bytes += cost;
        lines.push(line);
        true
    }

    /// [`Backwards::take`] for the bytes of a line of the file; a line stamped
    /// before the selection's `since` ends the tail, and one that is not a record
    /// (damage) is passed over.
    fn take_raw(&mut self, raw: &[u8]) -> bool {
        let Some(record) = Record::parse(raw) else {
            return true;
        };
        if let Some(since) = &self.selection.since {
            if record.stamp < since.as_str() {
                return false;
            }
        }
        self.take(line_of(self.job, &record))
    }
}

/// Hands `visit` the lines of `file` between offsets `from` and `end` (both where
/// a line begins), the last one first, until it says to stop; returns whether it
/// was handed every line. A line longer than [`MAX_LINE`] is passed over.
fn read_back(
    file: &File,
    from: u64,
    end: u64,
    visit: &mut dyn FnMut(&[u8]) -> bool,
) -> std::io::Result<bool> {
    // The bytes from `low` to the last line not yet handed out, ending in its newline.
    let mut held: Vec<u8> = Vec::new();
    let mut low = end;
    // The line being gathered is too long: its bytes are dropped until it begins.
    let mut skipping = false;
    loop {
        if !skipping && !held.is_empty() {
            match memchr::memrchr(b'\n', &held[..held.len() - 1]) {
                Some(i) => {
                    if !visit(&held[i + 1..held.len() - 1]) {
                        return Ok(false);
                    }
                    held.truncate(i + 1);
                    continue;
                }
                None if low == from => return Ok(visit(&held[..held.len() - 1])),
                None if held.len() > MAX_LINE => {
                    skipping = true;
                    held.clear();
                }
                None => {}
            }
        }
        if low == from {
            return Ok(true);
        }
        // Twice as much as is held when a line is longer than that, so that a long
        // line costs its length to gather, not its length squared.
        let size = (CHUNK.max(held.len()) as u64).min(low - from);
        let mut chunk = vec![0u8; size as usize];
        if read_at_most(file, &mut chunk, low - size)? < chunk.len() {
            return Ok(true); // cut short under the reader: nothing more to read
        }
        low -= size;
        if skipping {
            if let Some(i) = memchr::memrchr(b'\n', &chunk) {
                chunk.truncate(i + 1);
                held = chunk;
                skipping = false;
            }
            continue;
        }
        chunk.extend_from_slice(&held);
        held = chunk;
    }
}

/// The log's files as one instant saw them, with their headers, and where the
/// current file's whole records end and how many it holds.
struct Ends {
    files: Vec<Opened>,
    headers: Vec<Option<Header>>,
    end: u64,
    records: u64,
}

fn ends(current: &Path) -> Ends {
    let files = snapshot(current);
    let headers: Vec<Option<Header>> = files
        .iter()
        .map(|f| read_header(&f.file).ok().flatten())
        .collect();
    let (end, records) = match (files.last(), headers.last()) {
        (Some(newest), Some(header)) => {
            index::seek(&newest.path, &newest.file, header.as_ref(), u64::MAX).unwrap_or((0, 0))
        }
        _ => (0, 0),
    };
    Ends {
        files,
        headers,
        end,
        records,
    }
}

/// How many records the log held at the end of file `i`, when it has a header.
fn end_of(ends: &Ends, i: usize) -> Option<u64> {
    let header = ends.headers[i]?;
    let file = &ends.files[i];
    let (_, records) = index::seek(&file.path, &file.file, Some(&header), u64::MAX).ok()?;
    Some(header.seq + records)
}

/// The tail of the log `ends` describes.
fn tail_of(job: &str, ends: &Ends, selection: &Selection, max: usize, max_bytes: usize) -> Tail {
    let mut back = Backwards {
        job,
        selection,
        tail: Tail::default(),
        max,
        bytes: 0,
        max_bytes,
    };
    for (i, file) in ends.files.iter().enumerate().rev() {
        if max == 0 {
            break;
        }
        let from = ends.headers[i].map_or(0, |h| h.len);
        let end = if i + 1 == ends.files.len() {
            ends.end
        } else {
            let Ok(meta) = file.file.metadata() else {
                break;
            };
            whole_records_end(&file.file, meta.len()).unwrap_or(from)
        };
        match read_back(&file.file, from.min(end), end, &mut |raw| {
            back.take_raw(raw)
        }) {
            Ok(true) => {}
            _ => break,
        }
        // Records rotation deleted between the file before this one and this one.
        let (Some(header), Some(before)) = (ends.headers[i], i.checked_sub(1)) else {
            continue;
        };
        let Some(reached) = end_of(ends, before) else {
            continue;
        };
        if header.seq > reached {
            let stamp = String::from_utf8_lossy(&header.stamp).into_owned();
            if !back.take(gap_line(job, stamp, header.seq - reached)) {
                break;
            }
        }
    }
    back.tail.lines.reverse();
    back.tail
}

/// The last `max` lines of job `job`'s log at `current` that `selection` admits
/// (its own `tail` is not looked at), and no more of them than `max_bytes` count
/// for (at least one line; see [`super::PAGE_BYTES`]). The log is read from its
/// end backwards, so this costs what it returns; with `since`, reading stops at
/// the first line stamped before it. Records rotation deleted between two kept
/// files come as one `gap` line, as a follower reports them.
pub fn read_tail(
    job: &str,
    current: &Path,
    selection: &Selection,
    max: usize,
    max_bytes: usize,
) -> Tail {
    tail_of(job, &ends(current), selection, max, max_bytes)
}

/// The last `max` lines as [`read_tail`] (without a limit on bytes), and a
/// follower that reads on from exactly where they end.
pub fn tail_and_follow(
    job: &str,
    current: &Path,
    selection: &Selection,
    max: usize,
) -> (Vec<LogLine>, Follower) {
    let mut ends = ends(current);
    let tail = tail_of(job, &ends, selection, max, usize::MAX);
    let (header, newest) = (ends.headers.pop(), ends.files.pop());
    let follower = match (newest, header) {
        (Some(newest), Some(header)) => {
            Follower::after(current, newest, ends.end, header.as_ref(), ends.records)
        }
        // No log yet: all of it is new.
        _ => Follower::from_start(current),
    };
    (tail.lines, follower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{read_page, rotated_path, LogWriter, Stream};
    use jiff::Timestamp;

    use crate::logs::texts;

    /// Every line of the log, by pages from its first kept record.
    fn everything(path: &Path) -> Vec<LogLine> {
        let mut lines = Vec::new();
        let mut cursor = 0;
        loop {
            let (page, next) = read_page("j", path, cursor, 1000);
            if page.is_empty() {
                return lines;
            }
            lines.extend(page.into_iter().filter(|l| l.stream != Stream::Gap));
            cursor = next;
        }
    }

    #[test]
    fn tails_are_the_last_lines_of_a_full_read_across_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.log");
        let mut writer = LogWriter::open(&path, 4000, 4).expect("opens");
        for i in 0..400u32 {
            let stream = if i % 5 == 0 { Stream::Sys } else { Stream::Out };
            let line = format!("{i} {}", "y".repeat((i % 40) as usize));
            writer.append(Timestamp::UNIX_EPOCH, stream, line.as_bytes());
        }
        writer.append_part(Timestamp::UNIX_EPOCH, Stream::Err, b"unfinished", false);
        drop(writer);
        let all = everything(&path);
        let output_only = Selection {
            output_only: true,
            ..Selection::default()
        };
        for selection in [Selection::default(), output_only] {
            let admitted: Vec<LogLine> = all
                .iter()
                .filter(|l| selection.admits(l))
                .cloned()
                .collect();
            for n in [0, 1, 2, 17, 60, 150, admitted.len(), admitted.len() + 5] {
                let tail = read_tail("j", &path, &selection, n, usize::MAX);
                let want = &admitted[admitted.len().saturating_sub(n)..];
                assert_eq!(texts(&tail.lines), texts(want), "tail {n}");
                assert_eq!(tail.cut, n > 0 && n < admitted.len(), "tail {n}");
            }
        }
        // Bytes: the newest lines that fit, at least one.
        let tail = read_tail("j", &path, &Selection::default(), 100, 200);
        assert_eq!(texts(&tail.lines), texts(&all[all.len() - 2..]));
        let tail = read_tail("j", &path, &Selection::default(), 100, 1);
        assert_eq!(texts(&tail.lines), texts(&all[all.len() - 1..]));
        assert!(tail.cut);
    }

    #[test]
    fn a_missing_file_is_a_gap_and_since_stops_the_reading() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.log");
        let mut writer = LogWriter::open(&path, 300, 5).expect("opens");
        for i in 0..30 {
            let t = Timestamp::from_second(i).expect("an instant");
            writer.append(t, Stream::Out, i.to_string().as_bytes());
        }
        drop(writer);
        std::fs::remove_file(rotated_path(&path, 2)).expect("removed");
        let all = texts(&read_tail("j", &path, &Selection::default(), 1000, usize::MAX).lines);
        let gap = all
            .iter()
            .position(|l| l.starts_with("gap "))
            .expect("a gap");
        let (before, after): (u64, u64) = (
            all[gap - 1].parse().expect("a number"),
            all[gap + 1].parse().expect("a number"),
        );
        assert_eq!(all[gap], format!("gap {}", after - before - 1));
        let since = Selection {
            since: Some("1970-01-01T00:00:27.000Z".into()),
            ..Selection::default()
        };
        let tail = read_tail("j", &path, &since, 1000, usize::MAX);
        assert_eq!(texts(&tail.lines), ["27", "28", "29"]);
        assert!(!tail.cut);
    }

    #[test]
    fn a_follower_goes_on_where_the_tail_ends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.log");
        let mut writer = LogWriter::open(&path, 1 << 20, 2).expect("opens");
        for i in 0..10 {
            writer.append(Timestamp::UNIX_EPOCH, Stream::Out, i.to_string().as_bytes());
        }
        writer.append_part(Timestamp::UNIX_EPOCH, Stream::Out, b"1", false);
        drop(writer);
        // A record still being written (no newline yet) is not a line yet.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("opens");
        std::io::Write::write_all(&mut file, b"2026-01-01T00:00:00.000Z out 0 and mo")
            .expect("written");
        let (tail, mut follower) = tail_and_follow("j", &path, &Selection::default(), 3);
        assert_eq!(texts(&tail), ["8", "9", "1"]);
        let tail = read_tail("j", &path, &Selection::default(), 3, usize::MAX);
        assert_eq!(texts(&tail.lines), ["8", "9", "1"]);
        std::io::Write::write_all(&mut file, b"re\n").expect("written");
        let mut buf = vec![0u8; 64];
        let lines = crate::logs::drain("j", &mut follower, &mut buf);
        assert_eq!(texts(&lines), ["0 and more"]);
        // No log yet: the follower reads it from its first line.
        let (tail, mut follower) =
            tail_and_follow("k", &dir.path().join("k.log"), &Selection::default(), 3);
        assert!(tail.is_empty());
        let mut writer = LogWriter::open(&dir.path().join("k.log"), 1 << 20, 2).expect("opens");
        writer.append(Timestamp::UNIX_EPOCH, Stream::Out, b"first");
        writer.flush();
        assert_eq!(
            texts(&crate::logs::drain("k", &mut follower, &mut buf)),
            ["first"]
        );
    }
}
