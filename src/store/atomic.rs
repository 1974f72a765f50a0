//! JSON files that are replaced whole: written to a temporary file in the same
//! directory, flushed to disk, then renamed over the old one, so a reader sees either
//! the old content or the new, never a torn write.

use std::io::Write;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::StoreError;

/// Writes `value` as pretty JSON to `path` atomically, creating parent directories.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| StoreError::io("creating", dir, e))?;
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| StoreError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    bytes.push(b'\n');
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        StoreError::io("writing", path, e)
    })
}

/// Reads JSON from `path`; `None` when the file does not exist.
pub fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, StoreError> {
    let bytes = match std::fs::read(path) {
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
