//! Ctrl-C, SIGTERM and SIGHUP as a flag, so `up` can stop its jobs before exiting,
//! the watcher can finish what it is applying, and a foreground `run` can stop what
//! it started.

use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};

/// The signal that arrived (0: none yet).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: i32) {
    RECEIVED.store(signal, Ordering::SeqCst);
}

/// Catches SIGINT, SIGTERM and SIGHUP from now on.
pub fn install() {
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
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
