//! Foreground `up` after the first apply: the project's logs from the moment `up`
//! began (so the jobs' first lines are shown), the watcher's messages between them,
//! every saved edit applied, until Ctrl-C or SIGTERM; then the jobs are stopped, as
//! compose does.

use std::io::IsTerminal;

use jiff::Timestamp;

use super::console::{Console, Notices};
use super::{interrupt, project_jobs, watch_files, Files};
use crate::executor::{Executor, LocalExecutor, StopOptions};
use crate::logs::multiplex::{self, Jobs};
use crate::logs::{format_stamp, Selection, Style};
use crate::reconcile::watch::{messages, Message};

/// Follows the logs and applies edits until interrupted, then stops the project's
/// jobs. Returns whether stopping failed for any of them.
pub fn follow_and_watch(
    executor: &LocalExecutor,
    files: &Files,
    project: &str,
    began: Timestamp,
) -> anyhow::Result<bool> {
    interrupt::install();
    let (console, notices) = Console::new();
    let watcher = spawn_watcher(files.clone(), notices);
    let terminal = std::io::stdout().is_terminal();
    let color = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // On a terminal, a job's control bytes are shown, not obeyed.
    let style = Style {
        color,
        escape: terminal,
        ..Style::default()
    };
    let selection = Selection {
        since: Some(format_stamp(began)),
        ..Selection::default()
    };
    let shown = multiplex::show(
        executor.root(),
        &Jobs::Project(project.to_string()),
        &selection,
        style,
        true,
        &|| {
            // Between the printer's turns: whole log lines are out, so the
            // watcher's messages go here.
            let _ = console.pump();
            !interrupt::requested()
        },
        &mut &console,
    );
    if let Err(e) = shown {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("error: {e}");
        }
    }
    let _ = watcher.join();
    let _ = console.pump();
    let jobs = project_jobs(executor, project)?;
    eprintln!("stopping {} jobs…", jobs.len());
    let mut failed = false;
    for job in jobs {
        if let Err(e) = executor.stop(&job.name, &StopOptions::default()) {
            eprintln!("error: {e}");
            failed = true;
        }
    }
    Ok(failed)
}

/// The watcher on its own thread, talking only through `notices`.
fn spawn_watcher(files: Files, notices: Notices) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let result = watch_files(&files, &|event| {
            for message in messages(event) {
                notices.send(message);
            }
        });
        if let Err(e) = result {
            notices.send(Message {
                error: true,
                text: format!("error: {e:#}; edits are no longer applied"),
            });
        }
    })
}
