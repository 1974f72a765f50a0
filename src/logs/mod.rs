//! Job logs: one record per line, stamped with the UTC time the line completed,
//! rotated by rename so that no record is ever split across files.
//!
//! ## The record format
//!
//! A file is a sequence of records, each ending in a newline:
//!
//! ```text
//! 2024-05-01T12:34:56.789Z out the line as the job wrote it
//! 2024-05-01T12:34:56.789Z err+ the first 64 KiB of a longer line…
//! 2024-05-01T12:34:56.789Z sys run 3 started
//! ```
//!
//! - the stamp, always 24 bytes; a space; the stream (`out`, `err`, or `sys` for the
//!   supervisor's own notes); then either a space, or `+` and a space; then the
//!   output's bytes untouched (no newline: the record's newline stands for it).
//! - `+` marks a record that is *not* followed by a newline in the output: the next
//!   record of the same stream continues the line. It is written for a line longer
//!   than the record cap (64 KiB unless configured), for a partial line that waited
//!   100 ms without its newline (a prompt, `\r` progress output), and for the last
//!   bytes before end-of-file when they had no newline. Concatenating a stream's
//!   records, adding a newline after each one without `+`, gives its output back
//!   byte for byte.
//! - a file starts with a header, `2024-05-01T12:34:56.789Z seq 1234567`: how many
//!   records the log held before this file (counted since the log was created, across
//!   rotations and restarts). A reader that finds the next file's count above the
//!   count it reached knows exactly how many records rotation deleted before it could
//!   read them. Files written before headers existed have none and count from 0;
//!   every reader still reads them.
//! - beside each file, `.index/NAME.log[.N]` holds the byte offset of a record
//!   every 32 KiB or so, with its number: readers seek to a record instead of
//!   counting the newlines before it (`index.rs`; never trusted blindly, and a
//!   file without one is still read, by counting).
//! - when writes fail (a full disk) the writer never leaves a torn record: it sets
//!   space aside before writing and cuts a short write back off. What it had to
//!   drop is counted, and the first successful write afterwards starts with one
//!   `sys` record `N lines (M bytes) dropped: <error>`.
//!
//! Readers never see headers; where lines were lost they get one record of stream
//! `gap` whose line is the number of records lost (never stored in a file).

mod activity;
mod follow;
mod format;
mod index;
mod line;
pub mod multiplex;
mod page;
mod record;
mod tail;
mod view;
mod writer;

pub use crate::store::LogTrouble;
pub use activity::Activity;
pub use follow::{Follower, Grabber};
pub use format::{log_files, records_through, remove_log, rotated_path};
pub use line::{drain, drain_some, parse_records, LogLine, Selection};
pub use page::{read_page, Cursor, PageReader, PAGE_BYTES};
pub use record::{format_stamp, parse_header, Record, Stream};
pub use tail::{read_tail, tail_and_follow, Tail};
pub use view::{color_of, write_line, Style, Width};
pub use writer::{LogWriter, DEFAULT_MAX_LINE};

/// The lines' texts, a gap as `gap N`: what the readers' tests compare.
#[cfg(test)]
fn texts(lines: &[LogLine]) -> Vec<String> {
    lines
        .iter()
        .map(|l| match l.stream {
            Stream::Gap => format!("gap {}", String::from_utf8_lossy(&l.line)),
            _ => String::from_utf8_lossy(&l.line).into_owned(),
        })
        .collect()
}
