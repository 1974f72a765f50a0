//! A project's jobs as a whole, beyond one plan: finding them on every executor,
//! `restart` and `down`, and the project's background watcher job (its name, its
//! mark, its definition). The command line only parses and prints; what is done
//! and in which order lives here.

use std::path::PathBuf;
use std::sync::Arc;

use crate::executor::{
    list_each, locate_mrsm_binary, CreateOptions, DeleteOptions, Executor, ExecutorError,
    LocalExecutor, Registry, StopOptions,
};
use crate::job::{shell_join, DesiredState, JobInfo, JobSpec, JobStatus, RestartPolicy};

/// The variable that marks a job as a project's background watcher, naming the
/// project: a job that merely has the watcher's name is never taken for it.
pub const WATCHER_MARK: &str = "MRSM_WATCHER_OF";

/// The name of a project's background watcher job.
pub fn watcher_name(project: &str) -> String {
    let name = format!("mrsm-watch-{project}");
    if name.len() <= 64 {
        return name;
    }
    // Job names have at most 64 characters: a long project name is cut, and a hash
    // of it keeps two long names apart.
    let hash = crate::fnv::Fnv::new().write(project.as_bytes()).finish();
    format!("mrsm-watch-{}-{:08x}", &project[..44], hash as u32)
}

/// Failures of project-wide actions that are not one job's.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("a job named {name:?} exists but is not project {project:?}'s watcher; it is left alone (rename or delete it)")]
    NotTheWatcher { name: String, project: String },
    #[error("{0}")]
    Executor(#[from] ExecutorError),
    #[error("executor {label}: cannot list its jobs, left as they are: {error}")]
    Unlisted { label: String, error: ExecutorError },
    #[error("{path}: {source}")]
    Path {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The project's background watcher job, if there is one; an error when a job of
/// that name exists and is not the watcher.
pub fn project_watcher(
    executor: &dyn Executor,
    project: &str,
) -> Result<Option<String>, ProjectError> {
    let name = watcher_name(project);
    match executor.spec(&name) {
        Ok(spec) if spec.env.get(WATCHER_MARK).map(String::as_str) == Some(project) => {
            Ok(Some(name))
        }
        Ok(_) => Err(ProjectError::NotTheWatcher {
            name,
            project: project.into(),
        }),
        Err(_) => Ok(None),
    }
}

/// The program that runs the watcher: the one running now (so a command line
/// with a library user's executors watches with them), else `mrsm`.
fn watcher_program() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| locate_mrsm_binary())
}

/// The watcher job's definition: `PROGRAM watch [-p PROJECT] -f FILE…` (absolute
/// paths; `-p` when the project was named on the command line, `named`),
/// restarted if it fails, marked as the project's: the mark pins the project it
/// applies, so files that come to name another one are reported, not applied.
pub fn watcher_spec(
    files: &[PathBuf],
    project: &str,
    named: bool,
) -> Result<JobSpec, ProjectError> {
    let mut words = vec![watcher_program().display().to_string(), "watch".to_string()];
    if named {
        words.extend(["-p".to_string(), project.to_string()]);
    }
    for f in files {
        let path = std::path::absolute(f).map_err(|source| ProjectError::Path {
            path: f.clone(),
            source,
        })?;
        words.push("-f".into());
        words.push(path.display().to_string());
    }
    let mut spec = JobSpec::new(watcher_name(project), vec![shell_join(&words)]);
    spec.restart = RestartPolicy::OnFailure;
    spec.env.insert(WATCHER_MARK.into(), project.into());
    Ok(spec)
}

/// Runs the project's watcher job: started again when its definition is the same,
/// replaced when it changed, created when there is none. Returns its name.
pub fn ensure_watcher(
    executor: &LocalExecutor,
    files: &[PathBuf],
    project: &str,
    named: bool,
) -> Result<String, ProjectError> {
    let spec = watcher_spec(files, project, named)?;
    let name = spec.name.clone();
    let options = CreateOptions::default();
    match (project_watcher(executor, project)?, executor.spec(&name)) {
        (Some(_), Ok(old)) if old.command == spec.command && old.env == spec.env => {
            executor.start(&name)?;
        }
        (Some(_), _) => {
            executor.replace(&spec, &options)?;
        }
        (None, _) => {
            executor.create(&spec, &options)?;
        }
    }
    Ok(name)
}

