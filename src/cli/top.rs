//! `mrsm top`: the `show jobs` table, live in the terminal (plain ANSI on the
//! alternate screen, raw mode), refreshed every second, with keys to select a job
//! and start, stop or pause it, and a pane with its last log lines. The terminal is
//! given back as it was however `top` ends (a key, an error, a panic).

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};

use super::render::{jobs_table, Fit};
use super::{On, UsageError};
use crate::executor::{Executor, StopOptions};
use crate::job::JobInfo;
use crate::logs::{Selection, PAGE_BYTES};

/// Arguments of `top`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Keys: ↑/↓ (or k/j) select a job · s start · x stop · p pause · \
    l its log (again: hide) · q (or Ctrl-C) quit.\n\
    In scripts use `mrsm show jobs --json` instead."
)]
pub struct Args {
    #[command(flatten)]
    on: On,
    /// How often the table is read again, e.g. 1s or 500ms.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    interval: Duration,
}

/// What a key asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Up,
    Down,
    Start,
    Stop,
    Pause,
    Logs,
    Quit,
    Other,
}

/// The keys in `bytes` (one read's worth), in order.
fn keys(bytes: &[u8]) -> Vec<Key> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let (key, used) = match &bytes[i..] {
            [0x1b, b'[', b'A', ..] => (Key::Up, 3),
            [0x1b, b'[', b'B', ..] => (Key::Down, 3),
            [b'k', ..] => (Key::Up, 1),
            [b'j', ..] => (Key::Down, 1),
            [b's', ..] => (Key::Start, 1),
            [b'x', ..] => (Key::Stop, 1),
            [b'p', ..] => (Key::Pause, 1),
            [b'l', ..] => (Key::Logs, 1),
            [b'q', ..] | [0x03, ..] => (Key::Quit, 1),
            _ => (Key::Other, 1),
        };
        out.push(key);
        i += used;
    }
    out
}

/// The terminal in raw mode on the alternate screen, until dropped.
struct Screen {
    saved: Termios,
}

impl Screen {
    fn enter() -> anyhow::Result<Screen> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd())?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
        print!("\x1b[?1049h\x1b[?25l");
        std::io::stdout().flush()?;
        Ok(Screen { saved })
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        print!("\x1b[?25h\x1b[?1049l");
        let _ = std::io::stdout().flush();
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// What `top` shows besides the table.
struct View {
    /// The selected job's name (kept across refreshes as the list changes).
    selected: Option<String>,
    logs: bool,
    message: String,
}

/// The lines of one frame, each at most `width` characters (colour codes aside).
fn frame(
    jobs: &[JobInfo],
    view: &View,
    label: &str,
    size: (usize, usize),
    log: &[String],
) -> Vec<String> {
    let (width, height) = size;
    let mut lines = vec![format!(
        "mrsm top · {} on {label} · ↑↓ select · s start · x stop · p pause · l log · q quit",
        crate::print::count(jobs.len() as u64, "job")
    )];
    let table = jobs_table(
        jobs,
        false,
        &[],
        Fit {
            width: Some(width.saturating_sub(2)),
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        },
    );
    let mut rows = table.lines();
    if let Some(header) = rows.next() {
        lines.push(format!("  {header}"));
    }
    for (job, row) in jobs.iter().zip(rows) {
        let mark = match view.selected.as_deref() == Some(job.name.as_str()) {
            true => "> ",
            false => "  ",
        };
        lines.push(format!("{mark}{row}"));
    }
    if jobs.is_empty() {
        lines.push("  (no jobs)".to_string());
    }
    lines.push(String::new());
    lines.push(view.message.clone());
    if view.logs {
        let name = view.selected.as_deref().unwrap_or("-");
        lines.push(format!("── log of {name} ──"));
        lines.extend(log.iter().cloned());
    }
    lines.truncate(height);
    lines
        .into_iter()
        .map(|l| match l.contains('\x1b') {
            true => l,
            false => l.chars().take(width).collect(),
        })
        .collect()
}

fn terminal_size() -> (usize, usize) {
    terminal_size::terminal_size_of(std::io::stdout())
        .map_or((80, 24), |(w, h)| (usize::from(w.0), usize::from(h.0)))
}

