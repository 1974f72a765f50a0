//! Starting one step of a chain as its own process group, and carrying its output
//! into the job's log line by line for as long as anything holds the pipes open.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::job::JobSpec;
use crate::logs::{LogWriter, Stream};
use crate::store::ProcessIdentity;

/// The shared log of a job.
pub type SharedLog = Arc<Mutex<LogWriter>>;

/// A started step.
pub struct StepChild {
    pub process: ProcessIdentity,
    /// Feeds the step's standard input. The pipe stays open while this is held, so a
    /// step reading its input waits for it (from `attach job`) rather than seeing
    /// end-of-file; dropping it closes the pipe.
    pub stdin: Option<mpsc::UnboundedSender<Vec<u8>>>,
}

/// Starts step `text` of `spec` in a new process group, pumping its output to `log`;
/// returns the step and its output pumps.
pub fn spawn_step(
    spec: &JobSpec,
    text: &str,
    run: u64,
    log: &SharedLog,
) -> std::io::Result<(StepChild, Vec<JoinHandle<()>>)> {
    let mut cmd = if spec.shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(text);
        c
    } else {
        let mut words = text.split_whitespace();
        let program = words.next().unwrap_or("true");
        let mut c = Command::new(program);
        c.args(words);
        c
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .envs(&spec.env)
        .env("MRSM_JOB", &spec.name)
        .env("MRSM_RUN", run.to_string());
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let process = ProcessIdentity::of(pid).unwrap_or(ProcessIdentity {
        pid,
        start_ticks: 0,
    });
    let mut pumps = Vec::with_capacity(2);
    for (stream, fd) in [
        (Stream::Out, child.stdout.take().map(OwnedFd::from)),
        (Stream::Err, child.stderr.take().map(OwnedFd::from)),
    ] {
        if let Some(fd) = fd {
            let receiver = pipe::Receiver::from_owned_fd(fd)?;
            pumps.push(tokio::spawn(pump(receiver, stream, log.clone())));
        }
    }
    // The exit status is collected by the supervisor's reaper (waitpid on any child),
    // so the `Child` handle is dropped without waiting.
    let stdin = match child.stdin.take() {
        Some(pipe) => Some(feed_stdin(pipe)?),
        None => None,
    };
    Ok((StepChild { process, stdin }, pumps))
}

/// A task that writes what it is sent to the step's input without ever blocking the
/// supervisor, and closes the pipe when the sender is dropped.
fn feed_stdin(pipe: ChildStdin) -> std::io::Result<mpsc::UnboundedSender<Vec<u8>>> {
    let mut sender = pipe::Sender::from_owned_fd(OwnedFd::from(pipe))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            if sender.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    Ok(tx)
}

/// Reads a pipe until every writer has closed it, writing each completed line as a
/// record stamped when it was read; a last line without a newline is kept too.
async fn pump(mut receiver: pipe::Receiver, stream: Stream, log: SharedLog) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut partial: Vec<u8> = Vec::new();
    loop {
        let n = match receiver.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = Timestamp::now();
        let Ok(mut writer) = log.lock() else { return };
        let mut rest = &buf[..n];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            let line = &rest[..i];
            let result = if partial.is_empty() {
                writer.append(now, stream, line)
            } else {
                partial.extend_from_slice(line);
                let whole = std::mem::take(&mut partial);
                writer.append(now, stream, &whole)
            };
            if result.is_err() {
                return;
            }
            rest = &rest[i + 1..];
        }
        partial.extend_from_slice(rest);
        let _ = writer.flush();
    }
    if !partial.is_empty() {
        if let Ok(mut writer) = log.lock() {
            let _ = writer.append(Timestamp::now(), stream, &partial);
            let _ = writer.flush();
        }
    }
}
