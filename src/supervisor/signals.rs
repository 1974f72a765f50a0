//! Signals to every process of a job: each process group found among the job's
//! processes gets the signal (so members forked meanwhile get it too), and so does
//! each process on its own.

use std::collections::BTreeSet;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::store::proc::{own_processes, ProcStat};
use crate::store::ProcessIdentity;

/// Sends `signal` to every process of job `job`, supervised by `supervisor`; returns
/// how many processes there were.
pub fn signal_job(supervisor: ProcessIdentity, job: &str, signal: Signal) -> usize {
    let procs = own_processes(supervisor, job);
    signal_processes(&procs, signal);
    procs.len()
}

/// Whether a process asked to be left to its step (see
/// [`crate::slurm::SHIELD_VARIABLE`]): `srun`, which would end its cluster job at
/// once on the job's stop signal, and which its step process signals itself.
fn shielded(p: &ProcStat) -> bool {
    crate::store::proc::environ_var(p.pid, crate::slurm::SHIELD_VARIABLE).is_some_and(|v| v == b"1")
}

/// Sends `signal` to the given processes and their process groups. Shielded
/// processes get nothing, but SIGTERM where the others get SIGKILL: they end their
/// cluster job then, rather than leave it running.
pub fn signal_processes(procs: &[ProcStat], signal: Signal) {
    let (shield, procs): (Vec<ProcStat>, Vec<ProcStat>) = procs.iter().cloned().partition(shielded);
    if signal == Signal::SIGKILL {
        for p in &shield {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGTERM);
        }
    }
    let procs = procs.as_slice();
    // A session leader's group is its own (the supervisor's, or a daemon's that left
    // the session); those are signalled process by process only.
    let sessions: BTreeSet<i32> = procs.iter().map(|p| p.session).collect();
    let groups: BTreeSet<i32> = procs.iter().map(|p| p.pgrp).filter(|&g| g > 1).collect();
    for group in groups.difference(&sessions) {
        let _ = killpg(Pid::from_raw(*group), signal);
    }
    for p in procs {
        let _ = kill(Pid::from_raw(p.pid), signal);
    }
}

/// Sends `signal` to each of the given processes, never to a process group: for
/// processes that share their group with someone else (a foreground run's steps
/// share the terminal's group with mrsm and its caller).
pub fn signal_each(procs: &[ProcStat], signal: Signal) {
    for p in procs {
        let _ = kill(Pid::from_raw(p.pid), signal);
    }
}

/// Whether any process of the job is left.
pub fn job_alive(supervisor: ProcessIdentity, job: &str) -> bool {
    // The supervisor asking about itself: without a child, nothing of the job is
    // left. A child may also be the supervisor of a job this one launched (handed to
    // it as subreaper when its launcher ended), which is not of this job.
    if supervisor.pid == std::process::id() as i32 && crate::store::proc::childless() {
        return false;
    }
    !own_processes(supervisor, job).is_empty()
}

/// Waits until every process of the job is stopped (or gone), at most `limit`
/// (a stop signal takes effect when its process is next scheduled); one that
/// forked meanwhile gets the signal too. Shielded processes are left to their step.
pub fn wait_until_stopped(
    supervisor: ProcessIdentity,
    job: &str,
    spared: &std::collections::HashSet<i32>,
    limit: std::time::Duration,
) {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        let running: Vec<ProcStat> = own_processes(supervisor, job)
            .into_iter()
            .filter(|p| !matches!(p.state, 'T' | 't') && !p.is_gone() && !shielded(p))
            .filter(|p| !spared.contains(&p.pid))
            .collect();
        if running.is_empty() {
            return;
        }
        signal_each(&running, Signal::SIGSTOP);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Stops (SIGSTOP) every process of job `job` but those in `spared` (they hold one of
/// the root's locks: see [`crate::store::lock_holders`]); a process group with a
/// spared member is signalled process by process, so the group's signal cannot
/// reach it. Returns how many processes were spared.
pub fn pause_sparing(
    supervisor: ProcessIdentity,
    job: &str,
    spared: &std::collections::HashSet<i32>,
) -> usize {
    let procs = own_processes(supervisor, job);
    let (kept, stopped): (Vec<ProcStat>, Vec<ProcStat>) =
        procs.into_iter().partition(|p| spared.contains(&p.pid));
    let shared: BTreeSet<i32> = kept.iter().map(|p| p.pgrp).collect();
    let (alone, grouped): (Vec<ProcStat>, Vec<ProcStat>) =
        stopped.into_iter().partition(|p| shared.contains(&p.pgrp));
    signal_processes(&grouped, Signal::SIGSTOP);
    let alone: Vec<ProcStat> = alone.into_iter().filter(|p| !shielded(p)).collect();
    signal_each(&alone, Signal::SIGSTOP);
    kept.len()
}
