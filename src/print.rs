//! Printing that never panics: `println!` and `eprintln!` panic when their stream is
//! closed (`mrsm up | head`) or cannot be written (a full disk under a supervisor's
//! error file), which would abort work half done (jobs not stopped, a supervisor
//! gone). These write what they can and let the work go on.
//!
//! A library user driving the command line in-process (tests of a custom executor)
//! can collect what it prints with [`capture`].

use std::io::Write;
use std::sync::Mutex;

/// Where output goes while [`capture`] runs: (stdout, stderr).
static CAPTURED: Mutex<Option<(Vec<u8>, Vec<u8>)>> = Mutex::new(None);
/// One capture at a time.
static CAPTURING: Mutex<()> = Mutex::new(());

/// Writes to stdout (`err` false) or stderr, or to the capture when one runs.
#[doc(hidden)]
pub fn emit(err: bool, args: std::fmt::Arguments<'_>) {
    if let Ok(mut captured) = CAPTURED.lock() {
        if let Some((out, errors)) = captured.as_mut() {
            let _ = if err { errors } else { out }.write_fmt(args);
            return;
        }
    }
    let _ = if err {
        std::io::stderr().write_fmt(args)
    } else {
        std::io::stdout().write_fmt(args)
    };
}

/// Runs `f` with everything printed through `out!`/`err!` collected instead of
/// written: returns `f`'s value, the standard output and the standard error.
pub fn capture<T>(f: impl FnOnce() -> T) -> (T, String, String) {
    let _one = CAPTURING.lock().unwrap_or_else(|e| e.into_inner());
    if let Ok(mut captured) = CAPTURED.lock() {
        *captured = Some((Vec::new(), Vec::new()));
    }
    let value = f();
    let (out, errors) = CAPTURED
        .lock()
        .ok()
        .and_then(|mut c| c.take())
        .unwrap_or_default();
    (
        value,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&errors).into_owned(),
    )
}

/// `1 job`, `2 jobs`: a count with its noun (`noun` plus `s` unless there is one),
/// so that no message says `1 jobs`.
pub fn count(n: impl TryInto<u64>, noun: &str) -> String {
    match n.try_into().unwrap_or(u64::MAX) {
        1 => format!("1 {noun}"),
        n => format!("{n} {noun}s"),
    }
}

/// What [`first_time`] has seen in this command.
static SHOWN: Mutex<Option<std::collections::HashSet<String>>> = Mutex::new(None);

/// Whether `text` is new to this command (it is remembered): a warning that every
/// load of the same files would repeat (each reload of a watcher, each step of a
/// verb that reads the files again) is printed the first time only.
pub fn first_time(text: &str) -> bool {
    let mut shown = SHOWN.lock().unwrap_or_else(|e| e.into_inner());
    shown
        .get_or_insert_with(Default::default)
        .insert(text.to_string())
}

/// Forgets what [`first_time`] has seen: a new command begins (a library user
/// runs several in one process).
pub fn forget_shown() {
    *SHOWN.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Like `println!`, but a closed or failing stdout is ignored.
macro_rules! out {
    ($($arg:tt)*) => {{
        $crate::print::emit(false, format_args!("{}\n", format_args!($($arg)*)));
    }};
}

/// Like `print!` (no newline), with the same care as `out!`.
macro_rules! out_part {
    ($($arg:tt)*) => {{
        $crate::print::emit(false, format_args!($($arg)*));
    }};
}

/// Like `eprintln!`, but a closed or failing stderr is ignored.
macro_rules! err {
    ($($arg:tt)*) => {{
        $crate::print::emit(true, format_args!("{}\n", format_args!($($arg)*)));
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_of_a_thing_is_singular() {
        assert_eq!(super::count(0usize, "job"), "0 jobs");
        assert_eq!(super::count(1usize, "job"), "1 job");
        assert_eq!(super::count(2u64, "line"), "2 lines");
    }
}
