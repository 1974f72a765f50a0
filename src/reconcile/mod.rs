//! Desired state (the spec files) against actual state (the executor's jobs): a
//! [`Plan`] of what differs, and applying it. Only jobs the project owns are touched;
//! a same-named job owned by someone else is a reported conflict, never clobbered.

pub mod watch;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::executor::{CreateOptions, DeleteOptions, Executor, ExecutorError, StopOptions};
use crate::job::{DesiredState, JobInfo, JobSpec, JobStatus};
use crate::spec::{Desired, DesiredJob};

/// What to do to one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    /// The definition changed (these fields): stop, replace, start.
    Update(Vec<String>),
    Start,
    Resume,
    Pause,
    Stop,
    Delete,
    /// A job of that name exists and belongs to another project (or none).
    Conflict(Option<String>),
}

/// One line of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    pub action: Action,
    /// The declared job, for every action but `Delete`.
    pub job: Option<DesiredJob>,
}

/// Everything that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub project: String,
    pub steps: Vec<Step>,
}

/// How far to go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `up` and file changes: make everything match.
    Full,
    /// The watcher's timer: only repair what broke by itself (a killed supervisor, a
    /// removed job), leaving jobs that users stopped or paused by hand alone.
    Heal,
}

impl Plan {
    /// Whether nothing differs (conflicts count as differences).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// The fields that differ between two definitions of a job.
pub fn changed_fields(old: &JobSpec, new: &JobSpec) -> Vec<String> {
    let mut fields = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            fields.push(name.to_string());
        }
    };
    check("command", old.command != new.command);
    check("schedule", old.schedule != new.schedule);
    check("timezone", old.timezone != new.timezone);
    check("restart", old.restart != new.restart);
    check("overlap", old.overlap != new.overlap);
    check("stop", old.stop != new.stop);
    check("logs", old.logs != new.logs);
    check("shell", old.shell != new.shell);
    check("env", old.env != new.env);
    check("cwd", old.cwd != new.cwd);
    if fields.is_empty() {
        fields.push("executor".into());
    }
    fields
}

/// Compares what is declared with what exists.
pub fn plan(desired: &Desired, actual: &[JobInfo], executor: &dyn Executor, mode: Mode) -> Plan {
    let mut steps = Vec::new();
    for job in &desired.jobs {
        let name = &job.spec.name;
        let step = |action| Step {
            name: name.clone(),
            action,
            job: Some(job.clone()),
        };
        let Some(current) = actual.iter().find(|a| &a.name == name) else {
            steps.push(step(Action::Create));
            continue;
        };
        if current.project.as_deref() != Some(desired.project.as_str()) {
            steps.push(step(Action::Conflict(current.project.clone())));
            continue;
        }
        if current.spec_hash.as_deref() != Some(job.spec_hash.as_str()) {
            if mode == Mode::Full {
                let changed = executor
                    .spec(name)
                    .map(|old| changed_fields(&old, &job.spec))
                    .unwrap_or_else(|_| vec!["definition".into()]);
                steps.push(step(Action::Update(changed)));
            }
            continue;
        }
        let by_hand = current.desired != job.state;
        let action = match (job.state, current.status) {
            (DesiredState::Running, JobStatus::Paused) if mode == Mode::Full => {
                Some(Action::Resume)
            }
            (DesiredState::Running, JobStatus::Stopped) if current.died => Some(Action::Start),
            (DesiredState::Running, JobStatus::Stopped) if by_hand && mode == Mode::Full => {
                Some(Action::Start)
            }
            (DesiredState::Paused, JobStatus::Running) if mode == Mode::Full => Some(Action::Pause),
            (DesiredState::Paused, JobStatus::Stopped)
                if mode == Mode::Full && (by_hand || current.died) =>
            {
                Some(Action::Pause)
            }
            (DesiredState::Stopped, JobStatus::Running | JobStatus::Paused)
                if mode == Mode::Full =>
            {
                Some(Action::Stop)
            }
            _ => None,
        };
        if let Some(action) = action {
            steps.push(step(action));
        }
    }
    if mode == Mode::Full {
        for current in actual {
            let owned = current.project.as_deref() == Some(desired.project.as_str());
            let declared = desired.jobs.iter().any(|j| j.spec.name == current.name);
            if owned && !declared {
                steps.push(Step {
                    name: current.name.clone(),
                    action: Action::Delete,
                    job: None,
                });
            }
        }
    }
    Plan {
        project: desired.project.clone(),
        steps,
    }
}

