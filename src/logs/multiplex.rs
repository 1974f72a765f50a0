//! Many jobs' logs on one screen: every job's lines (or the named ones'), merged by
//! time, and when following, new lines as they come, jobs created later included.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use super::follow::Follower;
use super::line::{drain, LogLine, Selection};
use super::view::{write_line, Style};
use crate::store::Root;

/// How often the job list is read again while following.
const RESCAN: Duration = Duration::from_millis(250);
/// How long to wait when no job wrote anything.
const IDLE: Duration = Duration::from_millis(10);

/// Which jobs to show.
pub enum Jobs {
    /// Every job, including ones created while following.
    All,
    /// Only these.
    Named(Vec<String>),
}

/// Prints logs; with `follow`, keeps printing until writing fails (the reader went
/// away) — Ctrl-C ends the process.
pub fn show(
    root: &Root,
    jobs: &Jobs,
    selection: &Selection,
    style: Style,
    follow: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let names = match jobs {
        Jobs::All => root.job_names().unwrap_or_default(),
        Jobs::Named(names) => names.clone(),
    };
    let mut followers: BTreeMap<String, Follower> = names
        .iter()
        .map(|n| (n.clone(), Follower::from_start(&root.log_file(n))))
        .collect();
    let mut width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);

    // What is there already: merged by time, filtered, the last N of each job.
    let mut history: Vec<LogLine> = Vec::new();
    for (name, follower) in followers.iter_mut() {
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
    loop {
        if matches!(jobs, Jobs::All) && last_scan.elapsed() >= RESCAN {
            last_scan = Instant::now();
            for name in root.job_names().unwrap_or_default() {
                if let std::collections::btree_map::Entry::Vacant(slot) = followers.entry(name) {
                    width = width.max(slot.key().chars().count());
                    let follower = Follower::from_start(&root.log_file(slot.key()));
                    slot.insert(follower);
                }
            }
        }
        let mut wrote = false;
        for (name, follower) in followers.iter_mut() {
            for line in drain(name, follower, &mut buf) {
                if live.admits(&line) {
                    write_line(out, &line, width, style)?;
                    wrote = true;
                }
            }
        }
        if wrote {
            out.flush()?;
        } else {
            std::thread::sleep(IDLE);
        }
    }
}
