//! One watcher per project: an exclusive `flock` on `$ROOT/projects/NAME.watch`,
//! held for the watcher's whole life (foreground `up`, or the `mrsm-watch-NAME`
//! job). A second watcher is refused at once and told who holds it; the holder
//! writes its pid and what it is into the file. The lock goes with the process, so
//! a killed watcher never leaves it behind.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use crate::store::{Root, StoreError};

/// Why a watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchLockError {
    #[error("project {project:?} is already watched by {holder}: stop that one first (Ctrl-C where it runs; `mrsm stop jobs mrsm-watch-{project}` for the one `up -d --watch` started)")]
    Held { project: String, holder: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Held while a watcher of the project runs.
pub struct WatchLock {
    _lock: Flock<File>,
}

fn lock_path(root: &Root, project: &str) -> PathBuf {
    root.projects_dir().join(format!("{project}.watch"))
}

impl WatchLock {
    /// Takes the project's watcher lock, or says who holds it. `who` describes this
    /// process for a later contender (`mrsm up`, `mrsm watch`).
    pub fn acquire(root: &Root, project: &str, who: &str) -> Result<WatchLock, WatchLockError> {
        let path = lock_path(root, project);
        let file =
            crate::store::open_lock(&path).map_err(|e| StoreError::io("opening", &path, e))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, Errno::EWOULDBLOCK)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(WatchLockError::Held {
                    project: project.to_string(),
                    holder: if holder.is_empty() {
                        "another process".to_string()
                    } else {
                        holder.to_string()
                    },
                });
            }
            Err((_, errno)) => {
                return Err(StoreError::io("locking", &path, errno.into()).into());
            }
        };
        let note = format!("pid {} ({who})\n", std::process::id());
        let written = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(note.as_bytes()));
        written.map_err(|e| StoreError::io("writing", &path, e))?;
        Ok(WatchLock { _lock: lock })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_watcher_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let first = WatchLock::acquire(&root, "demo", "mrsm up").expect("free");
        let second = WatchLock::acquire(&root, "demo", "mrsm watch");
        match second {
            Err(WatchLockError::Held { holder, .. }) => {
                assert_eq!(holder, format!("pid {} (mrsm up)", std::process::id()));
            }
            other => panic!("expected Held, got {:?}", other.map(|_| ())),
        }
        assert!(WatchLock::acquire(&root, "other", "mrsm up").is_ok());
        drop(first);
        assert!(WatchLock::acquire(&root, "demo", "mrsm watch").is_ok());
    }
}
