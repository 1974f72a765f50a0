//! The compose verbs over spec files: `validate`, `diff`, `up`, `down`, `ps`,
//! `restart`, and `watch` (the background watcher `up -d --watch` starts).

mod console;
mod foreground;
mod scale;

pub use scale::{scale, ScaleArgs};

use std::io::IsTerminal;
use std::path::PathBuf;

use jiff::Timestamp;

use super::{interrupt, local_executor, render};
use crate::executor::{LocalExecutor, Registry};
use crate::job::JobInfo;
use crate::reconcile::project::{self, watcher_name, Found, Restarted};
use crate::reconcile::up::{UpEnd, UpError, UpEvent};
use crate::reconcile::watch::{Event, Timing, Watched};
use crate::reconcile::watch_lock::WatchLock;
use crate::reconcile::{self, Mode, Outcome};
use crate::spec::{self, AsWarning, Desired, DEFAULT_FILE};
use crate::store::ProjectLock;

/// Which spec files and project.
#[derive(Debug, Clone, clap::Args)]
pub struct Files {
    /// Spec file; repeat to layer overrides (later files win key by key).
    #[arg(short = 'f', long = "file", value_name = "FILE", default_value = DEFAULT_FILE)]
    files: Vec<PathBuf>,
    /// Project name (default: `project:` in the file, else the file's directory name).
    #[arg(short = 'p', long, value_name = "NAME", value_parser = super::project_name)]
    project: Option<String>,
}

impl Files {
    /// Loads and validates the files, printing warnings (file:line:col) on stderr;
    /// errors are printed by the caller.
    pub fn load(&self) -> Result<Desired, spec::SpecErrors> {
        self.load_scaled(&Default::default())
    }

    /// [`Files::load`] with the copies of some jobs given (`mrsm scale`).
    fn load_scaled(
        &self,
        scale: &std::collections::BTreeMap<String, u32>,
    ) -> Result<Desired, spec::SpecErrors> {
        let known = super::registry()
            .map(|r| r.labels())
            .unwrap_or_else(|_| vec![crate::executor::DEFAULT_LABEL.to_string()]);
        let loaded = spec::load_scaled(&self.files, self.project.as_deref(), &known, scale);
        // Each warning once, however often this command reads the files.
        for warning in &loaded.warnings {
            if crate::print::first_time(&warning.headline()) {
                err!("{}", AsWarning(warning));
            }
        }
        loaded.result
    }
}

/// Arguments of `up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    files: Files,
    /// Apply and return (without it, stay: follow the jobs' logs and apply every
    /// change of the files; Ctrl-C stops the jobs).
    #[arg(short = 'd', long = "detach")]
    detach: bool,
    /// Keep applying every change of the files; with -d, in a background job named
    /// mrsm-watch-PROJECT.
    #[arg(long)]
    watch: bool,
    /// Delete the project's jobs the files no longer declare even when they are
    /// most of its jobs (without it such an `up` asks on a terminal, and is refused
    /// elsewhere; fewer are always deleted).
    #[arg(long)]
    remove_orphans: bool,
}

/// Arguments of `down`.
#[derive(Debug, clap::Args)]
pub struct DownArgs {
    #[command(flatten)]
    files: Files,
    /// Also remove the jobs' logs and run history (compose's volumes); without it
    /// they are kept, and a job declared again under its name continues them.
    #[arg(short = 'v', long = "volumes")]
    volumes: bool,
}

/// Arguments of `ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    #[command(flatten)]
    files: Files,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Never colour statuses (colour is also off when output is not a terminal or
    /// NO_COLOR is set).
    #[arg(long)]
    no_color: bool,
}

/// Arguments of `restart`.
#[derive(Debug, clap::Args)]
pub struct RestartArgs {
    #[command(flatten)]
    files: Files,
    /// Only these of the project's jobs (default: all of them).
    #[arg(value_name = "NAME")]
    names: Vec<String>,
}

/// Loads the spec or prints its errors; `Err` carries the exit status.
fn load_or_report(files: &Files) -> Result<Desired, i32> {
    load_or_report_with(files, &Default::default())
}

/// [`load_or_report`] with the copies of some jobs given (`mrsm scale`).
fn load_or_report_with(
    files: &Files,
    scale: &std::collections::BTreeMap<String, u32>,
) -> Result<Desired, i32> {
    files.load_scaled(scale).map_err(|errors| {
        err!("{errors}");
        1
    })
}

