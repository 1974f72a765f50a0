//! The command line: clap definitions and rendering, no logic beyond that.
//!
//! Verbs follow Meerschaum's vocabulary (`show jobs`, `start jobs`, `run -d`, …); each
//! verb's handler lives in its own module.

mod attach;
mod completions;
mod compose;
mod every;
mod guard;
mod interrupt;
mod jobs;
mod logs;
mod remote_logs;
mod render;
mod resurrect;
mod run;
mod serve;
mod show_schedule;
mod start_command;
mod startup;
mod token;
mod top;

use clap::{Parser, Subcommand};

use std::sync::{Arc, RwLock};

use crate::executor::{Executor, ExecutorError, LocalExecutor, Registry, DEFAULT_LABEL};
use crate::store::{Root, Settings};
use every::Verb;

/// An error caused by what the user typed (exit status 2), as opposed to a failure
/// while doing the work (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// mrsm runs shell commands as background jobs, chained or on schedules, declared in
/// mrsm-jobs.yaml or driven from the command line.
///
/// Jobs live under $MRSM_ROOT_DIR (default $XDG_STATE_HOME/mrsm, else
/// ~/.local/state/mrsm).
#[derive(Debug, Parser)]
#[command(
    name = "mrsm",
    version,
    about,
    long_about = None,
    after_help = "Meerschaum's forms work too: `mrsm CMD… -d [--name NAME]` (any words that are not \
one of the commands above, with -d or --daemon) and `mrsm start job CMD…` make a background \
job, as `run -d -- CMD…`; `sh 'LINE'` runs LINE in a shell, `python 'CODE'` runs python3 -c \
CODE; Meerschaum's own actions (`sync pipes` …) are refused. Unlike Meerschaum 4.1.7, \
`start job CMD` makes the job instead of asking for -d."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show things: `show jobs`, `show runs NAME`, `show schedule SCHEDULE [N]`.
    #[command(subcommand)]
    Show(ShowCommand),
    /// Run a command (or a chain `a + b + c`), in the foreground or as a background job with -d.
    Run(run::Args),
    /// Start stopped jobs or resume paused ones: `start jobs NAME…`.
    #[command(subcommand)]
    Start(StartVerb),
    /// Bring jobs back as meant after a reboot: those meant to run whose supervisor
    /// died start again, paused ones come back paused, stopped ones stay stopped.
    Resurrect(resurrect::Args),
    /// Install a systemd user unit that runs `mrsm resurrect` for this root when the
    /// user's manager starts (at boot, with `loginctl enable-linger`).
    Startup(startup::Args),
    /// Remove the unit `mrsm startup` installed for this root.
    Unstartup(startup::Args),
    /// Stop jobs and every process they started: `stop jobs NAME…`.
    #[command(subcommand)]
    Stop(StopVerb),
    /// Suspend jobs (every process, and their schedules): `pause jobs NAME…`.
    #[command(subcommand)]
    Pause(PauseVerb),
    /// Stop jobs, then remove them and their logs: `delete jobs NAME…`.
    #[command(subcommand)]
    Delete(DeleteVerb),
    /// Check spec files: print nothing but errors (file:line:col); exit 1 on any.
    Validate(compose::Files),
    /// Print what `up` would change: + create, ~ update, - delete, …; exit 0 when converged, 1 otherwise.
    Diff(compose::Files),
    /// Converge the machine to the spec files (-d: apply and return).
    Up(compose::UpArgs),
    /// Stop and delete the project's jobs.
    Down(compose::DownArgs),
    /// List the project's jobs.
    Ps(compose::PsArgs),
    /// The jobs table, live in the terminal, with keys to start, stop and pause.
    Top(top::Args),
    /// Run N copies of a job with `replicas` (or of any job): `scale web=3`.
    Scale(compose::ScaleArgs),
    /// Stop and start the project's jobs (or the named ones).
    Restart(compose::RestartArgs),
    /// Show the project's jobs' output (`show logs` for every job): `logs [NAME…] [-f]`.
    Logs(logs::Args),
    /// Attach to things: `attach job NAME` (output and input), `attach logs` (= `show logs`).
    #[command(subcommand)]
    Attach(AttachCommand),
    /// API tokens for `mrsm serve`: `token create NAME [--scopes …] [--expires 30d]`, `list`, `revoke`.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Serve this machine's jobs over HTTP(S) for `-e api:NAME` and Meerschaum's client.
    Serve(serve::Args),
    /// Print the JSON schema of mrsm-jobs.yaml (`mrsm schema > schemas/mrsm-jobs.schema.json`).
    Schema,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell); bash and fish complete job names too.
    Completions(completions::Args),
    /// Print the manual page (roff): `mrsm man | man -l -`; `mrsm man show jobs` for a command's.
    Man(completions::ManArgs),
    /// Prints every job's name, one per line (used by the completion scripts).
    #[command(name = "__job-names", hide = true)]
    JobNames,
    /// Applies every change of the spec files until stopped (started by `up -d --watch`).
    #[command(hide = true)]
    Watch(compose::Files),
    /// Runs one job's supervisor (started by mrsm itself, in the background).
    #[command(hide = true)]
    Supervise { name: String },
    /// Stands for one step while Slurm runs it (started by a job's supervisor).
    #[command(name = "slurm-step", hide = true)]
    SlurmStep { order: String },
}

