//! Keeping the machine converged while users edit the spec files: file events are
//! filtered (only our files, in their directories, since editors save by rename) and
//! debounced at the edge; a reload happens only when the content changed; a file that
//! fails to load is reported and changes nothing; and a timer heals drift (a job whose
//! supervisor was killed is started again).

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use super::{apply, describe, plan, Mode, Outcome};
use crate::executor::Executor;
use crate::spec::{self, Desired};

/// Quiet time after the last file event before reloading.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// How often actual state is re-listed to heal drift.
const HEAL_EVERY: Duration = Duration::from_secs(5);

/// What the watcher tells its caller.
pub enum Event<'a> {
    /// The files changed and were applied.
    Applied(&'a [Outcome]),
    /// The files changed but do not load; nothing was changed.
    Invalid(&'a spec::SpecErrors),
    /// Drift was repaired.
    Healed(&'a [Outcome]),
}

/// Prints watcher events for people.
pub fn print_event(event: &Event<'_>) {
    match event {
        Event::Applied(outcomes) | Event::Healed(outcomes) => {
            for o in outcomes.iter() {
                match &o.result {
                    Ok(m) => println!("{m}"),
                    Err(e) => eprintln!("error: {} ({e})", describe(&o.step)),
                }
            }
        }
        Event::Invalid(errors) => {
            eprintln!("{errors}\nnot applied: fix the file and save it again")
        }
    }
}

fn content_hash(files: &[PathBuf]) -> u64 {
    let mut hash = crate::fnv::Fnv::new();
    for f in files {
        hash.write(&std::fs::read(f).unwrap_or_default())
            .write(&[0]);
    }
    hash.finish()
}

/// Watches `files` and reconciles on every change until `keep_going` says no. The
/// first reconcile happens at once.
pub fn watch(
    files: &[PathBuf],
    project: Option<&str>,
    executor: &dyn Executor,
    keep_going: &dyn Fn() -> bool,
    on_event: &dyn Fn(&Event<'_>),
) -> notify::Result<()> {
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event| {
        let _ = tx.send(event);
    })?;
    let dirs: HashSet<PathBuf> = files
        .iter()
        .map(|f| {
            let dir = f
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
        })
        .collect();
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::NonRecursive)?;
    }
    let mut names: HashSet<OsString> = files
        .iter()
        .filter_map(|f| f.file_name().map(Into::into))
        .collect();
    names.insert(".env".into());

    let mut last_hash: Option<u64> = None;
    let mut desired: Option<Desired> = None;
    let mut pending = Some(Instant::now() - DEBOUNCE);
    let mut next_heal = Instant::now() + HEAL_EVERY;
    while keep_going() {
        // Wake when the debounce window closes, or at least every 50 ms to check
        // `keep_going`.
        let wait = pending
            .map(|t| DEBOUNCE.saturating_sub(t.elapsed()))
            .unwrap_or(Duration::from_millis(50))
            .min(Duration::from_millis(50));
        match rx.recv_timeout(wait) {
            Ok(Ok(event)) => {
                let ours = event
                    .paths
                    .iter()
                    .any(|p| p.file_name().is_some_and(|n| names.contains(n)));
                if ours {
                    pending = Some(Instant::now());
                }
            }
            Ok(Err(_)) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if pending.is_some_and(|t| t.elapsed() >= DEBOUNCE) {
            pending = None;
            let hash = content_hash(files);
            if last_hash == Some(hash) {
                continue;
            }
            last_hash = Some(hash);
            match spec::load(files, project) {
                Err(errors) => on_event(&Event::Invalid(&errors)),
                Ok(d) => {
                    if let Ok(actual) = executor.list() {
                        let outcomes =
                            apply(&plan(&d, &actual, executor, Mode::Full), executor, &|_| {});
                        on_event(&Event::Applied(&outcomes));
                    }
                    desired = Some(d);
                }
            }
            next_heal = Instant::now() + HEAL_EVERY;
        }
        if Instant::now() >= next_heal {
            next_heal = Instant::now() + HEAL_EVERY;
            if let (Some(d), Ok(actual)) = (&desired, executor.list()) {
                let healing = plan(d, &actual, executor, Mode::Heal);
                if !healing.is_empty() {
                    let outcomes = apply(&healing, executor, &|_| {});
                    on_event(&Event::Healed(&outcomes));
                }
            }
        }
    }
    drop(watcher);
    Ok(())
}
