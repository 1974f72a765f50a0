//! The record format shared by the writer and every reader.

use jiff::Timestamp;

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
    /// The supervisor's own notes (run started, step exited, …).
    Sys,
}

impl Stream {
    /// The three-letter tag stored in the file.
    pub fn tag(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
            Stream::Sys => "sys",
        }
    }

    fn from_tag(tag: &[u8]) -> Option<Stream> {
        match tag {
            b"out" => Some(Stream::Out),
            b"err" => Some(Stream::Err),
            b"sys" => Some(Stream::Sys),
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
}

/// Length of the stamp: `2024-05-01T12:34:56.789Z`.
const STAMP_LEN: usize = 24;

impl<'a> Record<'a> {
    /// Parses one record (without its newline).
    pub fn parse(bytes: &'a [u8]) -> Option<Record<'a>> {
        if bytes.len() < STAMP_LEN + 4 || bytes[STAMP_LEN] != b' ' || bytes[STAMP_LEN + 4] != b' ' {
            return None;
        }
        let stamp = std::str::from_utf8(&bytes[..STAMP_LEN]).ok()?;
        let stream = Stream::from_tag(&bytes[STAMP_LEN + 1..STAMP_LEN + 4])?;
        Some(Record {
            stamp,
            stream,
            line: &bytes[STAMP_LEN + 5..],
        })
    }

    /// The stamp as an instant.
    pub fn time(&self) -> Option<Timestamp> {
        self.stamp.parse().ok()
    }

    /// Appends a record for `line` to `out`.
    pub fn encode(out: &mut Vec<u8>, stamp: &str, stream: Stream, line: &[u8]) {
        out.reserve(STAMP_LEN + 5 + line.len() + 1);
        out.extend_from_slice(stamp.as_bytes());
        out.push(b' ');
        out.extend_from_slice(stream.tag().as_bytes());
        out.push(b' ');
        out.extend_from_slice(line);
        out.push(b'\n');
    }
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
        Record::encode(&mut buf, &stamp, Stream::Err, b"hello | world");
        let rec = Record::parse(&buf[..buf.len() - 1]).expect("parses");
        assert_eq!(rec.stream, Stream::Err);
        assert_eq!(rec.line, b"hello | world");
        assert_eq!(
            rec.time().map(|t| t.as_millisecond()),
            Some(t.as_millisecond())
        );
    }
}
