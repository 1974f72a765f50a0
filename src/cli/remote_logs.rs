//! The logs of a project's jobs on other executors, beside the local ones: each
//! job followed on a thread of its own by cursor (from its first line, so nothing
//! is shown twice or missed), across the job's restarts and the server's; jobs that
//! appear later, or on an executor that answers only later, are picked up by a
//! look every two seconds. `logs -f` and foreground `up` both use it.

use std::collections::HashSet;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::executor::{list_each, Executor, ExecutorError, Registry, DEFAULT_LABEL};
use crate::logs::{write_line, Cursor, LogLine, Selection, Stream, Style};

/// Where formatted lines go (whole lines, newline included); false: stop.
pub type Printer = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// How often the executors are asked for the project's jobs while following.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// A printer onto a shared output, a line at a time.
pub fn shared_printer(out: Arc<Mutex<Box<dyn Write + Send>>>) -> Printer {
    Arc::new(move |bytes: &[u8]| {
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(bytes).and_then(|()| out.flush()).is_ok()
    })
}

/// Prints a job's lines (and follows them with `follow`). Without `--tail` the
/// log is read from its first line by cursor and `selection` filters it; with
/// it, the last lines come first and following starts at the end.
pub fn show_job(
    executor: &dyn Executor,
    name: &str,
    selection: &Selection,
    style: Style,
    width: usize,
    follow: bool,
    print: &Printer,
) -> Result<(), ExecutorError> {
    let emit = |line: &LogLine| {
        let mut bytes = Vec::new();
        write_line(&mut bytes, line, width, style).is_ok() && print(&bytes)
    };
    let whole = selection.tail.is_none();
    if whole && !follow {
        return print_pages(executor, name, selection, &emit);
    }
    if !whole {
        for line in executor.logs(name, selection)? {
            if !emit(&line) {
                return Ok(());
            }
        }
    }
    if !follow {
        return Ok(());
    }
    let cursor: Cursor = match whole {
        true => 0,
        false => executor
            .read_logs(name, Cursor::MAX, 1)
            .map_or(0, |(_, end)| end),
    };
    let mut on_line = |line: LogLine| !selection.admits(&line) || emit(&line);
    match executor.follow_logs_from(name, cursor, &mut on_line) {
        Err(ExecutorError::Unsupported { .. }) => executor.follow_logs(name, whole, &mut on_line),
        other => other,
    }
}

/// Prints a job's whole log from its oldest kept line, filtered, a page at a time
/// as it comes (so neither side holds more than a page); an executor that cannot
/// read by position gives its lines all at once.
fn print_pages(
    executor: &dyn Executor,
    name: &str,
    selection: &Selection,
    emit: &dyn Fn(&LogLine) -> bool,
) -> Result<(), ExecutorError> {
    let mut cursor: Cursor = 0;
    loop {
        let (page, next) = match executor.read_logs(name, cursor, 1000) {
            Err(ExecutorError::Unsupported { .. }) if cursor == 0 => {
                for line in executor.logs(name, selection)? {
                    if !emit(&line) {
                        break;
                    }
                }
                return Ok(());
            }
            other => other?,
        };
        if page.is_empty() {
            return Ok(());
        }
        // Lines rotated away before the oldest kept one are not news, as locally.
        let skip = usize::from(cursor == 0 && page[0].stream == Stream::Gap);
        for line in page[skip..].iter().filter(|l| selection.admits(l)) {
            if !emit(line) {
                return Ok(());
            }
        }
        cursor = next;
    }
}

/// Shows the project's jobs on every executor whose jobs are not kept in the
/// local root. With `follow` it
/// returns at once and keeps following on its own threads (they end with the
/// process); without, it returns once everything was printed.
pub fn show_project(
    registry: Registry,
    project: String,
    selection: Selection,
    style: Style,
    follow: bool,
    print: Printer,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut followed: HashSet<(String, String)> = HashSet::new();
        let mut warned: HashSet<String> = HashSet::new();
        let mut printing = Vec::new();
        // Jobs kept in the local root (`local`, `slurm`, a server on this very root)
        // are the local multiplexer's: told apart once they answer (asking a silent
        // server where it keeps them first would cost its timeout twice).
        let here = registry.get(DEFAULT_LABEL).ok().and_then(|e| e.home());
        let elsewhere: Vec<(String, Arc<dyn Executor>)> = registry
            .all()
            .into_iter()
            .filter(|(label, _)| label != DEFAULT_LABEL)
            .collect();
        loop {
            // All at once: one executor that does not answer holds up the others'
            // followers by its timeout, once.
            let answers = list_each(&elsewhere, Some(&project));
            for ((label, executor), answer) in elsewhere.iter().zip(answers) {
                let (label, executor) = (label.clone(), executor.clone());
                let jobs = match answer {
                    Ok(_) if here.is_some() && executor.home() == here => continue,
                    Ok(jobs) => {
                        warned.remove(&label);
                        jobs
                    }
                    Err(e) => {
                        if warned.insert(label.clone()) {
                            err!(
                                "warning: the logs of jobs on {label} are not shown until it answers: {}",
                                e.reason()
                            );
                        }
                        continue;
                    }
                };
                for job in jobs
                    .into_iter()
                    .filter(|j| j.project.as_deref() == Some(&project))
                {
                    if !followed.insert((label.clone(), job.name.clone())) {
                        continue;
                    }
                    let (executor, selection, print) =
                        (executor.clone(), selection.clone(), print.clone());
                    let width = job.name.len();
                    printing.push(std::thread::spawn(move || {
                        let shown = show_job(
                            executor.as_ref(),
                            &job.name,
                            &selection,
                            style,
                            width,
                            follow,
                            &print,
                        );
                        if let Err(e) = shown {
                            err!("error: {e}");
                        }
                    }));
                }
            }
            if !follow {
                break;
            }
            std::thread::sleep(LOOK_EVERY);
        }
        for thread in printing {
            let _ = thread.join();
        }
    })
}
