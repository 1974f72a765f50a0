//! JSON files that are replaced whole: written to a temporary file in the same
//! directory, then renamed over the old one, so a reader sees either the old content
//! or the new, never a torn write. Definitions are flushed to disk before the rename;
//! supervisors' reports are not (see [`write_json_even_when_full`]).

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

fn encode<T: Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes `value` as pretty JSON to `path` atomically, creating parent directories;
/// the file (and any directory created) is owner-only.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bytes = encode(path, value)?;
    replace_file(path, &bytes, Flush::ToDisk).map_err(|e| StoreError::io("writing", path, e))
}

/// Writes `bytes` to `path` atomically and flushed to disk, as [`write_json`] does:
/// for a file that is not JSON (a systemd unit).
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    replace_file(path, bytes, Flush::ToDisk).map_err(|e| StoreError::io("writing", path, e))
}

/// [`write_file`] without waiting for the disk: [`flush_to_disk`] it while doing
/// something else (a unit file while systemd starts its unit).
pub fn write_file_unflushed(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    replace_file(path, bytes, Flush::No).map_err(|e| StoreError::io("writing", path, e))
}

/// Like [`write_json`] without waiting for the disk: for a definition written under
/// the root lock, so that many jobs' writes do not queue for the disk one by one;
/// [`flush_to_disk`] it once the lock is released.
pub fn write_json_unflushed<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bytes = encode(path, value)?;
    replace_file(path, &bytes, Flush::No).map_err(|e| StoreError::io("writing", path, e))
}

/// Waits until the file at `path` (as it is now) is on disk.
pub fn flush_to_disk(path: &Path) -> Result<(), StoreError> {
    super::open_read(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| StoreError::io("flushing", path, e))
}

/// For a supervisor's report (`state.json`): like [`write_json`], but not flushed to
/// disk (a report describes live processes, which a crash ends anyway; flushing cost
/// each start and stop of a job a disk round trip), and when the disk is full (no
/// room for the temporary copy) the existing file is overwritten in place: its blocks
/// are already allocated, so this usually succeeds. A reader may then see a torn file
/// for an instant, which is why this is only for files that are rewritten often and
/// read leniently, never for definitions.
pub fn write_json_even_when_full<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let bytes = encode(path, value)?;
    match replace_file(path, &bytes, Flush::No) {
        Err(e) if is_disk_full(&e) && path.exists() => {
            overwrite_in_place(path, &bytes).map_err(|e| StoreError::io("writing", path, e))
        }
        other => other.map_err(|e| StoreError::io("writing", path, e)),
    }
}

/// Whether an error means there is no space (or quota) left.
pub fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == nix::libc::ENOSPC || code == nix::libc::EDQUOT
    )
}

/// Whether a replaced file reaches the disk before it replaces the old one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flush {
    ToDisk,
    No,
}

fn replace_file(path: &Path, bytes: &[u8], flush: Flush) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    // One left by an earlier process of this pid goes first: the copy is always
    // a new file of ours, never whatever was at that name.
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut file = super::create_new(&tmp)?;
        file.write_all(bytes)?;
        if flush == Flush::ToDisk {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn overwrite_in_place(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = super::open_write(path)?;
    file.write_all(bytes)?;
    file.set_len(bytes.len() as u64)
}

/// Reads JSON from `path`; `None` when the file does not exist. What is not a
/// regular file, or is over [`super::SMALL_FILE`], is refused without being read.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    let bytes = match super::read_file(path, super::SMALL_FILE) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("reading", path, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StoreError::Json {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_missing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a/b/state.json");
        assert_eq!(read_json::<Vec<u32>>(&path).expect("readable"), None);
        write_json(&path, &vec![1u32, 2, 3]).expect("written");
        write_json(&path, &vec![4u32]).expect("replaced");
        assert_eq!(
            read_json::<Vec<u32>>(&path).expect("readable"),
            Some(vec![4])
        );
        let leftovers = std::fs::read_dir(path.parent().expect("dir"))
            .expect("listable")
            .count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }
}