#[derive(Debug, Subcommand)]
enum ShowCommand {
    /// Print the next fire times of a schedule, e.g. `show schedule 'daily and mon-fri' 10`.
    Schedule(show_schedule::Args),
    /// List jobs: name, status, pid, start, command, schedule and last result.
    #[command(alias = "job")]
    Jobs(jobs::ShowArgs),
    /// List a job's finished runs.
    Runs(jobs::RunsArgs),
    /// Print jobs' output: `name  HH:MM:SS | line` (UTC), coloured per job; -f follows.
    Logs(logs::Args),
}

#[derive(Debug, Subcommand)]
enum AttachCommand {
    /// Stream a job's output live and send this terminal's input to it, until it stops.
    Job(attach::Args),
    /// Same as `show logs` (add -f to follow).
    Logs(logs::Args),
}

#[derive(Debug, Subcommand)]
enum StartVerb {
    /// Start stopped jobs (their supervisors run again; a schedule is armed afresh) or
    /// resume paused ones; jobs already running are left as they are.
    #[command(
        alias = "job",
        after_help = "`start job CMD…` (the first word a program, not a job's name) makes a job \
of the command, as `run -d -- CMD…`: Meerschaum's \"prefacing the command with start job\", \
which Meerschaum 4.1.7 itself refuses (\"Create a new job with -d\")."
    )]
    Jobs(jobs::Names),
}

#[derive(Debug, Subcommand)]
enum PauseVerb {
    /// Suspend every process of running jobs (SIGSTOP) and hold their schedules
    /// until `start jobs` resumes them.
    #[command(alias = "job")]
    Jobs(jobs::Names),
}

#[derive(Debug, Subcommand)]
enum StopVerb {
    /// Stop jobs: the stop signal to every process, SIGKILL after the grace period;
    /// returns once none is left. A stopped job stays stopped until started.
    #[command(alias = "job")]
    Jobs(jobs::StopArgs),
}

#[derive(Debug, Subcommand)]
enum DeleteVerb {
    /// Stop jobs, then remove them with their logs and run history. Asks first on a
    /// terminal; elsewhere -y is required.
    #[command(alias = "job")]
    Jobs(jobs::DeleteArgs),
}

/// A project name given with `-p`: the same rules as job names (it names files
/// under the root, so `../x` must never get through).
fn project_name(text: &str) -> Result<String, String> {
    crate::job::validate_name(text)
        .map(|()| text.to_string())
        .map_err(|_| format!("invalid project name {text:?}: use 1-64 letters, digits, '_', '.' and '-', starting with a letter or digit"))
}

