//! Foreground `up` after the first apply: the project's logs from the moment `up`
//! began (so the jobs' first lines are shown), the watcher's messages between them,
//! every saved edit applied, until Ctrl-C or SIGTERM; then the jobs are stopped, as
//! compose does.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use jiff::Timestamp;

use super::console::{Console, Notices};
use super::{interrupt, project_jobs, watch_files, Files};
use crate::cli::remote_logs::{self, Screen};
use crate::executor::{LocalExecutor, StopOptions};
use crate::logs::multiplex::{Jobs, Multiplexer};
use crate::logs::{format_stamp, Selection, Style, Width};
use crate::reconcile::watch::{messages, Message};

/// How long a message about stopping may wait for a blocked stderr.
const TELL_DEADLINE: Duration = Duration::from_secs(1);

/// Follows the logs and applies edits until interrupted, then stops the project's
/// jobs. Returns whether stopping failed for any of them.
///
/// The printer (logs and the watcher's messages) runs on a thread of its own and
/// this one only waits: a reader that stops reading, or a closed output, can block
/// or end the printer but never keeps Ctrl-C or SIGTERM from stopping the jobs.
pub fn follow_and_watch(
    executor: &LocalExecutor,
    files: &Files,
    project: &str,
    began: Timestamp,
) -> anyhow::Result<bool> {
    interrupt::install();
    let (console, notices) = Console::new();
    // One width for the names of the jobs here and elsewhere.
    let width = Width::default();
    follow_remote_jobs(files, project, began, &notices, &width);
    let watcher = spawn_watcher(files.clone(), project.to_string(), notices);
    let printer = spawn_printer(
        executor.root().clone(),
        project.to_string(),
        began,
        console,
        width,
    );
    while !interrupt::requested() && !printer.is_finished() {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The output went away (the printer ended): stop as on Ctrl-C.
    interrupt::raise(nix::sys::signal::Signal::SIGPIPE);
    if printer.is_finished() {
        if let Ok(Err(e)) = printer.join() {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                tell(format!("error: {e}"));
            }
        }
    }
    let _ = watcher.join();
    // Jobs that already finished keep their result: only what runs is stopped.
    // The executors the files declare, if they still read.
    let declared = files.load().map(|d| d.executors).unwrap_or_default();
    let registry = crate::reconcile::with_declared(&crate::cli::registry()?, &declared);
    let found = project_jobs(&registry, project, false)?;
    // Who depends on whom, finished jobs between two running ones included.
    let graph = crate::reconcile::order::Graph::new(
        found
            .iter()
            .map(|j| (j.info.name.clone(), j.info.depends_on.clone())),
    );
    let jobs: Vec<_> = found
        .into_iter()
        .filter(|j| !j.info.status.is_over())
        .collect();
    let count = |n: usize| crate::print::count(n, "job");
    tell(format!("stopping {}…", count(jobs.len())));
    let mut stopped = 0;
    let mut failed = false;
    // Dependents (`depends_on`) first; each wave all at once.
    let all: Vec<_> = jobs.iter().collect();
    let waves = crate::reconcile::order::stop_waves(&all, |j| j.info.name.as_str(), &graph);
    let mut results = Vec::new();
    for wave in waves {
        results.extend(crate::parallel::each(&wave, |job| {
            job.executor.stop(&job.info.name, &StopOptions::default())
        }));
    }
    for result in results {
        match result {
            Ok(_) => stopped += 1,
            Err(e) => {
                tell(format!("error: {e}"));
                failed = true;
            }
        }
    }
    tell(format!("stopped {}", count(stopped)));
    Ok(failed)
}

/// The log printer on its own thread: the project's logs from `began`, and the
/// watcher's messages between its turns.
/// The project's jobs on other executors, their lines handed to the printer
/// through `notices` (which waits rather than drop a line).
fn follow_remote_jobs(
    files: &Files,
    project: &str,
    began: Timestamp,
    notices: &Notices,
    width: &Width,
) {
    let declared = files.load().map(|d| d.executors).unwrap_or_default();
    let Ok(registry) = crate::cli::registry() else {
        return;
    };
    let registry = crate::reconcile::with_declared(&registry, &declared);
    if registry.labels().len() < 2 {
        return;
    }
    let notices = notices.clone();
    let screen = Screen {
        selection: Selection {
            since: Some(format_stamp(began)),
            ..Selection::default()
        },
        style: style(),
        width: width.clone(),
        print: std::sync::Arc::new(move |bytes: &[u8]| notices.line(bytes)),
        failed: Default::default(),
    };
    let project = project.to_string();
    // Listed on a thread of its own: an executor that does not answer holds up
    // nothing here.
    std::thread::spawn(move || {
        let found = remote_logs::project_now(&registry, &project, &screen);
        remote_logs::follow_project(found, Vec::new(), screen);
    });
}

/// How the printer shows lines: colours on a terminal (unless NO_COLOR), and a
/// job's control bytes shown, not obeyed.
fn style() -> Style {
    let terminal = std::io::stdout().is_terminal();
    let color = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    Style {
        color,
        escape: terminal,
        ..Style::default()
    }
}

fn spawn_printer(
    root: crate::store::Root,
    project: String,
    began: Timestamp,
    console: Console,
    width: Width,
) -> std::thread::JoinHandle<std::io::Result<()>> {
    std::thread::spawn(move || {
        let selection = Selection {
            since: Some(format_stamp(began)),
            ..Selection::default()
        };
        let jobs: Jobs = crate::cli::logs::project_jobs(
            crate::executor::LocalExecutor::new(root.clone()),
            project,
        );
        let mut mux = Multiplexer::open(&root, &jobs, &selection, style(), width);
        let shown = mux.print_history(Vec::new(), &mut &console).and_then(|()| {
            mux.follow(
                &|| {
                    // Between the printer's turns: whole log lines are out, so the
                    // watcher's messages go here.
                    console.pump().is_ok() && !interrupt::requested()
                },
                &mut &console,
            )
        });
        let _ = console.pump();
        shown
    })
}

/// Writes a line to stderr without ever blocking for long or failing: a reader
/// that went away or stopped reading must not keep the jobs from being stopped.
fn tell(text: String) {
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = writeln!(std::io::stderr(), "{text}");
        let _ = done.send(());
    });
    let _ = wait.recv_timeout(TELL_DEADLINE);
}

/// The watcher on its own thread, talking only through `notices`.
fn spawn_watcher(files: Files, project: String, notices: Notices) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let result = watch_files(&files, &project, &|event| {
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