/// One line of `mrsm diff`.
pub fn describe(step: &Step) -> String {
    match &step.action {
        Action::Create => format!("+ create {}", step.name),
        Action::Update(fields) => format!("~ update {} ({})", step.name, fields.join(", ")),
        Action::Start => format!("> start {}", step.name),
        Action::Resume => format!("> resume {}", step.name),
        Action::Pause => format!("= pause {}", step.name),
        Action::Stop => format!(". stop {}", step.name),
        Action::Delete => format!("- delete {}", step.name),
        Action::Conflict(owner) => format!(
            "! conflict {}: a job of that name exists and belongs to {}",
            step.name,
            match owner {
                Some(p) => format!("project {p:?}"),
                None => "no project (made by `mrsm run`)".to_string(),
            }
        ),
    }
}

/// What happened to one step.
#[derive(Debug)]
pub struct Outcome {
    pub step: Step,
    pub result: Result<String, ExecutorError>,
}

fn options(plan: &Plan, job: &DesiredJob) -> CreateOptions {
    CreateOptions {
        desired: job.state,
        project: Some(plan.project.clone()),
        spec_hash: Some(job.spec_hash.clone()),
    }
}

fn apply_step(plan: &Plan, step: &Step, executor: &dyn Executor) -> Result<String, ExecutorError> {
    let name = step.name.as_str();
    let job = step.job.as_ref();
    match (&step.action, job) {
        (Action::Create, Some(job)) => executor
            .create(&job.spec, &options(plan, job))
            .map(|_| format!("created {name}")),
        (Action::Update(_), Some(job)) => executor
            .replace(&job.spec, &options(plan, job))
            .map(|_| format!("updated {name}")),
        (Action::Start | Action::Resume, _) => executor.start(name),
        (Action::Pause, _) => {
            if executor.get(name)?.status == JobStatus::Stopped {
                executor.start(name)?;
            }
            executor.pause(name)
        }
        (Action::Stop, _) => executor.stop(name, &StopOptions::default()),
        (Action::Delete, _) => executor.delete(name, &DeleteOptions::default()),
        (Action::Conflict(_), _) => Err(ExecutorError::Supervisor {
            name: name.into(),
            message: describe(step).trim_start_matches("! ").to_string(),
        }),
        (_, None) => Err(ExecutorError::NotFound(name.into())),
    }
}

/// Runs the plan: deletions first, then everything else; independent jobs on a few
/// threads at once. `progress` is told about each step as it finishes.
pub fn apply(
    plan: &Plan,
    executor: &dyn Executor,
    progress: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let (deletes, rest): (Vec<&Step>, Vec<&Step>) =
        plan.steps.iter().partition(|s| s.action == Action::Delete);
    let outcomes = Mutex::new(Vec::new());
    for batch in [deletes, rest] {
        let next = AtomicUsize::new(0);
        let workers = batch.len().clamp(1, 4);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(step) = batch.get(i) else { break };
                    let outcome = Outcome {
                        step: (*step).clone(),
                        result: apply_step(plan, step, executor),
                    };
                    progress(&outcome);
                    if let Ok(mut all) = outcomes.lock() {
                        all.push(outcome);
                    }
                });
            }
        });
    }
    outcomes.into_inner().unwrap_or_default()
}
