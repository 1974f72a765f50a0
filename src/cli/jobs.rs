//! The job verbs: `show jobs`, `show runs`, `start`, `pause`, `stop` and `delete jobs`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use super::every::Verb;
use super::{render, On, UsageError};
use crate::executor::{DeleteOptions, ErrorKind, Executor, ExecutorError, Outcome, StopOptions};
use crate::job::{JobInfo, JobName, SignalName};

/// Job names, or none for every job the verb applies to (after a confirmation).
#[derive(Debug, clap::Args)]
pub struct Names {
    /// Job names; without any, every job the verb applies to, once confirmed.
    #[arg(value_name = "NAME")]
    pub names: Vec<JobName>,
    #[command(flatten)]
    pub on: On,
    /// Do not ask for confirmation (needed for every job when input is not a
    /// terminal, and for `delete jobs`).
    #[arg(short = 'y', long = "yes")]
    pub yes: bool,
    /// Meerschaum's `--force`: the same as `-y` here.
    #[arg(short = 'f', long = "force")]
    pub force: bool,
}

impl Names {
    /// Whether the user confirmed already.
    fn confirmed(&self) -> bool {
        self.yes || self.force
    }
}

/// Arguments of `show jobs`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Only these jobs (default: all).
    #[arg(value_name = "NAME")]
    names: Vec<JobName>,
    /// Print a JSON array of job objects instead of a table.
    #[arg(long)]
    json: bool,
    /// Never colour statuses (colour is also off when output is not a terminal or
    /// NO_COLOR is set).
    #[arg(long)]
    no_color: bool,
    /// Only this executor's jobs (default: every executor's, with an EXECUTOR column).
    #[arg(
        short = 'e',
        long = "executor",
        visible_alias = "executor-keys",
        env = "MRSM_EXECUTOR",
        value_name = "LABEL"
    )]
    executor: Option<String>,
    /// Meerschaum's plain form for scripts: the names only, one per line, running
    /// jobs first, then paused, then the rest.
    #[arg(long, conflicts_with = "json")]
    nopretty: bool,
}

/// Arguments of `show runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// The job.
    name: JobName,
    /// Print a JSON array of run records instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    on: On,
}

/// Arguments of `delete jobs`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    stop: StopArgs,
}

/// Arguments of `stop jobs` (and how `delete jobs` stops).
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    #[command(flatten)]
    names: Names,
    /// Signal sent first (default: the job's own, SIGTERM unless set).
    #[arg(long, value_name = "SIGNAL")]
    signal: Option<SignalName>,
    /// Grace period before SIGKILL, e.g. 10s or 500ms (default: the job's own).
    #[arg(long, value_name = "DURATION", value_parser = parse_stop_timeout)]
    timeout: Option<Duration>,
}

/// Runs `verb` on each named job, reporting each; exit 1 if any failed, 2 if a name
/// is not a valid job name.
pub fn each(
    names: &Names,
    kind: Verb,
    verb: impl Fn(&dyn Executor, &str) -> Result<Outcome, ExecutorError> + Sync,
) -> anyhow::Result<i32> {
    let on = names.on.clone();
    let executor = on.executor()?;
    let executor = executor.as_ref();
    let Some(chosen) = super::every::chosen(executor, &names.names, kind, names.confirmed())?
    else {
        return Ok(0);
    };
    let mut code = 0;
    // All at once: fifty stops take as long as the slowest, not as all of them;
    // but dependents (`depends_on`) are stopped before what they depend on.
    let mut results = Vec::new();
    for wave in in_order(executor, &chosen, kind) {
        results.extend(crate::parallel::each(&wave, |name| verb(executor, name)));
    }
    for result in results {
        match result {
            Ok(outcome) => out!("{}", outcome.on(executor.label())),
            // Held by another executor: said with the `-e` that reaches it.
            Err(ExecutorError::NotFound(name)) => {
                match on.executor_of(&name) {
                    Err(e) => err!("error: {e:#}"),
                    Ok(_) => err!("error: {}", ExecutorError::NotFound(name)),
                }
                code = code.max(1);
            }
            Err(e) => {
                err!("error: {e}");
                code = code.max(1);
            }
        }
    }
    Ok(code)
}

/// The jobs a verb acts on, in waves: a stop or a delete of several reaches a
/// job's dependents (`depends_on`) first; other verbs act on all at once.
fn in_order<'a>(executor: &dyn Executor, chosen: &'a [String], kind: Verb) -> Vec<Vec<&'a String>> {
    let all: Vec<&String> = chosen.iter().collect();
    if !matches!(kind, Verb::Stop | Verb::Delete) || chosen.len() < 2 {
        return vec![all];
    }
    // Every job's dependencies, the ones not stopped here included (a finished
    // job between two of them).
    let graph = crate::reconcile::order::Graph::new(
        executor
            .list(None)
            .unwrap_or_default()
            .into_iter()
            .map(|j| (j.name, j.depends_on)),
    );
    crate::reconcile::order::stop_waves(&all, |n| n.as_str(), &graph)
}

/// `delete jobs`: asks first on a terminal; elsewhere -y is required.
pub fn delete(args: &DeleteArgs) -> anyhow::Result<i32> {
    stop(&args.stop, Some(args.stop.names.confirmed()))
}

