//! An executor that keeps jobs in memory and runs nothing: what any executor looks
//! like to the reconciler, the server and the command line, with switches that play
//! the ways a real one fails (out of reach, refusing, losing an answer, a step that
//! cannot start). The one stand-in executor of the unit and integration tests, and
//! the smallest example of the trait.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use jiff::Timestamp;

use super::{
    Capabilities, CreateOptions, DeleteOptions, Executor, ExecutorError, Outcome, StopOptions,
};
use crate::job::{
    DesiredState, JobFile, JobInfo, JobSpec, JobStatus, RunEnd, RunHistory, RunResult,
};
use crate::logs::{LogLine, Selection};

/// A job as it is held: its definition, and the status it shows.
#[derive(Clone, Debug)]
pub struct MemoryJob {
    pub file: JobFile,
    pub status: JobStatus,
}

impl MemoryJob {
    /// A job defined as `spec` with `options`, showing its desired state as status.
    pub fn new(spec: &JobSpec, options: &CreateOptions) -> MemoryJob {
        MemoryJob {
            file: JobFile {
                spec: spec.clone(),
                desired: options.desired,
                created: "2024-01-01T00:00:00Z"
                    .parse()
                    .unwrap_or(Timestamp::UNIX_EPOCH),
                project: options.project.clone(),
                spec_hash: options.spec_hash.clone(),
                resume: None,
                executor: None,
                lease_ms: None,
            },
            status: shown(options.desired),
        }
    }

    /// What listing it shows, under executor `label`.
    pub fn info(&self, label: &str) -> JobInfo {
        let mut info = JobInfo::derive(&self.file, None, label);
        info.status = self.status;
        info
    }
}

/// A job "runs" as it is told: its status is its desired state.
fn shown(desired: DesiredState) -> JobStatus {
    match desired {
        DesiredState::Running => JobStatus::Running,
        DesiredState::Paused => JobStatus::Paused,
        DesiredState::Stopped => JobStatus::Stopped,
    }
}

/// The executor. Each switch holds while set.
pub struct MemoryExecutor {
    label: String,
    capabilities: Capabilities,
    /// Jobs by name.
    pub jobs: Mutex<BTreeMap<String, MemoryJob>>,
    /// Every verb that changes a job, as `verb name`.
    pub calls: Mutex<Vec<String>>,
    /// Every verb fails with `Unavailable` (an executor out of reach).
    pub down: AtomicBool,
    /// Listing fails (the rest works).
    pub fail_list: AtomicBool,
    /// Creating (or replacing) a job is refused.
    pub refuse_create: AtomicBool,
    /// A create is done but its answer is lost (a timeout).
    pub lose_create_answer: AtomicBool,
    /// A new job's first step cannot start (not on this PATH).
    pub first_step_fails: AtomicBool,
    /// Replacing these jobs fails.
    pub fail_replace: Mutex<BTreeSet<String>>,
}

impl MemoryExecutor {
    /// An empty executor named `label`, which can pause and run schedules but
    /// takes no input.
    pub fn new(label: &str) -> MemoryExecutor {
        MemoryExecutor {
            label: label.to_string(),
            capabilities: Capabilities {
                pause: true,
                stdin: false,
                schedules: true,
            },
            jobs: Mutex::default(),
            calls: Mutex::default(),
            down: AtomicBool::new(false),
            fail_list: AtomicBool::new(false),
            refuse_create: AtomicBool::new(false),
            lose_create_answer: AtomicBool::new(false),
            first_step_fails: AtomicBool::new(false),
            fail_replace: Mutex::default(),
        }
    }

    /// The same, saying it can do `capabilities`.
    pub fn with_capabilities(mut self, capabilities: Capabilities) -> MemoryExecutor {
        self.capabilities = capabilities;
        self
    }

    /// How many times `verb` was called.
    pub fn count(&self, verb: &str) -> usize {
        let prefix = format!("{verb} ");
        self.calls
            .lock()
            .map(|c| c.iter().filter(|v| v.starts_with(&prefix)).count())
            .unwrap_or_default()
    }

