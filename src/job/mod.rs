//! The job model: what a job is (`JobSpec`, stored with its desired state as
//! `JobFile`), what its supervisor reports (`SupervisorState`, `RunRecord`), what users
//! see (`JobInfo`), and the blocking `Job` handle that mirrors Meerschaum's Python
//! `Job` class.

mod handle;
mod name;
mod spec;
mod state;
mod words;

pub use handle::Job;
pub use name::{random_name, validate_name, InvalidName};
pub use spec::too_fast;
pub use spec::{
    DesiredState, JobFile, JobSpec, LogSettings, OverlapPolicy, RestartPolicy, ScheduleResume,
    SignalName, SpecError, StopSettings, MAX_LINE_LIMIT, MIN_INTERVAL,
};
pub use state::{
    JobInfo, JobStatus, Phase, RunRecord, RunResult, StepProcess, SupervisorState, Trigger,
};
pub use words::{split_words, UnterminatedQuote};
