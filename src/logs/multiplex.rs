//! Many jobs' logs on one screen: every job's lines (or the named ones'), merged by
//! time, and when following, new lines as they come, jobs created later included.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::io::Write;
use std::time::{Duration, Instant};

use super::activity::Activity;
use super::follow::{Follower, Grabber};
use super::line::{drain_some, parse_records, LogLine, Selection};
use super::tail::tail_and_follow;
use super::view::{write_line, Style};
use crate::store::Root;

/// How often the job list is read again while following, at the latest; it is
/// also read whenever the jobs directory changes.
const RESCAN: Duration = Duration::from_secs(1);
/// How long to wait for a change when no job wrote anything, at most (so that
/// `keep_going` is asked at least this often).
const IDLE: Duration = Duration::from_millis(100);

/// Bytes of a log read at a time while the logs' history is merged.
const HISTORY_BATCH: usize = 64 * 1024;

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
    let mut buf = vec![0u8; 64 * 1024];
    let names: Vec<String> = match jobs {
        Jobs::Named(names) => names.clone(),
        _ => root
            .job_names()
            .unwrap_or_default()
            .into_iter()
            .filter(|n| jobs.includes(n))
            .collect(),
    };
    // Logs that existed when following began: a job found later with a log of its
    // own from before (history kept across a delete) is read from its oldest kept
    // line; any other is new and is read from its very first record, with a gap
    // reported if rotation took some before it was found.
    let existed: std::collections::HashSet<String> = std::fs::read_dir(root.logs_dir())
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|f| f.strip_suffix(".log").map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    // Woken by any write, rotation or new job in the logs and jobs directories.
    let activity = Activity::watch(&[root.logs_dir(), root.jobs_dir()]);
    let grabber = Grabber::start(activity.clone());
    // With a tail, each job's last lines, read from the end of its log, and a
    // follower that goes on from there; without, followers from the start.
    let mut history: Vec<LogLine> = Vec::new();
    let mut followers: BTreeMap<String, Follower> = BTreeMap::new();
    for name in &names {
        let path = root.log_file(name);
        let follower = match selection.tail {
            Some(max) => {
                let (lines, follower) = tail_and_follow(name, &path, selection, max);
                history.extend(lines);
                follower
            }
            None => Follower::from_start(&path),
        };
        grabber.watch(&follower);
        followers.insert(name.clone(), follower);
    }
    let mut width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);

    // What is there already, merged by time.
    if selection.tail.is_some() {
        history.sort_by(|a, b| a.stamp.cmp(&b.stamp));
        for line in &history {
            write_line(out, line, width, style)?;
        }
    } else {
        print_history(&mut followers, selection, width, style, out)?;
    }
    out.flush()?;
    if !follow {
        return Ok(());
    }
    let live = Selection {
        tail: None,
        ..selection.clone()
    };
    let mut last_scan = Instant::now();
    // Jobs seen and found not to be ours: their definitions are not read again.
    let mut others: std::collections::HashSet<String> = std::collections::HashSet::new();
    let dirs = [root.jobs_dir(), root.logs_dir()];
    let modified = || {
        dirs.iter()
            .map(|d| std::fs::metadata(d).and_then(|m| m.modified()).ok())
            .collect::<Vec<_>>()
    };
    let mut last_modified = modified();
    while keep_going() {
        let mark = activity.seen();
        // A new job shows as a change of the jobs or logs directory (its log file is
        // created before it writes anything): noticed within one turn, so a fast
        // job's first log file is opened before it can rotate away.
        let now_modified = modified();
        let periodic = last_scan.elapsed() >= RESCAN;
        if !matches!(jobs, Jobs::Named(_)) && (now_modified != last_modified || periodic) {
            if periodic {
                // A name may have changed hands (deleted, then declared by us).
                others.clear();
            }
            last_scan = Instant::now();
            last_modified = now_modified;
            for name in root.job_names().unwrap_or_default() {
                if followers.contains_key(&name) || others.contains(&name) {
                    continue;
                }
                if !jobs.includes(&name) {
                    others.insert(name);
                    continue;
                }
                if let std::collections::btree_map::Entry::Vacant(slot) = followers.entry(name) {
                    width = width.max(slot.key().chars().count());
                    let path = root.log_file(slot.key());
                    let follower = if existed.contains(slot.key()) {
                        Follower::from_start(&path)
                    } else {
                        Follower::from_first_record(&path)
                    };
                    grabber.watch(&follower);
                    slot.insert(follower);
                }
            }
        }
        let mut wrote = false;
        for (name, follower) in &mut followers {
            for line in drain_some(name, follower, &mut buf) {
                if live.admits(&line) {
                    write_line(out, &line, width, style)?;
                    wrote = true;
                }
            }
        }
        if wrote {
            out.flush()?;
        } else {
            activity.wait(mark, IDLE);
        }
    }
    Ok(())
}

/// One log's lines read but not printed yet, while the history is merged.
struct Queue<'a> {
    name: &'a str,
    follower: &'a mut Follower,
    lines: VecDeque<LogLine>,
    /// Everything the log held was read.
    done: bool,
}

impl Queue<'_> {
    /// Reads the next batch once the last one is printed.
    fn refill(&mut self, buf: &mut [u8]) {
        while self.lines.is_empty() && !self.done {
            let mut bytes = Vec::new();
            self.done = !self.follower.poll_at_most(&mut bytes, buf, HISTORY_BATCH);
            self.lines.extend(parse_records(self.name, &bytes));
        }
    }
}

/// Prints what the followers' logs hold now, merged by time (lines of one time in
/// the order of the jobs' names), filtered. Each log is read a batch at a time,
/// so the memory this takes does not grow with the logs.
fn print_history(
    followers: &mut BTreeMap<String, Follower>,
    selection: &Selection,
    width: usize,
    style: Style,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; HISTORY_BATCH];
    let mut queues: Vec<Queue<'_>> = followers
        .iter_mut()
        .map(|(name, follower)| Queue {
            name,
            follower,
            lines: VecDeque::new(),
            done: false,
        })
        .collect();
    // The oldest line of each log not printed yet.
    let mut next = BinaryHeap::new();
    for (i, queue) in queues.iter_mut().enumerate() {
        queue.refill(&mut buf);
        if let Some(line) = queue.lines.front() {
            next.push(Reverse((line.stamp.clone(), i)));
        }
    }
    while let Some(Reverse((_, i))) = next.pop() {
        let queue = &mut queues[i];
        if let Some(line) = queue.lines.pop_front() {
            if selection.admits(&line) {
                write_line(out, &line, width, style)?;
            }
        }
        queue.refill(&mut buf);
        if let Some(line) = queue.lines.front() {
            next.push(Reverse((line.stamp.clone(), i)));
        }
    }
    Ok(())
}