/// The built-in local executor: the registry's, else the one on `MRSM_ROOT_DIR`.
/// Compose verbs keep their locks and the project's watcher job there.
fn local_executor() -> Result<LocalExecutor, ExecutorError> {
    let root = REGISTRY
        .read()
        .ok()
        .and_then(|r| r.as_ref().and_then(|r| r.local_root().cloned()));
    Ok(LocalExecutor::new(match root {
        Some(root) => root,
        None => Root::from_env()?,
    }))
}

/// The registry a library user handed to [`main_with`]; none means the standard one.
static REGISTRY: RwLock<Option<Registry>> = RwLock::new(None);

/// The executors this command line knows: a library user's (see [`main_with`]),
/// else `local` and those the settings file names.
fn registry() -> anyhow::Result<Registry> {
    if let Some(registry) = REGISTRY.read().ok().and_then(|r| r.clone()) {
        return Ok(registry);
    }
    // Built once per command: the settings file is read once, however many steps
    // of the command ask.
    let registry = Registry::standard(Root::from_env()?, &Settings::load()?);
    if let Ok(mut slot) = REGISTRY.write() {
        slot.get_or_insert_with(|| registry.clone());
    }
    Ok(registry)
}

/// The settings file's `default_executor`, else `local` (a settings file that
/// cannot be read is reported when the executors are built).
fn default_executor() -> &'static str {
    static DEFAULT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DEFAULT.get_or_init(|| {
        Settings::load()
            .ok()
            .and_then(|s| s.default_executor)
            .unwrap_or_else(|| DEFAULT_LABEL.to_string())
    })
}

/// `-e/--executor LABEL`: where a verb acts.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct On {
    /// The executor to act on: `local` (default; `default_executor` in the
    /// settings file changes it), `systemd` (each job a systemd user service),
    /// `slurm` (each step on the Slurm cluster `SLURM_CONF` names), `api:NAME` (or
    /// just NAME) from the settings file, or one a library user registered.
    #[arg(
        short = 'e',
        long = "executor",
        visible_alias = "executor-keys",
        env = "MRSM_EXECUTOR",
        value_name = "LABEL"
    )]
    pub executor: Option<String>,
}

impl On {
    /// The label asked for; when none was, the settings file's `default_executor`,
    /// else `local`.
    pub fn label(&self) -> &str {
        match self.executor.as_deref() {
            Some(label) => label,
            None => default_executor(),
        }
    }

    /// Whether another executor than `local` was named (`-e`, `MRSM_EXECUTOR`):
    /// a foreground run or a log read then goes through it rather than this
    /// terminal and root.
    pub fn elsewhere(&self) -> bool {
        self.executor.as_deref().is_some_and(|l| l != DEFAULT_LABEL)
    }

    /// The executor that holds job `name`, and the job: the one asked for, or
    /// another that keeps its jobs in the same place (`local` and `slurm` share the
    /// root, and the verbs act on any job of it). A job that only another executor
    /// holds is named with the `-e` that reaches it.
    pub fn executor_of(
        &self,
        name: &str,
    ) -> anyhow::Result<(Arc<dyn Executor>, crate::job::JobInfo)> {
        let asked = self.executor()?;
        let missing = match asked.get(name) {
            Err(ExecutorError::NotFound(n)) => n,
            got => return Ok((asked, got?)),
        };
        // The others asked at once: one that does not answer costs its timeout once.
        let others: Vec<(String, Arc<dyn Executor>)> = registry()?
            .all()
            .into_iter()
            .filter(|(label, _)| label != asked.label())
            .collect();
        let found = crate::parallel::each(&others, |(_, e)| e.get(name).ok());
        let home = asked.home();
        let mut elsewhere = Vec::new();
        for ((label, other), info) in others.into_iter().zip(found) {
            let Some(info) = info else { continue };
            if home.is_some() && other.home() == home {
                return Ok((other, info));
            }
            elsewhere.push(label);
        }
        match elsewhere.first() {
            Some(label) => Err(anyhow::anyhow!(
                "job {missing:?} is not on {}; it is on {} (`-e {label}` reaches it)",
                asked.label(),
                elsewhere.join(", ")
            )),
            None => Err(ExecutorError::NotFound(missing).into()),
        }
    }

