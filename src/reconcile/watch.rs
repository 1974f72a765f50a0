//! Keeping the machine converged while users edit the spec files.
//!
//! File events are filtered (only the files the last load read: spec files, `.env`,
//! env files, watched through their directories since editors save by rename) and
//! debounced at the edge; a reload happens only when their content changed. A file
//! that fails to load is reported and changes nothing. A change that would delete
//! more than half of the project's jobs waits [`Timing::settle`] and is re-read
//! first (a save in progress settles). Every apply holds the project lock. A failed
//! step (or a change that could not be applied because the jobs could not be
//! listed) is retried on later heal ticks, backing off; and a timer heals drift (a
//! job whose supervisor was killed is started again).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecursiveMode, Watcher as _};

pub use super::events::{messages, print_event, Event, Message};

use super::events::retried;
use super::{apply, decide, observe, plan, Action, Mode, Outcome, Plan, Step};
use crate::executor::{ExecutorError, Registry};
use crate::spec::{self, Desired};
use crate::store::{ProjectLock, Root, StoreError};

/// How long a failed step waits at most before it is tried again.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// The watcher's clocks. Tests shorten them through the environment (read by
/// [`Timing::from_env`], which only the watcher's command line calls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// Quiet time after the last file event before reloading.
    pub debounce: Duration,
    /// How often actual state is re-listed to heal drift (`MRSM_WATCH_HEAL_EVERY`).
    pub heal_every: Duration,
    /// How long a change that deletes most of the project's jobs waits before the
    /// files are read again and it is applied (`MRSM_WATCH_SETTLE`).
    pub settle: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            debounce: Duration::from_millis(50),
            heal_every: Duration::from_secs(5),
            settle: Duration::from_secs(1),
        }
    }
}

impl Timing {
    /// The defaults, with `MRSM_WATCH_HEAL_EVERY` and `MRSM_WATCH_SETTLE` (durations
    /// such as `500ms`) when set.
    pub fn from_env() -> Result<Timing, WatchError> {
        let mut timing = Timing::default();
        for (name, field) in [
            ("MRSM_WATCH_HEAL_EVERY", &mut timing.heal_every),
            ("MRSM_WATCH_SETTLE", &mut timing.settle),
        ] {
            let Some(value) = std::env::var_os(name) else {
                continue;
            };
            let value = value.to_string_lossy().into_owned();
            match humantime::parse_duration(&value) {
                Ok(d) if !d.is_zero() => *field = d,
                Ok(_) => return Err(WatchError::Setting(name, value, "must be positive".into())),
                Err(e) => return Err(WatchError::Setting(name, value, e.to_string())),
            }
        }
        Ok(timing)
    }
}

/// Why the watcher could not run.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("watching the files: {0}")]
    Notify(#[from] notify::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}={1:?}: {2} (expected a duration such as 500ms)")]
    Setting(&'static str, String, String),
}

/// FNV-1a over each input's path, whether it exists, and its content.
fn content_hash(files: &[PathBuf]) -> u64 {
    let mut hash = crate::fnv::Fnv::new();
    for f in files {
        hash.write(f.as_os_str().as_encoded_bytes()).write(&[0]);
        match std::fs::read(f) {
            Ok(bytes) => hash.write(&[1]).write(&bytes),
            Err(_) => hash.write(&[2]),
        };
    }
    hash.finish()
}

/// Failed work waiting for a later heal tick.
#[derive(Debug)]
struct Retry {
    at: Instant,
    delay: Duration,
    /// A whole change is still to be applied (listing the jobs failed).
    change: bool,
    /// Jobs whose steps failed.
    names: BTreeSet<String>,
}

impl Retry {
    /// After one more failure at `now`: the next try waits twice as long.
    fn after(previous: Option<&Retry>, now: Instant, first: Duration) -> (Instant, Duration) {
        let delay = previous.map_or(first, |r| (r.delay * 2).min(RETRY_MAX).max(first));
        (now + delay, delay)
    }
}

/// Which project a watcher applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watched<'a> {
    /// This one, whatever the files say (`-p NAME`).
    Named(&'a str),
    /// The files' own, which must stay this one: files that come to name another
    /// project are reported and not applied (the project's watcher cannot become
    /// another project's).
    Pinned(&'a str),
}

impl<'a> Watched<'a> {
    /// The project's name.
    pub fn name(self) -> &'a str {
        match self {
            Watched::Named(p) | Watched::Pinned(p) => p,
        }
    }

    /// The project that overrides the files' own when they load.
    fn overriding(self) -> Option<&'a str> {
        match self {
            Watched::Named(p) => Some(p),
            Watched::Pinned(_) => None,
        }
    }
}