/// `validate`: nothing on success, every error otherwise; warnings are printed but
/// do not change the exit status.
pub fn validate(files: &Files) -> anyhow::Result<i32> {
    Ok(load_or_report(files).err().unwrap_or(0))
}

/// `diff`: the plan; exit 0 when converged, 1 when there are changes, 2 on errors.
pub fn diff(files: &Files) -> anyhow::Result<i32> {
    let desired = match load_or_report(files) {
        Ok(d) => d,
        Err(_) => return Ok(2),
    };
    let registry = crate::reconcile::with_declared(&super::registry()?, &desired.executors);
    let plan = reconcile::plan(&desired, &registry, Mode::Full);
    for step in &plan.steps {
        out!("{}", reconcile::describe(step));
    }
    Ok(i32::from(!plan.is_empty()))
}

fn report(outcome: &Outcome) {
    match &outcome.result {
        Ok(message) => out!("{message}"),
        Err(e) => err!("error: {e}"),
    }
}

/// `up`: one call into the use case ([`reconcile::up`]), whose events are printed
/// here; a foreground `up` then follows the logs and the files until Ctrl-C.
pub fn up(args: &UpArgs) -> anyhow::Result<i32> {
    let began = Timestamp::now();
    let desired = match load_or_report(&args.files) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let executor = local_executor()?;
    let registry = crate::reconcile::with_declared(&super::registry()?, &desired.executors);
    let request = reconcile::up::Up {
        desired: &desired,
        registry: &registry,
        local: &executor,
        files: &args.files.files,
        project_named: args.files.project.is_some(),
        remove_orphans: args.remove_orphans,
        detach: args.detach,
        watch: args.watch,
    };
    let confirm = |most: &project::DeletesMost| {
        orphans_confirmed(&desired.project, most).map_err(|e| e.to_string())
    };
    let (failed, watching) = match converge(&request, &confirm)? {
        Ok(applied) => applied,
        Err(code) => return Ok(code),
    };
    if args.detach {
        return Ok(i32::from(failed));
    }
    let stop_failed =
        foreground::follow_and_watch(&executor, &args.files, &desired.project, began)?;
    drop(watching);
    Ok(i32::from(failed || stop_failed))
}

/// Runs `up`'s use case, its events printed (above a progress bar on a
/// terminal): whether a step failed and the watcher kept, or the exit status it
/// ends with (not confirmed, or watched by another).
fn converge(
    request: &reconcile::up::Up<'_>,
    confirm: &dyn Fn(&project::DeletesMost) -> Result<bool, String>,
) -> anyhow::Result<Result<(bool, Option<WatchLock>), i32>> {
    let bar = std::sync::OnceLock::new();
    let on = |event: UpEvent<'_>| print_up_event(&request.desired.project, &bar, event);
    let ended = reconcile::up::up(request, confirm, &on);
    if let Some(bar) = bar.get() {
        bar.finish_and_clear();
    }
    match ended {
        Ok(UpEnd::Applied { failed, watching }) => Ok(Ok((failed, watching))),
        Ok(UpEnd::NotConfirmed) => Ok(Err(1)),
        Err(UpError::Watched(e)) => {
            err!("error: {e}");
            Ok(Err(1))
        }
        Err(e) => Err(e.into()),
    }
}

