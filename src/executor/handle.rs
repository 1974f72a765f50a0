//! `Job`: a blocking handle on one job, shaped like Meerschaum's Python `Job` class
//! (`start`, `pause`, `stop`, `delete`, `pid`, `began`, `paused`, `ended`, `result`).

use std::sync::Arc;

use jiff::Timestamp;

use super::{CreateOptions, DeleteOptions, Executor, ExecutorError, LocalExecutor, StopOptions};
use crate::job::{split_chain, JobInfo, JobSpec, JobStatus, RunResult, SpecError};
use crate::logs::{LogLine, Selection};
use crate::store::Root;

/// A named job on an executor (the local one unless told otherwise).
///
/// ```no_run
/// let job = mrsm::Job::new("syncing-engine", "sh -c 'while true; do date; sleep 1; done'")?;
/// job.start()?;
/// println!("{:?} began {:?}", job.pid()?, job.began()?);
/// job.pause()?;
/// job.stop()?;
/// job.delete()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Job {
    spec: JobSpec,
    executor: Arc<dyn Executor>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("name", &self.spec.name)
            .field("executor", &self.executor.label())
            .finish()
    }
}

impl Job {
    /// A job named `name` running `command` (steps split on a lone `+`), on the local
    /// executor under the root directory from the environment.
    pub fn new(name: &str, command: &str) -> Result<Job, ExecutorError> {
        let steps = split_chain(command).map_err(|e| SpecError::Invalid(e.to_string()))?;
        let spec = JobSpec::new(name, steps);
        spec.validate()?;
        let root = Root::from_env()?;
        Ok(Job::with_spec(spec, Arc::new(LocalExecutor::new(root))))
    }

    /// A job from a full spec on a given executor.
    pub fn with_spec(spec: JobSpec, executor: Arc<dyn Executor>) -> Job {
        Job { spec, executor }
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Starts the job: creates it if it does not exist, resumes it if paused.
    pub fn start(&self) -> Result<(), ExecutorError> {
        match self.executor.create(&self.spec, &CreateOptions::default()) {
            Ok(_) => Ok(()),
            Err(ExecutorError::AlreadyExists(_)) => {
                self.executor.start(&self.spec.name).map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Suspends every process of the job.
    pub fn pause(&self) -> Result<(), ExecutorError> {
        self.executor.pause(&self.spec.name).map(|_| ())
    }

    /// Stops the job; returns once none of its processes is left.
    pub fn stop(&self) -> Result<(), ExecutorError> {
        self.executor
            .stop(&self.spec.name, &StopOptions::default())
            .map(|_| ())
    }

    /// Stops and removes the job and its logs.
    pub fn delete(&self) -> Result<(), ExecutorError> {
        self.executor
            .delete(&self.spec.name, &DeleteOptions::purge())
            .map(|_| ())
    }

    /// Everything known about the job now.
    pub fn info(&self) -> Result<JobInfo, ExecutorError> {
        self.executor.get(&self.spec.name)
    }

    /// `running`, `paused` or `stopped`.
    pub fn status(&self) -> Result<JobStatus, ExecutorError> {
        Ok(self.info()?.status)
    }

    /// The running step's process id.
    pub fn pid(&self) -> Result<Option<i32>, ExecutorError> {
        Ok(self.info()?.pid)
    }

    /// When the job (its current supervisor) started.
    pub fn began(&self) -> Result<Option<Timestamp>, ExecutorError> {
        Ok(self.info()?.began)
    }

    /// When it was paused, while it is.
    pub fn paused(&self) -> Result<Option<Timestamp>, ExecutorError> {
        Ok(self.info()?.paused)
    }

    /// When it stopped, while it is stopped.
    pub fn ended(&self) -> Result<Option<Timestamp>, ExecutorError> {
        Ok(self.info()?.ended)
    }

    /// How its last run ended.
    pub fn result(&self) -> Result<Option<RunResult>, ExecutorError> {
        Ok(self.info()?.last_result)
    }

    /// The job's log lines, the last `tail` of them when given.
    pub fn logs(&self, tail: Option<usize>) -> Result<Vec<LogLine>, ExecutorError> {
        let selection = Selection {
            tail,
            ..Selection::default()
        };
        self.executor.logs(&self.spec.name, &selection)
    }

    /// Calls `callback` with every line of the job's log, then with each new line as
    /// it is written, until the job stops or `callback` returns false.
    pub fn monitor_logs(
        &self,
        mut callback: impl FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        self.executor
            .follow_logs(&self.spec.name, true, &mut callback)
    }
}
