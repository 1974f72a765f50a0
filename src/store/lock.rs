//! One writer at a time: an exclusive `flock` on `$ROOT/lock` for job definitions,
//! one per project (`$ROOT/projects/NAME.lock`) while it is reconciled, one per job
//! name (`$ROOT/locks/NAME.lock`) for the whole of each verb on that job, and one
//! per job name held by its supervisor for its life (`$ROOT/locks/NAME.supervisor`).
//! Each is released when its guard is dropped (or the process dies). The per-name
//! locks live outside the job's directory, so removing a job never removes the lock
//! a running supervisor or verb holds; a lock file is removed only by a holder of
//! both, and whoever takes one checks that the file it locked is still the one at
//! its path (else it takes the new one).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use std::io::{Seek, Write};

use nix::fcntl::{Flock, FlockArg};

use super::{ProcessIdentity, Root, StoreError};

fn lock_file(dir: &Path, name: &str) -> Result<Flock<File>, StoreError> {
    let path = dir.join(name);
    let file = super::open_lock(&path).map_err(|e| StoreError::io("opening", &path, e))?;
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
            _lock: lock_file(&root.projects_dir(), &format!("{project}.lock"))?,
        })
    }
}

/// Locks the file at `path` (created owner-only when missing), waiting or not;
/// `None` when not waiting and someone else holds it. The lock taken is that of the
/// file at `path` when it was taken: a file removed (or replaced) meanwhile by its
/// holder is let go and the new one locked.
fn lock_current(path: &Path, wait: bool) -> Result<Option<Flock<File>>, StoreError> {
    let arg = match wait {
        true => FlockArg::LockExclusive,
        false => FlockArg::LockExclusiveNonblock,
    };
    loop {
        let file = super::open_lock(path).map_err(|e| StoreError::io("opening", path, e))?;
        let lock = match Flock::lock(file, arg) {
            Ok(lock) => lock,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) if !wait => return Ok(None),
            Err((_, errno)) => return Err(StoreError::io("locking", path, errno.into())),
        };
        let held = lock
            .metadata()
            .map_err(|e| StoreError::io("reading", path, e))?;
        let current = std::fs::symlink_metadata(path).ok();
        if current.is_some_and(|c| c.ino() == held.ino() && c.dev() == held.dev()) {
            return Ok(Some(lock));
        }
    }
}

/// Held for the whole of one verb on one job (create, replace, start, pause, stop,
/// delete), so verbs on a job name run one after the other, from any process: two
/// of them never interleave, so one never undoes half of another.
pub struct JobLock {
    _lock: Flock<File>,
}

impl JobLock {
    /// Waits until the job name's lock is ours.
    pub fn acquire(root: &Root, name: &str) -> Result<JobLock, StoreError> {
        let lock = lock_current(&root.job_lock(name), true)?;
        Ok(JobLock {
            _lock: lock.ok_or_else(|| {
                StoreError::io(
                    "locking",
                    &root.job_lock(name),
                    std::io::ErrorKind::WouldBlock.into(),
                )
            })?,
        })
    }

    /// Takes the job name's lock if nobody holds it (a verb is under way otherwise).
    pub fn try_acquire(root: &Root, name: &str) -> Result<Option<JobLock>, StoreError> {
        Ok(lock_current(&root.job_lock(name), false)?.map(|lock| JobLock { _lock: lock }))
    }

    /// Removes the name's lock files once nothing of the job is left, holding both
    /// locks (`vacant` says no supervisor of the job runs). Whoever waits for either
    /// lock meanwhile takes a new file once these are released.
    pub fn remove_files(&self, root: &Root, name: &str, vacant: SupervisorLock) {
        let _ = std::fs::remove_file(root.supervisor_lock(name));
        let _ = std::fs::remove_file(root.job_lock(name));
        drop(vacant);
    }
}

/// Held by a job's supervisor for its whole life (`locks/NAME.supervisor`): a second
/// supervisor of the job cannot start, and the file names its holder (pid and start
/// time), so the job's processes can be found and stopped even when `state.json` is
/// unreadable, and cleaned up after a supervisor that was killed. It lives outside
/// the job's directory, so removing that directory cannot let a second supervisor in.
pub struct SupervisorLock {
    _lock: Flock<File>,
}

