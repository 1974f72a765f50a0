//! Dependencies (`depends_on`) in a plan: jobs are brought up in waves, each job
//! after what it depends on, once each dependency's condition holds (or its wait
//! fails, naming both jobs and the condition); jobs whose dependency restarts are
//! restarted with it (`restart: true`); and jobs are stopped dependents first.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Action, Step};
use crate::executor::{ExecutorError, Registry};
use crate::job::{Condition, Dependency, JobInfo, JobStatus};
use crate::spec::DesiredJob;

/// Who depends on whom, by name: each job's dependencies as written (a replicated
/// job's name stands for its copies).
#[derive(Clone, Debug, Default)]
pub struct Graph {
    deps: BTreeMap<String, Vec<String>>,
}

impl Graph {
    /// The graph of these jobs and their direct dependencies.
    pub fn new(edges: impl IntoIterator<Item = (String, Vec<String>)>) -> Graph {
        Graph {
            deps: edges.into_iter().collect(),
        }
    }

    /// Every job `name` depends on, directly or through others (a finished
    /// one-shot between two jobs included), nearest first.
    pub fn closure(&self, name: &str) -> Vec<String> {
        let mut seen: Vec<String> = Vec::new();
        let mut todo = vec![name.to_string()];
        while let Some(next) = todo.pop() {
            for dep in self.deps.get(&next).into_iter().flatten() {
                let names = self.deps.keys().map(String::as_str);
                for target in crate::spec::dependency_targets(dep, names) {
                    if target != name && !seen.iter().any(|s| s == target) {
                        seen.push(target.to_string());
                        todo.push(target.to_string());
                    }
                }
            }
        }
        seen
    }
}

/// Groups `items` into waves: each item after every item it depends on, directly
/// or through jobs that are not among them (`graph`). A cycle (refused by the
/// spec loader, possible among jobs made by hand) leaves its items in the last
/// wave.
pub fn waves<'a, T>(items: &[&'a T], name: impl Fn(&T) -> &str, graph: &Graph) -> Vec<Vec<&'a T>> {
    let index: BTreeMap<&str, usize> = items
        .iter()
        .enumerate()
        .map(|(i, t)| (name(t), i))
        .collect();
    let edges: Vec<Vec<usize>> = items
        .iter()
        .map(|t| {
            graph
                .closure(name(t))
                .iter()
                .filter_map(|d| index.get(d.as_str()).copied())
                .collect()
        })
        .collect();
    let mut level: Vec<Option<usize>> = vec![None; items.len()];
    // Longest path from a job without dependencies, found by relaxing at most
    // `len` times (a cycle never settles and is put last).
    for _ in 0..=items.len() {
        let mut changed = false;
        for i in 0..items.len() {
            let deps_done: Option<Vec<usize>> = edges[i].iter().map(|&d| level[d]).collect();
            let mine = deps_done.map(|l| l.into_iter().max().map_or(0, |m| m + 1));
            if mine.is_some() && mine != level[i] {
                level[i] = mine;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let last = level.iter().flatten().max().map_or(0, |m| m + 1);
    let mut out: Vec<Vec<&T>> = vec![Vec::new(); last + 1];
    for (i, item) in items.iter().enumerate() {
        out[level[i].unwrap_or(last)].push(item);
    }
    out.retain(|w| !w.is_empty());
    out
}

/// [`waves`] for stopping: dependents before what they depend on.
pub fn stop_waves<'a, T>(
    items: &[&'a T],
    name: impl Fn(&T) -> &str,
    graph: &Graph,
) -> Vec<Vec<&'a T>> {
    let mut order = waves(items, name, graph);
    order.reverse();
    order
}

/// Whether a step starts its job (and so waits for its dependencies first).
pub(super) fn starts(action: &Action) -> bool {
    matches!(
        action,
        Action::Create | Action::Move(_) | Action::Update(_) | Action::Start | Action::Resume
    )
}

/// Adds a restart of every running job that depends with `restart: true` on a job
/// the plan (re)starts, when the plan does not touch it already.
pub(super) fn restart_dependents(jobs: &[DesiredJob], found: &[JobInfo], steps: &mut Vec<Step>) {
    loop {
        let restarting: Vec<String> = steps
            .iter()
            .filter(|s| starts(&s.action))
            .map(|s| s.name.clone())
            .collect();
        let mut added = false;
        for job in jobs {
            let name = &job.spec.name;
            if steps.iter().any(|s| &s.name == name) {
                continue;
            }
            let Some(because) = job.spec.depends_on.iter().find(|d| {
                d.restart
                    && !crate::spec::dependency_targets(
                        &d.name,
                        restarting.iter().map(String::as_str),
                    )
                    .is_empty()
            }) else {
                continue;
            };
            let running = found.iter().any(|f| {
                &f.name == name && f.executor == job.executor && f.status == JobStatus::Running
            });
            if running {
                steps.push(Step {
                    name: name.clone(),
                    executor: job.executor.clone(),
                    action: Action::Update(vec![format!("{} restarts", because.name)]),
                    job: Some(job.clone()),
                });
                added = true;
            }
        }
        if !added {
            return;
        }
    }
}

/// Where a dependency's condition stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    Met,
    Pending,
    /// It cannot hold any more (why).
    Failed(String),
}

