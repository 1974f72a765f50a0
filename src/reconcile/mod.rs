//! Desired state (the spec files) against actual state (the executor's jobs): a
//! [`Plan`] of what differs, and applying it. Only jobs the project owns are touched;
//! a same-named job owned by someone else is a reported conflict, never clobbered.

mod apply;
mod events;
pub mod order;
#[cfg(test)]
mod plan_tests;
pub mod project;
pub mod up;
pub mod watch;
pub mod watch_lock;

pub use apply::{apply, Outcome};
#[cfg(test)]
mod watch_tests;

use std::collections::BTreeMap;

use crate::executor::{ClientOptions, ExecutorError, Registry, Remote, DEFAULT_LABEL};
use crate::job::{DesiredState, JobInfo, JobSpec, JobStatus};
use crate::spec::{DeclaredExecutor, Desired, DesiredJob};

/// What to do to one job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Create,
    /// Declared here, held by the project on another executor (this label) that
    /// keeps its jobs elsewhere: the old copy is stopped, the job created here, and
    /// only then the old copy deleted; if the create fails, the old copy is started
    /// again. Never both running, never neither left.
    Move(String),
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
    /// The job's executor could not be listed (the reason): the job is reported
    /// and nothing anywhere is changed because of it.
    Unreachable(String),
}

/// One line of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub name: String,
    /// The label of the executor the action runs on.
    pub executor: String,
    pub action: Action,
    /// The declared job, for every action but `Delete`.
    pub job: Option<DesiredJob>,
}

/// Everything that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub project: String,
    pub steps: Vec<Step>,
    /// Where every declared job is and what it depends on, by name: what a step
    /// waits for, and the order of the steps.
    pub located: BTreeMap<String, order::Located>,
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
    check("slurm", old.slurm != new.slurm);
    check("healthcheck", old.health != new.health);
    check("hooks", old.hooks != new.hooks);
    check("depends_on", old.depends_on != new.depends_on);
    check("after", old.after != new.after);
    if fields.is_empty() {
        fields.push("executor".into());
    }
    fields
}

/// What the executors hold for a project.
#[derive(Clone, Debug, Default)]
pub struct Actual {
    /// Every job found, each labelled with the executor it is on.
    pub jobs: Vec<JobInfo>,
    /// The stored definitions of declared jobs whose hash differs, by name (a
    /// missing one is reported as a changed `definition`).
    pub old_specs: BTreeMap<String, JobSpec>,
    /// Executors that could not be listed, with the reason.
    pub unreachable: BTreeMap<String, String>,
    /// Where each executor keeps its jobs, for those that share a home with
    /// others (`local` and `slurm`): a job's name is taken across the home.
    pub homes: BTreeMap<String, String>,
}

impl Actual {
    /// Whether two executors keep their jobs in one place.
    fn same_home(&self, a: &str, b: &str) -> bool {
        a != b
            && self
                .homes
                .get(a)
                .is_some_and(|h| self.homes.get(b) == Some(h))
    }
}

impl Actual {
    /// Jobs as found, all executors reachable.
    pub fn of(jobs: Vec<JobInfo>) -> Actual {
        Actual {
            jobs,
            ..Actual::default()
        }
    }
}

