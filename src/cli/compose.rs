//! The compose verbs over spec files: `validate`, `diff`, `up`, `down`, `ps`,
//! `restart`.

use std::io::Write;
use std::path::PathBuf;

use std::io::IsTerminal;

use super::{local_executor, render};
use crate::executor::{
    shell_join, CreateOptions, DeleteOptions, Executor, LocalExecutor, StopOptions,
};
use crate::job::JobInfo;
use crate::job::{JobSpec, RestartPolicy};
use crate::logs::multiplex::{self, Jobs};
use crate::logs::{Selection, Style};
use crate::reconcile::{self, Mode, Outcome};
use crate::spec::{self, Desired, DEFAULT_FILE};
use crate::store::ProjectLock;

/// Which spec files and project.
#[derive(Debug, Clone, clap::Args)]
pub struct Files {
    /// Spec file; repeat to layer overrides (later files win key by key).
    #[arg(short = 'f', long = "file", value_name = "FILE", default_value = DEFAULT_FILE)]
    files: Vec<PathBuf>,
    /// Project name (default: `project:` in the file, else the file's directory name).
    #[arg(short = 'p', long, value_name = "NAME")]
    project: Option<String>,
}

impl Files {
    /// Loads and validates the files; errors are printed by the caller.
    pub fn load(&self) -> Result<Desired, spec::SpecErrors> {
        spec::load(&self.files, self.project.as_deref())
    }
}

/// Arguments of `up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    files: Files,
    /// Apply and return (without it, stay: follow the jobs' logs and apply every
    /// change of the files; Ctrl-C stops the jobs).
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Keep applying every change of the files; with -d, in a background job named
    /// mrsm-watch-PROJECT.
    #[arg(long)]
    watch: bool,
}

/// Arguments of `ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    #[command(flatten)]
    files: Files,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// Arguments of `restart`.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[command(flatten)]
    files: Files,
    /// Only these of the project's jobs (default: all of them).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

/// Loads the spec or prints its errors; `Err` carries the exit status.
fn load_or_report(files: &Files) -> Result<Desired, i32> {
    files.load().map_err(|errors| {
        eprintln!("{errors}");
        1
    })
}

/// `validate`: nothing on success, every error otherwise.
pub fn validate(files: &Files) -> anyhow::Result<i32> {
    Ok(load_or_report(files).err().unwrap_or(0))
}

/// `diff`: the plan; exit 0 when converged, 1 when there are changes, 2 on errors.
pub fn diff(files: &Files) -> anyhow::Result<i32> {
    let desired = match load_or_report(files) {
        Ok(d) => d,
        Err(_) => return Ok(2),
    };
    let executor = local_executor()?;
    let plan = reconcile::plan(&desired, &executor.list()?, &executor, Mode::Full);
    let mut out = std::io::stdout().lock();
    for step in &plan.steps {
        writeln!(out, "{}", reconcile::describe(step))?;
    }
    Ok(i32::from(!plan.is_empty()))
}

fn report(outcome: &Outcome) {
    match &outcome.result {
        Ok(message) => println!("{message}"),
        Err(e) => eprintln!("error: {e}"),
    }
}

/// `up`.
pub fn up(args: &UpArgs) -> anyhow::Result<i32> {
    let desired = match load_or_report(&args.files) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let executor = local_executor()?;
    let lock = ProjectLock::acquire(executor.root(), &desired.project)?;
    let plan = reconcile::plan(&desired, &executor.list()?, &executor, Mode::Full);
    let outcomes = if std::io::stdout().is_terminal() && !plan.is_empty() {
        // A progress bar on a terminal; each result is printed above it.
        let bar = indicatif::ProgressBar::new(plan.steps.len() as u64).with_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.set_message(format!("converging project {:?}", desired.project));
        let outcomes = reconcile::apply(&plan, &executor, &|o: &Outcome| {
            match &o.result {
                Ok(m) => bar.println(m),
                Err(e) => bar.println(format!("error: {e}")),
            }
            bar.inc(1);
        });
        bar.finish_and_clear();
        outcomes
    } else {
        reconcile::apply(&plan, &executor, &report)
    };
    drop(lock);
    let failed = outcomes.iter().any(|o| o.result.is_err());
    if plan.is_empty() {
        println!(
            "project {:?} is up to date ({} jobs)",
            desired.project,
            desired.jobs.len()
        );
    }
    if args.detach {
        if args.watch {
            return start_watcher(&executor, &args.files, &desired.project)
                .map(|()| i32::from(failed));
        }
        return Ok(i32::from(failed));
    }
    // In the foreground: follow the project's logs and apply file changes until
    // Ctrl-C (or SIGTERM), then stop the jobs gracefully, as compose does.
    interrupt::install();
    let files = args.files.clone();
    let project = desired.project.clone();
    let watcher = std::thread::spawn(move || watch_files(&files));
    let stdout = std::io::stdout();
    let style = Style {
        color: stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        ..Style::default()
    };
    let mut out = std::io::BufWriter::new(stdout.lock());
    let selection = Selection {
        tail: Some(0),
        ..Selection::default()
    };
    let shown = multiplex::show(
        executor.root(),
        &Jobs::Project(project.clone()),
        &selection,
        style,
        true,
        &|| !interrupt::requested(),
        &mut out,
    );
    drop(out);
    if let Err(e) = shown {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: {e}");
        }
    }
    if let Ok(Err(e)) = watcher.join() {
        eprintln!("error: watching the files: {e}");
    }
    let jobs = project_jobs(&executor, &project)?;
    eprintln!("stopping {} jobs…", jobs.len());
    let mut code = i32::from(failed);
    for job in jobs {
        if let Err(e) = executor.stop(&job.name, &StopOptions::default()) {
            eprintln!("error: {e}");
            code = 1;
        }
    }
    Ok(code)
}

