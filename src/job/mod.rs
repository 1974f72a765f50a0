//! The job model: what a job is (`JobSpec`, stored with its desired state as
//! `JobFile`), what its supervisor reports (`SupervisorState`, `RunRecord`), what users
//! see (`JobInfo`), and the chain and size syntax users write. Pure data
//! and decisions: nothing here runs a job.

mod after;
mod chain;
mod depends;
mod fires;
mod health;
mod hooks;
mod name;
mod result;
mod shown;
mod size;
mod spec;
mod state;
mod words;

pub use crate::slurm::SlurmOptions;
pub use after::{keeps_runs_here, After, AfterLink, Take, UpstreamRun};
pub use chain::{shell_join, split_chain, split_chain_args, EmptyStep};
pub use depends::{start_order, Condition, Dependency, DEFAULT_DEPENDENCY_WAIT};
pub use health::{Health, HealthCheck, HealthStatus, HealthTracker, HttpGet, HttpScheme, Probe};
pub use hooks::{HookKind, Hooks};
pub use name::{random_name, validate_name, InvalidName, JobName};
pub use result::{RunEnd, RunResult, StepExit};
pub use shown::written_steps;
pub use size::parse_size;
pub use spec::{check_stop_timeout, too_fast, DEFAULT_MAX_LINE, MAX_STOP_TIMEOUT};
pub use spec::{
    DesiredState, JobFile, JobSpec, LogSettings, OverlapPolicy, RestartPolicy, ScheduleResume,
    SignalName, SpecError, StopSettings, MAX_LINE_LIMIT, MIN_INTERVAL,
};
pub use state::{
    JobInfo, JobStatus, Phase, RunHistory, RunRecord, StepProcess, SupervisorState, Trigger,
};
pub use words::{split_words, UnterminatedQuote};