/// Where `condition` stands for a dependency found as `info` (`log_matched`: a
/// line of its current run's log matched, for `log_ready`).
pub fn condition_state(condition: &Condition, info: &JobInfo, log_matched: bool) -> Wait {
    let failed = || {
        let why = info
            .last_result
            .as_ref()
            .map_or_else(|| info.status.to_string(), |r| r.message.clone());
        Wait::Failed(format!("it {}: {why}", info.status))
    };
    let over = info.status.is_over();
    let succeeded = info.last_result.as_ref().is_some_and(|r| r.ok());
    match condition {
        Condition::ServiceStarted => match info.status {
            JobStatus::Running | JobStatus::Paused => Wait::Met,
            _ if over && succeeded => Wait::Met,
            _ => failed(),
        },
        Condition::ServiceCompletedSuccessfully => match (over, succeeded) {
            (true, true) => Wait::Met,
            (true, false) => failed(),
            (false, _) => Wait::Pending,
        },
        Condition::ServiceHealthy => match (&info.health, info.status) {
            (Some(h), JobStatus::Running) => match h.status {
                crate::job::HealthStatus::Healthy => Wait::Met,
                crate::job::HealthStatus::Starting => Wait::Pending,
                crate::job::HealthStatus::Unhealthy => Wait::Failed(format!(
                    "it is unhealthy{}",
                    h.last
                        .as_ref()
                        .map(|l| format!(" ({l})"))
                        .unwrap_or_default()
                )),
            },
            // Between runs, or not probed yet.
            (None, JobStatus::Running) => Wait::Pending,
            _ => failed(),
        },
        Condition::LogReady { .. } => match (log_matched, info.status) {
            (true, _) => Wait::Met,
            (false, JobStatus::Running | JobStatus::Paused) => Wait::Pending,
            _ => failed(),
        },
    }
}

/// How often a dependency is looked at while waited for.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// Where a declared job is, and what it depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub executor: String,
    pub depends_on: Vec<Dependency>,
}

/// Waits until every dependency of `job` holds its condition, and before each,
/// the dependencies of that dependency (a job three links away is waited for even
/// when the one between is a finished one-shot nobody starts). A dependency that
/// is not required and does not hold is a warning (returned); one that is
/// required fails the step, naming both jobs and the condition.
pub(super) fn wait_for_dependencies(
    job: &DesiredJob,
    located: &BTreeMap<String, Located>,
    registry: &Registry,
) -> Result<Vec<String>, ExecutorError> {
    let mut warnings = Vec::new();
    let mut waited: Vec<String> = Vec::new();
    let top = job.spec.name.as_str();
    wait_for_all(
        top,
        top,
        &job.spec.depends_on,
        located,
        registry,
        &mut waited,
        &mut warnings,
    )?;
    Ok(warnings)
}

