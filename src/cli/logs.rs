//! `mrsm show logs` (alias `attach logs`, and `mrsm logs`): jobs' output with
//! compose-style prefixes, optionally followed live.

use std::io::IsTerminal;

use jiff::Timestamp;

use super::jobs::parse_duration;
use super::UsageError;
use crate::job::validate_name;
use crate::logs::multiplex::{self, Jobs};
use crate::logs::{format_stamp, Selection, Style};
use crate::store::Root;

/// Arguments of `show logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these jobs (default: every job, including ones created while following).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Keep printing new lines as they are written.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the last N lines of each job.
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// Only lines since a time (RFC 3339, e.g. 2024-05-01T12:00:00Z) or a duration ago (e.g. 10m).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Show each line's full UTC timestamp (milliseconds) instead of HH:MM.
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Never colour job names (colour is also off when output is not a terminal or NO_COLOR is set).
    #[arg(long)]
    no_color: bool,
    /// One JSON object per line: {"job", "ts", "stream", "line"}.
    #[arg(long)]
    json: bool,
    /// Leave out the supervisor's own notes (run started, step exited, …).
    #[arg(long)]
    output_only: bool,
    /// `mrsm logs` only: the project of this spec file (default ./mrsm-jobs.yaml when it
    /// exists; otherwise every job).
    #[arg(long = "file", value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    /// `mrsm logs` only: this project's jobs.
    #[arg(short = 'p', long, value_name = "NAME")]
    project: Option<String>,
}

/// Reads `--since`: an instant, or a duration before now.
fn since_stamp(text: &str) -> Result<String, UsageError> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Ok(format_stamp(t));
    }
    let ago = parse_duration(text).map_err(|_| {
        UsageError(format!(
            "--since {text:?}: expected an RFC 3339 instant (2024-05-01T12:00:00Z) or a duration (10m)"
        ))
    })?;
    let ago = jiff::SignedDuration::try_from(ago).map_err(|e| UsageError(e.to_string()))?;
    let then = Timestamp::now()
        .checked_sub(ago)
        .map_err(|e| UsageError(format!("--since {text:?}: {e}")))?;
    Ok(format_stamp(then))
}

/// Which jobs `mrsm logs` (compose vocabulary) shows: a project's, when one is
/// named or a spec file is at hand.
fn compose_jobs(args: &Args) -> anyhow::Result<Option<Jobs>> {
    if !args.names.is_empty() {
        return Ok(None);
    }
    if let Some(p) = &args.project {
        return Ok(Some(Jobs::Project(p.clone())));
    }
    let file = args
        .file
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(crate::spec::DEFAULT_FILE));
    if args.file.is_none() && !file.exists() {
        return Ok(None);
    }
    match crate::spec::load(&[file], None) {
        Ok(desired) => Ok(Some(Jobs::Project(desired.project))),
        Err(errors) => Err(UsageError(errors.to_string()).into()),
    }
}

/// Runs `mrsm logs`: like `show logs`, limited to the project at hand.
pub fn run_compose(args: &Args) -> anyhow::Result<i32> {
    match compose_jobs(args)? {
        Some(jobs) => show(args, jobs),
        None => run(args),
    }
}

/// Runs `show logs`.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    let jobs = if args.names.is_empty() {
        Jobs::All
    } else {
        Jobs::Named(args.names.clone())
    };
    show(args, jobs)
}

fn show(args: &Args, jobs: Jobs) -> anyhow::Result<i32> {
    let root = Root::from_env()?;
    for name in &args.names {
        validate_name(name).map_err(|e| UsageError(e.to_string()))?;
        if !root.job_file(name).exists() {
            anyhow::bail!("job {name:?} does not exist");
        }
    }
    let selection = Selection {
        tail: args.tail,
        since: args.since.as_deref().map(since_stamp).transpose()?,
        output_only: args.output_only,
    };
    let stdout = std::io::stdout();
    let color = !args.no_color
        && !args.json
        && stdout.is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let style = Style {
        color,
        timestamps: args.timestamps,
        json: args.json,
    };
    let mut out = std::io::BufWriter::new(stdout.lock());
    match multiplex::show(
        &root,
        &jobs,
        &selection,
        style,
        args.follow,
        &|| true,
        &mut out,
    ) {
        Ok(()) => Ok(0),
        // The reader went away (`| head`): not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e.into()),
    }
}
