//! Listing the root's jobs: each job's files read on its own, shared out among the
//! machine's cores, a job that cannot be read shown broken, never hidden.

use super::*;

impl LocalExecutor {
    /// The jobs of the root (the project's, or all) that `holder` holds, in name
    /// order.
    pub(super) fn list_where(
        &self,
        project: Option<&str>,
        holder: Holder,
    ) -> Result<Vec<JobInfo>, ExecutorError> {
        // A directory without a definition (a deleted job's kept history) is
        // `NotFound` below.
        let names = self.root.job_dir_names()?;
        // Each job's files are read on its own, so the reading is shared out among
        // the machine's cores.
        let found = crate::parallel::each_on(crate::parallel::cores(), &names, |name| {
            self.info(name, holder)
        });
        let mut jobs = Vec::new();
        for (name, got) in names.iter().zip(found) {
            match got {
                // Whose a job is that cannot be read is unknown: every listing shows it.
                Ok(info)
                    if project.is_some_and(|p| info.project.as_deref() != Some(p))
                        && !(info.status == crate::job::JobStatus::Broken
                            && info.project.is_none()) => {}
                Ok(info) => jobs.push(info),
                // Deleted meanwhile.
                Err(ExecutorError::NotFound(_)) => {}
                // A directory whose name is not a job's: not ours to list.
                Err(ExecutorError::Spec(_)) => {}
                // Whose it is cannot be read: every listing shows it.
                Err(e) => jobs.push(JobInfo::broken(name, e.to_string(), None, self.label())),
            }
        }
        self.add_unit_states(&mut jobs);
        Ok(jobs)
    }
}

/// Whose jobs a look at the root is after.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Holder {
    /// This executor's only.
    This,
    /// Those of every executor of the root (`local`, `systemd`, `slurm`, `slurm:NAME`).
    Any,
}
