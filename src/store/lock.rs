//! One writer at a time: an exclusive `flock` on `$ROOT/lock` for job definitions,
//! and one per project (`$ROOT/projects/NAME.lock`) while it is reconciled; each is
//! released when its guard is dropped (or the process dies).

use std::fs::File;
use std::path::Path;

use std::io::{Seek, Write};

use nix::fcntl::{Flock, FlockArg};

use super::{ProcessIdentity, Root, StoreError};

fn lock_file(dir: &Path, name: &str) -> Result<Flock<File>, StoreError> {
    super::private::create_dir_all(dir).map_err(|e| StoreError::io("creating", dir, e))?;
    let path = dir.join(name);
    let file = super::private::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::io("opening", &path, e))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| StoreError::io("locking", &path, errno.into()))
}

/// Held while a command changes job definitions.
pub struct RootLock {
    _lock: Flock<File>,
}

impl RootLock {
    /// Blocks until the root's lock is ours.
    pub fn acquire(root: &Root) -> Result<RootLock, StoreError> {
        Ok(RootLock {
            _lock: lock_file(root.dir(), "lock")?,
        })
    }
}

/// Held while one project is planned and applied, so two `up`s of the same project
/// run one after the other (the second then finds nothing to do). Separate from
/// [`RootLock`], which the executor takes for each job.
pub struct ProjectLock {
    _lock: Flock<File>,
}

impl ProjectLock {
    /// Blocks until the project's lock is ours.
    pub fn acquire(root: &Root, project: &str) -> Result<ProjectLock, StoreError> {
        Ok(ProjectLock {
            _lock: lock_file(&root.dir().join("projects"), &format!("{project}.lock"))?,
        })
    }
}

/// Held by a job's supervisor for its whole life (`jobs/NAME/supervisor.lock`): a
/// second supervisor of the job cannot start, and the file names its holder (pid and
/// start time), so the job's processes can be found and stopped even when
/// `state.json` is unreadable, and cleaned up after a supervisor that was killed.
pub struct SupervisorLock {
    _lock: Flock<File>,
}

impl SupervisorLock {
    /// Takes the lock for `holder` without waiting; `None` when another live
    /// supervisor holds it.
    pub fn try_acquire(
        path: &Path,
        holder: ProcessIdentity,
    ) -> Result<Option<SupervisorLock>, StoreError> {
        let file = super::private::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::io("opening", path, e))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err(_) => return Ok(None),
        };
        let line = format!("{} {}\n", holder.pid, holder.start_ticks);
        // A full disk must not keep a job from starting: the record is a help for
        // cleaning up, not a requirement.
        let _ = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(line.as_bytes()));
        Ok(Some(SupervisorLock { _lock: lock }))
    }

    /// The supervisor that holds (or last held) the lock at `path`.
    pub fn holder(path: &Path) -> Option<ProcessIdentity> {
        let text = std::fs::read_to_string(path).ok()?;
        let mut words = text.split_whitespace();
        Some(ProcessIdentity {
            pid: words.next()?.parse().ok()?,
            start_ticks: words.next()?.parse().ok()?,
        })
    }
}