    /// The names of the jobs it holds, sorted (whether it is down or not).
    pub fn names(&self) -> Vec<String> {
        self.jobs
            .lock()
            .map(|j| j.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A job's stored definition.
    pub fn file(&self, name: &str) -> Option<JobFile> {
        Some(self.jobs.lock().ok()?.get(name)?.file.clone())
    }

    fn note(&self, verb: &str, name: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(format!("{verb} {name}"));
        }
    }

    fn unavailable(&self, message: &str) -> ExecutorError {
        ExecutorError::Unavailable {
            executor: self.label.clone(),
            message: message.into(),
        }
    }

    fn jobs(&self) -> Result<MutexGuard<'_, BTreeMap<String, MemoryJob>>, ExecutorError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(self.unavailable("switched off"));
        }
        self.jobs.lock().map_err(|_| self.unavailable("poisoned"))
    }

    fn with<T>(
        &self,
        name: &str,
        change: impl FnOnce(&mut MemoryJob) -> T,
    ) -> Result<T, ExecutorError> {
        self.jobs()?
            .get_mut(name)
            .map(change)
            .ok_or_else(|| ExecutorError::NotFound(name.into()))
    }

    fn set(&self, name: &str, verb: &str, desired: DesiredState) -> Result<(), ExecutorError> {
        self.note(verb, name);
        self.with(name, |j| {
            j.file.desired = desired;
            j.status = shown(desired);
        })
    }

    /// Creates or overwrites job `spec`, as the switches allow.
    fn put(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        let mut jobs = self.jobs()?;
        if self.refuse_create.load(Ordering::SeqCst) {
            return Err(ExecutorError::Supervisor {
                name: spec.name.clone(),
                message: "refused (switched on)".into(),
            });
        }
        let job = MemoryJob::new(spec, options);
        let mut info = job.info(&self.label);
        jobs.insert(spec.name.clone(), job);
        if self.lose_create_answer.load(Ordering::SeqCst) {
            return Err(self.unavailable("did not answer within 5s (the answer was lost)"));
        }
        if self.first_step_fails.load(Ordering::SeqCst) {
            info.status = JobStatus::Failed;
            info.last_result = Some(RunResult::new(
                RunEnd::NotStarted { step: 1 },
                "step 1/1 could not start: program not found",
            ));
        }
        Ok(info)
    }
}

impl Executor for MemoryExecutor {
    fn label(&self) -> &str {
        &self.label
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.note("create", &spec.name);
        if self.jobs()?.contains_key(&spec.name) {
            return Err(ExecutorError::AlreadyExists(spec.name.clone()));
        }
        self.put(spec, options)
    }

    fn replace(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.note("replace", &spec.name);
        let failing = self
            .fail_replace
            .lock()
            .is_ok_and(|f| f.contains(&spec.name));
        if failing {
            return Err(ExecutorError::Supervisor {
                name: spec.name.clone(),
                message: "replace failed (switched on)".into(),
            });
        }
        self.put(spec, options)
    }

    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError> {
        self.with(name, |j| j.file.spec.clone())
    }

    fn start(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.set(name, "start", DesiredState::Running)?;
        Ok(Outcome::Started { name: name.into() })
    }

    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.set(name, "pause", DesiredState::Paused)?;
        Ok(Outcome::Paused { name: name.into() })
    }

    fn stop(&self, name: &str, _: &StopOptions) -> Result<Outcome, ExecutorError> {
        self.set(name, "stop", DesiredState::Stopped)?;
        Ok(Outcome::Stopped { name: name.into() })
    }

    fn delete(&self, name: &str, _: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        self.note("delete", name);
        self.jobs()?
            .remove(name)
            .map(|_| Outcome::Deleted {
                name: name.into(),
                kept: false,
            })
            .ok_or_else(|| ExecutorError::NotFound(name.into()))
    }

    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError> {
        self.with(name, |j| j.info(&self.label))
    }

    fn list(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        if self.fail_list.load(Ordering::SeqCst) {
            return Err(ExecutorError::Supervisor {
                name: "*".into(),
                message: "listing failed (switched on)".into(),
            });
        }
        Ok(self
            .jobs()?
            .values()
            .filter(|j| project.is_none() || j.file.project.as_deref() == project)
            .map(|j| j.info(&self.label))
            .collect())
    }

    fn runs(&self, name: &str) -> Result<RunHistory, ExecutorError> {
        self.get(name).map(|_| RunHistory::default())
    }

    fn logs(&self, name: &str, _: &Selection) -> Result<Vec<LogLine>, ExecutorError> {
        self.get(name).map(|_| Vec::new())
    }

    fn follow_logs_when_ready(
        &self,
        name: &str,
        _: bool,
        ready: &mut dyn FnMut(),
        _: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        self.get(name)?;
        ready();
        Ok(())
    }

    fn send_input(&self, name: &str, _: &[u8], _: bool) -> Result<(), ExecutorError> {
        Err(ExecutorError::Unsupported {
            name: name.into(),
            executor: self.label.clone(),
            what: "take input".into(),
        })
    }
}
