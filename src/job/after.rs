//! Jobs that run after other jobs' runs (`after:`): which upstream runs trigger a
//! run, decided from where the job stands in each upstream's history (the last
//! upstream run it has taken), so that a success is taken once, in order, however
//! long nothing listened.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A job's `after:`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    /// The upstream jobs (at least one).
    pub jobs: Vec<String>,
    /// A run needs a new run of every upstream (`all`), rather than of any.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub all: bool,
    /// Any end of an upstream run triggers (`on: end`), not only a success.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_end: bool,
}

/// Whether the built-in executor `label` keeps its jobs' runs in this machine's
/// root (`local`, `systemd`, `slurm`, `slurm:NAME`): where a job with `after:`
/// reads its upstream jobs' histories (the executor module's labels; a test
/// there keeps them in step).
pub fn keeps_runs_here(label: &str) -> bool {
    matches!(label, "local" | "systemd" | "slurm") || label.starts_with("slurm:")
}

/// The upstream run that triggered a run (`show runs` says it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AfterLink {
    pub job: String,
    pub run: u64,
}

/// An upstream run as the decision needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UpstreamRun {
    pub run: u64,
    pub ok: bool,
    /// Ended by a stop (never a trigger: the upstream did not end by itself).
    pub stopped: bool,
}

/// What to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Take {
    /// Nothing new.
    Nothing,
    /// These upstream runs are taken without a run (they did not succeed).
    Skip(Vec<AfterLink>),
    /// These upstream runs trigger one run.
    Run(Vec<AfterLink>),
    /// These upstream jobs' histories start over (made anew, their runs counted
    /// from 1 again): taken from the start.
    Rewind(Vec<String>),
}

impl After {
    /// Whether an upstream run counts as a trigger.
    fn counts(&self, r: &UpstreamRun) -> bool {
        !r.stopped && (r.ok || self.on_end)
    }

    /// The next step given, for each upstream, its runs after the one last taken
    /// (oldest first). With `any`, each new run of each upstream in turn, the
    /// oldest first (one that does not count is skipped); with `all`, once every
    /// upstream has a new run that counts, one run after the newest of each (a
    /// join: what came before it is taken with it, so upstreams at different
    /// paces never build a backlog).
    pub fn next(&self, new: &BTreeMap<String, Vec<UpstreamRun>>) -> Take {
        let link = |job: &str, r: &UpstreamRun| AfterLink {
            job: job.to_string(),
            run: r.run,
        };
        if self.all {
            let newest: Vec<AfterLink> = self
                .jobs
                .iter()
                .filter_map(|job| {
                    let counted = new.get(job)?.iter().rev().find(|r| self.counts(r))?;
                    Some(link(job, counted))
                })
                .collect();
            return match newest.len() == self.jobs.len() {
                true => Take::Run(newest),
                false => Take::Nothing,
            };
        }
        // Runs that do not count are taken first, without a run.
        let skipped: Vec<AfterLink> = self
            .jobs
            .iter()
            .filter_map(|job| {
                let first = new.get(job)?.first()?;
                (!self.counts(first)).then(|| link(job, first))
            })
            .collect();
        if !skipped.is_empty() {
            return Take::Skip(skipped);
        }
        let firsts: Vec<AfterLink> = self
            .jobs
            .iter()
            .filter_map(|job| new.get(job)?.first().map(|r| link(job, r)))
            .collect();
        match firsts.into_iter().next() {
            None => Take::Nothing,
            Some(first) => Take::Run(vec![first]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(list: &[(u64, bool)]) -> Vec<UpstreamRun> {
        list.iter()
            .map(|&(run, ok)| UpstreamRun {
                run,
                ok,
                stopped: false,
            })
            .collect()
    }

    fn link(job: &str, run: u64) -> AfterLink {
        AfterLink {
            job: job.into(),
            run,
        }
    }

    #[test]
    fn any_takes_successes_one_at_a_time_and_skips_failures() {
        let after = After {
            jobs: vec!["extract".into()],
            all: false,
            on_end: false,
        };
        let mut new = BTreeMap::new();
        assert_eq!(after.next(&new), Take::Nothing);
        new.insert("extract".to_string(), runs(&[(4, false), (5, true)]));
        assert_eq!(after.next(&new), Take::Skip(vec![link("extract", 4)]));
        new.insert("extract".to_string(), runs(&[(5, true), (6, true)]));
        assert_eq!(after.next(&new), Take::Run(vec![link("extract", 5)]));
        let on_end = After {
            on_end: true,
            ..after
        };
        new.insert("extract".to_string(), runs(&[(7, false)]));
        assert_eq!(on_end.next(&new), Take::Run(vec![link("extract", 7)]));
    }

    #[test]
    fn all_waits_for_every_upstream() {
        let after = After {
            jobs: vec!["a".into(), "b".into()],
            all: true,
            on_end: false,
        };
        let mut new = BTreeMap::new();
        new.insert("a".to_string(), runs(&[(1, true), (2, true), (3, false)]));
        assert_eq!(after.next(&new), Take::Nothing);
        new.insert("b".to_string(), runs(&[(8, false)]));
        assert_eq!(after.next(&new), Take::Nothing, "b has no success yet");
        new.insert("b".to_string(), runs(&[(8, false), (9, true)]));
        // The newest success of each: a's run 1 is taken with run 2.
        assert_eq!(
            after.next(&new),
            Take::Run(vec![link("a", 2), link("b", 9)])
        );
    }
}
