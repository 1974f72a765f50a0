//! A custom executor: `nice` runs every job at low CPU priority (`nice -n 10`) by
//! wrapping its steps and handing the job to a local executor of its own. This
//! program is the whole `mrsm` command line with `nice` added, so a spec can say
//! `executor: nice` and every verb takes `-e nice`:
//!
//! ```text
//! cargo run --example custom_executor -- up -d -f mrsm-jobs.yaml
//! cargo run --example custom_executor -- show jobs -e nice
//! ```

use std::sync::Arc;

use mrsm::executor::{
    Capabilities, CreateOptions, DeleteOptions, Executor, ExecutorError, LocalExecutor, Outcome,
    Registry, StopOptions,
};
use mrsm::job::{shell_join, split_words, JobInfo, JobSpec, RunHistory};
use mrsm::logs::{LogLine, Selection};
use mrsm::store::{Root, Settings};

/// The words put before each step.
const PREFIX: [&str; 5] = ["nice", "-n", "10", "sh", "-c"];

/// Jobs at `nice -n 10`, kept by a local executor under `ROOT/nice`.
struct Nice {
    local: LocalExecutor,
}

impl Nice {
    /// Each step of `spec` run through `nice -n 10 sh -c STEP`.
    fn wrapped(spec: &JobSpec) -> JobSpec {
        let mut spec = spec.clone();
        spec.command = spec
            .command
            .iter()
            .map(|step| {
                let mut words: Vec<String> = PREFIX.iter().map(|w| w.to_string()).collect();
                words.push(step.clone());
                shell_join(&words)
            })
            .collect();
        spec.shell = true;
        spec
    }

    /// The spec as it was declared (the wrapping taken off), so that `diff` names
    /// the fields that really changed.
    fn unwrapped(mut spec: JobSpec) -> JobSpec {
        spec.command = spec
            .command
            .into_iter()
            .map(|step| match split_words(&step) {
                Ok(words) if words.len() == PREFIX.len() + 1 && words[..PREFIX.len()] == PREFIX => {
                    words[PREFIX.len()].clone()
                }
                _ => step,
            })
            .collect();
        spec
    }

    /// What the local executor reports, labelled and unwrapped.
    fn shown(mut info: JobInfo) -> JobInfo {
        info.executor = "nice".into();
        info.command = Nice::unwrapped(JobSpec::new(&info.name, info.command.clone())).command;
        info
    }
}

impl Executor for Nice {
    fn label(&self) -> &str {
        "nice"
    }
    fn capabilities(&self) -> Capabilities {
        self.local.capabilities()
    }
    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.local
            .create(&Nice::wrapped(spec), options)
            .map(Nice::shown)
    }
    fn replace(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        self.local
            .replace(&Nice::wrapped(spec), options)
            .map(Nice::shown)
    }
    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError> {
        self.local.spec(name).map(Nice::unwrapped)
    }
    fn start(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.local.start(name)
    }
    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError> {
        self.local.pause(name)
    }
    fn stop(&self, name: &str, options: &StopOptions) -> Result<Outcome, ExecutorError> {
        self.local.stop(name, options)
    }
    fn delete(&self, name: &str, options: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        self.local.delete(name, options)
    }
    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError> {
        self.local.get(name).map(Nice::shown)
    }
    fn list(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        Ok(self
            .local
            .list(project)?
            .into_iter()
            .map(Nice::shown)
            .collect())
    }
    fn kept_jobs(&self, project: Option<&str>) -> Result<Vec<String>, ExecutorError> {
        self.local.kept_jobs(project)
    }
    fn runs(&self, name: &str) -> Result<RunHistory, ExecutorError> {
        self.local.runs(name)
    }
    fn logs(&self, name: &str, selection: &Selection) -> Result<Vec<LogLine>, ExecutorError> {
        self.local.logs(name, selection)
    }
    fn read_logs(
        &self,
        name: &str,
        cursor: mrsm::logs::Cursor,
        max: usize,
    ) -> Result<(Vec<LogLine>, mrsm::logs::Cursor), ExecutorError> {
        self.local.read_logs(name, cursor, max)
    }
    fn follow_logs_when_ready(
        &self,
        name: &str,
        from_start: bool,
        ready: &mut dyn FnMut(),
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        self.local
            .follow_logs_when_ready(name, from_start, ready, on_line)
    }
    fn send_input(&self, name: &str, data: &[u8], eof: bool) -> Result<(), ExecutorError> {
        self.local.send_input(name, data, eof)
    }
}

fn main() {
    let registry = Root::from_env()
        .and_then(|root| Ok((root.clone(), Settings::load()?)))
        .map(|(root, settings)| {
            let mut registry = Registry::standard(root.clone(), &settings);
            let local = LocalExecutor::new(Root::at(root.dir().join("nice")));
            registry.register("nice", Arc::new(Nice { local }));
            registry
        });
    match registry {
        Ok(registry) => std::process::exit(mrsm::cli::main_with(registry)),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
