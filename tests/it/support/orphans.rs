//! Processes a killed supervisor leaves behind, killed by pid when the test ends
//! (included with `#[path]` by the tests that kill supervisors).

use mrsm::store::ProcessIdentity;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{processes, Env};

/// What the test's killed supervisors left.
#[derive(Default)]
pub struct Orphans(Vec<ProcessIdentity>);

impl Orphans {
    /// Kills a job's supervisor with SIGKILL, by its recorded pid, remembering the
    /// job's other processes; returns the supervisor that was killed.
    pub fn kill_supervisor(&mut self, env: &Env, name: &str) -> ProcessIdentity {
        let supervisor = env.supervisor(name).expect("recorded");
        self.0
            .extend(processes(supervisor).iter().map(|p| p.identity()));
        kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL).expect("kill -9");
        supervisor
    }
}

impl Drop for Orphans {
    fn drop(&mut self) {
        for p in self.0.iter().filter(|p| p.is_alive()) {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
    }
}
