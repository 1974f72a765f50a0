//! One writer at a time for job definitions: an exclusive `flock` on `$ROOT/lock`,
//! released when the guard is dropped (or the process dies).

use std::fs::{File, OpenOptions};

use nix::fcntl::{Flock, FlockArg};

use super::{Root, StoreError};

/// Held while a command changes job definitions.
pub struct RootLock {
    _lock: Flock<File>,
}

impl RootLock {
    /// Blocks until the root's lock is ours.
    pub fn acquire(root: &Root) -> Result<RootLock, StoreError> {
        std::fs::create_dir_all(root.dir())
            .map_err(|e| StoreError::io("creating", root.dir(), e))?;
        let path = root.dir().join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("opening", &path, e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| StoreError::io("locking", &path, errno.into()))?;
        Ok(RootLock { _lock: lock })
    }
}
