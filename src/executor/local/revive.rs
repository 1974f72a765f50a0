//! Bringing jobs back whose supervisors died (`resurrect`, the server's watchdog):
//! each decided again under its lock, and many at once with one look at every
//! process instead of one per job.

use super::listing::Holder;
use super::*;
use crate::store::proc::Census;

impl LocalExecutor {
    /// Starts job `name` again if it died meant to run (paused if meant to be);
    /// `census`, a look at every process taken before, spares looking for what
    /// its supervisor left when it shows nothing of the job.
    pub(super) fn revive_with(
        &self,
        name: &str,
        census: Option<&Census>,
    ) -> Result<Option<Outcome>, ExecutorError> {
        let _job = self.lock_job(name)?;
        // As users see it: a job whose files cannot be read is broken, not dead. Any
        // job of the root, as the other verbs (`resurrect` lists the whole root).
        match self.info(name, Holder::Any) {
            Ok(info) if info.died => {}
            Ok(_) | Err(ExecutorError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        }
        self.systemd_reachable(name)?;
        let file = self.read_file(name)?;
        self.start_locked(name, file, census).map(Some)
    }

    /// [`LocalExecutor::revive_with`] for each of `names`, all at once, with one
    /// census of the root's processes taken first.
    pub(super) fn revive_many(
        &self,
        names: &[String],
    ) -> Vec<Result<Option<Outcome>, ExecutorError>> {
        let census = Census::take(self.root.dir());
        crate::parallel::each(names, |name| self.revive_with(name, Some(&census)))
    }
}
