//! What the watcher tells its caller, and how that reads for people: results on
//! stdout, problems on stderr. The watcher itself never prints; the foreground `up`
//! routes these through its one owner of the terminal.

use std::path::PathBuf;
use std::time::Duration;

use super::{describe, Action, Outcome, Step};
use crate::executor::ExecutorError;
use crate::spec::{AsWarning, SpecError, SpecErrors};

/// What the watcher tells its caller.
#[derive(Debug)]
pub enum Event<'a> {
    /// The first pass is done; from now on changes of these files are applied.
    Watching {
        project: &'a str,
        inputs: &'a [PathBuf],
    },
    /// The files changed and were applied (`retry_in`: when failed steps run again).
    Applied {
        outcomes: &'a [Outcome],
        retry_in: Option<Duration>,
    },
    /// The files load, with these warnings.
    Warnings(&'a [SpecError]),
    /// The files changed but do not load; nothing was changed.
    Invalid(&'a SpecErrors),
    /// The change deletes most of the project's jobs: it is applied after `wait` if
    /// the files still say so.
    Deferred {
        deletes: usize,
        owned: usize,
        wait: Duration,
    },
    /// The jobs could not be listed, so the change is not applied yet.
    Unlisted {
        error: &'a ExecutorError,
        retry_in: Duration,
    },
    /// Steps that had failed were tried again.
    Retried {
        outcomes: &'a [Outcome],
        retry_in: Option<Duration>,
    },
    /// Drift was repaired.
    Healed(&'a [Outcome]),
    /// The files now name another project than the one watched: nothing applied.
    OtherProject { watched: &'a str, files: &'a str },
    /// The files name the watched project again (and are applied as usual).
    ProjectAgain(&'a str),
}

/// One line for people, and whether it reports a problem (stderr) or not (stdout).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub error: bool,
    pub text: String,
}

fn out(text: String) -> Message {
    Message { error: false, text }
}

fn err(text: String) -> Message {
    Message { error: true, text }
}

fn outcome_messages(outcomes: &[Outcome], retry_in: Option<Duration>) -> Vec<Message> {
    let again = |step: &Step| match retry_in {
        Some(d) if retried(step) => format!("; trying again in {}", seconds(d)),
        _ => String::new(),
    };
    outcomes
        .iter()
        .map(|o| match &o.result {
            Ok(m) => out(m.clone()),
            Err(e) => err(format!(
                "error: {} ({e}{})",
                describe(&o.step),
                again(&o.step)
            )),
        })
        .collect()
}

fn seconds(d: Duration) -> String {
    humantime::format_duration(Duration::from_millis(d.as_millis() as u64)).to_string()
}

/// What to print for an event. A warning already said in this command (the same
/// files read again) is left out.
pub fn messages(event: &Event<'_>) -> Vec<Message> {
    match event {
        Event::Watching { project, inputs } => {
            let files = inputs.iter().filter(|p| p.exists()).count();
            let plural = if files == 1 { "" } else { "s" };
            vec![out(format!(
                "watching {files} file{plural} of project {project:?} for changes"
            ))]
        }
        Event::Applied { outcomes: [], .. } => {
            vec![out("the files load again; nothing to change".to_string())]
        }
        Event::Applied { outcomes, retry_in } | Event::Retried { outcomes, retry_in } => {
            outcome_messages(outcomes, *retry_in)
        }
        Event::Healed(outcomes) => outcome_messages(outcomes, None),
        Event::Warnings(warnings) => warnings
            .iter()
            // Every reload of the same files would say them again.
            .filter(|w| crate::print::first_time(&w.headline()))
            .map(|w| err(AsWarning(w).to_string()))
            .collect(),
        Event::Invalid(errors) => vec![err(format!(
            "{errors}\nnot applied: fix the file and save it again"
        ))],
        Event::Deferred {
            deletes,
            owned,
            wait,
        } => vec![err(format!(
            "this change deletes {deletes} of the project's {}: applying it in {} if the files still say so",
            crate::print::count(*owned, "job"),
            seconds(*wait)
        ))],
        Event::OtherProject { watched, files } => vec![err(format!(
            "the files now say project {files:?}, but this watcher applies project {watched:?}: not applied (the jobs of {watched:?} are left as they are; stop this watcher and run `mrsm up` for {files:?}, or put the name back)"
        ))],
        Event::ProjectAgain(project) => vec![out(format!(
            "the files name project {project:?} again"
        ))],
        Event::Unlisted { error, retry_in } => vec![err(format!(
            "error: cannot list the jobs ({error}): the change is applied on a later try, in {}",
            seconds(*retry_in)
        ))],
    }
}

/// Prints watcher events for people: results on stdout, problems on stderr.
pub fn print_event(event: &Event<'_>) {
    for m in messages(event) {
        match m.error {
            true => err!("{}", m.text),
            false => out!("{}", m.text),
        }
    }
}

/// Whether a failed step is worth trying again by itself (a conflict is not: it is
/// reported once per change and healed when the other job goes away).
pub(super) fn retried(step: &Step) -> bool {
    !matches!(step.action, Action::Conflict(_) | Action::Broken(_))
}
