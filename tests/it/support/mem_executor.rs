//! `mem`: a test-only executor that keeps jobs in memory and runs nothing. It is
//! what a second executor looks like to the reconciler and the command line, and it
//! can be switched to answer `Unavailable` to play an executor out of reach.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use mrsm::executor::{
    Capabilities, CreateOptions, DeleteOptions, Executor, ExecutorError, Outcome, StopOptions,
};
use mrsm::job::{DesiredState, JobFile, JobInfo, JobSpec, JobStatus, RunHistory};
use mrsm::logs::{LogLine, Selection};

/// Jobs by name, each its definition (desired state, project and hash included).
#[derive(Default)]
pub struct Mem {
    jobs: Mutex<BTreeMap<String, JobFile>>,
    /// While set, every verb fails with `Unavailable`.
    pub down: AtomicBool,
    /// While set, creating a job fails (a server that refuses it).
    pub refuse_create: AtomicBool,
    /// While set, a create is done but its answer is lost (a timeout).
    pub lose_create_answer: AtomicBool,
    /// While set, a job's first step cannot start here (not on this PATH).
    pub first_step_fails: AtomicBool,
}

impl Mem {
    fn jobs(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, JobFile>>, ExecutorError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ExecutorError::Unavailable {
                executor: "mem".into(),
                message: "switched off by the test".into(),
            });
        }
        self.jobs.lock().map_err(|_| ExecutorError::Unavailable {
            executor: "mem".into(),
            message: "poisoned".into(),
        })
    }

    fn set(&self, name: &str, desired: DesiredState) -> Result<(), ExecutorError> {
        let mut jobs = self.jobs()?;
        let job = jobs
            .get_mut(name)
            .ok_or_else(|| ExecutorError::NotFound(name.into()))?;
        job.desired = desired;
        Ok(())
    }

    /// The names it holds (for assertions), empty while it is down.
    pub fn names(&self) -> Vec<String> {
        self.jobs
            .lock()
            .map(|j| j.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A job's stored definition.
    pub fn file(&self, name: &str) -> Option<JobFile> {
        self.jobs.lock().ok()?.get(name).cloned()
    }
}

/// A job "runs" as it is told: its status is its desired state.
fn info(file: &JobFile) -> JobInfo {
    let mut info = JobInfo::derive(file, None, "mem");
    info.status = match file.desired {
        DesiredState::Running => JobStatus::Running,
        DesiredState::Paused => JobStatus::Paused,
        DesiredState::Stopped => JobStatus::Stopped,
    };
    info
}

impl Executor for Mem {
    fn label(&self) -> &str {
        "mem"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            pause: true,
            stdin: false,
            schedules: true,
        }
    }
    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        let mut jobs = self.jobs()?;
        if self.refuse_create.load(Ordering::SeqCst) {
            return Err(ExecutorError::Supervisor {
                name: spec.name.clone(),
                message: "refused by the test".into(),
            });
        }
        if jobs.contains_key(&spec.name) {
            return Err(ExecutorError::AlreadyExists(spec.name.clone()));
        }
        let file = JobFile {
            spec: spec.clone(),
            desired: options.desired,
            created: jiff::Timestamp::now(),
            project: options.project.clone(),
            spec_hash: options.spec_hash.clone(),
            resume: None,
            executor: None,
            lease_ms: None,
        };
        let mut shown = info(&file);
        jobs.insert(spec.name.clone(), file);
        if self.lose_create_answer.load(Ordering::SeqCst) {
            return Err(ExecutorError::Unavailable {
                executor: "mem".into(),
                message: "did not answer within 5s (the test lost the answer)".into(),
            });
        }
        if self.first_step_fails.load(Ordering::SeqCst) {
            shown.status = JobStatus::Failed;
            shown.last_result = Some(mrsm::job::RunResult {
                ok: false,
                exit_code: None,
                signal: None,
                message: "step 1/1 could not start: program not found".into(),
                failed_step: Some(1),
                stopped: false,
                not_started: true,
            });
        }
        Ok(shown)
    }
    fn replace(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.jobs()?.remove(&spec.name);
        self.create(spec, options)
    }
    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError> {
        self.jobs()?
            .get(name)
            .map(|f| f.spec.clone())
            .ok_or_else(|| ExecutorError::NotFound(name.into()))
    }
    fn start(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.set(name, DesiredState::Running)?;
        Ok(Outcome::Started { name: name.into() })
    }
    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.set(name, DesiredState::Paused)?;
        Ok(Outcome::Paused { name: name.into() })
    }
    fn stop(&self, name: &str, _: &StopOptions) -> Result<Outcome, ExecutorError> {
        self.set(name, DesiredState::Stopped)?;
        Ok(Outcome::Stopped { name: name.into() })
    }
    fn delete(&self, name: &str, _: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        self.jobs()?
            .remove(name)
            .map(|_| Outcome::Deleted {
                name: name.into(),
                kept: false,
            })
            .ok_or_else(|| ExecutorError::NotFound(name.into()))
    }
    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError> {
        self.jobs()?
            .get(name)
            .map(info)
            .ok_or_else(|| ExecutorError::NotFound(name.into()))
    }
    fn list(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        Ok(self
            .jobs()?
            .values()
            .filter(|f| project.is_none() || f.project.as_deref() == project)
            .map(info)
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
            executor: "mem".into(),
            what: "take input".into(),
        })
    }
}
