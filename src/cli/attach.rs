//! `mrsm attach job NAME`: the job's output live, this terminal's input to the job,
//! until the job stops; then its result and its exit status. Ctrl-C detaches and
//! leaves the job running.

use std::io::{Read, Write};

use crate::executor::Executor;
use crate::job::{JobName, RunEnd, RunResult};
use crate::logs::{LogLine, Stream};

/// Arguments of `attach job`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The job.
    name: JobName,
    #[command(flatten)]
    on: super::On,
}

/// The exit status that stands for a run's result.
pub(super) fn exit_status(result: Option<&RunResult>) -> i32 {
    match result.map(|r| &r.end) {
        None | Some(RunEnd::Succeeded | RunEnd::NothingToRun) => 0,
        Some(RunEnd::Failed { exit, .. } | RunEnd::Stopped { exit, .. }) => exit.status(),
        Some(RunEnd::NotStarted { .. } | RunEnd::Aborted) => 1,
    }
}

/// Runs `attach job`.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    let name = args.name.to_string();
    let (executor, info) = args.on.executor_of(&name)?;
    if !info.status.is_over() {
        let input_executor = executor.clone();
        let input_name = name.clone();
        // Input goes to the job only once its output is followed, so no answer to
        // it can be written before the follower is in place.
        let mut input = Some(move || forward_input(input_executor.as_ref(), &input_name));
        executor.follow_logs_when_ready(
            &name,
            false,
            &mut || {
                if let Some(forward) = input.take() {
                    std::thread::spawn(forward);
                }
            },
            &mut |line| show(&line).is_ok(),
        )?;
    }
    let info = executor.get(&name)?;
    let result = info.last_result.as_ref();
    match result {
        Some(r) => err!(
            "mrsm: job {name:?} {}: {}",
            if r.ok() { "succeeded" } else { "failed" },
            r.message
        ),
        None => err!("mrsm: job {name:?} is {}", info.status),
    }
    Ok(exit_status(result))
}

/// Shows a line of the job's output as the job wrote it: output on standard output,
/// errors on standard error, a piece of a line without the newline it did not have;
/// lines lost to rotation as a note on standard error.
pub(super) fn show(line: &LogLine) -> std::io::Result<()> {
    let newline: &[u8] = if line.continues { b"" } else { b"\n" };
    match line.stream {
        Stream::Out => {
            let mut out = std::io::stdout().lock();
            out.write_all(&line.line)?;
            out.write_all(newline)?;
            out.flush()
        }
        Stream::Err => {
            let mut err = std::io::stderr().lock();
            err.write_all(&line.line)?;
            err.write_all(newline)
        }
        Stream::Gap => {
            let dropped = line.dropped().unwrap_or_default();
            let lines = crate::print::count(dropped, "line");
            err!("mrsm: {lines} dropped: the log rotated them away before they were shown");
            Ok(())
        }
        Stream::Sys | Stream::Hook => Ok(()),
    }
}

/// Sends what is typed to the job, chunk by chunk, and closes its input at end of
/// file (Ctrl-D).
fn forward_input(executor: &dyn Executor, name: &str) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 4096];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) | Err(_) => {
                let _ = executor.send_input(name, b"", true);
                return;
            }
            Ok(n) => {
                // A step that does not read its input holds this back until it does.
                loop {
                    match executor.send_input(name, &buf[..n], false) {
                        Ok(()) => break,
                        Err(crate::executor::ExecutorError::Busy { .. }) => {
                            std::thread::sleep(std::time::Duration::from_millis(50));
                        }
                        Err(e) => {
                            err!("mrsm: input not sent to job {name:?}: {}", e.reason());
                            return;
                        }
                    }
                }
            }
        }
    }
}
