//! The supervisor's side of health checks: which run is probed, probes started
//! when due, and what their outcomes do (a `sys` line on each change, the report
//! rewritten, a liveness stop of an unhealthy run).

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::super::health::ProbeDone;
use super::super::machine::Event;
use super::Supervisor;
use crate::job::HealthStatus;

/// The next probe outcome; never, without a check.
pub(super) async fn next_probe(rx: &mut Option<mpsc::Receiver<ProbeDone>>) -> Option<ProbeDone> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Supervisor {
    /// Follows the run to probe: the newest one going while the job runs (none
    /// while it is paused or stopping). A change is reported.
    pub(super) fn follow_health(&mut self) {
        let run = self.machine.probed_run();
        let Some(probing) = self.probing.as_mut() else {
            return;
        };
        if probing.follow(run, Instant::now()) {
            self.touched = true;
        }
        self.probe_if_due();
    }

    /// Starts the probe if it is due.
    pub(super) fn probe_if_due(&mut self) {
        if let Some(probing) = self.probing.as_mut() {
            probing.start_if_due(Instant::now(), &self.file.spec, &mut self.side_exits);
        }
    }

    /// A probe's outcome: a change of health is logged and reported; a run that
    /// turned unhealthy is stopped when the check is a liveness one.
    pub(super) fn on_probe(&mut self, done: ProbeDone) {
        let Some(probing) = self.probing.as_mut() else {
            return;
        };
        let liveness = probing.check().liveness;
        let changed = probing.done(done, Instant::now());
        // Failures counted are reported too.
        self.touched = true;
        let Some(change) = changed else {
            self.probe_if_due();
            return;
        };
        let said = change.said.map(|s| format!(" ({s})")).unwrap_or_default();
        self.sys(&format!(
            "run {} health: {} -> {}{said}",
            change.run, change.from, change.to
        ));
        if change.to == HealthStatus::Unhealthy && liveness {
            self.feed(Event::Unhealthy { run: change.run });
        }
        self.probe_if_due();
    }
}
