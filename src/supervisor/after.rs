//! Where a job with `after:` stands in its upstream jobs' histories, and what of
//! them is new: the last upstream run it has taken is kept in its report and
//! carried from supervisor to supervisor, so a run an upstream made while no
//! supervisor of this job listened is taken later, once, in order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::SystemTime;

use jiff::Timestamp;

use super::runs::read_runs;
use crate::job::{JobSpec, SupervisorState, UpstreamRun};
use crate::store::Root;

/// The upstream runs taken so far: the previous supervisor's, and for an upstream
/// never taken from, its last run that ended before this job was made (what it
/// did before is not this job's to run after; what it did since is, however
/// late this supervisor starts).
pub(super) fn cursors(
    root: &Root,
    spec: &JobSpec,
    created: Timestamp,
    previous: Option<&SupervisorState>,
) -> BTreeMap<String, u64> {
    let Some(after) = &spec.after else {
        return BTreeMap::new();
    };
    after
        .jobs
        .iter()
        .map(|job| {
            let taken = previous
                .and_then(|p| p.after.get(job).copied())
                .unwrap_or_else(|| before(root, job, created));
            (job.clone(), taken)
        })
        .collect()
}

/// The last run of `job` that ended before `created` (0 when none).
fn before(root: &Root, job: &str, created: Timestamp) -> u64 {
    let runs = read_runs(&root.runs_file(job))
        .map(|h| h.runs)
        .unwrap_or_default();
    let last = runs.last().map_or(0, |r| r.run);
    match runs.iter().rev().find(|r| r.ended < created) {
        Some(r) => r.run,
        // None ended before: the oldest kept is new to this job (the history
        // kept may start later than this job was made: all of it is new).
        None => runs.first().map_or(last, |r| r.run.saturating_sub(1)),
    }
}

/// Each upstream job's runs not taken yet, oldest first.
pub(super) type NewRuns = BTreeMap<String, Vec<UpstreamRun>>;

/// Watches the upstream jobs' run histories, reading one again only when it
/// changed (or the job moved on in it).
#[derive(Default)]
pub(super) struct Upstreams {
    seen: BTreeMap<String, (Option<(u64, SystemTime)>, u64)>,
}

impl Upstreams {
    /// Each upstream's runs after the one taken (`cursors`), oldest first, and
    /// the upstreams whose history now ends below the run taken (made anew);
    /// none when nothing changed since the last look.
    pub fn new_runs(
        &mut self,
        root: &Root,
        cursors: &BTreeMap<String, u64>,
    ) -> Option<(NewRuns, Vec<String>)> {
        let mut changed = false;
        for (job, &cursor) in cursors {
            let stamp = stamp(root.runs_file(job));
            let now = (stamp, cursor);
            if self.seen.get(job) != Some(&now) {
                self.seen.insert(job.clone(), now);
                changed = true;
            }
        }
        if !changed {
            return None;
        }
        let mut rewound = Vec::new();
        let mut runs = BTreeMap::new();
        for (job, &cursor) in cursors {
            // A history that cannot be read (damaged, not a file) gives nothing,
            // and takes nothing back.
            let Ok(history) = read_runs(&root.runs_file(job)).map(|h| h.runs) else {
                runs.insert(job.clone(), Vec::new());
                continue;
            };
            // Its newest run below the one taken: the job was made anew (its
            // history removed) and counts from 1 again.
            if history.last().map_or(0, |r| r.run) < cursor && root.job_file(job).exists() {
                rewound.push(job.clone());
            }
            let new = history
                .into_iter()
                .filter(|r| r.run > cursor)
                .map(|r| UpstreamRun {
                    run: r.run,
                    ok: r.result.ok(),
                    stopped: r.result.stopped(),
                })
                .collect();
            runs.insert(job.clone(), new);
        }
        Some((runs, rewound))
    }
}

/// What tells a run history changed: its length and time of change.
fn stamp(path: PathBuf) -> Option<(u64, SystemTime)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.len(), meta.modified().ok()?))
}
