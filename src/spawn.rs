//! Starting other programs from mrsm's own processes. A job's supervisor reads its
//! signals from a signalfd, so it blocks them; what it starts (steps, Slurm's
//! commands) must not inherit that, since `std::process` leaves the signal mask of
//! a child as it finds it.

use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd` start its program with no signal blocked, whatever its parent
/// blocks: a program expects to start that way, and a step that inherited a
/// blocked SIGTERM could only be killed.
pub fn unblock_signals(cmd: &mut Command) -> &mut Command {
    // SAFETY: pthread_sigmask is async-signal-safe and touches no memory of the
    // parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::signal::SigSet::empty()
                .thread_set_mask()
                .map_err(std::io::Error::from)
        })
    }
}
