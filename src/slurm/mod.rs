//! Slurm, the cluster engine mrsm hands steps to: the commands that ask the cluster
//! about a job, signal, suspend and cancel it (`cluster`), and the small process that
//! stands for one step on this machine while it runs there (`step`). The job's
//! supervisor stays here and keeps the schedule, chain, policies, runs and logs.

mod cluster;
mod step;

pub use cluster::{
    available, cancel, hold, is_active, job_by_name, kill_wait, release, resume, state_of, suspend,
    ClusterError,
};
pub use step::{note_resumed, resumed_path, run_step, StepInfo, StepOrder, SHIELD_VARIABLE};

/// How much longer than its grace period a step on the cluster may take to end:
/// Slurm's cancel waits `KillWait` before its SIGKILL, and `srun` a little more.
pub fn stop_slack() -> std::time::Duration {
    kill_wait() + std::time::Duration::from_secs(5)
}

/// The Slurm job name of step `step` of run `run` of job `job`: unique per root, so
/// a step is found by its name before its id is known, and tells users in
/// `squeue` whose it is.
pub fn step_job_name(root_tag: &str, job: &str, run: u64, step: usize) -> String {
    format!("mrsm-{job}-r{run}s{step}-{root_tag}")
}
