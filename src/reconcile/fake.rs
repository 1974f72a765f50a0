//! An in-memory executor for the reconciler's unit tests: jobs are records, verbs
//! are counted, and listing or replacing can be made to fail on demand.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::executor::Outcome;
use crate::executor::{CreateOptions, DeleteOptions, Executor, ExecutorError, StopOptions};
use crate::job::{DesiredState, JobFile, JobInfo, JobSpec, JobStatus};
use crate::logs::{LogLine, Selection};

/// A job as the fake holds it.
#[derive(Clone, Debug)]
pub struct FakeJob {
    pub spec: JobSpec,
    pub project: Option<String>,
    pub spec_hash: Option<String>,
    pub desired: DesiredState,
    pub status: JobStatus,
}

/// A `JobInfo` as the local executor would derive it.
pub fn info(job: &FakeJob) -> JobInfo {
    let file: JobFile = serde_json::from_value(serde_json::json!({
        "spec": job.spec,
        "desired": job.desired,
        "created": "2024-01-01T00:00:00Z",
        "project": job.project,
        "spec_hash": job.spec_hash,
    }))
    .expect("a job file");
    let mut info = JobInfo::derive(&file, None, "local");
    info.status = job.status;
    info
}

/// The executor.
#[derive(Default)]
pub struct Fake {
    pub jobs: Mutex<BTreeMap<String, FakeJob>>,
    /// Every verb called, as `verb name`.
    pub calls: Mutex<Vec<String>>,
    pub fail_list: AtomicBool,
    pub fail_replace: Mutex<BTreeSet<String>>,
}

impl Fake {
    fn note(&self, verb: &str, name: &str) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(format!("{verb} {name}"));
        }
    }

    /// How many times `verb` was called.
    pub fn count(&self, verb: &str) -> usize {
        let prefix = format!("{verb} ");
        self.calls
            .lock()
            .map(|c| c.iter().filter(|v| v.starts_with(&prefix)).count())
            .unwrap_or_default()
    }

    /// The names of the jobs that exist, sorted.
    pub fn names(&self) -> Vec<String> {
        self.jobs
            .lock()
            .map(|j| j.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A job's first step.
    pub fn command(&self, name: &str) -> Option<String> {
        let jobs = self.jobs.lock().ok()?;
        jobs.get(name).and_then(|j| j.spec.command.first().cloned())
    }

    fn with<T>(
        &self,
        name: &str,
        change: impl FnOnce(&mut FakeJob) -> T,
    ) -> Result<T, ExecutorError> {
        let mut jobs = self.jobs.lock().map_err(|_| poisoned(name))?;
        jobs.get_mut(name)
            .map(change)
            .ok_or_else(|| ExecutorError::NotFound(name.into()))
    }

    fn put(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        let status = match options.desired {
            DesiredState::Running => JobStatus::Running,
            DesiredState::Paused => JobStatus::Paused,
            DesiredState::Stopped => JobStatus::Stopped,
        };
        let job = FakeJob {
            spec: spec.clone(),
            project: options.project.clone(),
            spec_hash: options.spec_hash.clone(),
            desired: options.desired,
            status,
        };
        let shown = info(&job);
        let mut jobs = self.jobs.lock().map_err(|_| poisoned(&spec.name))?;
        jobs.insert(spec.name.clone(), job);
        Ok(shown)
    }
}

fn poisoned(name: &str) -> ExecutorError {
    ExecutorError::Supervisor {
        name: name.into(),
        message: "poisoned".into(),
    }
}

fn unsupported(name: &str) -> ExecutorError {
    ExecutorError::Supervisor {
        name: name.into(),
        message: "not supported by the fake".into(),
    }
}

impl Executor for Fake {
    fn label(&self) -> &str {
        "local"
    }

    fn capabilities(&self) -> crate::executor::Capabilities {
        crate::executor::Capabilities::ALL
    }

    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.note("create", &spec.name);
        if self.with(&spec.name, |_| ()).is_ok() {
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
                message: "replace failed on purpose".into(),
            });
        }
        self.put(spec, options)
    }

    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError> {
        self.with(name, |j| j.spec.clone())
    }

    fn start(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.note("start", name);
        self.with(name, |j| {
            j.status = JobStatus::Running;
            j.desired = DesiredState::Running;
            Outcome::Started { name: name.into() }
        })
    }

    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.note("pause", name);
        self.with(name, |j| {
            j.status = JobStatus::Paused;
            j.desired = DesiredState::Paused;
            Outcome::Paused { name: name.into() }
        })
    }

    fn stop(&self, name: &str, _: &StopOptions) -> Result<Outcome, ExecutorError> {
        self.note("stop", name);
        self.with(name, |j| {
            j.status = JobStatus::Stopped;
            j.desired = DesiredState::Stopped;
            Outcome::Stopped { name: name.into() }
        })
    }

    fn delete(&self, name: &str, _: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        self.note("delete", name);
        let mut jobs = self.jobs.lock().map_err(|_| poisoned(name))?;
        jobs.remove(name)
            .map(|_| Outcome::Deleted {
                name: name.into(),
                kept: false,
            })
            .ok_or_else(|| ExecutorError::NotFound(name.into()))
    }

    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError> {
        self.with(name, |j| info(j))
    }

    fn list(&self, _project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        if self.fail_list.load(Ordering::SeqCst) {
            return Err(ExecutorError::Supervisor {
                name: "*".into(),
                message: "listing failed on purpose".into(),
            });
        }
        let jobs = self.jobs.lock().map_err(|_| poisoned("*"))?;
        Ok(jobs.values().map(info).collect())
    }

    fn runs(&self, name: &str) -> Result<crate::job::RunHistory, ExecutorError> {
        Err(unsupported(name))
    }

    fn logs(&self, name: &str, _: &Selection) -> Result<Vec<LogLine>, ExecutorError> {
        Err(unsupported(name))
    }

    fn follow_logs_when_ready(
        &self,
        name: &str,
        _: bool,
        _: &mut dyn FnMut(),
        _: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        Err(unsupported(name))
    }

    fn send_input(&self, name: &str, _: &[u8], _: bool) -> Result<(), ExecutorError> {
        Err(unsupported(name))
    }
}
