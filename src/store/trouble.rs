//! What a log could not keep while its disk was full: written by the log's writer,
//! carried in the job's report, shown by `show jobs`. Here, below both.

use jiff::Timestamp;

/// Output a log could not keep: counted from the first failed write until one
/// succeeds again, which then writes a `sys` note with these figures.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogTrouble {
    /// Records (lines, or pieces of long lines) dropped.
    pub dropped_lines: u64,
    /// Output bytes in them.
    pub dropped_bytes: u64,
    /// The last error.
    pub error: String,
    /// When the first write failed.
    pub since: Timestamp,
}
