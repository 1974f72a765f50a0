//! The process that runs one job (`mrsm supervise NAME`, started detached in its own
//! session): it runs the chain's steps, each in its own process group, pipes their
//! output into the job's log, fires the schedule, applies the restart and overlap
//! policies, records every finished run, and answers control requests on the job's
//! Unix socket. It is a child subreaper, so no grandchild escapes it; every run ends
//! only once the processes it started are gone (what a run leaves behind is stopped
//! before the next run starts), and the job ends only when no process of it is left.
//! Steps die with their supervisor (a parent-death signal), and a supervisor cleans
//! up what a killed predecessor left.

mod after;
mod cluster;
mod control;
mod driver;
mod folder;
pub mod foreground;
mod health;
mod hooks;
pub mod machine;
#[cfg(test)]
mod machine_tests;
mod pipes;
mod policy;
mod runs;
mod side;
mod signal_feed;
mod signals;
mod steps;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::Context;
use jiff::Timestamp;
use nix::sys::signal::Signal;

use crate::control::Removal;
pub use crate::job::RunHistory;
pub use driver::INPUT_NOT_READ;
pub use folder::remove_job_files;
pub use machine::{Placed, StepAt};
pub use policy::{
    on_fire, should_restart, Backoff, FireDecision, BACKOFF_FIRST, BACKOFF_MAX, BACKOFF_RESET_AFTER,
};
pub use runs::{read_runs, RunLog, KEEP_RUNS};
pub use signals::{job_alive, signal_each, signal_job, signal_processes};

use crate::job::{DesiredState, JobFile, Phase, RunResult, SupervisorState};
use crate::logs::LogWriter;
use crate::store::proc::leftovers;
use crate::store::{
    read_json, write_json_even_when_full, JobLock, ProcessIdentity, Root, SupervisorLock,
};
pub use cluster::SlurmRunner;
use driver::Supervisor;
pub use steps::{Direct, StepRunner, JOB_TAGS};

/// Set by a launcher that has stopped (or found nothing of) what the job's dead
/// predecessor left: the supervisor need not look again. Looking costs a reading of
/// every process's environment, which for many jobs started at once (`resurrect`
/// after a reboot) is most of the work. A supervisor started otherwise (by
/// systemd, by hand) looks itself.
pub const PREDECESSOR_CHECKED_VARIABLE: &str = "MRSM_PREDECESSOR_CHECKED";

/// How often a predecessor's leftovers and a verb's lock are checked.
const STOP_POLL: Duration = machine::STOP_POLL;
/// How long a killed predecessor's processes may take to vanish after SIGKILL.
const PREDECESSOR_GONE: Duration = Duration::from_secs(2);

/// Runs the supervisor of job `name` until the job is over. Called in the detached
/// process; prints `ready` on standard output once it answers on its socket (or
/// `busy` when another supervisor of the job is alive).
pub fn run(root: Root, name: &str) -> anyhow::Result<()> {
    // Its own session (the launcher makes it one; one started by hand becomes one
    // here), so a terminal's Ctrl-C or hang-up never reaches the job.
    let _ = nix::unistd::setsid();
    // Started by systemd (the `systemd` executor): what it gave is taken out of the
    // environment while this process has one thread, so the job's steps (and any
    // supervisor they launch) never speak for this unit.
    crate::systemd::take_notify_socket();
    let unit = std::env::var_os(crate::systemd::UNIT_VARIABLE).map(std::path::PathBuf::from);
    std::env::remove_var(crate::systemd::UNIT_VARIABLE);
    let checked = std::env::var_os(PREDECESSOR_CHECKED_VARIABLE).is_some();
    std::env::remove_var(PREDECESSOR_CHECKED_VARIABLE);
    crate::job::validate_name(name)?;
    root.verify()?;
    let me = ProcessIdentity::current().context("reading /proc/self")?;
    let predecessor = SupervisorLock::holder(&root, name).filter(|p| *p != me);
    // One supervisor per job, ever: held for this process's whole life.
    let Some(lock) = SupervisorLock::try_acquire(&root, name, me)? else {
        say(crate::control::BUSY);
        return Ok(());
    };
    if let Some(predecessor) = predecessor.filter(|_| !checked) {
        kill_leftovers_of(predecessor, &root, name);
    }
    let file: JobFile = read_json(&root.job_file(name))?
        .with_context(|| format!("job {name:?} has no definition"))?;
    // Asked to stay stopped since it was launched (a `stop` that came while it was
    // starting): it does not start the job. Nothing launches a job meant to be
    // stopped otherwise (`start` records that it is to run first).
    if file.desired == DesiredState::Stopped {
        say(crate::control::BUSY);
        return Ok(());
    }
    nix::sys::prctl::set_child_subreaper(true).context("becoming a child subreaper")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let project = file.project.clone();
    // On the heap: a future kept on the stack is moved through the runtime's
    // frames, and each copy touches stack pages the supervisor then keeps for life
    // (48 KiB of stack touched, 28 boxed).
    let (remove, on_its_own) = runtime.block_on(Box::pin(async {
        let supervisor = start(root.clone(), file, me)?;
        supervisor.serve().await
    }))?;
    if let Some(unit) = &unit {
        // Stopped by a verb (the definition says so): a verb asked from inside the
        // job is one of the processes the stop ended, before it could see to it.
        let stopped = read_json::<JobFile>(&root.job_file(name))
            .ok()
            .flatten()
            .is_some_and(|f| f.desired == DesiredState::Stopped);
        leave_unit(unit, remove.is_some(), on_its_own || stopped);
    }
    // A job that deletes itself once finished (`--rm`), or was deleted from inside,
    // once the verb that started or deleted it (if any) is over; a verb that still
    // holds the job after a while decides what becomes of it.
    if let Some(removal) = remove {
        if let Some(job) = wait_for_job_lock(&root, name, RM_LOCK_WAIT) {
            drop(lock);
            if let Ok(Some(vacant)) = SupervisorLock::vacant(&root, name) {
                match removal {
                    Removal::All => {
                        remove_job_files(&root, name);
                        job.remove_files(&root, name, vacant);
                    }
                    Removal::Definition => {
                        crate::store::remove_job_definition(&root, name, project.as_deref());
                    }
                }
            }
        }
    }
    Ok(())
}