/// Prints what `up` reports: each result (above a progress bar on a terminal).
fn print_up_event(
    project: &str,
    bar: &std::sync::OnceLock<indicatif::ProgressBar>,
    event: UpEvent<'_>,
) {
    match event {
        UpEvent::Planned { steps } if steps > 0 && std::io::stdout().is_terminal() => {
            let shown = indicatif::ProgressBar::new(steps as u64).with_style(
                indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            shown.set_message(format!("converging project {project:?}"));
            let _ = bar.set(shown);
        }
        UpEvent::Planned { .. } => {}
        UpEvent::Applied(outcome) => match bar.get() {
            Some(bar) => {
                match &outcome.result {
                    Ok(m) => bar.println(m),
                    Err(e) => bar.println(format!("error: {e}")),
                }
                bar.inc(1);
            }
            None => report(outcome),
        },
        UpEvent::UpToDate { jobs } => out!(
            "project {project:?} is up to date ({})",
            crate::print::count(jobs, "job")
        ),
        UpEvent::Watching { job } => {
            out!("watching the files in job {job:?} (`mrsm logs {job}` shows what it does)")
        }
    }
}

/// Whether to delete most of the project's jobs: asked on a terminal; elsewhere
/// refused, with how to go on.
fn orphans_confirmed(project: &str, most: &project::DeletesMost) -> anyhow::Result<bool> {
    const SHOWN: usize = 10;
    let mut names = most.names[..most.names.len().min(SHOWN)].join(", ");
    if most.names.len() > SHOWN {
        names.push_str(", …");
    }
    let what = format!(
        "deletes {} of project {project:?}'s {} ({names}), which the files no longer declare",
        most.names.len(),
        crate::print::count(most.owned, "job"),
    );
    if std::io::stdin().is_terminal() {
        print!("This {what}: delete them? [y/N] ");
        std::io::Write::flush(&mut std::io::stdout())?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if matches!(answer.trim(), "y" | "Y" | "yes") {
            return Ok(true);
        }
        err!("nothing was changed");
        return Ok(false);
    }
    err!(
        "error: this {what}: nothing was changed. Check the files given (-f), or run `mrsm up --remove-orphans` with them to delete those jobs (`mrsm down` deletes every job of the project)"
    );
    Ok(false)
}

/// The project's watcher lock, or the exit status after saying who holds it.
fn take_watch_lock(executor: &LocalExecutor, project: &str, who: &str) -> Result<WatchLock, i32> {
    WatchLock::acquire(executor.root(), project, who).map_err(|e| {
        err!("error: {e}");
        1
    })
}

/// Applies every change of the files of `project` until SIGINT or SIGTERM, telling
/// `on_event`. Without `-p`, files that come to name another project are reported,
/// not applied.
fn watch_files(files: &Files, project: &str, on_event: &dyn Fn(&Event<'_>)) -> anyhow::Result<()> {
    let executor = local_executor()?;
    let registry = super::registry()?;
    let timing = Timing::from_env()?;
    let watched = match &files.project {
        Some(named) => Watched::Named(named),
        None => Watched::Pinned(project),
    };
    reconcile::watch::watch(
        &files.files,
        watched,
        &registry,
        executor.root(),
        timing,
        &|| !interrupt::requested(),
        on_event,
    )?;
    Ok(())
}

/// `watch` (started by `up -d --watch`): apply every change of the files until
/// stopped; refused while another watcher of the project runs.
pub fn watch(files: &Files) -> anyhow::Result<i32> {
    interrupt::install();
    // The project's watcher job is marked with the project it applies.
    let marked = std::env::var(project::WATCHER_MARK)
        .ok()
        .filter(|_| files.project.is_none());
    let project = match marked.map(Ok).unwrap_or_else(|| project_name(files)) {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let executor = local_executor()?;
    let who = format!("mrsm watch, the job {}", watcher_name(&project));
    let _lock = match take_watch_lock(&executor, &project, &who) {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    watch_files(files, &project, &reconcile::watch::print_event).map(|()| 0)
}

/// The project's jobs on every executor; an executor that cannot be listed is a
/// warning (its jobs are left as they are).
pub(super) fn project_jobs(
    registry: &Registry,
    project: &str,
    broken: bool,
) -> anyhow::Result<Vec<Found>> {
    let listing = project::project_jobs(registry, project, broken);
    for (label, e) in &listing.unreachable {
        err!("warning: executor {label}: cannot list its jobs, left as they are: {e}");
    }
    Ok(listing.jobs)
}

/// The project's name: `-p`, else from the files.
fn project_name(files: &Files) -> Result<String, i32> {
    project_and_executors(files).map(|(project, _)| project)
}

/// The project's name (as [`project_name`]) and the executors its jobs may be on:
/// the settings file's, and those the spec files declare when they can be read.
fn project_and_executors(files: &Files) -> Result<(String, Registry), i32> {
    let registry = super::registry().map_err(|e| {
        err!("error: {e:#}");
        1
    })?;
    match &files.project {
        // Named: the files may be gone; their executors count when they load.
        Some(p) => {
            let declared = files.load().map(|d| d.executors).unwrap_or_default();
            Ok((
                p.clone(),
                crate::reconcile::with_declared(&registry, &declared),
            ))
        }
        None => load_or_report(files).map(|d| {
            (
                d.project,
                crate::reconcile::with_declared(&registry, &d.executors),
            )
        }),
    }
}

/// `down`: stop and delete the project's jobs (with `-v`, their logs and run history
/// too). Refused while a foreground `up` watches the project, since it would create
/// them again.
pub fn down(args: &DownArgs) -> anyhow::Result<i32> {
    let (project, registry) = match project_and_executors(&args.files) {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let executor = local_executor()?;
    let mut code = 0;
    let mut deleted = 0;
    let mut report = |result: Result<String, project::ProjectError>| match result {
        Ok(m) => {
            out!("{m}");
            deleted += 1;
        }
        // A job of that name that is not the watcher is left alone, and said so.
        Err(e @ project::ProjectError::NotTheWatcher { .. }) => {
            err!("warning: {e}");
        }
        Err(e) => {
            err!("error: {e}");
            code = 1;
        }
    };
    // The background watcher goes first, so it cannot start anything again.
    match project::delete_watcher(&executor, &project, args.volumes) {
        Ok(Some(m)) => report(Ok(m)),
        Ok(None) => {}
        Err(e) => report(Err(e)),
    }
    let _watching = match take_watch_lock(&executor, &project, "mrsm down") {
        Ok(lock) => lock,
        Err(code) => return Ok(code),
    };
    let _lock = ProjectLock::acquire(executor.root(), &project)?;
    project::delete_jobs(&registry, &project, args.volumes, &mut report);
    if deleted == 0 && code == 0 {
        out!("No jobs in project {project:?}.");
    }
    Ok(code)
}

/// `ps`: the project's jobs.
pub fn ps(args: &PsArgs) -> anyhow::Result<i32> {
    let (project, registry) = match project_and_executors(&args.files) {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    // A job whose definition cannot be read has no known project: it is shown to
    // every project rather than to none.
    let listing = project::project_jobs(&registry, &project, true);
    let unreachable: Vec<render::Unreachable> = listing
        .unreachable
        .into_iter()
        .map(|(label, e)| (label, e.reason()))
        .collect();
    for (label, reason) in &unreachable {
        err!("warning: executor {label}: cannot list its jobs: {reason}");
    }
    let jobs: Vec<JobInfo> = listing.jobs.into_iter().map(|f| f.info).collect();
    let executors = registry.labels().len() > 1;
    if args.json {
        out!("{}", serde_json::to_string_pretty(&jobs)?);
    } else if jobs.is_empty() && unreachable.is_empty() {
        out!("No jobs in project {project:?}.");
    } else if jobs.is_empty() {
        out!("No jobs in project {project:?} on the executors that answered.");
    } else {
        let fit = render::Fit::stdout(args.no_color);
        out_part!(
            "{}",
            render::jobs_table(&jobs, executors, &unreachable, fit)
        );
    }
    Ok(0)
}

/// `restart`: stop then start the project's jobs (or the named ones).
pub fn restart(args: &RestartArgs) -> anyhow::Result<i32> {
    let (project, registry) = match project_and_executors(&args.files) {
        Ok(found) => found,
        Err(code) => return Ok(code),
    };
    let jobs = project_jobs(&registry, &project, false)?;
    let mut code = 0;
    for name in &args.names {
        if !jobs.iter().any(|j| &j.info.name == name) {
            err!("error: job {name:?} is not a job of project {project:?}");
            code = 1;
        }
    }
    project::restart(&jobs, &args.names, &mut |done| match done {
        Restarted::Done(name) => out!("restarted {name}"),
        Restarted::LeftStopped(name) => out!("{name} is meant to be stopped: left alone"),
        Restarted::Failed(e) => {
            err!("error: {e}");
            code = 1;
        }
    });
    Ok(code)
}

#[cfg(test)]
mod tests {
    use crate::reconcile::project::watcher_name;

    #[test]
    fn watcher_names_are_valid_job_names_whatever_the_project() {
        assert_eq!(watcher_name("demo"), "mrsm-watch-demo");
        let long = "p".repeat(64);
        let other = format!("{}q", "p".repeat(63));
        for project in [&long, &other] {
            let name = watcher_name(project);
            assert!(crate::job::validate_name(&name).is_ok(), "{name}");
        }
        assert_ne!(watcher_name(&long), watcher_name(&other));
    }
}
