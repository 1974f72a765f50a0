//! Plain-text tables for people: columns padded to their widest cell. On a
//! terminal a table fits the terminal's width (cells cut with `…`, the columns
//! that say the most giving way first; a line is never wrapped) and a job's status
//! is coloured; to a pipe it is printed whole and plain, as scripts expect.

use std::io::IsTerminal;

use jiff::Timestamp;

use crate::job::{JobInfo, JobStatus, RunRecord};

/// The columns that give way shrink to this first, each in turn, before any of
/// them shrinks further.
const COMFORTABLE_COLUMN: usize = 20;
/// Columns never shrink below this, however narrow the terminal (the line is cut
/// instead).
const MIN_COLUMN: usize = 5;

/// How a table is shown: the width to fit, and whether statuses are coloured.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fit {
    /// The terminal's width; `None`: as wide as the cells (not a terminal).
    pub width: Option<usize>,
    /// Colour the statuses (a terminal, without `NO_COLOR` or `--no-color`).
    pub color: bool,
}

impl Fit {
    /// For standard output: on a terminal, its width (the terminal's own, else
    /// `COLUMNS`) and colour (unless `no_color` or `NO_COLOR`); elsewhere neither.
    pub fn stdout(no_color: bool) -> Fit {
        let stdout = std::io::stdout();
        if !stdout.is_terminal() {
            return Fit::default();
        }
        let width = terminal_size::terminal_size_of(&stdout)
            .map(|(w, _)| usize::from(w.0))
            .filter(|&w| w > 0)
            .or_else(|| {
                std::env::var("COLUMNS")
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&w: &usize| w > 0)
            });
        Fit {
            width,
            color: !no_color && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }
}

/// The colour of a status on a terminal (ANSI SGR), none for a stopped job.
fn status_color(status: &str) -> Option<&'static str> {
    // `running (healthy)`: coloured by its first word.
    match status.split(' ').next().unwrap_or_default() {
        "running" => Some("32"),
        "paused" => Some("33"),
        "failed" => Some("31"),
        "broken" | "unreachable" => Some("35"),
        _ => None,
    }
}

/// A table's layout: which columns give way when it is too wide (`give_way`:
/// each in turn down to [`COMFORTABLE_COLUMN`], then the widest of them a
/// character at a time down to [`MIN_COLUMN`]; after them `then`, in order; the
/// others never do), and which column holds statuses (coloured on a terminal).
struct Layout<'a> {
    header: &'a [&'a str],
    give_way: &'a [usize],
    then: &'a [usize],
    status: Option<usize>,
}

/// Column widths that fit `max` as far as the layout lets them.
fn fit_widths(mut widths: Vec<usize>, layout: &Layout<'_>, max: usize) -> Vec<usize> {
    let gaps = 2 * widths.len().saturating_sub(1);
    let excess = |widths: &[usize]| (widths.iter().sum::<usize>() + gaps).saturating_sub(max);
    for &column in layout.give_way {
        let room = widths[column].saturating_sub(COMFORTABLE_COLUMN);
        widths[column] -= room.min(excess(&widths));
    }
    while excess(&widths) > 0 {
        let widest = layout
            .give_way
            .iter()
            .copied()
            .filter(|&c| widths[c] > MIN_COLUMN)
            .max_by_key(|&c| (widths[c], std::cmp::Reverse(c)));
        match widest {
            Some(column) => widths[column] -= 1,
            None => break,
        }
    }
    for &column in layout.then {
        let room = widths[column].saturating_sub(MIN_COLUMN);
        widths[column] -= room.min(excess(&widths));
    }
    widths
}

/// Cuts `line` to `max` characters, with `…` as the last one when it was longer.
fn cut(line: &str, max: usize) -> String {
    match line.chars().count() > max {
        true => shorten(line, max),
        false => line.to_string(),
    }
}