/// `stop jobs`, or `delete jobs` when `delete` says whether it was confirmed.
pub fn stop(args: &StopArgs, delete: Option<bool>) -> anyhow::Result<i32> {
    let (signal, timeout) = (args.signal, args.timeout);
    // Named jobs are confirmed here; every job is, with its list, by `each`.
    if delete == Some(false) && !args.names.names.is_empty() {
        if !std::io::stdin().is_terminal() {
            return Err(UsageError(
                "refusing to delete without asking: input is not a terminal; pass -y to confirm"
                    .into(),
            )
            .into());
        }
        if !confirm(&args.names.names)? {
            out!("nothing deleted");
            return Ok(1);
        }
    }
    let options = StopOptions { signal, timeout };
    let kind = match delete {
        Some(_) => Verb::Delete,
        None => Verb::Stop,
    };
    each(&args.names, kind, |ex, name| {
        if delete.is_some() {
            let options = DeleteOptions {
                stop: options,
                purge: true,
            };
            ex.delete(name, &options)
        } else {
            ex.stop(name, &options)
        }
    })
}

/// Reads a duration such as `10s`, `1m 30s` or `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, UsageError> {
    humantime::parse_duration(text).map_err(|e| {
        UsageError(format!(
            "bad duration {text:?}: {e} (expected e.g. 10s or 500ms)"
        ))
    })
}

/// A grace period before SIGKILL (`--stop-timeout`, `--timeout`): a duration no
/// longer than a job's longest.
pub fn parse_stop_timeout(text: &str) -> Result<Duration, UsageError> {
    crate::job::check_stop_timeout(parse_duration(text)?).map_err(|e| UsageError(e.to_string()))
}

fn confirm(names: &[JobName]) -> anyhow::Result<bool> {
    let names: Vec<&str> = names.iter().map(JobName::as_str).collect();
    print!("Delete {} and its logs? [y/N] ", names.join(", "));
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `show jobs`.
pub fn show(args: &ShowArgs) -> anyhow::Result<i32> {
    let registry = super::registry()?;
    let executors: Vec<(String, Arc<dyn Executor>)> = match &args.executor {
        Some(label) => {
            let on = On {
                executor: Some(label.clone()),
            };
            vec![(label.clone(), on.executor()?)]
        }
        None => registry.all(),
    };
    let several = executors.len() > 1;
    // Every executor asked at once: a silent one costs its timeout, once.
    let answers = match args.names.is_empty() {
        // Executors that share a root read it once.
        true => crate::executor::list_each(&executors, None)
            .into_iter()
            .map(|listed| listed.map(|jobs| (jobs, Vec::new())))
            .collect(),
        false => crate::parallel::each(&executors, |(_, executor)| {
            look_up(executor.as_ref(), &args.names, several)
        }),
    };
    let mut code = 0;
    let mut jobs: Vec<JobInfo> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut unreachable: Vec<render::Unreachable> = Vec::new();
    for ((label, _), answer) in executors.iter().zip(answers) {
        let (found, errors) = match answer {
            Ok(found) => found,
            // One executor out of reach is a warning, not the end of the listing.
            Err(e) if several => {
                let what = match args.names.is_empty() {
                    true => "list",
                    false => "look up",
                };
                let reason = e.reason();
                err!("warning: executor {label}: cannot {what} its jobs: {reason}");
                unreachable.push((label.clone(), reason));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for e in errors {
            err!("error: {e}");
            code = 1;
        }
        // Each job once: one that another executor listed here keeps in the same
        // place (a server on this very root) is shown by that one.
        let found = found.into_iter().filter(|info| {
            !several
                || !(registry.listed_for_another(label, info)
                    || registry.seen_before(label, &info.name, &mut seen))
        });
        jobs.extend(found.map(|mut info| {
            // A named Slurm executor's job listed by the built-in one keeps its name.
            if !info.executor.starts_with(&format!("{label}:")) {
                info.executor = label.clone();
            }
            info
        }));
    }
    if several {
        for name in &args.names {
            if !jobs.iter().any(|j| j.name == name.as_str()) {
                err!("error: {}", ExecutorError::NotFound(name.to_string()));
                code = 1;
            }
        }
    }
    if args.json {
        out!("{}", serde_json::to_string_pretty(&jobs)?);
    } else if args.nopretty {
        // Meerschaum's order: running, paused, then the others.
        let rank = |j: &JobInfo| match j.status {
            crate::job::JobStatus::Running => 0,
            crate::job::JobStatus::Paused => 1,
            _ => 2,
        };
        jobs.sort_by_key(rank);
        for job in &jobs {
            out!("{}", job.name);
        }
    } else if jobs.is_empty() && unreachable.is_empty() && code == 0 {
        out!("No jobs.");
    } else if !jobs.is_empty() || !unreachable.is_empty() {
        let fit = render::Fit::stdout(args.no_color);
        out_part!("{}", render::jobs_table(&jobs, several, &unreachable, fit));
    }
    Ok(code)
}

/// What one executor says to `show jobs NAME…`: the named jobs it has and the
/// errors about names; an executor out of reach is an error of its own. With
/// `several` executors asked, a name one of them does not have is no error.
fn look_up(
    executor: &dyn Executor,
    names: &[JobName],
    several: bool,
) -> Result<(Vec<JobInfo>, Vec<ExecutorError>), ExecutorError> {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        match executor.get(name) {
            Ok(info) => found.push(info),
            Err(ExecutorError::NotFound(_)) if several => {}
            Err(e) if e.kind() == ErrorKind::Unavailable => return Err(e),
            Err(e) => errors.push(e),
        }
    }
    Ok((found, errors))
}

/// `show runs NAME`.
pub fn show_runs(args: &RunsArgs) -> anyhow::Result<i32> {
    let history = args.on.executor()?.runs(&args.name)?;
    if history.unreadable > 0 {
        err!(
            "warning: {} of {:?}'s run history skipped",
            crate::print::count(history.unreadable, "damaged line"),
            args.name
        );
    }
    let runs = history.runs;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&runs)?);
    } else if runs.is_empty() {
        out!("No finished runs of {:?}.", args.name.as_str());
    } else {
        out_part!("{}", render::runs_table(&runs, render::Fit::stdout(true)));
    }
    Ok(0)
}
