//! One writer at a time: an exclusive `flock` on `$ROOT/lock` for job definitions,
//! and one per project (`$ROOT/projects/NAME.lock`) while it is reconciled; each is
//! released when its guard is dropped (or the process dies).

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use super::{Root, StoreError};

fn lock_file(dir: &Path, name: &str) -> Result<Flock<File>, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io("creating", dir, e))?;
    let path = dir.join(name);
    let file = OpenOptions::new()
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