impl SupervisorLock {
    /// Takes job `name`'s lock for `holder` without waiting; `None` when another live
    /// supervisor (or a verb removing the job) holds it.
    pub fn try_acquire(
        root: &Root,
        name: &str,
        holder: ProcessIdentity,
    ) -> Result<Option<SupervisorLock>, StoreError> {
        let Some(mut lock) = lock_current(&root.supervisor_lock(name), false)? else {
            return Ok(None);
        };
        // A supervisor started by an earlier version of mrsm holds the lock in the
        // job's directory.
        let legacy = read_holder(&root.job_dir(name).join("supervisor.lock"));
        if legacy.is_some_and(|l| l != holder && l.is_alive()) {
            return Ok(None);
        }
        let line = format!("{} {}\n", holder.pid, holder.start_ticks);
        // A full disk must not keep a job from starting: the record is a help for
        // cleaning up, not a requirement.
        let _ = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| lock.write_all(line.as_bytes()));
        Ok(Some(SupervisorLock { _lock: lock }))
    }

    /// Takes job `name`'s supervisor lock without naming a holder, for a verb that
    /// must know no supervisor of the job starts meanwhile (removing its files);
    /// `None` when a supervisor holds it.
    pub fn vacant(root: &Root, name: &str) -> Result<Option<SupervisorLock>, StoreError> {
        Ok(lock_current(&root.supervisor_lock(name), false)?
            .map(|lock| SupervisorLock { _lock: lock }))
    }

    /// The supervisor that holds (or last held) job `name`'s lock; for a supervisor
    /// started by an earlier version of mrsm, the lock file in the job's directory.
    pub fn holder(root: &Root, name: &str) -> Option<ProcessIdentity> {
        read_holder(&root.supervisor_lock(name))
            .or_else(|| read_holder(&root.job_dir(name).join("supervisor.lock")))
    }
}

/// The pid and start time written in a supervisor's lock file.
fn read_holder(path: &Path) -> Option<ProcessIdentity> {
    let text = super::read_text(path).ok()?;
    let mut words = text.split_whitespace();
    Some(ProcessIdentity {
        pid: words.next()?.parse().ok()?,
        start_ticks: words.next()?.parse().ok()?,
    })
}

/// The processes that hold one of the root's locks now (the root's, a project's, a
/// watcher's, a job name's), from the kernel's table of locks: a job being paused
/// leaves these running until they let go, since a verb stopped while it holds a
/// lock would hold up every later verb on that job (a step that pauses its own job,
/// a watcher paused while it applies a change).
pub fn lock_holders(root: &Root) -> std::collections::HashSet<i32> {
    let mut inodes = std::collections::HashSet::new();
    for dir in [root.locks_dir(), root.dir().join("projects")] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.filter_map(|e| e.ok()) {
                if let Ok(meta) = entry.metadata() {
                    inodes.insert(meta.ino());
                }
            }
        }
    }
    if let Ok(meta) = std::fs::metadata(root.dir().join("lock")) {
        inodes.insert(meta.ino());
    }
    let table = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    held_by(&table, &inodes)
}

/// The pids that hold (not wait for) a lock on one of `inodes` in `/proc/locks`'s
/// text: `N: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END`.
fn held_by(table: &str, inodes: &std::collections::HashSet<u64>) -> std::collections::HashSet<i32> {
    table
        .lines()
        .filter(|line| !line.contains("->"))
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let pid: i32 = fields.get(4)?.parse().ok()?;
            let inode: u64 = fields.get(5)?.rsplit(':').next()?.parse().ok()?;
            inodes.contains(&inode).then_some(pid)
        })
        .collect()
}

#[cfg(test)]
mod holders_tests {
    use super::*;

    #[test]
    fn holders_are_read_from_the_kernel_s_table_and_waiters_are_not() {
        let table = "1: FLOCK  ADVISORY  WRITE 4242 fd:01:777 0 EOF\n\
                     1: -> FLOCK  ADVISORY  WRITE 4343 fd:01:777 0 EOF\n\
                     2: POSIX  ADVISORY  WRITE 99 fd:01:888 0 EOF\n";
        let inodes = [777u64].into_iter().collect();
        assert_eq!(held_by(table, &inodes), [4242].into_iter().collect());
    }

    #[test]
    fn a_held_job_lock_names_its_holder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let held = JobLock::acquire(&root, "j").expect("locked");
        assert!(lock_holders(&root).contains(&(std::process::id() as i32)));
        drop(held);
        assert!(!lock_holders(&root).contains(&(std::process::id() as i32)));
    }
}
