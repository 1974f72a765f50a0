//! Ctrl-C, SIGTERM and SIGHUP as a flag, so `up` can stop its jobs before exiting,
//! the watcher can finish what it is applying, and a foreground `run` can stop what
//! it started.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The signal that arrived (0: none yet).
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// The last signal that another process sent to this one alone (`kill PID`), not the
/// terminal to its whole process group (0: none since last taken).
static SENT_BY_A_PROCESS: AtomicI32 = AtomicI32::new(0);
/// Whether the signal in `RECEIVED` came from the terminal (the kernel), rather than
/// from a process.
static FROM_TERMINAL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(
    signal: i32,
    info: *mut nix::libc::siginfo_t,
    _context: *mut std::ffi::c_void,
) {
    RECEIVED.store(signal, Ordering::SeqCst);
    // SAFETY: the kernel hands a valid siginfo to an SA_SIGINFO handler; reading
    // one field of it is async-signal-safe. A code of 0 or below is a process's
    // kill/sigqueue/tgkill; the terminal's signals come from the kernel (above 0).
    let sent = !info.is_null() && unsafe { (*info).si_code } <= 0;
    FROM_TERMINAL.store(!sent, Ordering::SeqCst);
    if sent {
        SENT_BY_A_PROCESS.store(signal, Ordering::SeqCst);
    }
}

/// Catches SIGINT, SIGTERM and SIGHUP from now on.
pub fn install() {
    let action = SigAction::new(
        SigHandler::SigAction(on_signal),
        SaFlags::SA_SIGINFO,
        SigSet::empty(),
    );
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(signal, &action) };
    }
}

/// Acts as if `signal` had arrived (the output went away: time to stop).
pub fn raise(signal: Signal) {
    let _ = RECEIVED.compare_exchange(0, signal as i32, Ordering::SeqCst, Ordering::SeqCst);
}

/// Forgets the signal that arrived, to notice the next one.
pub fn clear() {
    RECEIVED.store(0, Ordering::SeqCst);
}

/// Whether one of them arrived.
pub fn requested() -> bool {
    received().is_some()
}

/// Which one arrived last.
pub fn received() -> Option<Signal> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// The signal another process sent to this one alone since the last call, if any:
/// what a process standing in for another passes on (the terminal's Ctrl-C reached
/// the whole process group already).
pub fn take_sent_by_a_process() -> Option<Signal> {
    match SENT_BY_A_PROCESS.swap(0, Ordering::SeqCst) {
        0 => None,
        n => Signal::try_from(n).ok(),
    }
}

/// Whether the last signal that arrived came from the terminal, which sends it to its
/// whole foreground process group (so the others got it too).
pub fn from_terminal() -> bool {
    received().is_some() && FROM_TERMINAL.load(Ordering::SeqCst)
}
