//! `mrsm slurm-step`: the process that stands for one step while Slurm runs it. It
//! is the step as the supervisor sees it (its process group, its exit status, its
//! output pipes, which `srun` writes into directly), and it translates what the
//! supervisor does into what Slurm understands:
//!
//! - it finds the step's Slurm job id and writes it to the step's info file, then
//!   nudges the supervisor (SIGUSR1) to show it;
//! - a stop signal becomes `scancel --signal` (the job's own signal, delivered to
//!   its processes on the cluster), then Slurm's own cancel once the grace period
//!   is over. `srun` itself is shielded from the supervisor's signals: on SIGTERM
//!   it would kill the step at once, giving it no chance to end cleanly;
//! - once `srun` has ended, it waits until the cluster reports the job over, reads
//!   its final state (`NODE_FAIL`, `PREEMPTED`, `CANCELLED` …), and exits with a
//!   failure for any end but `COMPLETED`, so the restart policy sees it.
//!
//! If it dies, `srun` gets SIGTERM (a parent-death signal) and ends the job.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use serde::{Deserialize, Serialize};

use super::cluster;

/// The variable that marks a process the supervisor must not signal (it acts on
/// its own step's signals through Slurm instead); SIGKILL reaches it as SIGTERM.
pub const SHIELD_VARIABLE: &str = "MRSM_SHIELDED";

/// How long the cluster may take to report a job over once `srun` has ended.
const GONE_WAIT: Duration = Duration::from_secs(60);

/// What the supervisor asks of one step, passed as JSON in `mrsm slurm-step`'s
/// argument.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StepOrder {
    /// The Slurm job name (see [`super::step_job_name`]).
    pub slurm_name: String,
    /// Where the step's [`StepInfo`] is written.
    pub info: PathBuf,
    /// Resources and placement (`--partition=…`).
    pub srun_args: Vec<String>,
    /// What runs on the cluster: a program and its arguments.
    pub command: Vec<String>,
    /// The job's stop signal's number.
    pub stop_signal: i32,
    /// The job's grace period before its steps are killed.
    pub grace_ms: u64,
    /// Stop before submitting anything, and go on when continued (a paused job).
    #[serde(default)]
    pub paused: bool,
}

/// What is known of a step's Slurm job, for the supervisor's records.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The job's final state, once it is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why it has not started yet, while it waits in the cluster's queue
    /// (`PENDING (Resources)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// It ended because it was stopped (its end state is then no failure of its own).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped: bool,
}

impl StepInfo {
    /// The step's info as last written (nothing when it cannot be read).
    pub fn read(path: &Path) -> StepInfo {
        std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn write(&self, path: &Path) {
        if let Ok(text) = serde_json::to_vec(self) {
            let partial = path.with_extension("tmp");
            if std::fs::write(&partial, text).is_ok() {
                let _ = std::fs::rename(&partial, path);
            }
        }
    }
}

/// Shared between the threads of a step.
struct Shared {
    order: StepOrder,
    info: Mutex<StepInfo>,
    srun_done: AtomicBool,
    /// A stop was asked for: a `CANCELLED` end is then the stop, not a failure.
    stopping: AtomicBool,
}

impl Shared {
    fn job_id(&self) -> Option<String> {
        self.info.lock().ok().and_then(|i| i.job_id.clone())
    }

