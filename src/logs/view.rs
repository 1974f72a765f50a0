//! How log lines look on screen: compose-style prefixes (`name  HH:MM | line`),
//! one stable colour per job, or one JSON object per line.

use std::io::Write;

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

/// Output settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    pub color: bool,
    /// The full stamp instead of `HH:MM`.
    pub timestamps: bool,
    pub json: bool,
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
        }
        let text = line.text();
        let object = Json {
            job: &line.job,
            ts: &line.stamp,
            stream: line.stream.tag(),
            line: &text,
        };
        serde_json::to_writer(&mut *out, &object)?;
        return out.write_all(b"\n");
    }
    let when = if style.timestamps {
        line.stamp.as_str()
    } else {
        line.stamp.get(11..16).unwrap_or(&line.stamp)
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
    out.write_all(&line.line)?;
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
        }
    }

    #[test]
    fn plain_prefix_is_padded() {
        let mut out = Vec::new();
        write_line(&mut out, &line("etl", "hello"), 6, Style::default()).expect("writes");
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "etl     12:34 | hello\n"
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
}
