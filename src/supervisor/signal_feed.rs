//! The supervisor's signals, read as data from a signalfd rather than caught by
//! handlers: the signals it acts on (and those that would otherwise kill it
//! abruptly) are blocked for the whole process and the loop reads them when they
//! come. Nothing is kept per signal number, which is most of what a table of
//! handlers would cost each of a machine's thousand supervisors in memory. Steps
//! start with no signal blocked: `std::process` clears the mask in the child
//! before `exec`.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// What the supervisor takes as signals: SIGCHLD (a child changed state), the
/// three that ask it to stop the job, SIGUSR1 (a step learned where it runs), and
/// two that would end it abruptly and are ignored.
const TAKEN: [Signal; 7] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
];

/// The supervisor's signals, as they come.
pub(super) struct Signals(AsyncFd<SignalFd>);

impl Signals {
    /// Blocks the signals the supervisor takes and opens the descriptor they are
    /// read from. Called on the runtime's only thread, before any other exists.
    pub(super) fn open() -> std::io::Result<Signals> {
        let mut set = SigSet::empty();
        for signal in TAKEN {
            set.add(signal);
        }
        set.thread_block()?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        // SAFETY: the descriptor is owned by the `SignalFd` handed over, which
        // closes it only when the `AsyncFd` is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(std::io::Error::from)?;
        Ok(Signals(fd))
    }

    /// The next signal (signals of one kind that came together count once, as
    /// they would with handlers).
    pub(super) async fn next(&self) -> std::io::Result<Signal> {
        loop {
            let mut ready = self.0.readable().await?;
            match ready.get_inner().read_signal() {
                Ok(Some(info)) => {
                    let number = i32::try_from(info.ssi_signo).unwrap_or_default();
                    if let Ok(signal) = Signal::try_from(number) {
                        return Ok(signal);
                    }
                }
                Ok(None) => ready.clear_ready(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}
