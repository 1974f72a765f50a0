//! Desired state (the spec files) against actual state (the executor's jobs): a
//! [`Plan`] of what differs, and applying it. Only jobs the project owns are touched;
//! a same-named job owned by someone else is a reported conflict, never clobbered.

mod events;
#[cfg(test)]
mod fake;
#[cfg(test)]
mod plan_tests;
pub mod watch;
pub mod watch_lock;
#[cfg(test)]
mod watch_tests;

use std::collections::BTreeMap;
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
    /// A job of that name exists but its definition cannot be read (the reason): it
    /// is left alone until it is deleted.
    Broken(String),
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

    /// How many jobs the plan deletes.
    pub fn deletes(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.action == Action::Delete)
            .count()
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

/// Compares what is declared with what exists, reading the stored definitions of
/// changed jobs from the executor to name the fields that changed.
pub fn plan(desired: &Desired, actual: &[JobInfo], executor: &dyn Executor, mode: Mode) -> Plan {
    let mut old_specs = BTreeMap::new();
    if mode == Mode::Full {
        for current in actual {
            let changed = desired.jobs.iter().any(|j| {
                j.spec.name == current.name
                    && current.project.as_deref() == Some(desired.project.as_str())
                    && current.spec_hash.as_deref() != Some(j.spec_hash.as_str())
            });
            if changed {
                if let Ok(spec) = executor.spec(&current.name) {
                    old_specs.insert(current.name.clone(), spec);
                }
            }
        }
    }
    decide(desired, actual, &old_specs, mode)
}

/// The pure decision behind [`plan`]: `old_specs` holds the stored definitions of
/// jobs whose hash differs (a missing one is reported as a changed `definition`).
///
/// In [`Mode::Heal`] only what broke by itself is repaired: a missing job is created,
/// a job whose supervisor died is started (or brought back paused); nothing is
/// updated, stopped, paused by choice or deleted, and conflicts are left to the full
/// plan that reported them.
pub fn decide(
    desired: &Desired,
    actual: &[JobInfo],
    old_specs: &BTreeMap<String, JobSpec>,
    mode: Mode,
) -> Plan {
    let full = mode == Mode::Full;
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
            if full {
                steps.push(step(match (current.status, &current.reason) {
                    (JobStatus::Broken, Some(reason)) => Action::Broken(reason.clone()),
                    _ => Action::Conflict(current.project.clone()),
                }));
            }
            continue;
        }
        if current.spec_hash.as_deref() != Some(job.spec_hash.as_str()) {
            if full {
                let changed = old_specs
                    .get(name)
                    .map(|old| changed_fields(old, &job.spec))
                    .unwrap_or_else(|| vec!["definition".into()]);
                steps.push(step(Action::Update(changed)));
            }
            continue;
        }
        if let Some(action) = state_action(job.state, current, full) {
            steps.push(step(action));
        }
    }
    if full {
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

/// What brings an up-to-date job to its declared state, if anything. A job stopped
/// or paused by hand is left alone except by a full plan; a job whose supervisor
/// died is always brought back.
fn state_action(wanted: DesiredState, current: &JobInfo, full: bool) -> Option<Action> {
    let by_hand = current.desired != wanted;
    match (wanted, current.status) {
        (DesiredState::Running, JobStatus::Paused) if full => Some(Action::Resume),
        (DesiredState::Running, JobStatus::Stopped) if current.died => Some(Action::Start),
        (DesiredState::Running, JobStatus::Stopped) if by_hand && full => Some(Action::Start),
        (DesiredState::Paused, JobStatus::Running) if full => Some(Action::Pause),
        (DesiredState::Paused, JobStatus::Stopped) if current.died || (full && by_hand) => {
            Some(Action::Pause)
        }
        (DesiredState::Stopped, JobStatus::Running | JobStatus::Paused) if full => {
            Some(Action::Stop)
        }
        _ => None,
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
        Action::Conflict(_) => format!("! conflict {}: {}", step.name, why_not(step)),
        Action::Broken(_) => format!("! broken {}: {}", step.name, why_not(step)),
    }
}

/// Why a conflicting or broken job is left alone.
fn why_not(step: &Step) -> String {
    match &step.action {
        Action::Conflict(owner) => format!(
            "a job of that name exists and belongs to {}",
            match owner {
                Some(p) => format!("project {p:?}"),
                None => "no project (made by `mrsm run`)".to_string(),
            }
        ),
        Action::Broken(reason) => format!(
            "a job of that name cannot be read ({reason}); after `mrsm delete jobs {}`, `up` creates it",
            step.name
        ),
        _ => String::new(),
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
            message: format!("conflict: {}", why_not(step)),
        }),
        (Action::Broken(_), _) => Err(ExecutorError::Supervisor {
            name: name.into(),
            message: format!("broken: {}", why_not(step)),
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