/// Lists every executor of `registry` once (the project's jobs only), all at once,
/// and reads the stored definitions of changed jobs. An executor that cannot be
/// listed (it refused, or did not answer in time) is recorded as unreachable,
/// never treated as empty.
pub fn observe(desired: &Desired, registry: &Registry, mode: Mode) -> Actual {
    let mut actual = Actual::default();
    let mut labels = registry.labels();
    for job in &desired.jobs {
        if !labels.contains(&job.executor) {
            labels.push(job.executor.clone());
        }
    }
    // Every executor asked at once: one that does not answer costs its timeout
    // once, not once for each executor before and after it.
    // Executors that share a root read it once.
    let executors: Vec<(String, std::sync::Arc<dyn crate::executor::Executor>)> = labels
        .iter()
        .filter_map(|label| Some((label.clone(), registry.get(label).ok()?)))
        .collect();
    let mut lists: std::collections::HashMap<String, _> = executors
        .iter()
        .map(|(label, _)| label.clone())
        .zip(crate::executor::list_each(
            &executors,
            Some(&desired.project),
        ))
        .collect();
    let listed: Vec<(&String, Result<Vec<JobInfo>, ExecutorError>)> = labels
        .iter()
        .map(|label| match lists.remove(label) {
            Some(list) => (label, list),
            None => (label, registry.get(label).map(|_| Vec::new())),
        })
        .collect();
    let others = crate::parallel::each(&listed, |(label, list)| match list {
        Ok(jobs) => holding_declared_names(desired, registry, label, jobs),
        Err(_) => Vec::new(),
    });
    let found = listed
        .into_iter()
        .zip(others)
        .map(|((label, list), others)| {
            list.map(|jobs| labelled(registry, label, jobs.into_iter().chain(others)))
        });
    for (label, found) in labels.iter().zip(found) {
        match found {
            Ok(jobs) => actual.jobs.extend(jobs),
            // Said once, without the executor's name in front again.
            Err(e) => {
                actual.unreachable.insert(label.clone(), e.reason());
            }
        }
    }
    // Where each answering executor keeps its jobs (a server may say it keeps them
    // in this machine's own root): asked once the listings are in.
    let answered: Vec<&String> = labels
        .iter()
        .filter(|l| !actual.unreachable.contains_key(*l))
        .collect();
    let homes = crate::parallel::each(&answered, |label| {
        registry.get(label).ok().and_then(|e| e.home())
    });
    for (label, home) in answered.into_iter().zip(homes) {
        if let Some(home) = home {
            actual.homes.insert(label.clone(), home);
        }
    }
    if mode == Mode::Full {
        let found = ByName::of(&actual.jobs, |j| &j.name);
        let changed: Vec<&DesiredJob> = desired
            .jobs
            .iter()
            .filter(|job| {
                found.named(&job.spec.name).iter().any(|current| {
                    current.name == job.spec.name
                        && current.executor == job.executor
                        && current.project.as_deref() == Some(desired.project.as_str())
                        && current.spec_hash.as_deref() != Some(job.spec_hash.as_str())
                })
            })
            .collect();
        let specs = crate::parallel::each(&changed, |job| {
            registry
                .get(&job.executor)
                .and_then(|e| e.spec(&job.spec.name))
        });
        for (job, spec) in changed.into_iter().zip(specs) {
            if let Ok(spec) = spec {
                actual.old_specs.insert(job.spec.name.clone(), spec);
            }
        }
    }
    actual
}

/// The jobs of another project (or none) on executor `label` that hold names the
/// project declares there (`listed` being the project's jobs there): a project's
/// listing leaves those out, so they are asked for by name, to be reported as
/// conflicts.
fn holding_declared_names(
    desired: &Desired,
    registry: &Registry,
    label: &str,
    listed: &[JobInfo],
) -> Vec<JobInfo> {
    let Ok(executor) = registry.get(label) else {
        return Vec::new();
    };
    let missing: Vec<&str> = desired
        .jobs
        .iter()
        .filter(|j| j.executor == label && !listed.iter().any(|found| found.name == j.spec.name))
        .map(|j| j.spec.name.as_str())
        .collect();
    crate::parallel::each(&missing, |name| executor.get(name))
        .into_iter()
        .flatten()
        .collect()
}

/// Jobs found on executor `label`, labelled with it, without those another
/// executor of the same home holds.
fn labelled(registry: &Registry, label: &str, jobs: impl Iterator<Item = JobInfo>) -> Vec<JobInfo> {
    jobs.filter(|info| !registry.listed_for_another(label, info))
        .map(|mut info| {
            info.executor = label.to_string();
            info
        })
        .collect()
}

/// Compares what is declared with what every executor holds.
pub fn plan(desired: &Desired, registry: &Registry, mode: Mode) -> Plan {
    decide(desired, &observe(desired, registry, mode), mode)
}