    /// The executor asked for; an unknown label is a usage error with a suggestion.
    pub fn executor(&self) -> anyhow::Result<Arc<dyn Executor>> {
        registry()?.get(self.label()).map_err(|e| match e {
            ExecutorError::UnknownExecutor { .. } => UsageError(e.to_string()).into(),
            e => e.into(),
        })
    }
}

/// The supervisor's entry, taken before any argument parsing: one runs per job, so
/// it skips the command line's machinery (less start-up time and memory). Its root
/// directory is always given by the launcher in `MRSM_ROOT_DIR`.
fn supervise_early() -> Option<i32> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != "supervise" {
        return None;
    }
    let name = args.next()?.into_string().ok()?;
    if args.next().is_some() {
        return None;
    }
    let root = match std::env::var_os("MRSM_ROOT_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => Root::at(dir),
        None => return None,
    };
    Some(match crate::supervisor::run(root, &name) {
        Ok(()) => 0,
        Err(e) => {
            err!("error: {e:#}");
            1
        }
    })
}

/// The command line with `registry`'s executors instead of the standard ones: how a
/// library user ships mrsm with an executor of their own
/// (`examples/custom_executor.rs`).
pub fn main_with(registry: Registry) -> i32 {
    if let Ok(mut slot) = REGISTRY.write() {
        *slot = Some(registry);
    }
    main()
}

/// [`main_with`] on the given arguments (the program name first), in this process:
/// how tests drive a registry whose executors live in memory. Output goes through
/// [`crate::print::capture`] when one runs.
#[doc(hidden)]
pub fn run_with<I, T>(registry: Registry, args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    if let Ok(mut slot) = REGISTRY.write() {
        *slot = Some(registry);
    }
    let code = run(Cli::try_parse_from(args));
    if let Ok(mut slot) = REGISTRY.write() {
        *slot = None;
    }
    code
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    crate::store::private::restrict_umask();
    if let Some(code) = supervise_early().or_else(guard::child_early) {
        return code;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `start job CMD…` is the `run -d` it stands for (a job of that name aside).
    let exists = |name: &str| {
        crate::job::validate_name(name).is_ok()
            && Root::from_env().is_ok_and(|root| root.job_file(name).exists())
    };
    // `CMD… -d` too, when CMD is none of mrsm's commands.
    // The command tree is built only when asked (words with -d in them).
    let is_command = |word: &str| {
        <Cli as clap::CommandFactory>::command()
            .get_subcommands()
            .any(|c| c.get_name() == word || c.get_all_aliases().any(|a| a == word))
    };
    match start_command::as_run(&args, exists)
        .or_else(|| start_command::as_daemon(&args, is_command))
    {
        Some(Ok(run_args)) => run(Cli::try_parse_from(run_args)),
        Some(Err(refused)) => {
            eprintln!("mrsm: {refused}");
            2
        }
        None => run(Cli::try_parse_from(args)),
    }
}

/// A mistyped command's error without the hidden commands among its "similar
/// subcommands": clap offers them (`supervis` → `supervise`), but they are mrsm's
/// own plumbing and never meant to be typed.
fn without_hidden_suggestions(mut e: clap::Error) -> clap::Error {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::Strings(suggested)) = e.get(ContextKind::SuggestedSubcommand) else {
        return e;
    };
    let mut command = <Cli as clap::CommandFactory>::command();
    let hidden = hidden_commands(&command);
    let shown: Vec<String> = suggested
        .iter()
        .filter(|s| !hidden.contains(s))
        .cloned()
        .collect();
    if !shown.is_empty() {
        e.insert(
            ContextKind::SuggestedSubcommand,
            ContextValue::Strings(shown),
        );
        return e;
    }
    // Hidden commands are all at the top: the error is about a top-level word.
    match e.get(ContextKind::InvalidSubcommand) {
        Some(ContextValue::String(typed)) => command.error(
            clap::error::ErrorKind::InvalidSubcommand,
            format!("unrecognized subcommand '{typed}'"),
        ),
        _ => e,
    }
}

