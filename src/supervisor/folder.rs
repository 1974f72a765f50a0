//! Removing a job whole once its supervisor is over: its folder and its logs.

use crate::store::Root;

/// Removes a job's directory and its log files.
pub fn remove_job_files(root: &Root, name: &str) {
    // Logs first: once the job's directory is gone, nothing of the job is left.
    crate::logs::remove_log(&root.log_file(name));
    let _ = std::fs::remove_dir_all(root.job_dir(name));
}