/// What a supervisor run by systemd does to its unit once its job is over: one
/// that finished on its own or was stopped for good (`over`) is not to run again
/// when the manager starts (at boot), so its unit is disabled; one that deletes
/// itself removes its unit too. A job stopped by systemd at shutdown keeps its
/// unit as it is, and comes back at boot.
fn leave_unit(path: &std::path::Path, removing: bool, over: bool) {
    if !over && !removing {
        return;
    }
    if let Err(e) = crate::systemd::unlink_wants(path) {
        err!("mrsm supervisor: disabling {}: {e}", path.display());
    }
    if removing {
        let _ = std::fs::remove_file(path);
        let _ = crate::systemd::systemctl(&["daemon-reload"]);
    }
}

/// How long a job that deletes itself waits for a verb under way on it.
const RM_LOCK_WAIT: Duration = Duration::from_secs(5);

/// The job's lock once no verb holds it, within `wait`.
fn wait_for_job_lock(root: &Root, name: &str, wait: Duration) -> Option<JobLock> {
    let deadline = std::time::Instant::now() + wait;
    loop {
        match JobLock::try_acquire(root, name) {
            Ok(Some(lock)) => return Some(lock),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(STOP_POLL);
            }
            _ => return None,
        }
    }
}

/// What runs the job's steps: the cluster for a job with Slurm options, else this
/// machine.
fn runner_for(root: &Root, file: &JobFile) -> Box<dyn StepRunner> {
    match &file.spec.slurm {
        Some(options) => Box::new(SlurmRunner::new(
            options.clone(),
            root.job_dir(&file.spec.name),
            root.dir(),
        )),
        None => Box::new(steps::Direct),
    }
}

/// Kills what a supervisor that died without cleaning up left running (its steps die
/// with it, but their own children may not). The launcher normally does this with a
/// grace period first; this is the last line of defence.
fn kill_leftovers_of(predecessor: ProcessIdentity, root: &Root, name: &str) {
    if predecessor.is_alive() {
        return;
    }
    let deadline = std::time::Instant::now() + PREDECESSOR_GONE;
    loop {
        let left = leftovers(predecessor, root.dir(), name);
        if left.is_empty() || std::time::Instant::now() >= deadline {
            return;
        }
        signal_processes(&left, Signal::SIGKILL);
        std::thread::sleep(STOP_POLL);
    }
}

/// Records the runs a killed predecessor had in progress
/// ([`machine::interrupted_runs`]); the last one's result.
fn record_interrupted(
    runs_log: &mut RunLog,
    killed: &SupervisorState,
    mut log: Option<&mut LogWriter>,
) -> Option<RunResult> {
    let records = machine::interrupted_runs(killed, runs_log.last_run(), Timestamp::now());
    for record in &records {
        if let Err(e) = runs_log.append(record) {
            err!("mrsm supervisor: {e}");
        }
        // The job's log says it too, where the run's lines stop.
        if let Some(log) = log.as_deref_mut() {
            let note = format!("run {} {}", record.run, record.result.message);
            log.append(record.ended, crate::logs::Stream::Sys, note.as_bytes());
        }
    }
    records.into_iter().last().map(|r| r.result)
}

