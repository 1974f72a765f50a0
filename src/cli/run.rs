//! `mrsm run [-d] … -- CMD [+ CMD …]`: a one-off command or chain, in the foreground
//! or as a background job.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::{interrupt, UsageError};
use crate::executor::{CreateOptions, Executor, ExecutorError};
use crate::job::parse_size;
use crate::job::split_chain_args;
use crate::job::{
    random_name, JobName, JobSpec, JobStatus, OverlapPolicy, RestartPolicy, RunResult, SignalName,
};

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    mrsm run -d --name ticker -- sh -c 'while true; do date; sleep 1; done'\n  \
    mrsm run -d -s 'every 10 minutes' -- ./sync.sh + ./report.sh\n  \
    mrsm run -- make build + make test     (foreground; `++` is a literal +)")]
pub struct Args {
    /// Run in the background as a job and return once it is running.
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
    /// The job's name (default: a random adjective-noun).
    #[arg(long, value_name = "NAME")]
    name: Option<JobName>,
    /// Run on a schedule, e.g. 'every 30 minutes', '0 9 * * mon-fri' or
    /// 'daily starting 09:00 tz Europe/Berlin'.
    #[arg(short = 's', long, value_name = "SCHEDULE")]
    schedule: Option<String>,
    /// Time zone of the schedule (IANA name, default UTC; refused beside another
    /// zone given by the schedule's own `tz ZONE`).
    #[arg(long, value_name = "ZONE")]
    tz: Option<String>,
    /// never | on-failure | always (for jobs without a schedule).
    #[arg(long, default_value = "never", value_name = "POLICY")]
    restart: RestartPolicy,
    /// When a fire finds the previous run still going: skip | queue | replace | allow.
    #[arg(long, default_value = "skip", value_name = "POLICY")]
    overlap: OverlapPolicy,
    /// Allow a schedule that fires more often than once a second.
    #[arg(long)]
    allow_fast: bool,
    /// Delete the job once it has finished.
    #[arg(long)]
    rm: bool,
    /// Signal that stops the job (default SIGTERM).
    #[arg(long, value_name = "SIGNAL")]
    stop_signal: Option<SignalName>,
    /// Grace period after the stop signal before SIGKILL (default 10s).
    #[arg(long, value_name = "DURATION", value_parser = super::jobs::parse_stop_timeout)]
    stop_timeout: Option<Duration>,
    /// Rotate the job's log at this size, e.g. 1MiB (default 10MiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    log_size: Option<u64>,
    /// Split output lines longer than this into continued records, e.g. 1MiB
    /// (default 64KiB).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    log_line_size: Option<u64>,
    /// Log files kept, the current one included (default 5).
    #[arg(long, value_name = "N")]
    log_keep: Option<u32>,
    #[command(flatten)]
    on: super::On,
    /// The command; `+` separates the steps of a chain. It starts after `--` or at
    /// the first word that is not an option: an option `run` does not know is an
    /// error, never part of the command.
    #[arg(required = true, trailing_var_arg = true, value_name = "CMD")]
    command: Vec<String>,
}

fn usage<E: std::fmt::Display>(e: E) -> UsageError {
    UsageError(e.to_string())
}

fn build_spec(args: &Args, taken: impl Fn(&str) -> bool) -> Result<JobSpec, UsageError> {
    let steps = split_chain_args(&args.command).map_err(usage)?;
    if steps.is_empty() {
        return Err(UsageError(
            "no command given: mrsm run [-d] -- CMD [+ CMD …]".into(),
        ));
    }
    let name = match &args.name {
        Some(name) => name.to_string(),
        None => random_name(taken),
    };
    let mut spec = JobSpec::new(name, steps);
    spec.schedule = args.schedule.clone();
    spec.timezone = args.tz.clone();
    spec.restart = args.restart;
    spec.overlap = args.overlap;
    spec.rm = args.rm;
    spec.allow_fast = args.allow_fast;
    if let Some(signal) = args.stop_signal {
        spec.stop.signal = signal;
    }
    if let Some(timeout) = args.stop_timeout {
        spec.stop.timeout = timeout;
    }
    if let Some(size) = args.log_size {
        spec.logs.max_size = size;
    }
    if let Some(size) = args.log_line_size {
        spec.logs.max_line = size;
    }
    if let Some(keep) = args.log_keep {
        spec.logs.keep = keep;
    }
    spec.validate().map_err(usage)?;
    // A schedule that names its zone (`… tz Europe/Berlin`) is the job's zone.
    if spec.timezone.is_none() {
        spec.timezone = spec
            .schedule
            .as_deref()
            .and_then(|s| crate::parse_schedule(s).ok())
            .and_then(|s| s.written_zone().map(str::to_string));
    }
    if spec.schedule.is_some() && spec.restart != RestartPolicy::Never {
        err!(
            "warning: --restart {} has no effect on a scheduled job: its schedule decides when it runs again",
            args.restart
        );
    }
    Ok(spec)
}

