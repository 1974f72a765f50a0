//! The job verbs: `show jobs`, `show runs`, `start`, `pause`, `stop` and `delete jobs`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::{local_executor, render, UsageError};
use crate::executor::{DeleteOptions, Executor, ExecutorError, LocalExecutor, StopOptions};
use crate::job::{validate_name, JobInfo, SignalName};

/// Job names.
#[derive(Debug, clap::Args)]
pub struct Names {
    /// One or more job names.
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
}

/// Arguments of `show jobs`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Only these jobs (default: all).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Print a JSON array of job objects instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `show runs`.
#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    /// The job.
    name: String,
    /// Print a JSON array of run records instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `stop jobs` and `delete jobs`.
#[derive(Debug, clap::Args)]
pub struct StopArgs {
    #[command(flatten)]
    names: Names,
    /// Do not ask for confirmation (required by `delete` when input is not a terminal).
    #[arg(short = 'y', long = "yes")]
    yes: bool,
    /// Signal sent first (default: the job's own, SIGTERM unless set).
    #[arg(long, value_name = "SIGNAL")]
    signal: Option<String>,
    /// Grace period before SIGKILL, e.g. 10s or 500ms (default: the job's own).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
}

/// Runs `verb` on each named job, reporting each; exit 1 if any failed, 2 if a name
/// is not a valid job name.
pub fn each(
    names: &[String],
    verb: impl Fn(&LocalExecutor, &str) -> Result<String, ExecutorError>,
) -> anyhow::Result<i32> {
    let executor = local_executor()?;
    let mut code = 0;
    for name in names {
        if let Err(e) = validate_name(name) {
            err!("error: {e}");
            code = 2;
            continue;
        }
        match verb(&executor, name) {
            Ok(message) => out!("{message}"),
            Err(e) => {
                err!("error: {e}");
                code = code.max(1);
            }
        }
    }
    Ok(code)
}

/// `stop jobs` / `delete jobs`.
pub fn stop(args: &StopArgs, delete: bool) -> anyhow::Result<i32> {
    let signal = args
        .signal
        .as_deref()
        .map(str::parse::<SignalName>)
        .transpose()
        .map_err(UsageError)?;
    let timeout = args.timeout.as_deref().map(parse_duration).transpose()?;
    if delete && !args.yes {
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
    each(&args.names.names, |ex, name| {
        if delete {
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

fn confirm(names: &[String]) -> anyhow::Result<bool> {
    print!("Delete {} and its logs? [y/N] ", names.join(", "));
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// `show jobs`.
pub fn show(args: &ShowArgs) -> anyhow::Result<i32> {
    let executor = local_executor()?;
    let mut code = 0;
    let jobs: Vec<JobInfo> = if args.names.is_empty() {
        executor.list()?
    } else {
        let mut found = Vec::new();
        for name in &args.names {
            match executor.get(name) {
                Ok(info) => found.push(info),
                Err(e) => {
                    err!("error: {e}");
                    code = 1;
                }
            }
        }
        found
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&jobs)?)?;
    } else if jobs.is_empty() && code == 0 {
        writeln!(out, "No jobs.")?;
    } else if !jobs.is_empty() {
        write!(out, "{}", render::jobs_table(&jobs))?;
    }
    Ok(code)
}

/// `show runs NAME`.
pub fn show_runs(args: &RunsArgs) -> anyhow::Result<i32> {
    validate_name(&args.name).map_err(|e| UsageError(e.to_string()))?;
    let history = local_executor()?.runs(&args.name)?;
    if history.unreadable > 0 {
        err!(
            "warning: {} damaged line(s) of {:?}'s run history skipped",
            history.unreadable,
            args.name
        );
    }
    let runs = history.runs;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&runs)?)?;
    } else if runs.is_empty() {
        writeln!(out, "No finished runs of {:?}.", args.name)?;
    } else {
        write!(out, "{}", render::runs_table(&runs))?;
    }
    Ok(0)
}