/// Records the end of a job whose supervisor was killed, as a stop of it does: the
/// runs it had in progress (interrupted), and a report that says it is over, so the
/// job's last result is the run that was cut short and nothing takes it for a job
/// that died meaning to run. Nothing is done while a supervisor of the job lives.
pub fn record_killed_end(root: &Root, name: &str) {
    let Ok(Some(mut state)) = read_json::<SupervisorState>(&root.state_file(name)) else {
        return;
    };
    if state.phase == Phase::Exited || state.supervisor.is_alive() {
        return;
    }
    let mut runs_log = RunLog::open(&root.runs_file(name));
    if let Some(result) = record_interrupted(&mut runs_log, &state, None) {
        state.last_result = Some(result);
    }
    state.phase = Phase::Exited;
    state.ended = Some(Timestamp::now());
    state.steps.clear();
    state.next_fire = None;
    if let Err(e) = write_json_even_when_full(&root.state_file(name), &state) {
        err!("warning: job {name:?}: {e}");
    }
}

/// The supervisor of `file`'s job, ready to serve: its log opened, the runs a
/// killed predecessor had in progress recorded, its report begun.
fn start(root: Root, mut file: JobFile, me: ProcessIdentity) -> anyhow::Result<Supervisor> {
    let name = file.spec.name.as_str();
    let previous: Option<SupervisorState> = read_json(&root.state_file(name)).ok().flatten();
    let mut log = LogWriter::open(
        &root.log_file(name),
        file.spec.logs.max_size,
        file.spec.logs.keep,
    )
    .map_err(|e| crate::store::StoreError::io("opening", &root.log_file(name), e))?
    // A record also fits in one log file.
    .with_max_line(file.spec.logs.max_line.min(file.spec.logs.max_size));
    // Output an earlier supervisor dropped and could not report is reported by this
    // one's first write that works.
    if let Some(earlier) = previous.as_ref().and_then(|p| p.log_trouble.clone()) {
        log.carry(earlier);
    }
    let mut runs_log = RunLog::open(&root.runs_file(name));
    // The last result shown is the interrupted run's, not the one before it.
    let killed = previous
        .as_ref()
        .filter(|p| p.phase != Phase::Exited && p.supervisor != me && !p.supervisor.is_alive());
    // A job whose supervisor was killed continues its schedule (the launcher says
    // so in the definition; systemd, restarting one, cannot).
    if file.resume.is_none() {
        file.resume = killed.and_then(|k| k.schedule);
    }
    let interrupted =
        killed.and_then(|killed| record_interrupted(&mut runs_log, killed, Some(&mut log)));
    let last_run = runs_log
        .last_run()
        .max(previous.as_ref().map_or(0, |p| p.last_run));
    // A job meant to be paused starts paused: nothing of it runs, and no fire is
    // taken, before a resume.
    let paused = file.desired == DesiredState::Paused;
    let runner = runner_for(&root, &file);
    let after = after::cursors(&root, &file.spec, file.created, previous.as_ref());
    let state = SupervisorState {
        supervisor: me,
        phase: if paused {
            Phase::Paused
        } else {
            Phase::Running
        },
        began: Timestamp::now(),
        paused: paused.then(Timestamp::now),
        ended: None,
        steps: Vec::new(),
        restarts: 0,
        next_fire: None,
        last_result: interrupted.or_else(|| previous.and_then(|p| p.last_result)),
        last_run,
        schedule: None,
        log_trouble: None,
        signalled: None,
        ending: Vec::new(),
        health: None,
        after,
    };
    Ok(Supervisor::new(
        root, file, me, state, log, runs_log, runner,
    ))
}

/// Tells the launching command something (`ready`, `busy`) on standard output.
fn say(word: &str) {
    // systemd waits for this to say the unit has started (`Type=notify`); a
    // supervisor that is not to run says it too, then ends.
    crate::systemd::notify("READY=1");
    let mut out = std::io::stdout();
    let _ = out.write_all(word.as_bytes());
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

/// Returns the heap pages that starting up used and freed (parsing the definition
/// and the report, the first log and state writes) to the system: a supervisor runs
/// as long as its job, and what it keeps is paid once per job.
fn give_back_startup_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own heap.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}

/// Lets go of the launcher's pipe, so it sees end-of-file once it has read `ready`.
fn release_stdout() {
    if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = null.as_raw_fd();
    }
}