/// Runs `run`.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    if !args.daemon {
        if args.on.elsewhere() {
            let executor = args.on.executor()?;
            let spec = build_spec(args, |n| executor.get(n).is_ok())?;
            return remote_foreground(executor, &spec);
        }
        let spec = build_spec(args, |_| false)?;
        return super::guard::run_guarded(&spec);
    }
    let executor = args.on.executor()?;
    let spec = build_spec(args, |n| executor.get(n).is_ok())?;
    let info = executor.create(&spec, &CreateOptions::default())?;
    // A first step that could not start (not found, not executable, a missing
    // directory) is recorded before the job is reported: an error of `run -d`. (A
    // later step's may or may not have happened yet: that is the job's business.)
    let first_step_not_started = |r: &&RunResult| r.first_step_not_started();
    if let Some(result) = info.last_result.as_ref().filter(first_step_not_started) {
        let then = match (info.status, spec.rm) {
            (JobStatus::Running, _) => format!(
                "; it is tried again by its restart policy (`mrsm delete jobs {}` removes it)",
                info.name
            ),
            // It removes itself once over (`--rm`).
            (_, true) => "; the job is gone (--rm)".to_string(),
            (_, false) => format!(
                "; the job stays, failed (`mrsm delete jobs {}` removes it)",
                info.name
            ),
        };
        err!("error: job {:?}: {}{then}", info.name, result.message);
        return Ok(1);
    }
    let state = match info.status {
        JobStatus::Running => "running",
        JobStatus::Paused => "paused",
        JobStatus::Stopped => "finished already",
        JobStatus::Failed => "failed already",
        JobStatus::Broken => "broken",
    };
    out!("job {:?} {state}", info.name);
    Ok(0)
}

