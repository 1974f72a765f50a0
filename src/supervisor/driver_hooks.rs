//! The supervisor's side of hooks: started as a run starts and once it is
//! recorded, killed by a stop of the job, awaited (each within its timeout) when
//! the job ends on its own.

use std::time::Duration;

use super::super::hooks;
use super::Supervisor;
use crate::job::{HookKind, RunRecord};

impl Supervisor {
    /// `on_start`, as run `run` begins.
    pub(super) fn hook_on_start(&mut self, run: u64) {
        let told = hooks::input(&self.file.spec, HookKind::Start, run, None);
        self.start_hook(HookKind::Start, told);
    }

    /// `on_success` or `on_failure`, once `record` is in the history.
    pub(super) fn hook_after(&mut self, record: &RunRecord) {
        if let Some(kind) = hooks::after(record) {
            let told = hooks::input(&self.file.spec, kind, record.run, Some(record));
            self.start_hook(kind, told);
        }
    }

    fn start_hook(&mut self, kind: HookKind, told: serde_json::Value) {
        self.hooks.retain(|h| !h.is_finished());
        let started = hooks::start(&self.file.spec, kind, told, &self.log, &mut self.side_exits);
        self.hooks.extend(started);
    }

    /// A stop of the job ends its hooks with it.
    pub(super) fn end_hooks_on_stop(&mut self) {
        if !self.machine.finished_on_its_own() {
            for hook in self.hooks.drain(..) {
                hook.abort();
            }
        }
    }

    /// Waits for the hooks still going (each ends at its timeout at the latest),
    /// collecting their exits as the main loop no longer does.
    pub(super) async fn await_hooks(&mut self) {
        let deadline =
            tokio::time::Instant::now() + self.file.spec.hooks.timeout + Duration::from_secs(1);
        while self.hooks.iter().any(|h| !h.is_finished()) && tokio::time::Instant::now() < deadline
        {
            self.reap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for hook in self.hooks.drain(..) {
            hook.abort();
        }
    }
}
