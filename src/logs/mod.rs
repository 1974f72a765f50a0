//! Job logs: one record per line, stamped with the UTC time the line completed,
//! rotated by rename so that no line is ever split across files.
//!
//! A record is `2024-05-01T12:34:56.789Z out the line as the job wrote it\n`: the
//! stamp (always 24 bytes), the stream (`out`, `err`, or `sys` for the supervisor's own
//! notes), and the line's bytes untouched.

mod follow;
mod line;
pub mod multiplex;
mod record;
mod size;
mod view;
mod writer;

pub use follow::{log_files, Follower, Grabber, SharedFollower};
pub use line::{drain, drain_shared, parse_records, LogLine, Selection};
pub use record::{format_stamp, Record, Stream};
pub use size::parse_size;
pub use view::{color_of, write_line, Style};
pub use writer::{rotated_path, LogWriter};
