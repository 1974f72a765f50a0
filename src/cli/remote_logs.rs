//! The logs of jobs on other executors: a project's beside the local ones (`logs`,
//! foreground `up`), or any executor's (`show logs -e LABEL`). Each job's history
//! is read a page at a time by cursor and merged by time with the others'; a
//! follower then goes on from the cursor where it ended (so nothing is shown twice
//! or missed), on a thread of its own, across the job's restarts and the server's.
//! Jobs that appear later, or on an executor that answers only later, are picked up
//! by a look every two seconds.

use std::collections::HashSet;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::executor::{list_each, Executor, ExecutorError, Registry, DEFAULT_LABEL};
use crate::logs::multiplex::Batches;
use crate::logs::{write_line, Cursor, LogLine, Selection, Stream, Style, Width};

/// Where formatted lines go (whole lines, newline included); false: stop.
pub type Printer = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// How often the executors are asked for the project's jobs while following.
const LOOK_EVERY: Duration = Duration::from_secs(2);

/// Lines of a page asked of an executor at a time.
const PAGE_LINES: usize = 1000;

/// A printer onto a shared output, a line at a time.
pub fn shared_printer(out: Arc<Mutex<Box<dyn Write + Send>>>) -> Printer {
    Arc::new(move |bytes: &[u8]| {
        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(bytes).and_then(|()| out.flush()).is_ok()
    })
}

/// A job on another executor whose lines are shown.
#[derive(Clone)]
pub struct Remote {
    /// The executor that runs it, and answers for its log.
    pub executor: Arc<dyn Executor>,
    /// Its name there.
    pub name: String,
}

/// Where a job's history ended: a follower goes on from there (`None`: the
/// executor cannot say, so the follower starts with the lines written from now on).
pub type Resume = Arc<Mutex<Option<Cursor>>>;

/// How lines are shown, and where: shared by every job's thread.
#[derive(Clone)]
pub struct Screen {
    /// Which lines (`--tail`, `--since`, `--output-only`).
    pub selection: Selection,
    /// How they look.
    pub style: Style,
    /// The name width every job's lines share.
    pub width: Width,
    /// Where they go (whole lines).
    pub print: Printer,
    /// Set when a job's lines could not be read (the error is printed).
    pub failed: Arc<AtomicBool>,
}

impl Screen {
    /// Prints one line; false when the output went away.
    pub fn emit(&self, line: &LogLine) -> bool {
        let mut bytes = Vec::new();
        write_line(&mut bytes, line, self.width.get(), self.style).is_ok() && (self.print)(&bytes)
    }

    /// Reports an error about a job's lines.
    fn fail(&self, e: &ExecutorError) {
        err!("error: {e}");
        self.failed.store(true, Ordering::SeqCst);
    }
}

/// A job's history as a source for the merge by time, and where it ends. Without
/// `--tail` the log is read from its first line a page at a time (so neither side
/// holds more than a page) and `selection` filters it; with it, the last lines.
pub fn history(job: &Remote, screen: &Screen) -> (Batches<'static>, Resume) {
    let resume: Resume = Arc::new(Mutex::new(None));
    let (job, screen, end) = (job.clone(), screen.clone(), resume.clone());
    let set_end = move |cursor: Option<Cursor>| {
        *end.lock().unwrap_or_else(|e| e.into_inner()) = cursor;
    };
    if screen.selection.tail.is_some() {
        let mut done = false;
        return (
            Box::new(move || {
                if std::mem::replace(&mut done, true) {
                    return Vec::new();
                }
                let lines = job.executor.logs(&job.name, &screen.selection);
                let end = job.executor.read_logs(&job.name, Cursor::MAX, 1);
                set_end(end.ok().map(|(_, end)| end));
                lines.unwrap_or_else(|e| {
                    screen.fail(&e);
                    Vec::new()
                })
            }),
            resume,
        );
    }
    let mut cursor: Option<Cursor> = Some(0);
    (
        Box::new(move || loop {
            let Some(at) = cursor else {
                return Vec::new();
            };
            let (page, next) = match job.executor.read_logs(&job.name, at, PAGE_LINES) {
                Ok(read) => read,
                // An executor that cannot read by position gives its lines at once.
                Err(ExecutorError::Unsupported { .. }) if at == 0 => {
                    cursor = None;
                    return job
                        .executor
                        .logs(&job.name, &screen.selection)
                        .unwrap_or_else(|e| {
                            screen.fail(&e);
                            Vec::new()
                        });
                }
                Err(e) => {
                    screen.fail(&e);
                    cursor = None;
                    return Vec::new();
                }
            };
            if page.is_empty() {
                cursor = None;
                set_end(Some(at));
                return Vec::new();
            }
            cursor = Some(next);
            // Lines rotated away before the oldest kept one are not news, as locally.
            let skip = usize::from(at == 0 && page[0].stream == Stream::Gap);
            let lines: Vec<LogLine> = page
                .into_iter()
                .skip(skip)
                .filter(|l| screen.selection.admits(l))
                .collect();
            if !lines.is_empty() {
                return lines;
            }
        }),
        resume,
    )
}

