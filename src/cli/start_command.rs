//! `start job CMD…` (Meerschaum: "prefacing the command with `start job`" makes it
//! a job): when the words after `start job(s)` are a command rather than job
//! names, the command line is read as the `run -d` it stands for. Meerschaum's own
//! flags among the words are taken as job options or dropped, never passed to the
//! command. Words that could be job names stay a start of jobs: the first word
//! must be a job that does not exist and a program that does (on the PATH, or a
//! path), so a mistyped job name is reported as one, not run.

use std::ffi::{OsStr, OsString};
use std::path::Path;

/// Meerschaum flags that take a value, and the `run` option each becomes.
const VALUED: [(&str, &str); 6] = [
    ("--name", "--name"),
    ("-e", "--executor"),
    ("--executor-keys", "--executor"),
    ("--executor", "--executor"),
    ("-s", "--schedule"),
    ("--schedule", "--schedule"),
];

/// Meerschaum flags that mean nothing more here (a job always runs in the
/// background; nothing is asked).
const DROPPED: [&str; 7] = ["-y", "--yes", "-f", "--force", "-d", "--daemon", "--debug"];

/// The `run -d` arguments `args` (the program name first) stand for, if they are
/// `start job(s) CMD…`; `exists` says whether a job of that name exists.
pub fn as_run(args: &[OsString], exists: impl Fn(&str) -> bool) -> Option<Vec<OsString>> {
    let verb = args.get(1)?.to_str()?;
    let noun = args.get(2)?.to_str()?;
    if verb != "start" || !matches!(noun, "job" | "jobs") {
        return None;
    }
    let mut options: Vec<OsString> = Vec::new();
    let mut command: Vec<OsString> = Vec::new();
    let mut words = args[3..].iter();
    while let Some(word) = words.next() {
        let text = word.to_str().unwrap_or_default();
        if let Some((_, option)) = VALUED.iter().find(|(flag, _)| *flag == text) {
            options.push(option.into());
            options.push(words.next()?.clone());
        } else if DROPPED.contains(&text) {
        } else if text == "--" {
            command.extend(words.by_ref().cloned());
        } else {
            command.push(word.clone());
        }
    }
    let first = command.first()?.to_str()?;
    if first.starts_with('-') || !is_program(first) || exists(first) {
        return None;
    }
    let mut run: Vec<OsString> = vec![args[0].clone(), "run".into(), "-d".into()];
    run.extend(options);
    run.push("--".into());
    run.extend(command);
    Some(run)
}

/// Whether `word` names a program: a path to a file, or a file on the PATH.
fn is_program(word: &str) -> bool {
    if word.contains('/') {
        return Path::new(word).is_file();
    }
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| dir.join(OsStr::new(word)).is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &[&str]) -> Vec<OsString> {
        text.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_command_after_start_job_is_run_with_meerschaum_s_flags_taken() {
        let got = as_run(
            &words(&[
                "mrsm", "start", "job", "sleep", "100", "--name", "nap", "-y", "-e", "local",
            ]),
            |_| false,
        );
        assert_eq!(
            got,
            Some(words(&[
                "mrsm",
                "run",
                "-d",
                "--name",
                "nap",
                "--executor",
                "local",
                "--",
                "sleep",
                "100"
            ]))
        );
    }

    #[test]
    fn job_names_and_unknown_words_stay_a_start_of_jobs() {
        assert_eq!(
            as_run(&words(&["mrsm", "start", "jobs", "web"]), |n| n == "sleep"),
            None
        );
        assert_eq!(
            as_run(&words(&["mrsm", "start", "jobs", "sleep"]), |n| n
                == "sleep"),
            None
        );
        assert_eq!(
            as_run(&words(&["mrsm", "start", "jobs", "-y"]), |_| false),
            None
        );
        assert_eq!(
            as_run(&words(&["mrsm", "stop", "jobs", "sleep"]), |_| false),
            None
        );
        assert_eq!(
            as_run(
                &words(&["mrsm", "start", "job", "no-such-program-here"]),
                |_| false
            ),
            None
        );
    }
}