/// The names and aliases of every hidden command, at any depth.
fn hidden_commands(command: &clap::Command) -> Vec<String> {
    let mut names = Vec::new();
    for sub in command.get_subcommands() {
        if sub.is_hide_set() {
            names.push(sub.get_name().to_string());
            names.extend(sub.get_all_aliases().map(str::to_string));
        }
        names.extend(hidden_commands(sub));
    }
    names
}

/// Runs parsed arguments.
fn run(parsed: Result<Cli, clap::Error>) -> i32 {
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::DisplayVersion => {
            // Built here, not by clap, so the time zone database is opened only when asked.
            out!(
                "mrsm {}\ntime zone data: {}",
                env!("CARGO_PKG_VERSION"),
                crate::schedule::tz_data().source()
            );
            return 0;
        }
        Err(e) => {
            let e = without_hidden_suggestions(e);
            let _ = e.print();
            return e.exit_code();
        }
    };
    crate::print::forget_shown();
    // A stop that takes a while says what it waits for, on the verbs' stderr (not
    // a server's or a supervisor's).
    let quiet = matches!(
        cli.command,
        Command::Serve(_) | Command::Supervise { .. } | Command::SlurmStep { .. }
    );
    crate::executor::announce_slow_stops(!quiet);
    let result = match cli.command {
        Command::Show(ShowCommand::Schedule(args)) => show_schedule::run(&args),
        Command::Show(ShowCommand::Jobs(args)) => jobs::show(&args),
        Command::Show(ShowCommand::Runs(args)) => jobs::show_runs(&args),
        Command::Show(ShowCommand::Logs(args)) => logs::run(&args),
        Command::Logs(args) => logs::run_compose(&args),
        Command::Attach(AttachCommand::Logs(args)) => logs::run(&args),
        Command::Attach(AttachCommand::Job(args)) => attach::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Resurrect(args) => resurrect::run(&args),
        Command::Startup(args) => startup::install(&args),
        Command::Unstartup(args) => startup::remove(&args),
        Command::Start(StartVerb::Jobs(names)) => {
            jobs::each(&names, Verb::Start, |ex, n| ex.start(n))
        }
        Command::Pause(PauseVerb::Jobs(names)) => {
            jobs::each(&names, Verb::Pause, |ex, n| ex.pause(n))
        }
        Command::Stop(StopVerb::Jobs(args)) => jobs::stop(&args, None),
        Command::Delete(DeleteVerb::Jobs(args)) => jobs::delete(&args),
        Command::Validate(files) => compose::validate(&files),
        Command::Diff(files) => compose::diff(&files),
        Command::Up(args) => compose::up(&args),
        Command::Down(args) => compose::down(&args),
        Command::Ps(args) => compose::ps(&args),
        Command::Top(args) => top::run(&args),
        Command::Scale(args) => compose::scale(&args),
        Command::Restart(args) => compose::restart(&args),
        Command::Watch(files) => compose::watch(&files),
        Command::Token(command) => token::run(&command),
        Command::Serve(args) => serve::run(&args),
        Command::Completions(args) => completions::run(&args),
        Command::Man(args) => completions::man(&args),
        Command::JobNames => completions::job_names(),
        Command::Schema => {
            use std::io::Write as _;
            let _ = write!(std::io::stdout(), "{}", crate::spec::schema_json());
            Ok(0)
        }
        Command::SlurmStep { order } => serde_json::from_str(&order)
            .map_err(anyhow::Error::from)
            .map(crate::slurm::run_step),
        Command::Supervise { name } => Root::from_env()
            .map_err(anyhow::Error::from)
            .and_then(|root| crate::supervisor::run(root, &name))
            .map(|()| 0),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            err!("error: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            }
        }
    }
}