    fn note(&self, update: impl FnOnce(&mut StepInfo)) {
        if let Ok(mut info) = self.info.lock() {
            update(&mut info);
            info.write(&self.order.info);
        }
    }
}

/// Runs one step through `srun` and returns the exit status the step ends with.
pub fn run_step(order: StepOrder) -> i32 {
    let stops = stop_signals();
    // Taken by `sigwait` on a thread of its own; `srun` starts with none blocked.
    let _ = stops.thread_set_mask();
    if order.paused {
        let _ = nix::sys::signal::raise(Signal::SIGSTOP);
    }
    let shared = Arc::new(Shared {
        order,
        info: Mutex::new(StepInfo::default()),
        srun_done: AtomicBool::new(false),
        stopping: AtomicBool::new(false),
    });
    let mut srun = Command::new("srun");
    srun.arg(format!("--job-name={}", shared.order.slurm_name))
        .args(&shared.order.srun_args)
        .arg("--")
        .args(&shared.order.command)
        .env(SHIELD_VARIABLE, "1");
    // SAFETY: setpgid, prctl and sigprocmask are async-signal-safe and touch no
    // memory of the parent.
    unsafe {
        srun.pre_exec(|| {
            nix::unistd::setpgid(nix::unistd::Pid::from_raw(0), nix::unistd::Pid::from_raw(0))
                .map_err(std::io::Error::from)?;
            nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(std::io::Error::from)?;
            SigSet::all()
                .thread_unblock()
                .map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let mut child = match srun.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "mrsm: could not run srun: {e} (is Slurm's client installed and on the PATH?)"
            );
            return 127;
        }
    };
    let srun_pid = child.id() as i32;
    {
        let shared = shared.clone();
        std::thread::spawn(move || find_job_id(&shared));
    }
    {
        let shared = shared.clone();
        std::thread::spawn(move || forward_stops(&shared, stops, srun_pid));
    }
    let status = child.wait();
    shared.srun_done.store(true, Ordering::SeqCst);
    let code = match status {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
        }
        Err(_) => 1,
    };
    let id = shared.job_id().or_else(|| {
        let found = cluster::job_by_name(&shared.order.slurm_name)
            .ok()
            .flatten()
            .map(|(id, _)| id);
        if let Some(id) = &found {
            shared.note(|i| i.job_id = Some(id.clone()));
        }
        found
    });
    let Some(id) = id else {
        // Never submitted (Slurm refused it: its message is in the log already).
        return if code == 0 { 1 } else { code };
    };
    let state = wait_until_over(&id);
    let stopping = shared.stopping.load(Ordering::SeqCst);
    shared.note(|i| {
        i.state = state.clone();
        i.waiting = None;
        i.stopped = stopping;
    });
    match state.as_deref() {
        Some("COMPLETED") => code,
        Some(other) => {
            // A stop's end is the stop's, not a failure of the job's own.
            if !stopping {
                eprintln!("mrsm: Slurm job {id} ended {other}");
            }
            if code == 0 {
                1
            } else {
                code
            }
        }
        None => code,
    }
}

/// The signals that stop a step (any the supervisor may send as a job's stop
/// signal), plus SIGUSR1/2 forwarded as they are.
fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGALRM,
    ] {
        set.add(s);
    }
    set
}

