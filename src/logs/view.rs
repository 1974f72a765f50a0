//! How log lines look on screen: compose-style prefixes (`name  HH:MM:SS | line`),
//! one stable colour per job, or one JSON object per line; on a terminal, control
//! bytes of a job's output shown as escapes so that output cannot drive the terminal.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::line::LogLine;

/// ANSI colours that read well on dark and light terminals.
const PALETTE: [&str; 12] = [
    "36", "33", "32", "35", "34", "31", "96", "93", "92", "95", "94", "91",
];

/// The colour of a job: the same on every run (FNV-1a of its name).
pub fn color_of(job: &str) -> &'static str {
    let hash = crate::fnv::Fnv::new().write(job.as_bytes()).finish();
    PALETTE[(hash % PALETTE.len() as u64) as usize]
}

/// The width job names are padded to: the widest name shown so far. Shared by
/// everything that prints lines on one screen (the root's jobs and other
/// executors' jobs, each on its own thread), so every prefix lines up.
#[derive(Clone, Debug, Default)]
pub struct Width(Arc<AtomicUsize>);

impl Width {
    /// Widens to fit `name`.
    pub fn fit(&self, name: &str) {
        self.0.fetch_max(name.chars().count(), Ordering::Relaxed);
    }

    /// The width now.
    pub fn get(&self) -> usize {
        self.0.load(Ordering::Relaxed)
    }
}

/// Output settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    pub color: bool,
    /// The full stamp instead of `HH:MM:SS` (UTC).
    pub timestamps: bool,
    pub json: bool,
    /// Show control bytes and invalid UTF-8 as visible escapes (`\x1b`, `\r`).
    pub escape: bool,
}

/// What a `gap` line says.
fn gap_text(dropped: u64) -> String {
    let lines = crate::print::count(dropped, "line");
    format!("[mrsm: {lines} dropped: the log rotated them away before they were read]")
}

/// Whether a character would act on a terminal rather than show.
fn is_control(c: char) -> bool {
    c.is_control() && c != '\t'
}