/// Runs the chain here, with this terminal, once or on its schedule; the exit status
/// is the last run's. Called in the guarded child of the command the user started
/// (see [`super::guard`]).
pub(super) fn foreground(spec: &JobSpec) -> anyhow::Result<i32> {
    interrupt::install();
    let Some(text) = &spec.schedule else {
        return Ok(run_chain(spec));
    };
    let mut schedule = crate::parse_schedule(text)?;
    if let Some(tz) = &spec.timezone {
        schedule = schedule.in_zone(tz)?;
    }
    let mut code = 0;
    for fire in schedule.fire_times(Timestamp::now())? {
        while Timestamp::now() < fire {
            if let Some(signal) = interrupt::received() {
                return Ok(128 + signal as i32);
            }
            let left =
                Duration::try_from(fire.duration_since(Timestamp::now())).unwrap_or_default();
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
        code = run_chain(spec);
        if interrupt::requested() {
            break;
        }
    }
    Ok(code)
}

/// How long a foreground run on another executor waits, after Ctrl-C, for its job
/// to stop there before giving up on it (the server may be unreachable).
const REMOTE_STOP_WAIT: Duration = Duration::from_secs(10);

/// Runs the job on another executor as if here: its output streamed back, Ctrl-C
/// stops it, and the exit status is its own. The job is removed afterwards, as a
/// foreground run leaves nothing behind. Ctrl-C always ends the command: when the
/// job cannot be stopped in time (the server is unreachable), it says so and
/// leaves the job there; a second Ctrl-C ends it at once.
fn remote_foreground(executor: Arc<dyn Executor>, spec: &JobSpec) -> anyhow::Result<i32> {
    let name = spec.name.clone();
    // Until the job exists there, Ctrl-C simply ends the command. The job lives
    // while this command renews its lease: killed, it leaves nothing running there.
    let lease = remote_lease();
    let options = CreateOptions {
        lease: Some(lease),
        ..CreateOptions::default()
    };
    let leased = match executor.create(spec, &options) {
        Ok(_) => true,
        // A lease lets the server delete the job, which this token may not ask: the
        // job is made without one (if this command is killed, it runs on there).
        Err(ExecutorError::Forbidden { message, .. }) => {
            executor.create(spec, &CreateOptions::default())?;
            err!(
                "warning: job {name:?} runs on {} without a lease ({message}): if this command is killed, the job runs on there",
                executor.label()
            );
            false
        }
        Err(e) => return Err(e.into()),
    };
    let _renewing = leased.then(|| Renewing::start(executor.clone(), &name, lease / 3));
    interrupt::install();
    let (done_tx, done) = std::sync::mpsc::channel();
    {
        let (executor, name) = (executor.clone(), name.clone());
        std::thread::spawn(move || {
            let followed =
                executor.follow_logs(&name, true, &mut |line| super::attach::show(&line).is_ok());
            let _ = done_tx.send(followed);
        });
    }
    let mut stop_asked: Option<std::time::Instant> = None;
    let (stop_tx, stop_refused) = std::sync::mpsc::channel();
    let followed = loop {
        match done.recv_timeout(Duration::from_millis(50)) {
            Ok(followed) => break followed,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break Ok(()),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if let Some(asked) = stop_asked {
            // Stopping: give up when the stop is refused (a token without
            // jobs:stop), after a while, or at a second Ctrl-C.
            let refused: Option<String> = stop_refused.try_recv().ok();
            if refused.is_some()
                || interrupt::received().is_some()
                || asked.elapsed() >= REMOTE_STOP_WAIT
            {
                let why = refused.map_or(String::new(), |r| format!(" ({r})"));
                err!(
                    "mrsm: job {name:?} could not be stopped on {}{why}; it may still run there (`mrsm stop jobs -e {} {name}`)",
                    executor.label(),
                    executor.label()
                );
                return Ok(130);
            }
        } else if interrupt::received().is_some() {
            stop_asked = Some(std::time::Instant::now());
            interrupt::clear();
            let (executor, name, refused) = (executor.clone(), name.clone(), stop_tx.clone());
            std::thread::spawn(move || {
                match executor.stop(&name, &crate::executor::StopOptions::default()) {
                    // Ended meanwhile: the follower sees it end.
                    Ok(_) | Err(ExecutorError::NotRunning(_) | ExecutorError::NotFound(_)) => {}
                    Err(e) => {
                        let _ = refused.send(e.reason());
                    }
                }
            });
        }
    };
    let interrupted = stop_asked.is_some();
    let info = executor.get(&name);
    if let Err(e) = executor.delete(&name, &crate::executor::DeleteOptions::purge()) {
        err!(
            "warning: job {name:?} stays on {} until its lease runs out (`mrsm delete jobs -e {} {name}` removes it now): {}",
            executor.label(),
            executor.label(),
            e.reason()
        );
    }
    followed?;
    let info = info?;
    if interrupted {
        return Ok(130);
    }
    Ok(super::attach::exit_status(info.last_result.as_ref()))
}

/// How long a foreground run's job on another executor outlives its last renewal
/// (`MRSM_REMOTE_LEASE`, e.g. `5s`, for tests).
fn remote_lease() -> Duration {
    std::env::var("MRSM_REMOTE_LEASE")
        .ok()
        .and_then(|t| humantime::parse_duration(&t).ok())
        .filter(|d| !d.is_zero())
        .unwrap_or(REMOTE_LEASE)
}

/// The default of [`remote_lease`].
const REMOTE_LEASE: Duration = Duration::from_secs(30);

/// Renews a job's lease every `every` until dropped.
struct Renewing {
    stop: std::sync::mpsc::Sender<()>,
}

impl Renewing {
    fn start(executor: Arc<dyn Executor>, name: &str, every: Duration) -> Renewing {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let name = name.to_string();
        std::thread::spawn(move || {
            // A renewal that fails (the server is away for a moment) is tried again
            // at the next one; the lease is three renewals long.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every)
            {
                let _ = executor.renew_lease(&name);
            }
        });
        Renewing { stop }
    }
}

impl Drop for Renewing {
    fn drop(&mut self) {
        let _ = self.stop.send(());
    }
}

/// Runs the chain once here; what it starts ends with it.
fn run_chain(spec: &JobSpec) -> i32 {
    let stop_requested = || {
        interrupt::received().map(|signal| crate::supervisor::foreground::StopRequest {
            signal,
            reached_steps: interrupt::from_terminal(),
        })
    };
    crate::supervisor::foreground::run_once(spec, &stop_requested, &mut |message| err!("{message}"))
        .exit_status()
}
