//! Many jobs' logs on one screen: every job's lines (or the named ones'), merged by
//! time, and when following, new lines as they come, jobs created later included.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use super::activity::Activity;
use super::follow::{Follower, Grabber};
use super::line::{drain, drain_some, LogLine, Selection};
use super::view::{write_line, Style};
use crate::store::Root;

/// How often the job list is read again while following, at the latest; it is
/// also read whenever the jobs directory changes.
const RESCAN: Duration = Duration::from_secs(1);
/// How long to wait for a change when no job wrote anything, at most (so that
/// `keep_going` is asked at least this often).
const IDLE: Duration = Duration::from_millis(100);

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
    let mut followers: BTreeMap<String, Follower> = names
        .iter()
        .map(|n| {
            let follower = Follower::from_start(&root.log_file(n));
            grabber.watch(&follower);
            (n.clone(), follower)
        })
        .collect();
    let mut width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);

    // What is there already: merged by time, filtered, the last N of each job.
    let mut history: Vec<LogLine> = Vec::new();
    for (name, follower) in &mut followers {
        history.extend(selection.apply(drain(name, follower, &mut buf)));
    }
    history.sort_by(|a, b| a.stamp.cmp(&b.stamp));
    for line in &history {
        write_line(out, line, width, style)?;
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
