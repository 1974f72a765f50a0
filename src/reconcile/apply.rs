//! Applying a plan: each step on its executor, deletions first, independent jobs a
//! few at a time; a move stops the old copy, makes the new one, and only then
//! deletes the old.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{why_not, Action, Plan, Step};
use crate::executor::{
    CreateOptions, DeleteOptions, ExecutorError, Registry, StopOptions, DEFAULT_LABEL,
};
use crate::job::JobStatus;
use crate::spec::DesiredJob;

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
        lease: None,
    }
}

/// A step, once the dependencies of the job it starts hold their conditions;
/// what a dependency that is not required said is added to its message.
fn apply_step(plan: &Plan, step: &Step, registry: &Registry) -> Result<String, ExecutorError> {
    let warnings = match (&step.job, super::order::starts(&step.action)) {
        (Some(job), true) => super::order::wait_for_dependencies(job, &plan.located, registry)?,
        _ => Vec::new(),
    };
    let done = apply_ready_step(plan, step, registry)?;
    Ok(warnings
        .into_iter()
        .fold(done, |m, w| format!("{m} (warning: {w})")))
}

fn apply_ready_step(
    plan: &Plan,
    step: &Step,
    registry: &Registry,
) -> Result<String, ExecutorError> {
    let name = step.name.as_str();
    let job = step.job.as_ref();
    let executor = registry.get(&step.executor)?;
    let executor = executor.as_ref();
    let shown = match step.executor.as_str() {
        DEFAULT_LABEL => name.to_string(),
        other => format!("{name} on {other}"),
    };
    match (&step.action, job) {
        (Action::Create, Some(job)) => executor
            .create(&job.spec, &options(plan, job))
            .and_then(|info| brought_up(info, format!("created {shown}"))),
        (Action::Move(from), Some(job)) => move_job(
            executor,
            registry.get(from)?.as_ref(),
            job,
            &options(plan, job),
        )
        .map(|()| format!("moved {shown} from {from}")),
        (Action::Update(_), Some(job)) => executor
            .replace(&job.spec, &options(plan, job))
            .and_then(|info| brought_up(info, format!("updated {shown}"))),
        (Action::Start | Action::Resume, _) => executor.start(name).map(|o| o.on(&step.executor)),
        // A stopped job is brought up paused (its definition again, meant to be
        // paused), so that nothing of it runs first.
        (Action::Pause, Some(job)) if executor.get(name)?.status.is_over() => executor
            .replace(&job.spec, &options(plan, job))
            .map(|_| crate::executor::Outcome::Paused { name: name.into() }.on(&step.executor)),
        (Action::Pause, _) => executor.pause(name).map(|o| o.on(&step.executor)),
        (Action::Stop, _) => executor
            .stop(name, &StopOptions::default())
            .map(|o| o.on(&step.executor)),
        (Action::Delete, _) => executor
            .delete(name, &DeleteOptions::default())
            .map(|o| o.on(&step.executor)),
        (Action::Conflict(_), _) => Err(ExecutorError::Supervisor {
            name: name.into(),
            message: format!("conflict: {}", why_not(step)),
        }),
        (Action::Broken(_), _) => Err(ExecutorError::Supervisor {
            name: name.into(),
            message: format!("broken: {}", why_not(step)),
        }),
        (Action::Unreachable(_), _) => Err(ExecutorError::Unavailable {
            executor: step.executor.clone(),
            message: format!("job {name:?}: {}", why_not(step)),
        }),
        (_, None) => Err(ExecutorError::NotFound(name.into())),
    }
}

/// What a step that brought a job up says: `done`, unless the job's first step
/// could not start (a program not found, a directory missing), which the executor
/// records before it answers. That is the step's error, as it is `run -d`'s; the job
/// stays, failed, and the next `up` starts it again.
fn brought_up(info: crate::job::JobInfo, done: String) -> Result<String, ExecutorError> {
    match info.last_result.filter(|r| r.first_step_not_started()) {
        Some(result) => Err(ExecutorError::Supervisor {
            name: info.name,
            message: format!("{done}, but {}", result.message),
        }),
        None => Ok(done),
    }
}

