//! `mrsm show logs` (alias `attach logs`, and `mrsm logs`): jobs' output with
//! compose-style prefixes, optionally followed live.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;

use super::jobs::parse_duration;
use super::remote_logs::{self, Remote, Screen};
use super::UsageError;
use crate::executor::LocalExecutor;
use crate::job::{validate_name, JobFile};
use crate::logs::multiplex::{self, Jobs, Multiplexer};
use crate::logs::{format_stamp, Selection, Style, Width};
use crate::spec::DeclaredExecutor;
use crate::store::{read_json, Root};

/// Arguments of `show logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only these jobs (default: every job, including ones created while following).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
    /// Keep printing new lines as they are written. As in `docker compose logs`, `-f`
    /// means follow; a spec file is given with `--file`.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the last N lines of each job.
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
    /// Only lines since a time (RFC 3339, e.g. 2024-05-01T12:00:00Z) or a duration ago (e.g. 10m).
    #[arg(long, value_name = "WHEN")]
    since: Option<String>,
    /// Show each line's full UTC timestamp (milliseconds) instead of HH:MM:SS.
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Never colour job names (colour is also off when output is not a terminal or NO_COLOR is set).
    #[arg(long)]
    no_color: bool,
    /// One JSON object per line: {"job", "ts", "stream", "line"}, plus "continues": true
    /// on a piece of a longer line, and "dropped": N on a "gap" line (lines lost to rotation).
    #[arg(long)]
    json: bool,
    /// Leave out the supervisor's own notes (run started, step exited, …).
    #[arg(long)]
    output_only: bool,
    /// Print jobs' control bytes (escape sequences, \r) as they are, even to a terminal;
    /// by default a terminal shows them as escapes such as \x1b (output to a pipe or a
    /// file is always byte for byte).
    #[arg(long)]
    raw: bool,
    /// Only the jobs of this spec file's project (not `-f`, which means --follow, as in
    /// compose). `mrsm logs` reads ./mrsm-jobs.yaml by default when it exists.
    #[arg(long = "file", value_name = "FILE")]
    file: Option<std::path::PathBuf>,
    /// Only this project's jobs.
    #[arg(short = 'p', long, value_name = "NAME", conflicts_with = "file", value_parser = super::project_name)]
    project: Option<String>,
    #[command(flatten)]
    on: super::On,
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

/// The project of a spec file.
/// A spec file's project and the remote executors it declares.
fn project_of(file: &Path) -> anyhow::Result<(String, Vec<DeclaredExecutor>)> {
    let known = super::registry()?.labels();
    match crate::spec::load_for(&[file.to_path_buf()], None, &known).result {
        Ok(desired) => Ok((desired.project, desired.executors)),
        Err(errors) => Err(UsageError(errors.to_string()).into()),
    }
}

/// The project whose jobs to show.
struct Project {
    name: String,
    /// Named with -p or --file, rather than found in ./mrsm-jobs.yaml.
    explicit: bool,
    /// The remote executors its spec file declares.
    remotes: Vec<DeclaredExecutor>,
}

/// The project whose jobs to show: named, or that of a spec file; `mrsm logs`
/// (`compose`) also looks for ./mrsm-jobs.yaml.
fn project(args: &Args, compose: bool) -> anyhow::Result<Option<Project>> {
    if let Some(p) = &args.project {
        return Ok(Some(Project {
            name: p.clone(),
            explicit: true,
            remotes: Vec::new(),
        }));
    }
    let (file, explicit) = match &args.file {
        Some(file) => (file.as_path(), true),
        None => (Path::new(crate::spec::DEFAULT_FILE), false),
    };
    if explicit || (compose && args.names.is_empty() && file.exists()) {
        let (name, remotes) = project_of(file)?;
        return Ok(Some(Project {
            name,
            explicit,
            remotes,
        }));
    }
    Ok(None)
}

/// Runs `mrsm logs`: like `show logs`, limited to the project at hand.
pub fn run_compose(args: &Args) -> anyhow::Result<i32> {
    show(args, true)
}

