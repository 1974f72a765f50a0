//! Many jobs' logs on one screen: every job's lines (or the named ones'), merged by
//! time, and when following, new lines as they come, jobs created later included.
//!
//! What is guaranteed: without `-f`, every line shown is in time order (a k-way
//! merge of the jobs' logs, and of other executors' jobs handed in as [`Batches`]);
//! lines of one stamp keep the order of the jobs' names. With `-f`, the history is
//! merged the same way, then each turn's new lines (what the jobs wrote since the
//! last look, usually a few milliseconds) are printed in time order; a line is never
//! held back to wait for other jobs, so one that is read a turn later than a newer
//! line of another job is printed after it.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::activity::Activity;
use super::follow::{Follower, Grabber};
use super::line::{drain_some, parse_records, LogLine, Selection};
use super::tail::tail_and_follow;
use super::view::{write_line, Style, Width};
use crate::store::Root;

/// How often the job list is read again while following, at the latest; it is
/// also read whenever the jobs directory changes.
const RESCAN: Duration = Duration::from_secs(1);
/// How long to wait for a change when no job wrote anything, at most (so that
/// `keep_going` is asked at least this often).
const IDLE: Duration = Duration::from_millis(100);

/// Bytes of a log read at a time while the logs' history is merged.
const HISTORY_BATCH: usize = 64 * 1024;

/// One job's lines in time order, a batch at a time: each call gives the next
/// lines, and an empty batch means there are no more. How another executor's jobs
/// join the merge.
pub type Batches<'a> = Box<dyn FnMut() -> Vec<LogLine> + 'a>;

/// Which jobs to show.
pub enum Jobs {
    /// Every job, including ones created while following.
    All,
    /// Only these.
    Named(Vec<String>),
    /// The jobs the caller picks by name (a project's, say), including ones created
    /// while following: what a job is lies above the logs.
    Matching(Box<dyn Fn(&str) -> bool>),
}

impl Jobs {
    /// Whether job `name` (not yet shown) is one of these.
    fn includes(&self, name: &str) -> bool {
        match self {
            Jobs::All => true,
            Jobs::Named(names) => names.iter().any(|n| n == name),
            Jobs::Matching(picks) => picks(name),
        }
    }
}

/// Prints logs; with `follow`, keeps printing until `keep_going` says no or writing
/// fails (the reader went away).
pub fn show(
    root: &Root,
    jobs: &Jobs,
    selection: &Selection,
    style: Style,
    follow: bool,
    keep_going: &dyn Fn() -> bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut shown = Multiplexer::open(root, jobs, selection, style, Width::default());
    shown.print_history(Vec::new(), out)?;
    match follow {
        true => shown.follow(keep_going, out),
        false => Ok(()),
    }
}

/// Merges sources of lines, each in time order, into one in time order (the
/// oldest stamp first; lines of one stamp in the order of the sources), reading
/// each a batch at a time so that memory does not grow with the logs.
pub fn merge_by_time(
    mut sources: Vec<Batches<'_>>,
    emit: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut queues: Vec<VecDeque<LogLine>> = sources.iter().map(|_| VecDeque::new()).collect();
    // The oldest line of each source not printed yet.
    let mut next = BinaryHeap::new();
    let mut refill = |i: usize, queue: &mut VecDeque<LogLine>, next: &mut BinaryHeap<_>| {
        if queue.is_empty() {
            queue.extend(sources[i]());
        }
        if let Some(line) = queue.front() {
            next.push(Reverse((line.stamp.clone(), i)));
        }
    };
    for (i, queue) in queues.iter_mut().enumerate() {
        refill(i, queue, &mut next);
    }
    while let Some(Reverse((_, i))) = next.pop() {
        if let Some(line) = queues[i].pop_front() {
            emit(&line)?;
        }
        refill(i, &mut queues[i], &mut next);
    }
    Ok(())
}