/// A job found on one of the executors.
pub struct Found {
    pub executor: Arc<dyn Executor>,
    /// Labelled with the executor it is on.
    pub info: JobInfo,
}

/// The project's jobs on every executor.
pub struct Listing {
    pub jobs: Vec<Found>,
    /// Executors that could not be listed: their jobs are left as they are.
    pub unreachable: Vec<(String, ExecutorError)>,
}

/// The project's jobs on every executor of `registry` as they are now (every
/// executor asked at once); `broken` adds jobs whose owner cannot be read (every
/// project is shown those).
pub fn project_jobs(registry: &Registry, project: &str, broken: bool) -> Listing {
    let mut listing = Listing {
        jobs: Vec::new(),
        unreachable: Vec::new(),
    };
    let executors = registry.all();
    let answers = list_each(&executors, Some(project));
    let mut seen = std::collections::HashSet::new();
    for ((label, executor), answer) in executors.into_iter().zip(answers) {
        let jobs = match answer {
            Ok(jobs) => jobs,
            Err(e) => {
                listing.unreachable.push((label, e));
                continue;
            }
        };
        for mut info in jobs {
            if registry.listed_for_another(&label, &info)
                || registry.seen_before(&label, &info.name, &mut seen)
            {
                continue;
            }
            let owned = info.project.as_deref() == Some(project);
            if owned || (broken && info.status == JobStatus::Broken && info.project.is_none()) {
                info.executor = label.clone();
                listing.jobs.push(Found {
                    executor: executor.clone(),
                    info,
                });
            }
        }
    }
    listing
}

/// What `restart` did to one job.
pub enum Restarted {
    /// Stopped and started (and paused again if it was paused).
    Done(String),
    /// Meant to stay stopped and not named: left alone.
    LeftStopped(String),
    Failed(ExecutorError),
}

/// Stops and starts the project's `jobs` (all of them when `names` is empty, else
/// those named), each coming back as it was: a paused job is paused again, and one
/// meant to stay stopped is restarted only when named.
pub fn restart(jobs: &[Found], names: &[String], report: &mut dyn FnMut(Restarted)) {
    for Found {
        executor,
        info: job,
    } in jobs
        .iter()
        .filter(|j| names.is_empty() || names.contains(&j.info.name))
    {
        if job.desired == DesiredState::Stopped && names.is_empty() {
            report(Restarted::LeftStopped(job.name.clone()));
            continue;
        }
        let result = match job.desired {
            // Brought up paused from the start: a schedule does not fire first.
            DesiredState::Paused => executor.spec(&job.name).and_then(|spec| {
                let options = CreateOptions {
                    desired: DesiredState::Paused,
                    project: job.project.clone(),
                    spec_hash: job.spec_hash.clone(),
                    lease: None,
                };
                executor.replace(&spec, &options).map(|_| ())
            }),
            _ => executor
                .stop(&job.name, &StopOptions::default())
                .and_then(|_| executor.start(&job.name))
                .map(|_| ()),
        };
        report(match result {
            Ok(_) => Restarted::Done(job.name.clone()),
            Err(e) => Restarted::Failed(e),
        });
    }
}

/// `down`'s first step: deletes the project's background watcher job, if there is
/// one, so that it cannot start anything again. Returns what was done, if anything.
pub fn delete_watcher(
    local: &LocalExecutor,
    project: &str,
    purge: bool,
) -> Result<Option<String>, ProjectError> {
    let options = DeleteOptions {
        purge,
        ..DeleteOptions::default()
    };
    let Some(name) = project_watcher(local, project)? else {
        // Gone already (an earlier `down`), its log kept: `-v` removes that too.
        let name = watcher_name(project);
        if purge && local.kept_jobs(None)?.contains(&name) {
            return Ok(Some(local.delete(&name, &options)?.to_string()));
        }
        return Ok(None);
    };
    Ok(Some(local.delete(&name, &options)?.to_string()))
}

