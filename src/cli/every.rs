//! Job verbs without names act on every job they apply to, as Meerschaum's do
//! (`stop jobs`, `start jobs`, `pause jobs`, `delete jobs`): the jobs are listed and
//! the user is asked on a terminal; elsewhere `-y` (or `-f`) must say so, or
//! nothing is done.

use std::io::{IsTerminal, Write};

use super::UsageError;
use crate::executor::Executor;
use crate::job::{JobInfo, JobName, JobStatus};

/// What a verb does to the jobs it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Start,
    Pause,
    Stop,
    Delete,
}

impl Verb {
    /// Whether the verb has something to do to `job`.
    fn applies(self, job: &JobInfo) -> bool {
        match self {
            Verb::Start => job.status != JobStatus::Running,
            Verb::Pause => job.status == JobStatus::Running,
            Verb::Stop => matches!(job.status, JobStatus::Running | JobStatus::Paused),
            Verb::Delete => true,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Verb::Start => "start",
            Verb::Pause => "pause",
            Verb::Stop => "stop",
            Verb::Delete => "delete",
        }
    }

    /// What it says when no job is left for it.
    fn nothing(self) -> &'static str {
        match self {
            Verb::Start => "no stopped or paused jobs to start",
            Verb::Pause => "no running jobs to pause",
            Verb::Stop => "no running or paused jobs to stop",
            Verb::Delete => "no jobs to delete",
        }
    }
}

/// The jobs `verb` is to act on: `given`, else every job of `executor`'s place it
/// applies to, once confirmed (`yes` confirms; without it, input that is not a
/// terminal refuses). `None` when nothing is to be done (said why).
pub fn chosen(
    executor: &dyn Executor,
    given: &[JobName],
    verb: Verb,
    yes: bool,
) -> anyhow::Result<Option<Vec<String>>> {
    if !given.is_empty() {
        return Ok(Some(given.iter().map(|n| n.as_str().to_string()).collect()));
    }
    let jobs: Vec<JobInfo> = executor
        .list_home(None)?
        .into_iter()
        .filter(|j| verb.applies(j))
        .collect();
    if jobs.is_empty() {
        out!("{}", verb.nothing());
        return Ok(None);
    }
    let names: Vec<String> = jobs.iter().map(|j| j.name.clone()).collect();
    if yes {
        return Ok(Some(names));
    }
    if !std::io::stdin().is_terminal() {
        return Err(UsageError(format!(
            "refusing to {} every job ({}) without asking: input is not a terminal; pass -y to confirm",
            verb.word(),
            names.len()
        ))
        .into());
    }
    let what = match verb {
        Verb::Delete => "jobs and their logs",
        _ => "jobs",
    };
    print!(
        "{} these {} {what}: {}? [y/N] ",
        capitalized(verb.word()),
        names.len(),
        names.join(", ")
    );
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        return Ok(Some(names));
    }
    out!("nothing done");
    Ok(None)
}

fn capitalized(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
