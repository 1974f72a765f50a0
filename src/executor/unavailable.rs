//! An executor that cannot be reached: every verb fails with `Unavailable` and does
//! nothing. It stands for a declared executor this version cannot use yet, and lets
//! tests check that an unreachable executor leaves every other one's jobs alone.

use super::{
    Capabilities, CreateOptions, DeleteOptions, Executor, ExecutorError, Outcome, StopOptions,
};
use crate::job::{JobInfo, JobSpec, RunHistory};
use crate::logs::{LogLine, Selection};

/// An executor whose every verb answers `Unavailable` with the same reason.
#[derive(Clone, Debug)]
pub struct Unavailable {
    label: String,
    reason: String,
}

impl Unavailable {
    /// One that says `reason` for `label`.
    pub fn new(label: &str, reason: &str) -> Unavailable {
        Unavailable {
            label: label.into(),
            reason: reason.into(),
        }
    }

    fn fail<T>(&self) -> Result<T, ExecutorError> {
        Err(ExecutorError::Unavailable {
            executor: self.label.clone(),
            message: self.reason.clone(),
        })
    }
}

impl Executor for Unavailable {
    fn label(&self) -> &str {
        &self.label
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
    fn create(&self, _: &JobSpec, _: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.fail()
    }
    fn replace(&self, _: &JobSpec, _: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.fail()
    }
    fn spec(&self, _: &str) -> Result<JobSpec, ExecutorError> {
        self.fail()
    }
    fn start(&self, _: &str) -> Result<Outcome, ExecutorError> {
        self.fail()
    }
    fn pause(&self, _: &str) -> Result<Outcome, ExecutorError> {
        self.fail()
    }
    fn stop(&self, _: &str, _: &StopOptions) -> Result<Outcome, ExecutorError> {
        self.fail()
    }
    fn delete(&self, _: &str, _: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        self.fail()
    }
    fn get(&self, _: &str) -> Result<JobInfo, ExecutorError> {
        self.fail()
    }
    fn list(&self, _: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        self.fail()
    }
    fn runs(&self, _: &str) -> Result<RunHistory, ExecutorError> {
        self.fail()
    }
    fn logs(&self, _: &str, _: &Selection) -> Result<Vec<LogLine>, ExecutorError> {
        self.fail()
    }
    fn follow_logs_when_ready(
        &self,
        _: &str,
        _: bool,
        _: &mut dyn FnMut(),
        _: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        self.fail()
    }
    fn send_input(&self, _: &str, _: &[u8], _: bool) -> Result<(), ExecutorError> {
        self.fail()
    }
}