/// `down` proper (under the project's locks): deletes the project's jobs on every
/// executor, with `purge` their logs and run history too, and what earlier deletes
/// of the project kept on this machine. `report` hears each result.
pub fn delete_jobs(
    registry: &Registry,
    project: &str,
    purge: bool,
    report: &mut dyn FnMut(Result<String, ProjectError>),
) {
    let options = DeleteOptions {
        purge,
        ..DeleteOptions::default()
    };
    let listing = project_jobs(registry, project, false);
    let unreachable: Vec<String> = listing.unreachable.iter().map(|(l, _)| l.clone()).collect();
    for (label, error) in listing.unreachable {
        report(Err(ProjectError::Unlisted { label, error }));
    }
    // Dependents first (`depends_on`); each wave all at once: the project goes
    // down as fast as its slowest job stops.
    let jobs: Vec<&Found> = listing.jobs.iter().collect();
    let graph = super::order::Graph::new(
        jobs.iter()
            .map(|j| (j.info.name.clone(), j.info.depends_on.clone())),
    );
    let waves = super::order::stop_waves(&jobs, |j| j.info.name.as_str(), &graph);
    for wave in waves {
        let results = crate::parallel::each(&wave, |job| {
            said(
                job.executor.delete(&job.info.name, &options),
                &job.info.executor,
            )
        });
        for result in results {
            report(result);
        }
    }
    if purge {
        let reachable: Vec<(String, Arc<dyn Executor>)> = registry
            .all()
            .into_iter()
            .filter(|(label, _)| !unreachable.contains(label))
            .collect();
        let kept = crate::parallel::each(&reachable, |(_, executor)| {
            executor.kept_jobs(Some(project))
        });
        // Executors of one home (`local` and `slurm`) keep the same data: each
        // name is removed once.
        let mut removed = std::collections::HashSet::new();
        for ((label, executor), kept) in reachable.into_iter().zip(kept) {
            let home = executor.home().unwrap_or_else(|| label.clone());
            match kept {
                Ok(names) => {
                    for name in names {
                        if removed.insert((home.clone(), name.clone())) {
                            report(said(executor.delete(&name, &options), &label));
                        }
                    }
                }
                Err(error) => report(Err(ProjectError::Unlisted { label, error })),
            }
        }
    }
}

/// A verb's result as people read it, saying where when it is not `local`.
fn said(
    result: Result<crate::executor::Outcome, ExecutorError>,
    label: &str,
) -> Result<String, ProjectError> {
    result.map(|o| o.on(label)).map_err(ProjectError::from)
}

/// A plan that deletes more than half of the project's jobs (those the files no
/// longer declare): such a change is held back, since it is more often the wrong
/// file (`-f other.yaml`) or one cut short than meant. The watcher applies it only
/// if the files still say so a moment later; `up` asks first, or needs
/// `--remove-orphans`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeletesMost {
    /// The jobs it deletes.
    pub names: Vec<String>,
    /// How many jobs the project has now.
    pub owned: usize,
}

/// Whether `plan` deletes most of the project's jobs: those found in `actual`,
/// and those declared on an executor that could not be listed (the plan's
/// unreachable steps: they are there, only not seen).
pub fn deletes_most(plan: &super::Plan, actual: &super::Actual) -> Option<DeletesMost> {
    let unseen = plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, super::Action::Unreachable(_)))
        .count();
    let owned = unseen
        + actual
            .jobs
            .iter()
            .filter(|j| j.project.as_deref() == Some(plan.project.as_str()))
            .count();
    let names: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.action == super::Action::Delete)
        .map(|s| s.name.clone())
        .collect();
    (names.len() * 2 > owned).then_some(DeletesMost { names, owned })
}