/// Moves a job from executor `old` to `new`: the old copy is stopped (its definition
/// kept), the job created on `new`, and the old copy deleted once the new one exists.
/// If the create fails, the old copy is brought back as it was, and the error says
/// the job stays where it was.
fn move_job(
    new: &dyn crate::executor::Executor,
    old: &dyn crate::executor::Executor,
    job: &DesiredJob,
    options: &CreateOptions,
) -> Result<(), ExecutorError> {
    let name = job.spec.name.as_str();
    let not_moved = |why: String| ExecutorError::Supervisor {
        name: name.into(),
        message: format!("not moved to {}: {why}", new.label()),
    };
    let was = old.get(name)?.status;
    if !was.is_over() {
        old.stop(name, &StopOptions::default()).map_err(|e| {
            not_moved(format!(
                "its copy on {} could not be stopped ({}); it stays there",
                old.label(),
                e.reason()
            ))
        })?;
    }
    let created = match new.create(&job.spec, options) {
        Ok(info) => Ok(info),
        // No answer (a timeout): the job may have been made there all the same.
        Err(e) => match new.get(name) {
            Ok(info) if info.project == options.project => Ok(info),
            Err(ExecutorError::NotFound(_)) | Ok(_) => Err(e),
            Err(unknown) => {
                return Err(not_moved(format!(
                    "{}, and whether the job was made there cannot be told ({}); its copy on {} is left stopped: `mrsm start jobs {name}` starts it again",
                    e.reason(),
                    unknown.reason(),
                    old.label()
                )))
            }
        },
    };
    // Made there, but its first step cannot start there (not on that machine's
    // PATH): not a move that runs the job; the copy made there goes again.
    let created = created.and_then(|info| match info.last_result {
        Some(r) if r.not_started() && r.failed_step() == Some(1) => {
            let _ = new.delete(name, &DeleteOptions::default());
            Err(ExecutorError::Supervisor {
                name: name.into(),
                message: r.message,
            })
        }
        _ => Ok(info),
    });
    if let Err(e) = created {
        let back = match was {
            JobStatus::Running => old.start(name).map(drop),
            JobStatus::Paused => old.start(name).and_then(|_| old.pause(name)).map(drop),
            _ => Ok(()),
        };
        let stays = match back {
            Ok(()) => format!("it stays on {}", old.label()),
            Err(again) => format!(
                "it stays on {}, stopped: starting it again failed too: {}",
                old.label(),
                again.reason()
            ),
        };
        return Err(not_moved(format!("{}; {stays}", e.reason())));
    }
    old.delete(name, &DeleteOptions::default())
        .map_err(|e| ExecutorError::Supervisor {
            name: name.into(),
            message: format!(
                "moved to {}, but its old copy on {} (stopped) could not be deleted: {}",
                new.label(),
                old.label(),
                e.reason()
            ),
        })?;
    Ok(())
}

/// Runs the plan: deletions first, then everything else in waves of jobs whose
/// dependencies came in earlier waves; the jobs of a wave on a few threads at
/// once. `progress` is told about each step as it finishes.
pub fn apply(
    plan: &Plan,
    registry: &Registry,
    progress: &(dyn Fn(&Outcome) + Sync),
) -> Vec<Outcome> {
    let (deletes, rest): (Vec<&Step>, Vec<&Step>) =
        plan.steps.iter().partition(|s| s.action == Action::Delete);
    let outcomes = Mutex::new(Vec::new());
    let graph = super::order::Graph::new(plan.located.iter().map(|(name, place)| {
        let deps = place.depends_on.iter().map(|d| d.name.clone()).collect();
        (name.clone(), deps)
    }));
    let waves = super::order::waves(&rest, |s| s.name.as_str(), &graph);
    for batch in std::iter::once(deletes).chain(waves) {
        let next = AtomicUsize::new(0);
        // Mostly waiting (a supervisor starting, a stop's grace): more than cores.
        let workers = batch.len().clamp(1, 16);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(step) = batch.get(i) else { break };
                    let outcome = Outcome {
                        step: (*step).clone(),
                        result: apply_step(plan, step, registry),
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