/// Writes `bytes` with control characters and invalid UTF-8 as escapes.
fn write_escaped(out: &mut dyn Write, bytes: &[u8]) -> std::io::Result<()> {
    for chunk in bytes.utf8_chunks() {
        let text = chunk.valid();
        let mut plain = 0;
        for (i, c) in text.char_indices() {
            if !is_control(c) {
                continue;
            }
            out.write_all(&text.as_bytes()[plain..i])?;
            match c {
                '\r' => out.write_all(b"\\r")?,
                '\n' => out.write_all(b"\\n")?,
                c if (c as u32) < 0x100 => write!(out, "\\x{:02x}", c as u32)?,
                c => write!(out, "\\u{{{:x}}}", c as u32)?,
            }
            plain = i + c.len_utf8();
        }
        out.write_all(&text.as_bytes()[plain..])?;
        for b in chunk.invalid() {
            write!(out, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

/// Writes one line in the chosen style; `width` pads names to one column.
pub fn write_line(
    out: &mut dyn Write,
    line: &LogLine,
    width: usize,
    style: Style,
) -> std::io::Result<()> {
    if style.json {
        #[derive(serde::Serialize)]
        struct Json<'a> {
            job: &'a str,
            ts: &'a str,
            stream: &'a str,
            line: &'a str,
            #[serde(skip_serializing_if = "std::ops::Not::not")]
            continues: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            dropped: Option<u64>,
        }
        let dropped = line.dropped();
        let text = match dropped {
            Some(n) => gap_text(n).into(),
            None => line.text(),
        };
        let object = Json {
            job: &line.job,
            ts: &line.stamp,
            stream: line.stream.name(),
            line: &text,
            continues: line.continues,
            dropped,
        };
        serde_json::to_writer(&mut *out, &object)?;
        return out.write_all(b"\n");
    }
    let when = if style.timestamps {
        line.stamp.as_str()
    } else {
        line.stamp.get(11..19).unwrap_or(&line.stamp)
    };
    let pad = width.saturating_sub(line.job.chars().count());
    if style.color {
        let c = color_of(&line.job);
        write!(
            out,
            "\x1b[{c}m{}\x1b[0m{:pad$}  {when} \x1b[{c}m|\x1b[0m ",
            line.job, ""
        )?;
    } else {
        write!(out, "{}{:pad$}  {when} | ", line.job, "")?;
    }
    if line.stream == crate::logs::Stream::Hook {
        out.write_all(b"hook: ")?;
    }
    if let Some(n) = line.dropped() {
        out.write_all(gap_text(n).as_bytes())?;
    } else if style.escape {
        write_escaped(out, &line.line)?;
    } else {
        out.write_all(&line.line)?;
    }
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::Stream;

    fn line(job: &str, text: &str) -> LogLine {
        LogLine {
            job: job.into(),
            stamp: "2024-05-01T12:34:56.789Z".into(),
            stream: Stream::Out,
            line: text.as_bytes().to_vec(),
            continues: false,
        }
    }

    #[test]
    fn plain_prefix_is_padded() {
        let mut out = Vec::new();
        write_line(&mut out, &line("etl", "hello"), 6, Style::default()).expect("writes");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "etl     12:34:56 | hello\n"
        );
    }

    #[test]
    fn json_and_colours() {
        let mut out = Vec::new();
        let style = Style {
            json: true,
            ..Style::default()
        };
        write_line(&mut out, &line("etl", "a \"quoted\" line"), 0, style).expect("writes");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v["job"], "etl");
        assert_eq!(v["stream"], "out");
        assert_eq!(v["line"], "a \"quoted\" line");
        assert_eq!(color_of("etl"), color_of("etl"));
        let mut out = Vec::new();
        let style = Style {
            color: true,
            ..Style::default()
        };
        write_line(&mut out, &line("etl", "x"), 3, style).expect("writes");
        assert!(String::from_utf8(out).expect("utf-8").starts_with("\x1b["));
    }

    #[test]
    fn control_bytes_are_escaped_when_asked() {
        let mut l = line("etl", "");
        l.line = b"\x1b[31mred\x1b[0m\ttab\r\x07 \xc2\x9b \xff caf\xc3\xa9".to_vec();
        let escape = Style {
            escape: true,
            ..Style::default()
        };
        let mut out = Vec::new();
        write_line(&mut out, &l, 0, escape).expect("writes");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "etl  12:34:56 | \\x1b[31mred\\x1b[0m\ttab\\r\\x07 \\x9b \\xff caf\u{e9}\n"
        );
        let mut out = Vec::new();
        write_line(&mut out, &l, 0, Style::default()).expect("writes");
        assert!(out.ends_with(b"| \x1b[31mred\x1b[0m\ttab\r\x07 \xc2\x9b \xff caf\xc3\xa9\n"));
    }

    #[test]
    fn gaps_and_continued_lines() {
        let mut gap = line("etl", "42");
        gap.stream = Stream::Gap;
        let json = Style {
            json: true,
            ..Style::default()
        };
        let mut out = Vec::new();
        write_line(&mut out, &gap, 0, json).expect("writes");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v["stream"], "gap");
        assert_eq!(v["dropped"], 42);
        assert!(v["line"]
            .as_str()
            .expect("text")
            .contains("42 lines dropped"));
        let mut out = Vec::new();
        write_line(&mut out, &gap, 0, Style::default()).expect("writes");
        assert!(String::from_utf8(out)
            .expect("utf-8")
            .contains("| [mrsm: 42 lines dropped"));

        let mut piece = line("etl", "abc");
        piece.continues = true;
        let mut out = Vec::new();
        write_line(&mut out, &piece, 0, json).expect("writes");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v["continues"], true);
        let mut out = Vec::new();
        write_line(&mut out, &line("etl", "abc"), 0, json).expect("writes");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
        assert_eq!(v.get("continues"), None);
        assert_eq!(v.get("dropped"), None);
    }
}
