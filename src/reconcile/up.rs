//! `up`'s use case in one call: the project's watcher lock (a foreground `up` is
//! the project's watcher), its project lock (ups of one project one after the
//! other), the plan and its confirmation when it deletes most of the project,
//! applying it, and the background watcher of `up -d --watch`. What happens is
//! reported as [`UpEvent`]s, which the command line prints; following the terminal
//! and the logs afterwards (a foreground `up`) is the command line's.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::project::{self, DeletesMost};
use super::watch_lock::{WatchLock, WatchLockError};
use super::{Mode, Outcome};
use crate::executor::{Executor, LocalExecutor, Registry};
use crate::spec::Desired;
use crate::store::ProjectLock;

/// How long `up -d --watch` waits for a watcher on its way out to let go.
const WATCHER_GONE: Duration = Duration::from_secs(2);

/// What `up` is asked to do.
pub struct Up<'a> {
    pub desired: &'a Desired,
    /// The executors, those the files declare included.
    pub registry: &'a Registry,
    /// Where the project's locks and its background watcher live.
    pub local: &'a LocalExecutor,
    /// The files, for the background watcher.
    pub files: &'a [PathBuf],
    /// The project was named (`-p`), not taken from the files' directory.
    pub project_named: bool,
    /// `--remove-orphans`: a plan that deletes most of the project is not asked about.
    pub remove_orphans: bool,
    pub detach: bool,
    pub watch: bool,
}

/// What `up` reports as it goes.
pub enum UpEvent<'a> {
    /// The plan has this many steps (none: the project is up to date).
    Planned { steps: usize },
    /// One step was applied.
    Applied(&'a Outcome),
    /// Nothing had to change.
    UpToDate { jobs: usize },
    /// `up -d --watch`: the background watcher runs as this job.
    Watching { job: String },
}

/// How `up` ended.
pub enum UpEnd {
    /// The plan was applied; `failed` if any step failed. A foreground `up` holds
    /// the project's watcher lock until it is dropped.
    Applied {
        failed: bool,
        watching: Option<WatchLock>,
    },
    /// A plan that deletes most of the project was not confirmed: nothing changed.
    NotConfirmed,
}

