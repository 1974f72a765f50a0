//! Running a chain in the foreground (`mrsm run` without `-d`), with the guarantees a
//! background job has: the calling process becomes a child subreaper, so whatever the
//! steps start stays its descendant; at the end of the run what they left behind is
//! stopped (the stop signal, the grace period, SIGKILL); a stop request (Ctrl-C,
//! SIGTERM) stops the running step the same way; and the steps die with the caller
//! (a parent-death signal). Steps stay in the caller's process group, so they keep
//! the terminal: what they read, they read from it.

use std::process::Child;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::signals::signal_each;
use crate::job::{JobSpec, RunEnd, StepExit};
use crate::store::proc::job_processes;
use crate::store::ProcessIdentity;

/// The environment variable that hands a foreground run's definition (JSON) to the
/// child process that runs it (`mrsm run` without `-d`).
pub const GUARD_SPEC: &str = "MRSM_FOREGROUND_SPEC";
/// The pid of the command the user started, which that child dies with.
pub const GUARD_PARENT: &str = "MRSM_FOREGROUND_PARENT";

/// How often a running step and a stop request are checked.
const POLL: Duration = Duration::from_millis(10);
/// How long steps that got a terminal's Ctrl-C are given to end by themselves (a
/// shell's trap, a program's clean-up on SIGINT) before the stop signal follows.
const CTRL_C_SETTLE: Duration = Duration::from_secs(1);

/// A stop asked for while a foreground run runs: the signal, and whether it reached
/// the steps already (a terminal's Ctrl-C goes to its whole process group) or is to
/// be passed on to them (a signal sent to mrsm alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopRequest {
    pub signal: Signal,
    pub reached_steps: bool,
}

/// Runs the chain of `spec` once, here. `stop_requested` is polled while a step runs;
/// `report` is told about each failing step.
pub fn run_once(
    spec: &JobSpec,
    stop_requested: &dyn Fn() -> Option<StopRequest>,
    report: &mut dyn FnMut(String),
) -> RunEnd {
    // Descendants orphaned by a step stay ours, so the end of the run finds them.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let me = ProcessIdentity::current();
    let steps = spec.command.len();
    let mut ended = RunEnd::Succeeded;
    for (index, text) in spec.command.iter().enumerate() {
        let step = index + 1;
        let shown = spec.shown_step(index);
        let mut child = match spawn(spec, text) {
            Ok(child) => child,
            Err(e) => {
                report(format!(
                    "mrsm: step {step}/{steps} ({shown:?}) could not start: {}",
                    super::steps::why_not_started(spec, index, &e)
                ));
                ended = RunEnd::NotStarted { step };
                break;
            }
        };
        match wait(&mut child, spec, stop_requested) {
            Ok(status) if status.success() => continue,
            // Ctrl-C reached the step through the terminal before mrsm saw it.
            Ok(_) if stop_requested().is_some() => {
                let signal = stop_requested().map_or(Signal::SIGINT, |r| r.signal);
                ended = RunEnd::Stopped {
                    step,
                    exit: StepExit::Signal(signal.as_str().into()),
                };
                break;
            }
            Ok(status) => {
                use std::os::unix::process::ExitStatusExt;
                let exit = match (status.code(), status.signal().map(Signal::try_from)) {
                    (Some(c), _) => StepExit::Code(c),
                    (None, Some(Ok(s))) => StepExit::Signal(s.as_str().into()),
                    (None, Some(Err(_))) => StepExit::Code(128 + status.signal().unwrap_or(0)),
                    (None, None) => StepExit::Code(1),
                };
                // Said as a job's run says it.
                let how = match (status.code(), status.signal()) {
                    (Some(c), _) => format!("exited with status {c}"),
                    (None, Some(s)) => match Signal::try_from(s) {
                        Ok(s) => format!("killed by {}", s.as_str()),
                        Err(_) => format!("killed by signal {s}"),
                    },
                    _ => "ended".to_string(),
                };
                report(format!("mrsm: step {step}/{steps} ({shown:?}) {how}"));
                ended = RunEnd::Failed { step, exit };
                break;
            }
            Err(signal) => {
                ended = RunEnd::Stopped {
                    step,
                    exit: StepExit::Signal(signal.as_str().into()),
                };
                break;
            }
        }
    }
    if let Some(me) = me {
        stop_all(me, spec.stop.signal.0, spec.stop.timeout);
    }
    ended
}