/// The watcher's decisions, apart from file events and clocks: reload and apply
/// (`reconcile_files`) and the timer (`tick`). Each takes the time as a parameter.
pub struct Reconciler<'a> {
    files: &'a [PathBuf],
    project: Watched<'a>,
    registry: &'a Registry,
    root: &'a Root,
    timing: Timing,
    on_event: &'a dyn Fn(&Event<'_>),
    /// What the last load read (the spec files until the first load).
    inputs: Vec<PathBuf>,
    /// The content hash of the inputs last handled (applied, or reported invalid).
    seen: Option<u64>,
    /// The last files that loaded.
    desired: Option<Desired>,
    /// A change that deletes most jobs, waiting to be read again.
    deferred: Option<u64>,
    retry: Option<Retry>,
    /// The last load failed: the next one that works says so even if it changes
    /// nothing.
    invalid: bool,
    /// The last files named another project: the next that name this one say so.
    elsewhere: bool,
}

impl<'a> Reconciler<'a> {
    /// A reconciler for `files` of `project`, applying through the executors of
    /// `registry`, taking locks in `root`.
    pub fn new(
        files: &'a [PathBuf],
        project: Watched<'a>,
        registry: &'a Registry,
        root: &'a Root,
        timing: Timing,
        on_event: &'a dyn Fn(&Event<'_>),
    ) -> Reconciler<'a> {
        Reconciler {
            files,
            project,
            registry,
            root,
            timing,
            on_event,
            inputs: files
                .iter()
                .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
                .collect(),
            seen: None,
            desired: None,
            deferred: None,
            retry: None,
            invalid: false,
            elsewhere: false,
        }
    }

    /// Every file the last load read or looked for, absolute.
    pub fn inputs(&self) -> &[PathBuf] {
        &self.inputs
    }

    /// The project of the last files that loaded.
    pub fn project(&self) -> Option<&str> {
        self.desired.as_ref().map(|d| d.project.as_str())
    }

    fn lock(&self, project: &str) -> Result<ProjectLock, StoreError> {
        ProjectLock::acquire(self.root, project)
    }

    /// Reloads the files if their content changed and applies them. Returns when
    /// to look again without a file event (a deferred change).
    pub fn reconcile_files(&mut self, now: Instant) -> Option<Instant> {
        let hash = content_hash(&self.inputs);
        if self.seen == Some(hash) {
            // Back to what was applied: a deferred change was not meant.
            self.deferred = None;
            return None;
        }
        let loaded = spec::load_for(
            self.files,
            self.project.overriding(),
            &self.registry.labels(),
        );
        self.inputs = loaded.inputs;
        let desired = match loaded.result {
            Err(errors) => {
                (self.on_event)(&Event::Invalid(&errors));
                self.invalid = true;
                self.seen = Some(hash);
                // A change that does not load is not retried; failed steps still are.
                if let Some(r) = &mut self.retry {
                    r.change = false;
                }
                self.retry = self.retry.take().filter(|r| !r.names.is_empty());
                return None;
            }
            Ok(d) => d,
        };
        if !loaded.warnings.is_empty() {
            (self.on_event)(&Event::Warnings(&loaded.warnings));
        }
        if desired.project != self.project.name() {
            (self.on_event)(&Event::OtherProject {
                watched: self.project.name(),
                files: &desired.project,
            });
            self.seen = Some(hash);
            self.elsewhere = true;
            return None;
        }
        if std::mem::take(&mut self.elsewhere) {
            (self.on_event)(&Event::ProjectAgain(self.project.name()));
        }
        let _lock = match self.lock(&desired.project) {
            Ok(lock) => lock,
            Err(e) => return self.unlisted(&e.into(), now),
        };
        let registry = super::with_declared(self.registry, &desired.executors);
        let actual = observe(&desired, &registry, Mode::Full);
        let mut plan = decide(&desired, &actual, Mode::Full);
        let most = super::project::deletes_most(&plan, &actual);
        // Jobs on an executor that cannot be listed wait, the whole change with them;
        // everything elsewhere is applied now.
        let unreachable: Vec<Step> = plan
            .steps
            .iter()
            .filter(|s| matches!(s.action, Action::Unreachable(_)))
            .cloned()
            .collect();
        plan.steps
            .retain(|s| !matches!(s.action, Action::Unreachable(_)));
        if let Some(most) = most {
            if self.deferred != Some(hash) {
                self.deferred = Some(hash);
                (self.on_event)(&Event::Deferred {
                    deletes: most.names.len(),
                    owned: most.owned,
                    wait: self.timing.settle,
                });
                return Some(now + self.timing.settle);
            }
        }
        self.deferred = None;
        let outcomes = apply(&plan, &registry, &|_| {});
        if let Some(waiting) = unreachable.first() {
            if !outcomes.is_empty() {
                (self.on_event)(&Event::Applied {
                    outcomes: &outcomes,
                    retry_in: None,
                });
            }
            let error = ExecutorError::Unavailable {
                executor: waiting.executor.clone(),
                message: match &waiting.action {
                    Action::Unreachable(reason) => reason.clone(),
                    _ => String::new(),
                },
            };
            // What was applied is the new files': heals until the retry keep to
            // them, never to the files before (which would bring back what this
            // change deleted or moved).
            self.desired = Some(desired);
            self.invalid = false;
            return self.unlisted(&error, now);
        }
        let failed = self.failed(&outcomes, false, now);
        if !outcomes.is_empty() || self.invalid {
            (self.on_event)(&Event::Applied {
                outcomes: &outcomes,
                retry_in: failed,
            });
        }
        self.invalid = false;
        self.seen = Some(hash);
        self.desired = Some(desired);
        None
    }

    /// Listing failed: the change stays unseen and is tried again later.
    fn unlisted(&mut self, error: &ExecutorError, now: Instant) -> Option<Instant> {
        let (at, delay) = Retry::after(self.retry.as_ref(), now, self.timing.heal_every);
        let names = self.retry.take().map(|r| r.names).unwrap_or_default();
        self.retry = Some(Retry {
            at,
            delay,
            change: true,
            names,
        });
        (self.on_event)(&Event::Unlisted {
            error,
            retry_in: delay,
        });
        None
    }

    /// Remembers the jobs whose steps failed (and clears the retry when none did);
    /// returns when they are tried again.
    fn failed(&mut self, outcomes: &[Outcome], retrying: bool, now: Instant) -> Option<Duration> {
        let names: BTreeSet<String> = outcomes
            .iter()
            .filter(|o| o.result.is_err() && retried(&o.step))
            .map(|o| o.step.name.clone())
            .collect();
        if names.is_empty() {
            self.retry = None;
            return None;
        }
        let previous = self.retry.as_ref().filter(|_| retrying);
        let (at, delay) = Retry::after(previous, now, self.timing.heal_every);
        self.retry = Some(Retry {
            at,
            delay,
            change: false,
            names,
        });
        Some(delay)
    }

    /// The timer: retries what failed once it is due, else heals drift. Returns
    /// when to look at the files again without a file event, like
    /// [`Reconciler::reconcile_files`].
    pub fn tick(&mut self, now: Instant) -> Option<Instant> {
        match &self.retry {
            Some(r) if r.at <= now && r.change => {
                self.seen = None;
                return self.reconcile_files(now);
            }
            Some(r) if r.at <= now => {
                let names = r.names.clone();
                self.retry_steps(&names, now);
            }
            _ => self.heal(),
        }
        None
    }

    /// Runs the full plan again, for the jobs whose steps failed only.
    fn retry_steps(&mut self, names: &BTreeSet<String>, now: Instant) {
        let Some(desired) = self.desired.clone() else {
            return;
        };
        let Ok(_lock) = self.lock(&desired.project) else {
            return;
        };
        let registry = super::with_declared(self.registry, &desired.executors);
        let mut again = plan(&desired, &registry, Mode::Full);
        again.steps.retain(|s| names.contains(&s.name));
        let outcomes = apply(&again, &registry, &|_| {});
        let retry_in = self.failed(&outcomes, true, now);
        if !outcomes.is_empty() {
            (self.on_event)(&Event::Retried {
                outcomes: &outcomes,
                retry_in,
            });
        }
    }

    /// Repairs what broke by itself.
    fn heal(&mut self) {
        let Some(desired) = &self.desired else {
            return;
        };
        let Ok(_lock) = self.lock(&desired.project) else {
            return;
        };
        let registry = super::with_declared(self.registry, &desired.executors);
        let healing: Plan = plan(desired, &registry, Mode::Heal);
        if !healing.is_empty() {
            let outcomes = apply(&healing, &registry, &|_| {});
            (self.on_event)(&Event::Healed(&outcomes));
        }
    }
}

