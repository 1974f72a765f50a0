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

use crate::job::{split_words, JobSpec};
use crate::logs::{LogWriter, Stream};
use crate::store::ProcessIdentity;

/// The environment variable that carries a step's run number; every process the
/// run starts inherits it, which is how what a run left behind is found.
pub const RUN_VARIABLE: &str = "MRSM_RUN";

/// The shared log of a job.
pub type SharedLog = Arc<Mutex<LogWriter>>;

/// A started step.
pub struct StepChild {
    pub process: ProcessIdentity,
    /// Feeds the step's standard input. The pipe stays open while this is held, so a
    /// step reading its input waits for it (from `attach job`) rather than seeing
    /// end-of-file; dropping it closes the pipe.
    pub stdin: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Second handles on the read ends of the step's output pipes, to tell when its
    /// pumps have read everything the step wrote ([`StepChild::output_drained`]).
    pub outputs: Vec<OwnedFd>,
}

impl StepChild {
    /// Whether nothing the step wrote is waiting in its pipes any more. The pumps run
    /// on the supervisor's own thread and log what they read before they wait again,
    /// so once this holds, everything the step wrote is in the log.
    pub fn output_drained(&self) -> bool {
        self.outputs.iter().all(|fd| unread_bytes(fd) == 0)
    }
}

/// Bytes waiting in a pipe (0 when it cannot be asked).
fn unread_bytes(fd: &OwnedFd) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: nix::libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which is valid.
    let rc = unsafe { nix::libc::ioctl(fd.as_raw_fd(), nix::libc::FIONREAD, &mut n) };
    if rc < 0 {
        0
    } else {
        usize::try_from(n).unwrap_or(0)
    }
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
        let words = split_words(text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let Some((program, args)) = words.split_first() else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the step is empty",
            ));
        };
        let mut c = Command::new(program);
        c.args(args);
        c
    };
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the
    // parent. The step dies with the supervisor (if the supervisor died before this
    // ran, the parent is already someone else and the step gives up).
    let supervisor = std::process::id() as i32;
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            if nix::unistd::getppid().as_raw() != supervisor {
                return Err(std::io::Error::other("the supervisor is gone"));
            }
            Ok(())
        });
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .envs(&spec.env)
        .env("MRSM_JOB", &spec.name)
        .env(RUN_VARIABLE, run.to_string());
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
    let mut outputs = Vec::with_capacity(2);
    for (stream, fd) in [
        (Stream::Out, child.stdout.take().map(OwnedFd::from)),
        (Stream::Err, child.stderr.take().map(OwnedFd::from)),
    ] {
        if let Some(fd) = fd {
            outputs.push(fd.try_clone()?);
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
    Ok((
        StepChild {
            process,
            stdin,
            outputs,
        },
        pumps,
    ))
}

/// Why a step could not start, naming what is missing when that is the reason.
pub fn why_not_started(spec: &JobSpec, text: &str, error: &std::io::Error) -> String {
    if let Some(dir) = spec.cwd.as_ref().filter(|d| !d.is_dir()) {
        return format!("its working directory {} does not exist", dir.display());
    }
    if !spec.shell && error.kind() == std::io::ErrorKind::NotFound {
        let program = split_words(text)
            .ok()
            .and_then(|w| w.into_iter().next())
            .unwrap_or_default();
        return format!("program {program:?} not found (not a path, and not on PATH)");
    }
    error.to_string()
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