/// The root's jobs' logs on one screen: first what they hold (with the lines of
/// jobs elsewhere merged in), then, when following, new lines as they come.
pub struct Multiplexer<'r> {
    root: &'r Root,
    jobs: &'r Jobs,
    selection: Selection,
    style: Style,
    width: Width,
    /// Logs that existed when following began: a job found later with a log of its
    /// own from before (history kept across a delete) is read from its oldest kept
    /// line; any other is new and is read from its very first record, with a gap
    /// reported if rotation took some before it was found.
    existed: HashSet<String>,
    /// Woken by any write, rotation or new job in the logs and jobs directories.
    activity: Arc<Activity>,
    grabber: Grabber,
    followers: BTreeMap<String, Follower>,
    /// With a tail: each job's last lines, read from the end of its log.
    tailed: Vec<LogLine>,
}

impl<'r> Multiplexer<'r> {
    /// Opens the logs of `jobs` (every one there is now): with a tail, each job's
    /// last lines and a follower that goes on from there; without, followers from
    /// the start. Their names widen `width`.
    pub fn open(
        root: &'r Root,
        jobs: &'r Jobs,
        selection: &Selection,
        style: Style,
        width: Width,
    ) -> Self {
        let names: Vec<String> = match jobs {
            Jobs::Named(names) => names.clone(),
            _ => root
                .job_names()
                .unwrap_or_default()
                .into_iter()
                .filter(|n| jobs.includes(n))
                .collect(),
        };
        let existed = std::fs::read_dir(root.logs_dir())
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter_map(|f| f.strip_suffix(".log").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let activity = Activity::watch(&[root.logs_dir(), root.jobs_dir()]);
        let grabber = Grabber::start(activity.clone());
        let mut tailed = Vec::new();
        let mut followers = BTreeMap::new();
        for name in &names {
            let path = root.log_file(name);
            let follower = match selection.tail {
                Some(max) => {
                    let (lines, follower) = tail_and_follow(name, &path, selection, max);
                    tailed.extend(lines);
                    follower
                }
                None => Follower::from_start(&path),
            };
            grabber.watch(&follower);
            followers.insert(name.clone(), follower);
            width.fit(name);
        }
        Multiplexer {
            root,
            jobs,
            selection: selection.clone(),
            style,
            width,
            existed,
            activity,
            grabber,
            followers,
            tailed,
        }
    }

    /// Prints what the logs hold now, merged by time with `beside` (other jobs'
    /// lines, each in order and already filtered; with a tail, their tails).
    pub fn print_history(
        &mut self,
        beside: Vec<Batches<'_>>,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let (width, style) = (self.width.get(), self.style);
        let mut emit = |line: &LogLine| write_line(out, line, width, style);
        if self.selection.tail.is_some() {
            let mut history = std::mem::take(&mut self.tailed);
            for mut batches in beside {
                loop {
                    let batch = batches();
                    if batch.is_empty() {
                        break;
                    }
                    history.extend(batch);
                }
            }
            // Stable: lines of one time stay in the order of the jobs' names.
            history.sort_by(|a, b| a.stamp.cmp(&b.stamp));
            for line in &history {
                emit(line)?;
            }
        } else {
            // One buffer for every log: they are read one at a time.
            let buf = RefCell::new(vec![0u8; HISTORY_BATCH]);
            let selection = &self.selection;
            let mut sources: Vec<Batches<'_>> = Vec::new();
            for (name, follower) in self.followers.iter_mut() {
                let buf = &buf;
                let mut done = false;
                sources.push(Box::new(move || {
                    let mut lines = Vec::new();
                    while lines.is_empty() && !done {
                        let mut bytes = Vec::new();
                        let mut buf = buf.borrow_mut();
                        done = !follower.poll_at_most(&mut bytes, &mut buf, HISTORY_BATCH);
                        lines = parse_records(name, &bytes);
                        lines.retain(|l| selection.admits(l));
                    }
                    lines
                }));
            }
            sources.extend(beside);
            merge_by_time(sources, &mut emit)?;
        }
        out.flush()
    }

    /// Prints new lines as they come, jobs created meanwhile included, until
    /// `keep_going` says no or writing fails. Each turn's lines go out in time order.
    pub fn follow(
        mut self,
        keep_going: &dyn Fn() -> bool,
        out: &mut dyn Write,
    ) -> std::io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let live = Selection {
            tail: None,
            ..self.selection.clone()
        };
        let mut last_scan = Instant::now();
        // Jobs seen and found not to be ours: their definitions are not read again.
        let mut others: HashSet<String> = HashSet::new();
        let dirs = [self.root.jobs_dir(), self.root.logs_dir()];
        let modified = || {
            dirs.iter()
                .map(|d| std::fs::metadata(d).and_then(|m| m.modified()).ok())
                .collect::<Vec<_>>()
        };
        let mut last_modified = modified();
        while keep_going() {
            let mark = self.activity.seen();
            // A new job shows as a change of the jobs or logs directory (its log
            // file is created before it writes anything): noticed within one turn,
            // so a fast job's first log file is opened before it can rotate away.
            let now_modified = modified();
            let periodic = last_scan.elapsed() >= RESCAN;
            if !matches!(self.jobs, Jobs::Named(_)) && (now_modified != last_modified || periodic) {
                if periodic {
                    // A name may have changed hands (deleted, then declared by us).
                    others.clear();
                }
                last_scan = Instant::now();
                last_modified = now_modified;
                self.add_new_jobs(&mut others);
            }
            let mut turn = Vec::new();
            for (name, follower) in &mut self.followers {
                turn.extend(
                    drain_some(name, follower, &mut buf)
                        .into_iter()
                        .filter(|line| live.admits(line)),
                );
            }
            if turn.is_empty() {
                self.activity.wait(mark, IDLE);
                continue;
            }
            // Stable: one job's lines of one time keep their order.
            turn.sort_by(|a, b| a.stamp.cmp(&b.stamp));
            let width = self.width.get();
            for line in &turn {
                write_line(out, line, width, self.style)?;
            }
            out.flush()?;
        }
        Ok(())
    }

