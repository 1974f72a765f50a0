//! The supervisor's side of `after:`: while no run goes, the upstream jobs' new
//! runs are looked for and handed to the machine, one decision at a time; what
//! was taken is saved before the run it triggers starts, so that a supervisor
//! killed then never runs it twice.

use std::time::Duration;

use tokio::time::Instant;

use super::super::machine::Event;
use super::Supervisor;
use crate::job::Take;

/// How often upstream histories are looked at while the job waits.
const LOOK_EVERY: Duration = Duration::from_millis(250);

impl Supervisor {
    /// Hands the machine what the upstream jobs' new runs call for, as long as
    /// it waits for them and something is to be taken.
    pub(super) fn take_upstream_runs(&mut self) {
        let (Some(after), Some(_)) = (self.file.spec.after.clone(), self.upstreams.as_ref()) else {
            return;
        };
        while self.machine.idle() {
            let taken = self.machine.taken().clone();
            let Some(upstreams) = self.upstreams.as_mut() else {
                return;
            };
            let Some((new, rewound)) = upstreams.new_runs(&self.root, &taken) else {
                return;
            };
            let take = match rewound.is_empty() {
                true => after.next(&new),
                false => Take::Rewind(rewound),
            };
            if take == Take::Nothing {
                return;
            }
            self.feed(Event::Upstream(take));
        }
    }

    /// Before a run on upstream runs starts, the report says they are taken.
    pub(super) fn save_taken_upstream_runs(&mut self) {
        if self.upstreams.is_some() {
            self.write_state();
        }
    }

    /// When to look at the upstream histories next: soon, while the job waits.
    pub(super) fn next_upstream_look(&self) -> Option<Instant> {
        (self.upstreams.is_some() && self.machine.idle()).then(|| Instant::now() + LOOK_EVERY)
    }
}