/// Follows a job from where its history ended, until the output goes away.
pub fn follow(job: &Remote, resume: Option<Cursor>, screen: &Screen) {
    let mut on_line = |line: LogLine| !screen.selection.admits(&line) || screen.emit(&line);
    let executor = job.executor.as_ref();
    let followed = match resume {
        Some(cursor) => match executor.follow_logs_from(&job.name, cursor, &mut on_line) {
            Err(ExecutorError::Unsupported { .. }) => {
                executor.follow_logs(&job.name, false, &mut on_line)
            }
            other => other,
        },
        None => executor.follow_logs(&job.name, false, &mut on_line),
    };
    if let Err(e) = followed {
        screen.fail(&e);
    }
}

/// Prints a job's history, then follows it with `follow`: a job found while
/// following, whose lines need no merging.
fn show_job(job: &Remote, screen: &Screen, follow_on: bool) {
    let (mut batches, resume) = history(job, screen);
    loop {
        let batch = batches();
        if batch.is_empty() {
            break;
        }
        if !batch.iter().all(|line| screen.emit(line)) {
            return;
        }
    }
    if follow_on {
        let resume = *resume.lock().unwrap_or_else(|e| e.into_inner());
        follow(job, resume, screen);
    }
}

/// An executor under its label.
type Labelled = (String, Arc<dyn Executor>);

/// The executors of `registry` but `local`, and where `local` keeps its jobs: those
/// of an executor that keeps its jobs in the same place (`slurm`, a server on this
/// very root) are the local multiplexer's, told apart once it answers (asking a
/// silent server where it keeps them first would cost its timeout twice).
fn elsewhere(registry: &Registry) -> (Vec<Labelled>, Option<String>) {
    let here = registry.get(DEFAULT_LABEL).ok().and_then(|e| e.home());
    let executors = registry
        .all()
        .into_iter()
        .filter(|(label, _)| label != DEFAULT_LABEL)
        .collect();
    (executors, here)
}

/// The project's jobs on the executors elsewhere (not those of `here`, the local
/// root's); one that cannot be listed is a warning (once: `warned` remembers it
/// until it answers again).
fn list_project(
    executors: &[Labelled],
    here: Option<&str>,
    project: &str,
    warned: &mut HashSet<String>,
) -> Vec<Remote> {
    // All at once: one executor that does not answer holds up the others by its
    // timeout, once.
    let answers = list_each(executors, Some(project));
    let mut found = Vec::new();
    for ((label, executor), answer) in executors.iter().zip(answers) {
        match answer {
            Ok(_) if here.is_some() && executor.home().as_deref() == here => {}
            Ok(jobs) => {
                warned.remove(label);
                found.extend(
                    jobs.into_iter()
                        .filter(|j| j.project.as_deref() == Some(project))
                        .map(|j| Remote {
                            executor: executor.clone(),
                            name: j.name,
                        }),
                );
            }
            Err(e) => {
                if warned.insert(label.clone()) {
                    err!(
                        "warning: the logs of jobs on {label} are not shown until it answers: {}",
                        e.reason()
                    );
                }
            }
        }
    }
    found
}

/// The project's jobs elsewhere as they are now, to merge their history with the
/// local jobs' (their names widen `screen.width`); then [`follow_project`].
pub fn project_now(registry: &Registry, project: &str, screen: &Screen) -> ProjectLogs {
    let (executors, here) = elsewhere(registry);
    let mut warned = HashSet::new();
    let jobs = list_project(&executors, here.as_deref(), project, &mut warned);
    for job in &jobs {
        screen.width.fit(&job.name);
    }
    ProjectLogs {
        executors,
        here,
        project: project.to_string(),
        jobs,
        warned,
    }
}

/// A project's jobs on other executors, found by [`project_now`].
pub struct ProjectLogs {
    executors: Vec<Labelled>,
    /// Where the local root keeps its jobs.
    here: Option<String>,
    project: String,
    /// The jobs found, whose history the caller merges with the local jobs'.
    pub jobs: Vec<Remote>,
    warned: HashSet<String>,
}

/// Follows the project's jobs elsewhere on threads of their own (they end with the
/// process): those of `known` from where their history ended, and every other job
/// (found by [`project_now`] or later) from its first line. Returns at once.
pub fn follow_project(mut logs: ProjectLogs, known: Vec<(Remote, Resume)>, screen: Screen) {
    std::thread::spawn(move || {
        let key = |job: &Remote| (job.executor.label().to_string(), job.name.clone());
        let mut followed: HashSet<(String, String)> = HashSet::new();
        for (job, resume) in known {
            followed.insert(key(&job));
            let screen = screen.clone();
            std::thread::spawn(move || {
                let resume = *resume.lock().unwrap_or_else(|e| e.into_inner());
                follow(&job, resume, &screen);
            });
        }
        let mut found = std::mem::take(&mut logs.jobs);
        loop {
            for job in found {
                if !followed.insert(key(&job)) {
                    continue;
                }
                screen.width.fit(&job.name);
                let screen = screen.clone();
                std::thread::spawn(move || show_job(&job, &screen, true));
            }
            std::thread::sleep(LOOK_EVERY);
            found = list_project(
                &logs.executors,
                logs.here.as_deref(),
                &logs.project,
                &mut logs.warned,
            );
        }
    });
}