/// Why `up` could not begin.
#[derive(Debug, thiserror::Error)]
pub enum UpError {
    /// Another watcher (a foreground `up`, `watch`, `up -d --watch`) has the project.
    #[error("{0}")]
    Watched(#[from] WatchLockError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Project(#[from] project::ProjectError),
    #[error("{0}")]
    Asking(String),
}

/// Converges the machine to `up.desired`. `confirm` decides on a plan that deletes
/// most of the project's jobs (unless `--remove-orphans`); `on` hears what happens.
pub fn up(
    up: &Up<'_>,
    confirm: &dyn Fn(&DeletesMost) -> Result<bool, String>,
    on: &(dyn Fn(UpEvent<'_>) + Sync),
) -> Result<UpEnd, UpError> {
    let project = up.desired.project.as_str();
    let root = up.local.root();
    // One watcher per project, settled before anything is applied.
    let watching = match up.detach {
        false => Some(WatchLock::acquire(root, project, "mrsm up")?),
        true => None,
    };
    // Ups of one project run one after the other, each from its watcher check to
    // its background watcher started (two `up -d --watch` at once: the second keeps
    // the first one's watcher).
    let _project_lock = ProjectLock::acquire(root, project)?;
    if up.detach && up.watch {
        watcher_free(up.local, project)?;
    }
    let actual = super::observe(up.desired, up.registry, Mode::Full);
    let plan = super::decide(up.desired, &actual, Mode::Full);
    if let Some(most) = project::deletes_most(&plan, &actual) {
        if !up.remove_orphans && !confirm(&most).map_err(UpError::Asking)? {
            return Ok(UpEnd::NotConfirmed);
        }
    }
    on(UpEvent::Planned {
        steps: plan.steps.len(),
    });
    let outcomes = super::apply(&plan, up.registry, &|o: &Outcome| on(UpEvent::Applied(o)));
    if plan.is_empty() {
        on(UpEvent::UpToDate {
            jobs: up.desired.jobs.len(),
        });
    }
    if up.detach && up.watch {
        let job = project::ensure_watcher(up.local, up.files, project, up.project_named)?;
        on(UpEvent::Watching { job });
    }
    Ok(UpEnd::Applied {
        failed: outcomes.iter().any(|o| o.result.is_err()),
        watching,
    })
}

/// Before `up -d --watch`: the project's watcher is free, or is its own background
/// job (which is kept).
fn watcher_free(local: &LocalExecutor, project: &str) -> Result<(), UpError> {
    let job_runs = local
        .get(&project::watcher_name(project))
        .is_ok_and(|j| !j.status.is_over());
    if job_runs {
        return Ok(());
    }
    // A watcher that was just stopped or killed may still be on its way out.
    let deadline = Instant::now() + WATCHER_GONE;
    loop {
        match WatchLock::acquire(local.root(), project, "checking") {
            Ok(_) => return Ok(()),
            Err(WatchLockError::Held { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::executor::MemoryExecutor;
    use crate::job::{DesiredState, JobSpec};
    use crate::spec::{spec_hash, DesiredJob};
    use crate::store::Root;

    fn desired(names: &[&str]) -> Desired {
        Desired {
            project: "p".into(),
            jobs: names
                .iter()
                .map(|name| {
                    let spec = JobSpec::new(*name, vec!["sleep 300".into()]);
                    DesiredJob {
                        spec_hash: spec_hash(&spec, "local"),
                        spec,
                        state: DesiredState::Running,
                        executor: "local".into(),
                    }
                })
                .collect(),
            executors: Vec::new(),
        }
    }

    /// `up` of `names` (detached) over a memory executor; what it said, and how it
    /// ended, with `confirm`'s answer to a plan that deletes most of the project.
    fn run(
        memory: &Arc<MemoryExecutor>,
        root: &Root,
        names: &[&str],
        confirm: bool,
    ) -> (Vec<String>, Result<UpEnd, UpError>) {
        let mut registry = Registry::new();
        registry.register("local", memory.clone());
        let local = LocalExecutor::new(root.clone());
        let desired = desired(names);
        let request = Up {
            desired: &desired,
            registry: &registry,
            local: &local,
            files: &[],
            project_named: true,
            remove_orphans: false,
            detach: true,
            watch: false,
        };
        let said = Mutex::new(Vec::new());
        let on = |event: UpEvent<'_>| {
            let line = match event {
                UpEvent::Planned { steps } => format!("planned {steps}"),
                UpEvent::Applied(o) => format!("applied {}", o.result.is_ok()),
                UpEvent::UpToDate { jobs } => format!("up to date {jobs}"),
                UpEvent::Watching { job } => format!("watching {job}"),
            };
            said.lock().expect("lock").push(line);
        };
        let ended = up(&request, &|_| Ok(confirm), &on);
        (said.into_inner().expect("lock"), ended)
    }

    #[test]
    fn up_reports_each_step_then_nothing_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let memory = Arc::new(MemoryExecutor::new("local"));
        let (said, ended) = run(&memory, &root, &["a", "b"], false);
        assert_eq!(said, ["planned 2", "applied true", "applied true"]);
        assert!(matches!(ended, Ok(UpEnd::Applied { failed: false, .. })));
        assert_eq!(memory.names(), ["a", "b"]);
        let (said, _) = run(&memory, &root, &["a", "b"], false);
        assert_eq!(said, ["planned 0", "up to date 2"]);
    }

    #[test]
    fn a_plan_deleting_most_of_the_project_waits_for_a_yes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let memory = Arc::new(MemoryExecutor::new("local"));
        let (_, first) = run(&memory, &root, &["a", "b", "c"], false);
        assert!(first.is_ok());
        let (said, ended) = run(&memory, &root, &["a"], false);
        assert!(said.is_empty(), "{said:?}");
        assert!(matches!(ended, Ok(UpEnd::NotConfirmed)));
        assert_eq!(memory.names(), ["a", "b", "c"], "nothing deleted");
        let (_, ended) = run(&memory, &root, &["a"], true);
        assert!(matches!(ended, Ok(UpEnd::Applied { failed: false, .. })));
        assert_eq!(memory.names(), ["a"]);
    }

    #[test]
    fn a_failed_step_is_reported_and_the_rest_applied() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let memory = Arc::new(MemoryExecutor::new("local"));
        memory
            .refuse_create
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let (said, ended) = run(&memory, &root, &["a"], false);
        assert_eq!(said, ["planned 1", "applied false"]);
        assert!(matches!(ended, Ok(UpEnd::Applied { failed: true, .. })));
    }
}
