//! Plain-text tables for people: columns padded to their widest cell.

use jiff::Timestamp;

use crate::job::{JobInfo, JobStatus, RunRecord};

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        for (i, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
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
    match (r.ok, r.stopped) {
        (true, _) => "ok:",
        (false, true) => "stopped:",
        (false, false) => "failed:",
    }
}

/// An executor that could not be listed: its label and why.
pub type Unreachable = (String, String);

/// The `show jobs` table; with `executors`, a column says where each job runs, and
/// each executor that could not be listed has a warning row.
pub fn jobs_table(jobs: &[JobInfo], executors: bool, unreachable: &[Unreachable]) -> String {
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
                row.push(j.executor.clone());
            }
            row.extend([
                j.status.to_string(),
                match (j.pid, &j.slurm_job) {
                    (Some(p), Some(id)) => format!("{p} slurm:{id}"),
                    (Some(p), None) => p.to_string(),
                    (None, _) => "-".into(),
                },
                when(j.began),
                shorten(&j.command.join(" + "), 40),
                schedule,
                shorten(&result, 60),
            ]);
            row
        })
        .collect();
    let mut rows: Vec<Vec<String>> = rows;
    if executors {
        rows.extend(unreachable.iter().map(|(label, why)| {
            let mut row = vec!["-".to_string(), label.clone(), "unreachable".to_string()];
            row.extend(["-", "-", "-", "-"].map(String::from));
            row.push(shorten(why, 60));
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
    table(&header, rows)
}

/// The `show runs` table.
pub fn runs_table(runs: &[RunRecord]) -> String {
    let rows = runs
        .iter()
        .map(|r| {
            vec![
                r.run.to_string(),
                format!("{:?}", r.trigger).to_lowercase(),
                when(Some(r.started)),
                when(Some(r.ended)),
                outcome_word(&r.result).trim_end_matches(':').to_string(),
                r.result.message.clone(),
            ]
        })
        .collect();
    table(
        &[
            "RUN",
            "TRIGGER",
            "STARTED (UTC)",
            "ENDED (UTC)",
            "OK",
            "RESULT",
        ],
        rows,
    )
}
