//! Which root a job lives in, as an opaque name: two executors that reach the same
//! root (this machine's `local`, and an `api:` executor whose server runs on this
//! very root) hold the same jobs, so the reconciler must treat them as one place
//! (a job seen through both is one job, never a copy to delete). The name is a hash
//! of the machine and the root directory, so a server can say it without showing
//! its root's path.

use std::os::unix::fs::MetadataExt;

use sha2::{Digest, Sha256};

use super::Root;

/// What tells this machine from another: its machine id, else its host name.
fn machine() -> String {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default()
}

impl Root {
    /// The root's opaque name: the same for every process on this machine that uses
    /// this directory (by path, device and inode), another for any other root.
    pub fn home_id(&self) -> String {
        let dir = std::fs::canonicalize(self.dir()).unwrap_or_else(|_| self.dir().to_path_buf());
        let (dev, ino) = std::fs::metadata(&dir).map_or((0, 0), |m| (m.dev(), m.ino()));
        let mut hash = Sha256::new();
        for part in [
            "mrsm home".to_string(),
            machine(),
            dir.display().to_string(),
            format!("{dev}:{ino}"),
        ] {
            hash.update(part.as_bytes());
            hash.update([0u8]);
        }
        hash.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_root_one_name_another_root_another() {
        let a = tempfile::tempdir().expect("temp dir");
        let b = tempfile::tempdir().expect("temp dir");
        let root = Root::at(a.path());
        assert_eq!(root.home_id(), Root::at(a.path()).home_id());
        assert_eq!(root.home_id(), Root::at(a.path().join(".")).home_id());
        assert_ne!(root.home_id(), Root::at(b.path()).home_id());
        assert!(!root.home_id().contains(&a.path().display().to_string()));
    }
}
