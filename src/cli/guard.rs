//! A foreground `mrsm run` runs its chain in a child process of its own, which dies
//! with it: the child is the steps' child subreaper (whatever they start stays its
//! descendant) and gets SIGTERM when the `mrsm` the user started goes away, even by
//! SIGKILL, so it stops everything the run started, as Ctrl-C would. The command
//! the user started only waits for it, passes on the signals sent to it alone (a
//! terminal's Ctrl-C reaches the whole process group already), and exits with its
//! status; it is a child subreaper too, so if the child is the one killed, what the
//! run started is handed to it and stopped there.

use std::process::Command;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::interrupt;
use crate::job::JobSpec;
use crate::supervisor::foreground::{GUARD_PARENT, GUARD_SPEC};

/// The first argument that makes `mrsm` the child that runs a foreground chain.
const CHILD_WORD: &str = "__foreground";

/// How often the waiting parent looks at its child and at signals.
const POLL: Duration = Duration::from_millis(20);

/// Runs `spec` in the foreground through a guarded child; its exit status.
pub fn run_guarded(spec: &JobSpec) -> anyhow::Result<i32> {
    interrupt::install();
    // Whatever the child started is handed to this process if the child is killed
    // (SIGKILL too), and stopped here then.
    let _ = nix::sys::prctl::set_child_subreaper(true);
    let json = serde_json::to_string(spec)?;
    let mut command = Command::new(crate::executor::locate_mrsm_binary());
    command
        .arg(CHILD_WORD)
        .args(spec.command.iter())
        .env(GUARD_SPEC, json)
        .env(GUARD_PARENT, std::process::id().to_string());
    // The child's own umask is the restricted one: the steps get the user's.
    if let Some(mask) = crate::store::private::step_umask() {
        command.env(crate::store::private::STEP_UMASK_VAR, format!("{mask:o}"));
    }
    let mut child = command
        .spawn()
        .map_err(|e| anyhow::anyhow!("could not run {}: {e}", CHILD_WORD))?;
    let pid = Pid::from_raw(child.id() as i32);
    loop {
        if let Some(status) = child.try_wait()? {
            use std::os::unix::process::ExitStatusExt;
            crate::supervisor::foreground::stop_what_is_left(spec);
            return Ok(status
                .code()
                .or(status.signal().map(|s| 128 + s))
                .unwrap_or(1));
        }
        if let Some(signal) = interrupt::take_sent_by_a_process() {
            let _ = kill(pid, signal);
        }
        std::thread::sleep(POLL);
    }
}

/// When this process is the guarded child of a foreground run: runs the chain and
/// returns its exit status.
pub fn child_early() -> Option<i32> {
    if std::env::args_os().nth(1)? != CHILD_WORD {
        return None;
    }
    let json = std::env::var(GUARD_SPEC).ok()?;
    let parent: i32 = std::env::var(GUARD_PARENT).ok()?.parse().ok()?;
    // Dies with the command the user started; if that is gone already, nothing of
    // the run starts.
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
    if nix::unistd::getppid().as_raw() != parent {
        return Some(128 + Signal::SIGTERM as i32);
    }
    let spec: JobSpec = match serde_json::from_str(&json) {
        Ok(spec) => spec,
        Err(e) => {
            err!("error: the foreground run's definition: {e}");
            return Some(1);
        }
    };
    Some(match super::run::foreground(&spec) {
        Ok(code) => code,
        Err(e) => {
            err!("error: {e:#}");
            1
        }
    })
}