    /// Starts following the jobs that appeared since the last look.
    fn add_new_jobs(&mut self, others: &mut HashSet<String>) {
        for name in self.root.job_names().unwrap_or_default() {
            if self.followers.contains_key(&name) || others.contains(&name) {
                continue;
            }
            if !self.jobs.includes(&name) {
                others.insert(name);
                continue;
            }
            self.width.fit(&name);
            let path = self.root.log_file(&name);
            let follower = if self.existed.contains(&name) {
                Follower::from_start(&path)
            } else {
                Follower::from_first_record(&path)
            };
            self.grabber.watch(&follower);
            self.followers.insert(name, follower);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Write as _;

    use super::*;
    use crate::logs::{Record, Stream};

    fn append(root: &Root, job: &str, stamp: &str, text: &str) {
        let mut bytes = Vec::new();
        Record::encode(&mut bytes, stamp, Stream::Out, text.as_bytes(), false);
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(root.log_file(job))
            .expect("log opens");
        file.write_all(&bytes).expect("record written");
    }

    #[test]
    fn lines_that_arrive_together_while_following_are_printed_in_time_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        std::fs::create_dir_all(root.logs_dir()).expect("logs dir");
        std::fs::create_dir_all(root.jobs_dir()).expect("jobs dir");
        for job in ["a", "zz"] {
            append(&root, job, "2024-05-01T12:00:00.000Z", "before");
        }
        let jobs = Jobs::Named(vec!["a".into(), "zz".into()]);
        let turns = Cell::new(0);
        // Both jobs write between two turns of the follower, the later name first.
        let keep_going = || {
            turns.set(turns.get() + 1);
            if turns.get() == 1 {
                append(&root, "a", "2024-05-01T12:00:02.000Z", "newer");
                append(&root, "zz", "2024-05-01T12:00:01.000Z", "older");
            }
            turns.get() < 4
        };
        let mut out = Vec::new();
        show(
            &root,
            &jobs,
            &Selection::default(),
            Style::default(),
            true,
            &keep_going,
            &mut out,
        )
        .expect("shown");
        assert_eq!(
            String::from_utf8_lossy(&out),
            "a   12:00:00 | before\nzz  12:00:00 | before\n\
             zz  12:00:01 | older\na   12:00:02 | newer\n"
        );
    }
}
