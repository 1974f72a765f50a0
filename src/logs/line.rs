//! One log record with the job it belongs to, as readers hand it out.

use std::borrow::Cow;

use jiff::Timestamp;

use super::follow::Follower;
use super::record::{Record, Stream};

/// A line of a job's log.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogLine {
    pub job: String,
    /// `2024-05-01T12:34:56.789Z`: UTC, milliseconds; sorts as text.
    pub stamp: String,
    pub stream: Stream,
    /// As text when it is UTF-8 (almost always), else as a list of bytes.
    #[serde(with = "text_or_bytes")]
    pub line: Vec<u8>,
    /// No newline followed these bytes: the next line of the stream continues them
    /// (a line longer than the record cap, or one not finished yet when written).
    pub continues: bool,
}

/// A line's bytes in JSON: a string when they are UTF-8 (a tenth of the size of a
/// list of numbers, and readable), else the list of bytes; both are read back.
mod text_or_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(bytes) {
            Ok(text) => s.serialize_str(text),
            Err(_) => s.collect_seq(bytes),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Either::deserialize(d)? {
            Either::Text(text) => text.into_bytes(),
            Either::Bytes(bytes) => bytes,
        })
    }
}

impl LogLine {
    /// When the line was completed.
    pub fn time(&self) -> Option<Timestamp> {
        self.stamp.parse().ok()
    }

    /// The line as text (invalid UTF-8 replaced).
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.line)
    }

    /// For a `gap` line: how many lines the reader missed.
    pub fn dropped(&self) -> Option<u64> {
        if self.stream != Stream::Gap {
            return None;
        }
        std::str::from_utf8(&self.line).ok()?.parse().ok()
    }
}

/// Parses complete records (each ending in a newline) into lines of `job`.
pub fn parse_records(job: &str, bytes: &[u8]) -> Vec<LogLine> {
    bytes
        .split(|&b| b == b'\n')
        .filter_map(Record::parse)
        .map(|r| LogLine {
            job: job.to_string(),
            stamp: r.stamp.to_string(),
            stream: r.stream,
            line: r.line.to_vec(),
            continues: r.continues,
        })
        .collect()
}

/// Which lines of a log to show.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Selection {
    /// Only the last N lines.
    pub tail: Option<usize>,
    /// Only lines stamped at or after this stamp (same format as the records).
    pub since: Option<String>,
    /// Leave out the supervisor's own notes.
    pub output_only: bool,
}

impl Selection {
    /// Whether a line passes the stream and time filters (not `tail`); `gap` lines
    /// are not the supervisor's notes and pass `output_only`.
    pub fn admits(&self, line: &LogLine) -> bool {
        !(self.output_only && matches!(line.stream, Stream::Sys | Stream::Hook))
            && self
                .since
                .as_ref()
                .is_none_or(|s| line.stamp.as_str() >= s.as_str())
    }

    /// Applies every filter to lines read so far.
    pub fn apply(&self, mut lines: Vec<LogLine>) -> Vec<LogLine> {
        lines.retain(|l| self.admits(l));
        if let Some(n) = self.tail {
            let skip = lines.len().saturating_sub(n);
            lines.drain(..skip);
        }
        lines
    }
}

/// Reads everything a follower can read now, parsed (for a log's history).
pub fn drain(job: &str, follower: &mut Follower, buf: &mut [u8]) -> Vec<LogLine> {
    let mut bytes = Vec::new();
    while follower.poll(&mut bytes, buf) {}
    parse_records(job, &bytes)
}

/// Reads what a follower can read now, up to about 1 MiB, parsed (for following:
/// the caller hands these on before reading more).
pub fn drain_some(job: &str, follower: &mut Follower, buf: &mut [u8]) -> Vec<LogLine> {
    let mut bytes = Vec::new();
    follower.poll(&mut bytes, buf);
    parse_records(job, &bytes)
}

#[cfg(test)]
mod json_tests {
    use super::*;

    #[test]
    fn a_line_is_text_in_json_unless_it_is_not_utf8() {
        let line = |bytes: &[u8]| LogLine {
            job: "j".into(),
            stamp: "2026-01-01T00:00:00.000Z".into(),
            stream: Stream::Out,
            line: bytes.to_vec(),
            continues: false,
        };
        for bytes in [
            &b"hello"[..],
            &b"caf\xc3\xa9"[..],
            &b"\xff\xfe"[..],
            &b""[..],
        ] {
            let json = serde_json::to_string(&line(bytes)).expect("encoded");
            let back: LogLine = serde_json::from_str(&json).expect("decoded");
            assert_eq!(back.line, bytes, "{json}");
        }
        let json = serde_json::to_string(&line(b"hello")).expect("encoded");
        assert!(json.contains("\"line\":\"hello\""), "{json}");
    }
}