/// Runs `show logs`.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    show(args, false)
}

/// Checks a job name given on the command line: it must exist, and be in the project
/// asked for.
fn check_name(root: &Root, name: &str, project: Option<&str>) -> anyhow::Result<()> {
    if validate_name(name).is_err() && looks_like_a_spec_file(name) {
        return Err(UsageError(format!(
            "{name:?} is not a job name; for the jobs of a spec file use --file {name} \
             (-f means --follow, as in docker compose)"
        ))
        .into());
    }
    validate_name(name).map_err(|e| UsageError(e.to_string()))?;
    let Some(file) = read_json::<JobFile>(&root.job_file(name)).ok().flatten() else {
        if !root.job_file(name).exists() && looks_like_a_spec_file(name) {
            return Err(UsageError(format!(
                "job {name:?} does not exist; for the jobs of a spec file use --file {name} \
                 (-f means --follow, as in docker compose)"
            ))
            .into());
        }
        if root.job_file(name).exists() || !crate::logs::log_files(&root.log_file(name)).is_empty()
        {
            // Unreadable definition, or a deleted job whose log was kept: its log
            // can still be shown.
            return Ok(());
        }
        anyhow::bail!("job {name:?} does not exist");
    };
    if let Some(p) = project {
        if file.project.as_deref() != Some(p) {
            return Err(UsageError(format!("job {name:?} is not in project {p:?}")).into());
        }
    }
    Ok(())
}

/// `show logs -e LABEL NAME…`: the named jobs' lines through their executor,
/// merged by time; with `-f`, then one follower per job, its lines printed as they
/// come.
fn show_elsewhere(args: &Args, project: Option<String>, screen: &Screen) -> anyhow::Result<i32> {
    let executor = args.on.executor()?;
    // Without names: the executor's jobs (the project's, for `logs`) as they are now.
    let names: Vec<String> = match args.names.is_empty() {
        false => args.names.clone(),
        true => executor
            .list(project.as_deref())?
            .into_iter()
            .map(|j| j.name)
            .collect(),
    };
    let jobs: Vec<Remote> = names
        .into_iter()
        .map(|name| Remote {
            executor: executor.clone(),
            name,
        })
        .collect();
    for job in &jobs {
        screen.width.fit(&job.name);
    }
    let (sources, resumes): (Vec<_>, Vec<_>) = jobs
        .iter()
        .map(|job| remote_logs::history(job, screen))
        .unzip();
    let merged = multiplex::merge_by_time(sources, &mut |line| match screen.emit(line) {
        true => Ok(()),
        false => Err(std::io::ErrorKind::BrokenPipe.into()),
    });
    if merged.is_err() {
        // The reader went away (`| head`): not an error.
        return Ok(0);
    }
    if args.follow {
        std::thread::scope(|scope| {
            for (job, resume) in jobs.iter().zip(&resumes) {
                let resume = *resume.lock().unwrap_or_else(|e| e.into_inner());
                scope.spawn(move || remote_logs::follow(job, resume, screen));
            }
        });
    }
    Ok(i32::from(screen.failed.load(Ordering::SeqCst)))
}

/// Whole lines to a shared output: the local multiplexer and the remote followers
/// write through one of these each, so their lines never mix mid-line.
struct WholeLines<'a> {
    out: &'a Mutex<Box<dyn Write + Send>>,
    pending: Vec<u8>,
}

impl Write for WholeLines<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let before = self.pending.len();
        self.pending.extend_from_slice(buf);
        // Whole lines in large pieces; `flush` (after each batch) sends the rest.
        // Only what was just written is looked at: a long line written in many
        // small pieces costs its length, not its length squared.
        if self.pending.len() >= 64 * 1024 {
            if let Some(end) = memchr::memrchr(b'\n', buf).map(|i| before + i) {
                let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
                out.write_all(&self.pending[..=end])?;
                self.pending.drain(..=end);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let Some(end) = memchr::memrchr(b'\n', &self.pending) else {
            return Ok(());
        };
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(&self.pending[..=end])?;
        self.pending.drain(..=end);
        out.flush()
    }
}