/// The last lines of `name`'s log that fit under the table.
fn log_lines(executor: &dyn Executor, name: &str, count: usize) -> Vec<String> {
    let selection = Selection {
        tail: Some(count),
        ..Selection::default()
    };
    match executor.tail_logs(name, &selection, PAGE_BYTES) {
        Ok(tail) => tail
            .lines
            .iter()
            .map(|l| {
                let text = l.text();
                let clean: String = text.chars().filter(|c| !c.is_control()).collect();
                format!("{} {} {clean}", l.stamp, l.stream.name())
            })
            .collect(),
        Err(e) => vec![format!("(the log cannot be read: {e})")],
    }
}

/// Runs the verb `key` asks for on the selected job; what to say of it.
fn act(executor: &dyn Executor, key: Key, name: &str) -> String {
    let done = match key {
        Key::Start => executor.start(name),
        Key::Stop => executor.stop(name, &StopOptions::default()),
        Key::Pause => executor.pause(name),
        _ => return String::new(),
    };
    match done {
        Ok(outcome) => outcome.on(executor.label()),
        Err(e) => format!("error: {e}"),
    }
}

/// Moves the selection one job up or down (to the first job when none is).
fn moved(jobs: &[JobInfo], selected: Option<&str>, down: bool) -> Option<String> {
    let at = jobs.iter().position(|j| Some(j.name.as_str()) == selected);
    let next = match (at, down) {
        (None, _) => 0,
        (Some(i), true) => (i + 1).min(jobs.len().saturating_sub(1)),
        (Some(i), false) => i.saturating_sub(1),
    };
    jobs.get(next).map(|j| j.name.clone())
}

/// `mrsm top`.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    if !std::io::stdin().is_terminal() || !std::io::stdout().is_terminal() {
        return Err(UsageError(
            "mrsm top needs a terminal; in scripts use `mrsm show jobs` (or --json)".into(),
        )
        .into());
    }
    let executor = args.on.executor()?;
    let executor = executor.as_ref();
    let _screen = Screen::enter()?;
    let mut view = View {
        selected: None,
        logs: false,
        message: String::new(),
    };
    let mut input = [0u8; 64];
    loop {
        let mut jobs = executor.list(None).unwrap_or_else(|e| {
            view.message = format!("error: cannot list the jobs: {e}");
            Vec::new()
        });
        jobs.sort_by(|a, b| a.name.cmp(&b.name));
        if !jobs.iter().any(|j| Some(&j.name) == view.selected.as_ref()) {
            view.selected = jobs.first().map(|j| j.name.clone());
        }
        let size = terminal_size();
        let log = match (&view.selected, view.logs) {
            (Some(name), true) => {
                log_lines(executor, name, size.1.saturating_sub(jobs.len() + 6).max(1))
            }
            _ => Vec::new(),
        };
        let text = frame(&jobs, &view, executor.label(), size, &log).join("\r\n");
        print!("\x1b[H\x1b[2J{text}");
        std::io::stdout().flush()?;
        // Keys until the next refresh.
        let deadline = Instant::now() + args.interval;
        let mut redraw = false;
        while !redraw {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let stdin = std::io::stdin();
            let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
            let wait = PollTimeout::try_from(left.as_millis().min(60_000) as u64)
                .unwrap_or(PollTimeout::MAX);
            if poll(&mut fds, wait)? == 0 {
                break;
            }
            let n = stdin.lock().read(&mut input)?;
            if n == 0 {
                return Ok(0);
            }
            for key in keys(&input[..n]) {
                match key {
                    Key::Quit => return Ok(0),
                    Key::Up | Key::Down => {
                        view.selected = moved(&jobs, view.selected.as_deref(), key == Key::Down);
                    }
                    Key::Logs => view.logs = !view.logs,
                    Key::Start | Key::Stop | Key::Pause => {
                        if let Some(name) = view.selected.clone() {
                            view.message = act(executor, key, &name);
                        }
                    }
                    Key::Other => continue,
                }
                redraw = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_read_from_one_read_s_bytes() {
        assert_eq!(
            keys(b"\x1b[Bjx\x1b[Aq\x03z"),
            [
                Key::Down,
                Key::Down,
                Key::Stop,
                Key::Up,
                Key::Quit,
                Key::Quit,
                Key::Other
            ]
        );
    }
}