fn table(layout: &Layout<'_>, rows: Vec<Vec<String>>, fit: Fit) -> String {
    let mut widths: Vec<usize> = layout.header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    if let Some(max) = fit.width {
        widths = fit_widths(widths, layout, max);
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>, is_header: bool| {
        let last = cells.len() - 1;
        let mut text = String::new();
        // Where the status is in the line (in characters), to colour it.
        let mut status = None;
        for (i, whole) in cells.iter().enumerate() {
            let cell = cut(whole, widths[i]);
            let start = text.chars().count();
            text.push_str(&cell);
            if Some(i) == layout.status && !is_header {
                status = Some((start, cell.chars().count(), status_color(whole)));
            }
            if i < last {
                text.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        if let Some(max) = fit.width {
            text = cut(text.trim_end(), max);
        }
        match status {
            Some((start, len, Some(color))) if fit.color && start < text.chars().count() => {
                let before: String = text.chars().take(start).collect();
                let painted: String = text.chars().skip(start).take(len).collect();
                let after: String = text.chars().skip(start + len).collect();
                out.push_str(&format!("{before}\x1b[{color}m{painted}\x1b[0m{after}"));
            }
            _ => out.push_str(&text),
        }
        out.push('\n');
    };
    line(layout.header.iter().map(|h| h.to_string()).collect(), true);
    for row in rows {
        line(row, false);
    }
    out
}

fn when(t: Option<Timestamp>) -> String {
    t.map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// How a run ended, in one word.
fn outcome_word(r: &crate::job::RunResult) -> &'static str {
    match (r.ok(), r.stopped()) {
        (true, _) => "ok:",
        (false, true) => "stopped:",
        (false, false) => "failed:",
    }
}

/// An executor that could not be listed: its label and why.
pub type Unreachable = (String, String);

/// The `show jobs` table; with `executors`, a column says where each job runs, and
/// each executor that could not be listed has a warning row.
pub fn jobs_table(
    jobs: &[JobInfo],
    executors: bool,
    unreachable: &[Unreachable],
    fit: Fit,
) -> String {
    let rows = jobs
        .iter()
        .map(|j| {
            let schedule = match (&j.schedule, j.next_fire) {
                (Some(s), Some(next)) => format!("{s} (next {} UTC)", when(Some(next))),
                (Some(s), None) => s.clone(),
                (None, _) => "-".into(),
            };
            let result = match (&j.last_result, j.status, &j.reason) {
                _ if j.warning.is_some() => {
                    format!("warning: {}", j.warning.as_deref().unwrap_or_default())
                }
                (_, JobStatus::Stopped | JobStatus::Failed | JobStatus::Broken, Some(reason)) => {
                    reason.clone()
                }
                (Some(r), _, _) => format!("{} {}", outcome_word(r), r.message),
                (None, _, _) => "-".into(),
            };
            let mut row = vec![j.name.clone()];
            if executors {
                // A systemd job's unit as its manager sees it (`unknown` when no
                // manager answers).
                row.push(match &j.unit {
                    Some(unit) if unit.active.is_empty() => {
                        format!("{} (unit unknown)", j.executor)
                    }
                    Some(unit) => format!("{} ({})", j.executor, unit.active),
                    None => j.executor.clone(),
                });
            }
            row.extend([
                match (&j.health, j.status) {
                    (Some(h), JobStatus::Running) => format!("{} ({})", j.status, h.status),
                    _ => j.status.to_string(),
                },
                match (j.pid, &j.slurm_job) {
                    (Some(p), Some(id)) => format!("{p} slurm:{id}"),
                    (Some(p), None) => p.to_string(),
                    (None, _) => "-".into(),
                },
                when(j.began),
                j.command.join(" + "),
                schedule,
                result,
            ]);
            row
        })
        .collect();
    let mut rows: Vec<Vec<String>> = rows;
    if executors {
        rows.extend(unreachable.iter().map(|(label, why)| {
            let mut row = vec!["-".to_string(), label.clone(), "unreachable".to_string()];
            row.extend(["-", "-", "-", "-"].map(String::from));
            row.push(why.clone());
            row
        }));
    }
    let mut header = vec!["NAME"];
    if executors {
        header.push("EXECUTOR");
    }
    header.extend([
        "STATUS",
        "PID",
        "BEGAN (UTC)",
        "COMMAND",
        "SCHEDULE",
        "LAST RESULT",
    ]);
    // LAST RESULT, COMMAND, then SCHEDULE give way first; then the start time,
    // the executor and the name. The status and the pid are always whole.
    let last = header.len() - 1;
    let give_way = [last, last - 2, last - 1];
    let mut then = vec![last - 3];
    if executors {
        then.push(1);
    }
    then.push(0);
    let layout = Layout {
        header: &header,
        give_way: &give_way,
        then: &then,
        status: Some(usize::from(executors) + 1),
    };
    table(&layout, rows, fit)
}

/// The `show runs` table.
pub fn runs_table(runs: &[RunRecord], fit: Fit) -> String {
    let rows = runs
        .iter()
        .map(|r| {
            vec![
                r.run.to_string(),
                match r.after.as_slice() {
                    [] => format!("{:?}", r.trigger).to_lowercase(),
                    // Which upstream runs triggered it (`after:`).
                    links => {
                        let links: Vec<String> = links
                            .iter()
                            .map(|l| format!("{} #{}", l.job, l.run))
                            .collect();
                        format!("after {}", links.join(", "))
                    }
                },
                when(Some(r.started)),
                when(Some(r.ended)),
                outcome_word(&r.result).trim_end_matches(':').to_string(),
                r.result.message.clone(),
            ]
        })
        .collect();
    let layout = Layout {
        header: &[
            "RUN",
            "TRIGGER",
            "STARTED (UTC)",
            "ENDED (UTC)",
            "OK",
            "RESULT",
        ],
        give_way: &[5],
        then: &[3, 2],
        status: None,
    };
    table(&layout, rows, fit)
}