/// A project's jobs as the executor knows them, ones created while following included.
/// The project's jobs of the root, whichever of its executors (`local`, `slurm`)
/// each runs on: their logs are all here.
pub(super) fn project_jobs(executor: LocalExecutor, project: String) -> Jobs {
    Jobs::Matching(Box::new(move |name| {
        executor.project_of(name).as_deref() == Some(project.as_str())
    }))
}

/// Whether a word is more likely a spec file than a job name.
fn looks_like_a_spec_file(word: &str) -> bool {
    word.ends_with(".yaml") || word.ends_with(".yml") || Path::new(word).is_file()
}

fn show(args: &Args, compose: bool) -> anyhow::Result<i32> {
    let project = project(args, compose)?;
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
        escape: !args.raw && !args.json && stdout.is_terminal(),
    };
    let out: Arc<Mutex<Box<dyn Write + Send>>> = Arc::new(Mutex::new(Box::new(stdout)));
    // Everything printed shares one width for the names.
    let screen = Screen {
        selection,
        style,
        width: Width::default(),
        print: remote_logs::shared_printer(out.clone()),
        failed: Default::default(),
    };
    if args.on.elsewhere() {
        return show_elsewhere(args, project.map(|p| p.name), &screen);
    }
    let root = super::local_executor()?.root().clone();
    let asked = project.as_ref().filter(|p| p.explicit);
    // A replicated job's name (`web`, no job of its own) stands for its copies
    // (`web.1`, `web.2`, …), those made later too.
    let all = root.job_names().unwrap_or_default();
    let replicated: Vec<String> = args
        .names
        .iter()
        .filter(|n| !all.contains(n) && all.iter().any(|j| crate::spec::is_copy_of(j, n)))
        .cloned()
        .collect();
    for name in args.names.iter().filter(|n| !replicated.contains(n)) {
        check_name(&root, name, asked.map(|p| p.name.as_str()))?;
    }
    // The project's jobs elsewhere are shown beside the local ones, merged by time.
    let remote = match &project {
        Some(p) if args.names.is_empty() => Some(remote_logs::project_now(
            &crate::reconcile::with_declared(&super::registry()?, &p.remotes),
            &p.name,
            &screen,
        )),
        _ => None,
    };
    let (beside, known): (Vec<_>, Vec<_>) = remote
        .iter()
        .flat_map(|r| &r.jobs)
        .map(|job| {
            let (history, resume) = remote_logs::history(job, &screen);
            (history, (job.clone(), resume))
        })
        .unzip();
    let jobs = match project {
        _ if !replicated.is_empty() => {
            let names = args.names.clone();
            Jobs::Matching(Box::new(move |job| {
                names.iter().any(|n| {
                    n == job || (replicated.contains(n) && crate::spec::is_copy_of(job, n))
                })
            }))
        }
        _ if !args.names.is_empty() => Jobs::Named(args.names.clone()),
        Some(p) => project_jobs(LocalExecutor::new(root.clone()), p.name),
        None => Jobs::All,
    };
    let mut lines = WholeLines {
        out: &out,
        pending: Vec::new(),
    };
    let mut mux = Multiplexer::open(&root, &jobs, &screen.selection, style, screen.width.clone());
    let mut shown = mux
        .print_history(beside, &mut lines)
        .and_then(|()| lines.flush());
    if args.follow && shown.is_ok() {
        // The followers elsewhere end with the process.
        if let Some(remote) = remote {
            remote_logs::follow_project(remote, known, screen.clone());
        }
        shown = mux.follow(&|| true, &mut lines);
    }
    let failed = i32::from(screen.failed.load(Ordering::SeqCst));
    match shown {
        Ok(()) => Ok(failed),
        // The reader went away (`| head`): not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        Err(e) => Err(e.into()),
    }
}
