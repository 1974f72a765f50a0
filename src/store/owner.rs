//! Whose the root is. Another user who could write in the root (or in its `jobs/`,
//! `logs/`, …) could plant `logs/NAME.log` as a link to a file of theirs and get a
//! job's output, secrets included, or hide a job's files. So every directory mrsm
//! uses under the root must be owned by the user mrsm runs as (its effective uid)
//! and writable by nobody else; one that is not is refused, with who owns it or its
//! mode. The directories above the root are the user's business (`/tmp` is
//! writable by all, with the sticky bit, and holds roots well).
//!
//! A directory given as a symbolic link (a root at `~/mrsm` linking to a disk of
//! its own) is used when the link itself is the user's (or root's: nobody else can
//! replace it then) and the directory it leads to passes the same checks. Files are
//! never reached through links ([`super::open`]).
//!
//! Each directory is checked once per process: the answer is kept by path.

use std::collections::HashSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::open::Refused;

/// Directories that passed, by path.
fn passed() -> &'static Mutex<HashSet<PathBuf>> {
    static PASSED: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    PASSED.get_or_init(|| Mutex::new(HashSet::new()))
}

/// The user mrsm runs as, asked once: a listing checks a directory per job.
fn me() -> u32 {
    static ME: OnceLock<u32> = OnceLock::new();
    *ME.get_or_init(|| nix::unistd::geteuid().as_raw())
}

/// Checks `dir` (see the module); a directory that does not exist passes (whatever
/// creates it creates it owner-only) without being remembered.
pub fn check_dir(dir: &Path) -> Result<(), Refused> {
    check(dir, false)
}

/// [`check_dir`] for a root, whose refusal says so.
pub fn check_root(dir: &Path) -> Result<(), Refused> {
    check(dir, true)
}

fn check(dir: &Path, root: bool) -> Result<(), Refused> {
    let known = |set: &HashSet<PathBuf>| set.contains(dir);
    if passed().lock().is_ok_and(|set| known(&set)) {
        return Ok(());
    }
    let refuse = |reason: String| Refused::Directory {
        path: dir.to_path_buf(),
        root,
        reason,
    };
    let me = me();
    let mut meta = match std::fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(refuse(format!("cannot be examined: {e}"))),
    };
    if meta.file_type().is_symlink() {
        if meta.uid() != me && meta.uid() != 0 {
            return Err(refuse(format!(
                "it is a symbolic link owned by uid {}, not you (uid {me})",
                meta.uid()
            )));
        }
        meta = std::fs::metadata(dir)
            .map_err(|e| refuse(format!("the link leads nowhere usable: {e}")))?;
    }
    if !meta.is_dir() {
        return Err(refuse("it is not a directory".to_string()));
    }
    if meta.uid() != me {
        return Err(refuse(format!(
            "owned by uid {}, not you (uid {me})",
            meta.uid()
        )));
    }
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(refuse(format!(
            "it is writable by others (mode {mode:04o})"
        )));
    }
    if let Ok(mut set) = passed().lock() {
        set.insert(dir.to_path_buf());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_others_can_write_is_refused_and_a_private_one_passes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let open = dir.path().join("open");
        std::fs::create_dir(&open).expect("dir");
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).expect("chmod");
        let said = check_root(&open).expect_err("refused").to_string();
        assert!(
            said.starts_with("refusing root ")
                && said.ends_with("is writable by others (mode 0777)"),
            "{said}"
        );
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        check_dir(&open).expect("private now");
        check_dir(&dir.path().join("missing")).expect("nothing there yet");
        let file = dir.path().join("file");
        std::fs::write(&file, "").expect("written");
        let said = check_dir(&file).expect_err("refused").to_string();
        assert!(said.ends_with("it is not a directory"), "{said}");
        // A link of the user's to a private directory is followed.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&open, &link).expect("linked");
        check_dir(&link).expect("a link of one's own");
    }
}
