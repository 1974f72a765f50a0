//! The record format shared by the writer and every reader (described in
//! [`crate::logs`]). Parsing never panics: a damaged file yields lines that are not
//! records, which readers skip.

use jiff::Timestamp;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Out,
    Err,
    /// The supervisor's own notes (run started, step exited, …).
    Sys,
    /// What a job's hooks (`on_success`, …) printed.
    Hook,
    /// Never stored: a reader's note that rotation deleted lines before it could
    /// read them; the line is the number of records lost.
    Gap,
}

impl Stream {
    /// The three-letter tag stored in the file.
    pub fn tag(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
            Stream::Sys => "sys",
            Stream::Hook => "hok",
            Stream::Gap => "gap",
        }
    }

    /// Its name, as `--json` says it.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Hook => "hook",
            other => other.tag(),
        }
    }

    fn from_tag(tag: &[u8]) -> Option<Stream> {
        match tag {
            b"out" => Some(Stream::Out),
            b"err" => Some(Stream::Err),
            b"sys" => Some(Stream::Sys),
            b"hok" => Some(Stream::Hook),
            b"gap" => Some(Stream::Gap),
            _ => None,
        }
    }
}

/// A parsed record, borrowing the line from the file's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    pub stamp: &'a str,
    pub stream: Stream,
    pub line: &'a [u8],
    /// No newline followed these bytes: the next record of the stream continues the
    /// line (tag written `out+`).
    pub continues: bool,
}

/// Length of the stamp: `2024-05-01T12:34:56.789Z`.
pub const STAMP_LEN: usize = 24;
/// Stamp, space, tag, `+`, space: the most bytes before a record's line.
pub const PREFIX_MAX: usize = STAMP_LEN + 6;
/// The tag of a file header.
const HEADER_TAG: &[u8] = b"seq";

/// Splits `STAMP TAG REST` into its parts, checking only the layout.
fn fields(bytes: &[u8]) -> Option<(&str, &[u8], &[u8])> {
    let stamp = bytes.get(..STAMP_LEN)?;
    if bytes.get(STAMP_LEN) != Some(&b' ') {
        return None;
    }
    let stamp = std::str::from_utf8(stamp).ok()?;
    let tag = bytes.get(STAMP_LEN + 1..STAMP_LEN + 4)?;
    Some((stamp, tag, &bytes[STAMP_LEN + 4..]))
}

impl<'a> Record<'a> {
    /// Parses one record (without its newline); `None` for anything else, file
    /// headers included.
    pub fn parse(bytes: &'a [u8]) -> Option<Record<'a>> {
        let (stamp, tag, rest) = fields(bytes)?;
        let stream = Stream::from_tag(tag)?;
        let (continues, line) = match rest {
            [b' ', line @ ..] => (false, line),
            [b'+', b' ', line @ ..] => (true, line),
            _ => return None,
        };
        Some(Record {
            stamp,
            stream,
            line,
            continues,
        })
    }

    /// The stamp as an instant.
    pub fn time(&self) -> Option<Timestamp> {
        self.stamp.parse().ok()
    }

    /// Appends a record for `line` to `out`.
    pub fn encode(out: &mut Vec<u8>, stamp: &str, stream: Stream, line: &[u8], continues: bool) {
        out.reserve(PREFIX_MAX + line.len() + 1);
        out.extend_from_slice(stamp.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.tag().as_bytes());
        if continues {
            out.push(b'+');
        }
        out.push(b' ');
        out.extend_from_slice(line);
        out.push(b'\n');
    }
}

/// The sequence number in a file header (`STAMP seq N`, without its newline): how
/// many records the log held before this file.
pub fn parse_header(bytes: &[u8]) -> Option<u64> {
    let (_, tag, rest) = fields(bytes)?;
    if tag != HEADER_TAG {
        return None;
    }
    let digits = rest.strip_prefix(b" ")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Appends a file header saying the log held `seq` records before this file.
pub fn encode_header(out: &mut Vec<u8>, stamp: &str, seq: u64) {
    out.extend_from_slice(stamp.as_bytes());
    out.push(b' ');
    out.extend_from_slice(HEADER_TAG);
    out.push(b' ');
    out.extend_from_slice(seq.to_string().as_bytes());
    out.push(b'\n');
}

/// The stamp of an instant: UTC, millisecond precision, always 24 bytes.
pub fn format_stamp(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t: Timestamp = "2024-05-01T12:34:56.789123Z".parse().expect("instant");
        let stamp = format_stamp(t);
        assert_eq!(stamp, "2024-05-01T12:34:56.789Z");
        let mut buf = Vec::new();
        Record::encode(&mut buf, &stamp, Stream::Err, b"hello | world", false);
        let rec = Record::parse(&buf[..buf.len() - 1]).expect("parses");
        assert_eq!(rec.stream, Stream::Err);
        assert_eq!(rec.line, b"hello | world");
        assert!(!rec.continues);
        assert_eq!(
            rec.time().map(|t| t.as_millisecond()),
            Some(t.as_millisecond())
        );
    }

    #[test]
    fn continued_records_and_headers() {
        let stamp = "2024-05-01T12:34:56.789Z";
        let mut buf = Vec::new();
        Record::encode(&mut buf, stamp, Stream::Out, b"half a li", true);
        assert_eq!(buf, b"2024-05-01T12:34:56.789Z out+ half a li\n");
        let rec = Record::parse(&buf[..buf.len() - 1]).expect("parses");
        assert!(rec.continues);
        assert_eq!(rec.line, b"half a li");

        let mut head = Vec::new();
        encode_header(&mut head, stamp, 1234567);
        assert_eq!(head, b"2024-05-01T12:34:56.789Z seq 1234567\n");
        assert_eq!(parse_header(&head[..head.len() - 1]), Some(1234567));
        assert_eq!(Record::parse(&head[..head.len() - 1]), None);
        assert_eq!(parse_header(&buf[..buf.len() - 1]), None);
    }

    #[test]
    fn damaged_records_are_not_records() {
        // 28 bytes with a space at byte 24: once an out-of-bounds index.
        let damaged = b"2024-05-01T12:34:56.789Z out";
        assert_eq!(Record::parse(damaged), None);
        assert_eq!(parse_header(b"2024-05-01T12:34:56.789Z seq"), None);
        assert_eq!(parse_header(b"2024-05-01T12:34:56.789Z seq "), None);
        assert_eq!(
            parse_header(b"2024-05-01T12:34:56.789Z seq 99999999999999999999999"),
            None
        );
        assert_eq!(Record::parse(b"\xff\xfe"), None);
    }
}
