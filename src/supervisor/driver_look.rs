//! The supervisor's looks at the job's processes: what each run has left, and
//! whether anything of the job is left (side processes, probes and hooks, are
//! neither: they carry no run's number).

use std::collections::BTreeMap;

use super::super::machine::Event;
use super::super::steps;
use super::Supervisor;
use crate::store::proc::{environ_var, own_processes, ProcStat};

/// Whether a process is a probe's or a hook's (or started by one).
fn is_side(p: &ProcStat) -> bool {
    environ_var(p.pid, steps::RUN_VARIABLE)
        .is_some_and(|r| r == super::super::side::SIDE.as_bytes())
}

impl Supervisor {
    /// What a look finds: the processes of each run asked about, and whether the
    /// job has any left.
    pub(super) fn seen(&self) -> Event {
        let (asked, job) = self.machine.look();
        // Without a child, nothing of the job is left (see `job_alive`).
        let childless = job && crate::store::proc::childless();
        let procs = match !asked.is_empty() || (job && !childless) {
            true => own_processes(self.me, self.name()),
            false => Vec::new(),
        };
        // A probe or a hook going is no process the job left behind.
        let procs: Vec<ProcStat> = procs.into_iter().filter(|p| !is_side(p)).collect();
        let runs = asked
            .into_iter()
            .map(|run| (run, self.of_run(run, &procs).len()))
            .collect::<BTreeMap<_, _>>();
        Event::Seen {
            runs,
            job_alive: job.then_some(!childless && !procs.is_empty()),
        }
    }

    /// Every live process of the job.
    pub(super) fn job_processes(&self) -> Vec<ProcStat> {
        own_processes(self.me, self.name())
    }

    /// Of the job's processes `procs`, those of run `run`: its steps' process
    /// groups, and whatever inherited its run number (daemons that left the group
    /// included). A process with no run number (one that cleared its environment)
    /// in no other run's group is counted as this run's: the supervisor is a
    /// subreaper, so all of them are the job's, and none may outlive its run.
    pub(super) fn of_run(&self, run: u64, procs: &[ProcStat]) -> Vec<ProcStat> {
        let id = run.to_string();
        let mut mine: &[i32] = &[];
        let mut others: Vec<&[i32]> = Vec::new();
        for (r, groups) in self.machine.groups() {
            match r == run {
                true => mine = groups,
                false => others.push(groups),
            }
        }
        procs
            .iter()
            .filter(|p| {
                if mine.contains(&p.pgrp) {
                    return true;
                }
                match environ_var(p.pid, steps::RUN_VARIABLE) {
                    Some(number) => number == id.as_bytes(),
                    None => !others.iter().any(|o| o.contains(&p.pgrp)),
                }
            })
            .copied()
            .collect()
    }
}