fn wait_for_all(
    top: &str,
    name: &str,
    depends_on: &[Dependency],
    located: &BTreeMap<String, Located>,
    registry: &Registry,
    waited: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<(), ExecutorError> {
    for dependency in depends_on {
        let targets =
            crate::spec::dependency_targets(&dependency.name, located.keys().map(String::as_str));
        for target in targets {
            if waited.iter().any(|w| w == target) || target == name {
                continue;
            }
            waited.push(target.to_string());
            let place = &located[target];
            // What it depends on first (a cycle ends at a job waited for already).
            wait_for_all(
                top,
                target,
                &place.depends_on,
                located,
                registry,
                waited,
                warnings,
            )?;
            let one = Dependency {
                name: target.to_string(),
                ..dependency.clone()
            };
            if let Err(why) = wait_for_one(&one, &place.executor, registry) {
                let through = match name == top {
                    true => String::new(),
                    false => format!(" (a dependency of {name:?})"),
                };
                let message = format!(
                    "dependency {target:?}{through} is not {}: {why}",
                    said(&dependency.condition)
                );
                match dependency.required {
                    true => {
                        return Err(ExecutorError::Supervisor {
                            name: top.to_string(),
                            message: format!("not started: {message}"),
                        })
                    }
                    false => {
                        warnings.push(format!("{top}: {message} (not required: started anyway)"))
                    }
                }
            }
        }
    }
    Ok(())
}

/// A condition as said in an error.
fn said(condition: &Condition) -> String {
    match condition {
        Condition::ServiceStarted => "started (service_started)".into(),
        Condition::ServiceHealthy => "healthy (service_healthy)".into(),
        Condition::ServiceCompletedSuccessfully => {
            "completed successfully (service_completed_successfully)".into()
        }
        Condition::LogReady { ready_log_line } => {
            format!("ready (log_ready: no line matches {ready_log_line:?})")
        }
    }
}

fn wait_for_one(dependency: &Dependency, label: &str, registry: &Registry) -> Result<(), String> {
    let executor = registry.get(label).map_err(|e| e.reason())?;
    let pattern = match &dependency.condition {
        Condition::LogReady { ready_log_line } => {
            Some(regex::Regex::new(ready_log_line).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let deadline = Instant::now() + dependency.timeout;
    loop {
        let info = executor.get(&dependency.name).map_err(|e| e.reason())?;
        let matched = match &pattern {
            Some(re) => log_matches(executor.as_ref(), &info, re),
            None => false,
        };
        match condition_state(&dependency.condition, &info, matched) {
            Wait::Met => return Ok(()),
            Wait::Failed(why) => return Err(why),
            Wait::Pending if Instant::now() >= deadline => {
                return Err(format!(
                    "still not after {} (its timeout)",
                    humantime::format_duration(dependency.timeout)
                ))
            }
            Wait::Pending => std::thread::sleep(LOOK_EVERY),
        }
    }
}

/// The most of a dependency's newest output a `log_ready` wait reads at each look.
const READY_TAIL: usize = 1 << 20;

/// Whether a line of the job's newest output (since its supervisor began, the
/// last MiB of it) matches.
fn log_matches(
    executor: &dyn crate::executor::Executor,
    info: &JobInfo,
    re: &regex::Regex,
) -> bool {
    let selection = crate::logs::Selection {
        tail: Some(10_000),
        since: info.began.map(crate::logs::format_stamp),
        output_only: true,
    };
    executor
        .tail_logs(&info.name, &selection, READY_TAIL)
        .is_ok_and(|tail| {
            tail.lines
                .iter()
                .any(|l| re.is_match(&String::from_utf8_lossy(&l.line)))
        })
}
