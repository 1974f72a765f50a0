//! A deleted job's folder: what a delete removes, and what it keeps (the run
//! history and logs, with a note of whose they were).

use jiff::Timestamp;

use super::{read_json, Root};

/// What is left of a deleted job whose logs and run history were kept.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Kept {
    /// The project that owned the job (none for jobs made by `mrsm run`).
    pub project: Option<String>,
    pub deleted: Timestamp,
}

/// Removes what defines and runs a job, keeping its run history (`runs.jsonl`) and
/// its log files, so a job declared again under the same name continues them; a
/// `kept.json` says whose they were.
pub fn remove_job_definition(root: &Root, name: &str, project: Option<&str>) {
    let dir = root.job_dir(name);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return;
    };
    let history = [
        root.runs_file(name),
        super::older_runs_file(&root.runs_file(name)),
    ];
    for entry in entries.filter_map(|e| e.ok()) {
        let path = entry.path();
        if history.contains(&path) {
            continue;
        }
        // The steps' notes of a cluster job (`slurm/`) go with the definition.
        match entry.file_type().is_ok_and(|t| t.is_dir()) {
            true => {
                let _ = std::fs::remove_dir_all(&path);
            }
            false => {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    let kept = Kept {
        project: project.map(str::to_string),
        deleted: Timestamp::now(),
    };
    // Best effort, and not waited onto the disk (it is written under the root lock,
    // once per job of a `down`): without it the data is still reachable by the
    // job's name.
    let _ = super::write_json_unflushed(&root.kept_file(name), &kept);
}

/// Jobs deleted with their logs and run history kept, and whose they were.
pub fn kept_jobs(root: &Root) -> Vec<(String, Kept)> {
    let Ok(entries) = std::fs::read_dir(root.jobs_dir()) else {
        return Vec::new();
    };
    let mut kept: Vec<(String, Kept)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| !root.job_file(name).exists())
        .filter_map(|name| {
            let k = read_json::<Kept>(&root.kept_file(&name)).ok().flatten()?;
            Some((name, k))
        })
        .collect();
    kept.sort_by(|a, b| a.0.cmp(&b.0));
    kept
}