/// The pure decision behind [`plan`]: specs and what exists in, the plan out.
///
/// Jobs are matched per executor: a job declared on another executor than the one
/// it is on moves (deleted there, created here). An executor that could not be
/// listed has its declared jobs reported, and no job anywhere is deleted because of
/// it (a job on its way to it stays where it is).
///
/// In [`Mode::Heal`] only what broke by itself is repaired: a missing job is created,
/// a job whose supervisor died is started (or brought back paused); nothing is
/// updated, stopped, paused by choice or deleted, and conflicts are left to the full
/// plan that reported them.
pub fn decide(desired: &Desired, actual: &Actual, mode: Mode) -> Plan {
    let full = mode == Mode::Full;
    let mut steps = Vec::new();
    let found = ByName::of(&actual.jobs, |j| &j.name);
    let declared = ByName::of(&desired.jobs, |j| &j.spec.name);
    for job in &desired.jobs {
        let name = &job.spec.name;
        let named = found.named(name);
        let step = |action| Step {
            name: name.clone(),
            executor: job.executor.clone(),
            action,
            job: Some(job.clone()),
        };
        if let Some(reason) = actual.unreachable.get(&job.executor) {
            if full {
                steps.push(step(Action::Unreachable(reason.clone())));
            }
            continue;
        }
        // Found under another executor of the same home with this very declaration
        // (a server on this machine's own root labels its jobs `local`): that is
        // the job, applied already; taken for a move, it would be updated again at
        // every `up`.
        let current = named
            .iter()
            .find(|a| a.executor == job.executor)
            .or_else(|| {
                named.iter().find(|a| {
                    actual.same_home(&a.executor, &job.executor)
                        && a.project.as_deref() == Some(desired.project.as_str())
                        && a.spec_hash.as_deref() == Some(job.spec_hash.as_str())
                })
            });
        let Some(current) = current else {
            // On another executor of the same home (`local` → `slurm`): its name is
            // taken there, so it moves by an update, keeping its logs and runs.
            let sibling = named
                .iter()
                .find(|a| actual.same_home(&a.executor, &job.executor));
            match (sibling, moving_from(desired, actual, job, named)) {
                (Some(s), _) if s.project.as_deref() != Some(desired.project.as_str()) => {
                    if full {
                        steps.push(step(Action::Conflict(s.project.clone())));
                    }
                }
                (Some(_), _) if full => steps.push(step(Action::Update(vec!["executor".into()]))),
                (Some(_), _) => {}
                // The heal never moves a job: the full plan does, once.
                (None, Some(from)) if full => steps.push(step(Action::Move(from))),
                (None, Some(_)) => {}
                (None, None) => steps.push(step(Action::Create)),
            }
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
                let changed = actual
                    .old_specs
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
        for current in &actual.jobs {
            let owned = current.project.as_deref() == Some(desired.project.as_str());
            let same_name = declared.named(&current.name);
            let declared_here = same_name.iter().any(|j| {
                j.executor == current.executor || actual.same_home(&j.executor, &current.executor)
            });
            let moving_out_of_reach = same_name
                .iter()
                .any(|j| actual.unreachable.contains_key(&j.executor));
            // Deleted by its move, once its new copy exists.
            let moving = same_name.iter().any(|j| {
                moving_from(desired, actual, j, found.named(&current.name)).as_deref()
                    == Some(current.executor.as_str())
            });
            if owned && !declared_here && !moving_out_of_reach && !moving {
                steps.push(Step {
                    name: current.name.clone(),
                    executor: current.executor.clone(),
                    action: Action::Delete,
                    job: None,
                });
            }
        }
    }
    if full {
        order::restart_dependents(&desired.jobs, &actual.jobs, &mut steps);
    }
    Plan {
        project: desired.project.clone(),
        steps,
        located: desired
            .jobs
            .iter()
            .map(|j| {
                let place = order::Located {
                    executor: j.executor.clone(),
                    depends_on: j.spec.depends_on.clone(),
                };
                (j.spec.name.clone(), place)
            })
            .collect(),
    }
}

/// The executor a declared job moves from: it is not on its declared executor (nor
/// on one of the same home), and the project holds it on another.
fn moving_from(
    desired: &Desired,
    actual: &Actual,
    job: &DesiredJob,
    named: &[&JobInfo],
) -> Option<String> {
    let here =
        |a: &&JobInfo| a.executor == job.executor || actual.same_home(&a.executor, &job.executor);
    if actual.unreachable.contains_key(&job.executor) || named.iter().any(here) {
        return None;
    }
    named
        .iter()
        .find(|a| a.project.as_deref() == Some(desired.project.as_str()))
        .map(|a| a.executor.clone())
}

/// Items by name, so that matching declared jobs with found ones costs a lookup
/// each rather than a scan of all (a plan over thousands of jobs).
struct ByName<'a, T>(std::collections::HashMap<&'a str, Vec<&'a T>>);

impl<'a, T> ByName<'a, T> {
    fn of(items: &'a [T], name: impl Fn(&'a T) -> &'a String) -> ByName<'a, T> {
        let mut map: std::collections::HashMap<&'a str, Vec<&'a T>> =
            std::collections::HashMap::with_capacity(items.len());
        for item in items {
            map.entry(name(item).as_str()).or_default().push(item);
        }
        ByName(map)
    }

    /// The items named `name`, in their order.
    fn named(&self, name: &str) -> &[&'a T] {
        self.0.get(name).map_or(&[], Vec::as_slice)
    }
}

/// `registry` with the remote executors spec files declare.
pub fn with_declared(registry: &Registry, declared: &[DeclaredExecutor]) -> Registry {
    let remotes: Vec<Remote> = declared
        .iter()
        .filter(|d| d.slurm.is_none())
        .map(|d| Remote {
            name: d.name.clone(),
            url: d.url.clone(),
            token: d.token.clone(),
            options: ClientOptions {
                connect_timeout: d.connect_timeout,
                timeout: d.timeout,
                ca_file: d.ca_file.clone(),
            },
        })
        .collect();
    let mut registry = registry.with_remotes(&remotes);
    for d in declared {
        if let Some(options) = &d.slurm {
            registry.declare_slurm(&d.name, options.clone());
        }
    }
    registry
}

/// What brings an up-to-date job to its declared state, if anything. A job stopped
/// or paused by hand is left alone except by a full plan; a job whose supervisor
/// died (or was ended by a signal from outside mrsm) is always brought back. A job
/// that failed by itself is started again by a full plan (`up`, as compose's `up`
/// starts exited services), while the heal keeps to its restart policy; one that
/// finished successfully is done until its definition changes.
fn state_action(wanted: DesiredState, current: &JobInfo, full: bool) -> Option<Action> {
    let by_hand = current.desired != wanted;
    let failed = current.status == JobStatus::Failed;
    let again = current.died || (full && (by_hand || failed));
    match (wanted, current.status) {
        (DesiredState::Running, JobStatus::Paused) if full => Some(Action::Resume),
        (DesiredState::Running, JobStatus::Stopped | JobStatus::Failed) if again => {
            Some(Action::Start)
        }
        (DesiredState::Paused, JobStatus::Running) if full => Some(Action::Pause),
        (DesiredState::Paused, JobStatus::Stopped | JobStatus::Failed) if again => {
            Some(Action::Pause)
        }
        (DesiredState::Stopped, JobStatus::Running | JobStatus::Paused) if full => {
            Some(Action::Stop)
        }
        _ => None,
    }
}

/// One line of `mrsm diff`; a job on another executor than `local` says where.
pub fn describe(step: &Step) -> String {
    let name = match step.executor.as_str() {
        DEFAULT_LABEL => step.name.clone(),
        other => format!("{} on {other}", step.name),
    };
    match &step.action {
        Action::Create => format!("+ create {name}"),
        Action::Move(from) => format!("> move {name} from {from}"),
        Action::Update(fields) => format!("~ update {name} ({})", fields.join(", ")),
        Action::Start => format!("> start {name}"),
        Action::Resume => format!("> resume {name}"),
        Action::Pause => format!("= pause {name}"),
        Action::Stop => format!(". stop {name}"),
        Action::Delete => format!("- delete {name}"),
        Action::Conflict(_) => format!("! conflict {name}: {}", why_not(step)),
        Action::Broken(_) => format!("! broken {name}: {}", why_not(step)),
        Action::Unreachable(_) => format!("! unreachable {name}: {}", why_not(step)),
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
        Action::Unreachable(reason) => {
            format!("{reason}; the job is left as it is until the executor answers")
        }
        _ => String::new(),
    }
}
