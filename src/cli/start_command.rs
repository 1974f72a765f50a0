//! Meerschaum's two ways of making a job from a command line, read as the `run -d`
//! they stand for:
//!
//! - `start job CMD…` ("prefacing the command with `start job`"): when the words
//!   after `start job(s)` are a command rather than job names. Words that could be
//!   job names stay a start of jobs: the first word must be a job that does not
//!   exist and a program that does (on the PATH, or a path), so a mistyped job name
//!   is reported as one, not run.
//! - `CMD… -d` ("just add `-d` to any command"): any words that are not one of
//!   mrsm's commands, with `-d`/`--daemon` among them, in Meerschaum's action
//!   syntax: `sh 'LINE'` (or `sh WORDS…`) runs the line in a shell, `python 'CODE'`
//!   runs `python3 -c CODE`.
//!
//! Meerschaum's own flags among the words are taken as job options or dropped,
//! never passed to the command.

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
/// `start job(s) CMD…`; `exists` says whether a job of that name exists. The
/// command is read in Meerschaum's action syntax, as `CMD… -d` is.
pub fn as_run(
    args: &[OsString],
    exists: impl Fn(&str) -> bool,
) -> Option<Result<Vec<OsString>, String>> {
    let verb = args.get(1)?.to_str()?;
    let noun = args.get(2)?.to_str()?;
    if verb != "start" || !matches!(noun, "job" | "jobs") {
        return None;
    }
    let (options, command) = split(&args[3..])?;
    let first = command.first()?.to_str()?;
    if first.starts_with('-') || !is_program(first) || exists(first) {
        return None;
    }
    Some(meerschaum_command(&args[0], options, &command))
}

/// The `run -d` arguments `args` stand for, if they are Meerschaum's `CMD… -d`:
/// the first word is none of mrsm's commands (`is_command`) and `-d` or `--daemon`
/// is among the words. Meerschaum's own actions (`sync pipes -d`) are an error
/// naming what mrsm runs instead.
pub fn as_daemon(
    args: &[OsString],
    is_command: impl Fn(&str) -> bool,
) -> Option<Result<Vec<OsString>, String>> {
    let first = args.get(1)?.to_str()?;
    if first.starts_with('-') || !args[1..].iter().any(|a| a == "-d" || a == "--daemon") {
        return None;
    }
    if is_command(first) {
        return None;
    }
    let (options, command) = split(&args[1..])?;
    Some(meerschaum_command(&args[0], options, &command))
}

/// `run -d` of `command` read in Meerschaum's action syntax (`sh 'LINE'` …), or
/// why mrsm does not run it (one of Meerschaum's own actions).
fn meerschaum_command(
    program: &OsString,
    options: Vec<OsString>,
    command: &[OsString],
) -> Result<Vec<OsString>, String> {
    let words: Vec<String> = command
        .iter()
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    crate::serve::action_words(words).map(|words| {
        run_d(
            program,
            options,
            words.into_iter().map(Into::into).collect(),
        )
    })
}

fn run_d(program: &OsString, options: Vec<OsString>, command: Vec<OsString>) -> Vec<OsString> {
    let mut run: Vec<OsString> = vec![program.clone(), "run".into(), "-d".into()];
    run.extend(options);
    run.push("--".into());
    run.extend(command);
    run
}

/// `run` options (from Meerschaum's flags) and the command's own words.
fn split(args: &[OsString]) -> Option<(Vec<OsString>, Vec<OsString>)> {
    let mut options: Vec<OsString> = Vec::new();
    let mut command: Vec<OsString> = Vec::new();
    let mut words = args.iter();
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
    Some((options, command))
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
            Some(Ok(words(&[
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
            ])))
        );
        // `sh 'LINE'` is a shell line there too, as in `sh 'LINE' -d`.
        assert_eq!(
            as_run(
                &words(&["mrsm", "start", "job", "sh", "echo hi; sleep 5"]),
                |_| false
            ),
            Some(Ok(words(&["mrsm", "run", "-d", "--", "echo hi; sleep 5"])))
        );
    }

    #[test]
    fn any_command_with_d_is_a_job_in_meerschaum_s_action_syntax() {
        let verbs = |w: &str| ["run", "show", "start"].contains(&w);
        assert_eq!(
            as_daemon(
                &words(&["mrsm", "sh", "echo hi; sleep 3", "-d", "--name", "j", "-y"]),
                verbs
            ),
            Some(Ok(words(&[
                "mrsm",
                "run",
                "-d",
                "--name",
                "j",
                "--",
                "echo hi; sleep 3"
            ])))
        );
        assert_eq!(
            as_daemon(&words(&["mrsm", "sleep", "30", "--daemon"]), verbs),
            Some(Ok(words(&["mrsm", "run", "-d", "--", "sleep", "30"])))
        );
        assert_eq!(
            as_daemon(&words(&["mrsm", "python", "print(1)", "-d"]), verbs),
            Some(Ok(words(&[
                "mrsm", "run", "-d", "--", "python3", "-c", "print(1)"
            ])))
        );
        let refused = as_daemon(&words(&["mrsm", "sync", "pipes", "-d"]), verbs);
        assert!(
            matches!(&refused, Some(Err(m)) if m.contains("`sync pipes`") && m.contains("sh 'COMMAND'")),
            "{refused:?}"
        );
        // mrsm's own commands, and words without -d, are left to the parser.
        assert_eq!(as_daemon(&words(&["mrsm", "run", "-d", "x"]), verbs), None);
        assert_eq!(as_daemon(&words(&["mrsm", "sleep", "30"]), verbs), None);
        assert_eq!(as_daemon(&words(&["mrsm", "-d", "sleep"]), verbs), None);
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