fn spawn(spec: &JobSpec, text: &str) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // As a job's steps are run: one simple command without a shell.
    let mut cmd = super::steps::direct_command(spec, text, false)?;
    cmd.env_remove(crate::store::proc::SUPERVISOR_VARIABLE)
        .env_remove(GUARD_SPEC)
        .env_remove(GUARD_PARENT)
        .envs(&spec.env);
    super::steps::in_job_dir(&mut cmd, spec);
    let parent = std::process::id() as i32;
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the
    // parent.
    let step_umask = crate::store::private::step_umask();
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            if let Some(mask) = step_umask {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
            }
            if nix::unistd::getppid().as_raw() != parent {
                return Err(std::io::Error::other("mrsm is gone"));
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Waits for the step; on a stop request, stops it (and everything else it started)
/// and says which signal asked.
fn wait(
    child: &mut Child,
    spec: &JobSpec,
    stop_requested: &dyn Fn() -> Option<StopRequest>,
) -> Result<std::process::ExitStatus, Signal> {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => {}
            Err(_) => return child.wait().map_err(|_| Signal::SIGKILL),
        }
        if let Some(request) = stop_requested() {
            if let Some(me) = ProcessIdentity::current() {
                // Ctrl-C reached the steps already through the terminal; a signal sent
                // to mrsm alone is passed on. Then as at the end of any run.
                if request.reached_steps {
                    settle_after_ctrl_c(child, me, spec.stop.timeout);
                } else {
                    signal_each(&job_processes(me), request.signal);
                }
                stop_all(me, spec.stop.signal.0, spec.stop.timeout);
            }
            let _ = child.wait();
            return Err(request.signal);
        }
        std::thread::sleep(POLL);
    }
}

/// Waits (up to [`CTRL_C_SETTLE`], or `grace` if shorter) for the step and
/// everything else of the run to end after a terminal's Ctrl-C reached them: their
/// own handlers run before any stop signal can cut them short.
fn settle_after_ctrl_c(child: &mut Child, me: ProcessIdentity, grace: Duration) {
    let until = Instant::now() + CTRL_C_SETTLE.min(grace);
    while Instant::now() < until {
        let step_over = !matches!(child.try_wait(), Ok(None));
        reap_orphans();
        if step_over && job_processes(me).is_empty() {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// Stops whatever is left of this process's descendants the way a run of `spec`
/// ends (its stop signal, SIGKILL after its grace period): for the command that
/// stood in for a foreground run's child, when that child was killed and what it
/// started was handed to this process (a child subreaper).
pub fn stop_what_is_left(spec: &JobSpec) {
    if let Some(me) = ProcessIdentity::current() {
        stop_all(me, spec.stop.signal.0, spec.stop.timeout);
    }
}

/// Stops every descendant of `me`: `signal`, then SIGKILL after `grace`; returns
/// once none is left (or after a last few seconds).
fn stop_all(me: ProcessIdentity, signal: Signal, grace: Duration) {
    let left = job_processes(me);
    if left.is_empty() {
        return;
    }
    signal_each(&left, signal);
    signal_each(&left, Signal::SIGCONT);
    let deadline = Instant::now() + grace;
    let mut killed = false;
    let give_up = deadline + Duration::from_secs(5);
    loop {
        reap_orphans();
        let left = job_processes(me);
        if left.is_empty() || Instant::now() >= give_up {
            return;
        }
        if !killed && Instant::now() >= deadline {
            signal_each(&left, Signal::SIGKILL);
            killed = true;
        }
        std::thread::sleep(POLL);
    }
}

/// Collects orphaned descendants that have exited (as subreaper, they are ours).
fn reap_orphans() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}