/// The directories holding `inputs`, and those holding the files they are symbolic
/// links to (an edit of a link's target changes the input).
fn directories(inputs: &[PathBuf]) -> HashSet<PathBuf> {
    inputs
        .iter()
        .flat_map(|f| [Some(f.clone()), std::fs::canonicalize(f).ok()])
        .flatten()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect()
}

/// The inputs under every name an event may use: as given, and the files they link to.
fn input_names(inputs: &[PathBuf]) -> HashSet<PathBuf> {
    inputs
        .iter()
        .flat_map(|f| [Some(f.clone()), std::fs::canonicalize(f).ok()])
        .flatten()
        .collect()
}

/// How often a change waiting for a writer is looked at again.
const WRITE_POLL: Duration = Duration::from_millis(50);

/// Whether an event is a writer closing a file.
fn is_close_write(kind: &EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    matches!(
        kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// How long a file that was written to but not closed may keep a change waiting: a
/// generator writing the file slowly (`gen > mrsm-jobs.yaml`) is waited for, so a
/// half-written file that happens to parse is never applied.
const WRITE_SETTLE_MAX: Duration = Duration::from_secs(5);

/// Inputs being written: modified since they were last closed after writing (or
/// replaced by a rename), with the time of the latest modification.
#[derive(Default)]
struct Writers {
    open: HashMap<PathBuf, Instant>,
}

impl Writers {
    /// Takes note of an event on one of our inputs.
    fn note(&mut self, kind: &EventKind, path: &Path, now: Instant) {
        use notify::event::{AccessKind, AccessMode, ModifyKind};
        match kind {
            EventKind::Access(AccessKind::Close(AccessMode::Write))
            | EventKind::Modify(ModifyKind::Name(_))
            | EventKind::Remove(_) => {
                self.open.remove(path);
            }
            EventKind::Modify(ModifyKind::Data(_) | ModifyKind::Any) | EventKind::Create(_) => {
                self.open.insert(path.to_path_buf(), now);
            }
            _ => {}
        }
    }

    /// How much longer to wait for a writer to close its file, if any still writes.
    fn wait(&self, now: Instant) -> Option<Duration> {
        self.open
            .values()
            .map(|last| (*last + WRITE_SETTLE_MAX).saturating_duration_since(now))
            .filter(|left| !left.is_zero())
            .max()
    }
}

/// Watches the spec files (and every file they read) and reconciles on every change
/// until `keep_going` says no. The first reconcile happens at once; then
/// [`Event::Watching`] is sent.
pub fn watch(
    files: &[PathBuf],
    project: Watched<'_>,
    registry: &Registry,
    root: &Root,
    timing: Timing,
    keep_going: &dyn Fn() -> bool,
    on_event: &dyn Fn(&Event<'_>),
) -> Result<(), WatchError> {
    let (tx, rx) = mpsc::channel();
    let mut notifier = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })?;
    let mut reconciler = Reconciler::new(files, project, registry, root, timing, on_event);
    let mut watched: HashSet<PathBuf> = HashSet::new();
    let mut names: HashSet<PathBuf> = HashSet::new();
    let mut watch_new_directories =
        |reconciler: &Reconciler<'_>, names: &mut HashSet<PathBuf>| -> Result<(), WatchError> {
            for dir in directories(reconciler.inputs()) {
                if !watched.contains(&dir) && dir.is_dir() {
                    notifier.watch(&dir, RecursiveMode::NonRecursive)?;
                    watched.insert(dir);
                }
            }
            *names = input_names(reconciler.inputs());
            Ok(())
        };
    let mut writers = Writers::default();
    // Watching starts before the first load, so no edit falls between them.
    watch_new_directories(&reconciler, &mut names)?;
    let mut due = reconciler.reconcile_files(Instant::now());
    watch_new_directories(&reconciler, &mut names)?;
    (on_event)(&Event::Watching {
        project: project.name(),
        inputs: reconciler.inputs(),
    });
    let mut next_heal = Instant::now() + timing.heal_every;
    while keep_going() {
        // Wake when the debounce window closes, or at least every 50 ms to check
        // `keep_going`.
        let wait = due
            .map(|t| t.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::MAX)
            .min(Duration::from_millis(50));
        match rx.recv_timeout(wait) {
            // Reading the files is an event too (access): only changes, and a writer
            // closing the file, count.
            Ok(Ok(event)) if !event.kind.is_access() || is_close_write(&event.kind) => {
                let now = Instant::now();
                let mut ours = false;
                for path in event.paths.iter().filter(|p| names.contains(*p)) {
                    writers.note(&event.kind, path, now);
                    ours = true;
                }
                if ours {
                    due = Some(now + timing.debounce);
                }
            }
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if due.is_some_and(|t| Instant::now() >= t) {
            let now = Instant::now();
            match writers.wait(now) {
                // A file is still being written: its closing is an event of its own.
                Some(left) => due = Some(now + left.min(timing.debounce.max(WRITE_POLL))),
                None => {
                    writers.open.clear();
                    due = reconciler.reconcile_files(now);
                    watch_new_directories(&reconciler, &mut names)?;
                }
            }
        }
        if Instant::now() >= next_heal {
            if let Some(again) = reconciler.tick(Instant::now()) {
                due = Some(due.map_or(again, |d| d.min(again)));
            }
            next_heal = Instant::now() + timing.heal_every;
        }
    }
    Ok(())
}
