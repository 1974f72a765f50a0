//! Slurm, the cluster engine mrsm hands steps to: what a job asks of the cluster
//! (`options`), the commands that ask the cluster about a job, signal, suspend and
//! cancel it (`cluster`), and the small process that stands for one step on this
//! machine while it runs there (`step`). The job's supervisor stays here and keeps
//! the schedule, chain, policies, runs and logs.
//!
//! How a cluster step runs, end to end:
//! 1. A job's `slurm:` options (or a `kind: slurm` executor's defaults, from
//!    `spec/executors.rs`) become [`SlurmOptions`] in its spec; the `slurm`
//!    executor is the local one with those defaults (`executor/registry.rs`).
//! 2. Its supervisor runs each step through `SlurmRunner`
//!    (`supervisor/cluster.rs`, a `StepRunner`): the step's local process is
//!    `mrsm slurm-step ORDER` (hidden), which is [`run_step`] here.
//! 3. [`run_step`] runs the step with `srun`, notes its Slurm job id
//!    ([`StepInfo`], which the supervisor reports), forwards stop signals as
//!    `scancel`, and exits with the step's status once the cluster says it is over.
//! 4. Pause and resume hold/suspend and release/resume the cluster's job
//!    ([`hold`], [`suspend`], [`release`], [`resume`]); a stop waits
//!    [`stop_slack`] beyond the grace period for the cluster's side to end.

mod cluster;
mod options;
mod step;

pub use cluster::{
    available, cancel, hold, is_active, job_by_name, kill_wait, release, resume, state_of, suspend,
    ClusterError,
};
pub use options::SlurmOptions;
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