/// The name of a project's background watcher job.
pub fn watcher_name(project: &str) -> String {
    format!("mrsm-watch-{project}")
}

/// `up -d --watch`: the watcher as a background job (restarted if it fails).
fn start_watcher(executor: &LocalExecutor, files: &Files, project: &str) -> anyhow::Result<()> {
    let mut words = vec![
        crate::executor::locate_mrsm_binary().display().to_string(),
        "watch".to_string(),
        "-p".to_string(),
        project.to_string(),
    ];
    for f in &files.files {
        words.push("-f".into());
        words.push(std::path::absolute(f)?.display().to_string());
    }
    let mut spec = JobSpec::new(watcher_name(project), vec![shell_join(&words)]);
    spec.restart = RestartPolicy::OnFailure;
    let name = spec.name.clone();
    let options = CreateOptions::default();
    match executor.spec(&name) {
        Ok(old) if old.command == spec.command => {
            executor.start(&name)?;
        }
        Ok(_) => {
            executor.replace(&spec, &options)?;
        }
        Err(_) => {
            executor.create(&spec, &options)?;
        }
    }
    println!("watching the files in job {name:?} (`mrsm logs {name}` shows what it does)");
    Ok(())
}

/// Applies every change of the files until SIGINT or SIGTERM.
fn watch_files(files: &Files) -> anyhow::Result<()> {
    let executor = local_executor()?;
    reconcile::watch::watch(
        &files.files,
        files.project.as_deref(),
        &executor,
        &|| !interrupt::requested(),
        &reconcile::watch::print_event,
    )?;
    Ok(())
}

/// `watch` (started by `up -d --watch`): apply every change of the files until stopped.
pub fn watch(files: &Files) -> anyhow::Result<i32> {
    interrupt::install();
    watch_files(files).map(|()| 0)
}

/// Ctrl-C and SIGTERM as a flag, so `up` can stop its jobs before exiting.
mod interrupt {
    use std::sync::atomic::{AtomicBool, Ordering};

    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

    static REQUESTED: AtomicBool = AtomicBool::new(false);

    extern "C" fn on_signal(_: i32) {
        REQUESTED.store(true, Ordering::SeqCst);
    }

    /// Catches SIGINT and SIGTERM from now on.
    pub fn install() {
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::empty(),
            SigSet::empty(),
        );
        for signal in [Signal::SIGINT, Signal::SIGTERM] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            let _ = unsafe { sigaction(signal, &action) };
        }
    }

    /// Whether one of them arrived.
    pub fn requested() -> bool {
        REQUESTED.load(Ordering::SeqCst)
    }
}

/// The project's jobs as they are now.
fn project_jobs(executor: &dyn Executor, project: &str) -> anyhow::Result<Vec<JobInfo>> {
    Ok(executor
        .list()?
        .into_iter()
        .filter(|j| j.project.as_deref() == Some(project))
        .collect())
}

/// The project's name: `-p`, else from the files.
fn project_name(files: &Files) -> Result<String, i32> {
    match &files.project {
        Some(p) => Ok(p.clone()),
        None => load_or_report(files).map(|d| d.project),
    }
}

/// `down`: stop and delete the project's jobs.
pub fn down(files: &Files) -> anyhow::Result<i32> {
    let project = match project_name(files) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let executor = local_executor()?;
    let mut code = 0;
    let watcher = watcher_name(&project);
    let watcher_exists = executor.get(&watcher).is_ok();
    let mut doomed = project_jobs(&executor, &project)?;
    if watcher_exists {
        // The watcher goes first, so it cannot start anything again.
        doomed.insert(0, executor.get(&watcher)?);
    }
    for job in doomed {
        match executor.delete(&job.name, &DeleteOptions::default()) {
            Ok(m) => println!("{m}"),
            Err(e) => {
                eprintln!("error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}

/// `ps`: the project's jobs.
pub fn ps(args: &PsArgs) -> anyhow::Result<i32> {
    let project = match project_name(&args.files) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let executor = local_executor()?;
    let jobs = project_jobs(&executor, &project)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&jobs)?)?;
    } else if jobs.is_empty() {
        writeln!(out, "No jobs in project {project:?}.")?;
    } else {
        write!(out, "{}", render::jobs_table(&jobs))?;
    }
    Ok(0)
}

/// `restart`: stop then start the project's jobs (or the named ones).
pub fn restart(args: &RestartArgs) -> anyhow::Result<i32> {
    let project = match project_name(&args.files) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let executor = local_executor()?;
    let jobs = project_jobs(&executor, &project)?;
    let mut code = 0;
    for name in &args.names {
        if !jobs.iter().any(|j| &j.name == name) {
            eprintln!("error: job {name:?} is not a job of project {project:?}");
            code = 1;
        }
    }
    for job in jobs
        .iter()
        .filter(|j| args.names.is_empty() || args.names.contains(&j.name))
    {
        let result = executor
            .stop(&job.name, &StopOptions::default())
            .and_then(|_| executor.start(&job.name));
        match result {
            Ok(_) => println!("restarted {}", job.name),
            Err(e) => {
                eprintln!("error: {e}");
                code = 1;
            }
        }
    }
    Ok(code)
}
