//! Printing that never panics: `println!` and `eprintln!` panic when their stream is
//! closed (`mrsm up | head`) or cannot be written (a full disk under a supervisor's
//! error file), which would abort work half done (jobs not stopped, a supervisor
//! gone). These write what they can and let the work go on.

/// Like `println!`, but a closed or failing stdout is ignored.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Like `eprintln!`, but a closed or failing stderr is ignored.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
