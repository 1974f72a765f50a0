//! Files and directories only their owner can read: job definitions hold environment
//! secrets and the control socket accepts commands, so everything mrsm creates under
//! its root is 0700 (directories) or 0600 (files, all opened
//! by `store::open`),
//! whatever the umask.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// The umask a job's steps run with: the one mrsm was started with, before
/// [`restrict_umask`].
static STEP_UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// Environment variable that hands the user's umask from the command line to the
/// supervisors it starts (their own umask is the restricted one).
pub const STEP_UMASK_VAR: &str = "MRSM_STEP_UMASK";

/// Makes everything this process creates owner-only, even under a umask that would
/// take the owner's own rights away (277): files are created 0600 and directories
/// 0700. The umask to give back to jobs' steps is remembered: the one handed down in
/// `MRSM_STEP_UMASK`, else the one this process had.
pub fn restrict_umask() {
    use nix::sys::stat::{umask, Mode};
    let previous = umask(Mode::from_bits_truncate(0o077)).bits();
    let inherited = std::env::var(STEP_UMASK_VAR)
        .ok()
        .and_then(|v| u32::from_str_radix(&v, 8).ok());
    let _ = STEP_UMASK.set(inherited.unwrap_or(previous) & 0o777);
}

/// The umask for a job's steps (what the user had), or `None` when this process
/// never restricted its own.
pub fn step_umask() -> Option<u32> {
    STEP_UMASK.get().copied()
}

/// Mode of the directories mrsm creates.
pub const DIR_MODE: u32 = 0o700;
/// Mode of the files mrsm creates.
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` and its missing parents as owner-only directories (existing ones are
/// left as they are).
pub fn create_dir_all(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn owner_only_whatever_the_parent() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("a/b/c.log");
        crate::store::open_append(&file).expect("created");
        let mode = |p: &Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join("a")), 0o700);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
    }
}