/// Looks the step's job up by name until it is found or `srun` has ended, records
/// it and tells the supervisor; then, while the job waits in the queue, keeps
/// saying why.
fn find_job_id(shared: &Shared) {
    let mut pause = Duration::from_millis(10);
    let mut said: Option<Option<String>> = None;
    while !shared.srun_done.load(Ordering::SeqCst) {
        if let Ok(Some((id, waiting))) = cluster::job_by_name(&shared.order.slurm_name) {
            if said.as_ref() != Some(&waiting) {
                shared.note(|i| {
                    i.job_id = Some(id.clone());
                    i.waiting = waiting.clone();
                });
                let _ = nix::sys::signal::kill(nix::unistd::getppid(), Signal::SIGUSR1);
            }
            if waiting.is_none() {
                return;
            }
            said = Some(waiting);
            pause = Duration::from_millis(250);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// How long after a resume Slurm's node may still drop signals to the step (seen:
/// about 1.7 s).
const RESUME_DEAF: Duration = Duration::from_millis(2500);

/// Where the supervisor notes when it last resumed the step whose info file is at
/// `info`.
pub fn resumed_path(info: &Path) -> PathBuf {
    info.with_extension("resumed")
}

/// Notes that the step whose info file is at `info` was resumed just now.
pub fn note_resumed(info: &Path) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let _ = std::fs::write(resumed_path(info), now.to_string());
}

/// Waits out the moment after a resume when a signal to the step would be lost.
fn wait_out_resume(info: &Path) {
    let Some(resumed) = std::fs::read_to_string(resumed_path(info))
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
    else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let since = Duration::from_millis(now.saturating_sub(resumed));
    if let Some(left) = RESUME_DEAF.checked_sub(since) {
        std::thread::sleep(left);
    }
}

/// Turns the supervisor's signals into Slurm's: the signal to the job's processes
/// there, then, after the grace period, Slurm's cancel.
fn forward_stops(shared: &Arc<Shared>, set: SigSet, srun_pid: i32) {
    loop {
        let Ok(signal) = set.wait() else {
            return;
        };
        let stop = matches!(
            signal,
            Signal::SIGTERM | Signal::SIGINT | Signal::SIGHUP | Signal::SIGQUIT
        ) || signal as i32 == shared.order.stop_signal;
        if stop {
            // The supervisor signals a step's group and each of its processes, so a
            // stop arrives twice: the job's processes get it once, as they would here.
            if shared.stopping.swap(true, Ordering::SeqCst) {
                continue;
            }
            let shared = shared.clone();
            std::thread::spawn(move || kill_after_grace(&shared, srun_pid));
        }
        match shared.job_id() {
            // Nothing of it runs (it waits in the queue, or the job is paused and
            // Slurm suspended it: its node drops signals to a suspended step for a
            // while even once resumed): Slurm's own cancel ends it at once.
            Some(id)
                if stop
                    && matches!(
                        cluster::state_of(&id).as_deref(),
                        Some("PENDING" | "SUSPENDED")
                    ) =>
            {
                eprintln!("mrsm: Slurm job {id} is not running (queued or suspended): cancelled");
                let _ = cluster::cancel(&id, None);
            }
            Some(id) => {
                // Resumed a moment ago: its node would drop the signal.
                wait_out_resume(&shared.order.info);
                let name = signal.as_str().trim_start_matches("SIG").to_string();
                if cluster::cancel(&id, Some(&name)).is_err() && stop {
                    // Not running yet (pending): nothing to signal, so it is cancelled.
                    let _ = cluster::cancel(&id, None);
                }
            }
            // Not submitted or not found yet: srun withdraws its request itself.
            None if stop => {
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(srun_pid), Signal::SIGTERM);
            }
            None => {}
        }
    }
}

/// At the end of the grace period, a step still running is cancelled as Slurm
/// cancels (SIGTERM, then SIGKILL after the cluster's `KillWait`).
fn kill_after_grace(shared: &Shared, srun_pid: i32) {
    let deadline = Instant::now() + Duration::from_millis(shared.order.grace_ms);
    while Instant::now() < deadline {
        if shared.srun_done.load(Ordering::SeqCst) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    match shared.job_id() {
        Some(id) => {
            eprintln!("mrsm: the grace period is over: Slurm job {id} is killed");
            // SIGKILL now: a plain cancel would wait out the cluster's KillWait
            // (30 s by default) after another SIGTERM.
            if cluster::cancel(&id, Some("KILL")).is_err() {
                let _ = cluster::cancel(&id, None);
            }
        }
        None => {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(srun_pid), Signal::SIGTERM);
        }
    }
}

/// Waits until the cluster reports job `id` over (cancelling it if it still runs
/// once `srun` has gone), and returns its final state.
fn wait_until_over(id: &str) -> Option<String> {
    let deadline = Instant::now() + GONE_WAIT;
    let mut cancelled = false;
    let mut pause = Duration::from_millis(5);
    let started = Instant::now();
    loop {
        let state = cluster::state_of(id);
        match state.as_deref() {
            Some(s) if cluster::is_active(s) => {
                // srun is gone, so nothing will come back from a step still running:
                // after a moment to settle, it is ended.
                if !cancelled && s != "COMPLETING" && started.elapsed() > Duration::from_secs(2) {
                    let _ = cluster::cancel(id, None);
                    cancelled = true;
                }
            }
            other => return other.map(str::to_string),
        }
        if Instant::now() >= deadline {
            // Still not over (the controller away, say): not known, so srun's
            // status stands.
            return None;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}
