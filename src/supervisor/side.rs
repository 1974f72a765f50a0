//! Processes a supervisor runs beside the job's steps (health probes, hooks): each
//! in a process group of its own, marked as the job's (so what it leaves is found
//! with the job's leftovers) and with a mark of its own (`MRSM_SIDE`), dying with
//! the supervisor, its exit collected by the supervisor's reaper and handed over
//! here. When it ends or runs out of time, its group is killed, and then whatever
//! of the job carries its mark (a daemon it started in a session of its own, which
//! the supervisor, a subreaper, still holds).

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncBufReadExt;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};

use super::machine::Exit;
use crate::job::JobSpec;

/// The run number side processes carry: none of a run's.
pub(super) const SIDE: &str = "side";

/// The variable that marks the processes of one side process.
const MARK_VARIABLE: &str = "MRSM_SIDE";

/// Side processes started by this supervisor so far (for their marks).
static STARTED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Where the reaper hands over the exits of side processes, by pid.
#[derive(Default)]
pub(super) struct SideExits(HashMap<i32, oneshot::Sender<Exit>>);

impl SideExits {
    /// Hands `exit` to whoever waits for `pid`; false when `pid` is no side process.
    pub fn exited(&mut self, pid: i32, exit: Exit) -> bool {
        match self.0.remove(&pid) {
            Some(waiter) => {
                let _ = waiter.send(exit);
                true
            }
            None => false,
        }
    }
}

/// A side process started: its group and mark, its exit to come, its output's
/// lines.
pub(super) struct Side {
    group: i32,
    mark: String,
    /// `finish` killed what it left: nothing to look for again.
    finished: bool,
    exit: oneshot::Receiver<Exit>,
    pub lines: mpsc::Receiver<String>,
}

/// How a side process ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum SideEnd {
    Exited(Exit),
    /// Still going at its deadline: killed, with its group.
    TimedOut,
}

/// Kills a side process's group when dropped (the process ended, ran out of time,
/// or what it was for is over).
pub(super) struct GroupGuard(pub i32);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
    }
}

/// The longest output line kept (a probe or hook printing without newlines).
const LINE_LIMIT: usize = 4096;

/// Starts `cmd` for `spec`'s job: its environment and directory, stdout and
/// stderr as one stream of lines, `input` on its stdin (none: nothing to read).
pub(super) fn spawn_side(
    mut cmd: Command,
    spec: &JobSpec,
    input: Option<Vec<u8>>,
    exits: &mut SideExits,
) -> std::io::Result<Side> {
    // Close-on-exec: no other process of the job inherits either end.
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let supervisor = std::process::id() as i32;
    let mark = STARTED
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string();
    // SAFETY: prctl and getppid are async-signal-safe; see `spawn_step`.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(std::io::Error::from)?;
            if nix::unistd::getppid().as_raw() != supervisor {
                return Err(std::io::Error::other("the supervisor is gone"));
            }
            Ok(())
        });
    }
    crate::spawn::unblock_signals(&mut cmd);
    cmd.stdin(match input {
        Some(_) => Stdio::piped(),
        None => Stdio::null(),
    })
    .stdout(Stdio::from(write.try_clone()?))
    .stderr(Stdio::from(write))
    .process_group(0)
    .env_remove(crate::store::proc::SUPERVISOR_VARIABLE)
    .envs(&spec.env)
    .env(crate::store::proc::JOB_VARIABLE, &spec.name)
    // No run's number: not counted as what a run left behind.
    .env(super::steps::RUN_VARIABLE, SIDE)
    .env(MARK_VARIABLE, &mark);
    super::steps::in_job_dir(&mut cmd, spec);
    let mut child = cmd.spawn()?;
    // The command holds the pipe's write end: this end must go, or reading never
    // ends.
    drop(cmd);
    let pid = child.id() as i32;
    let (tx, exit) = oneshot::channel();
    exits.0.insert(pid, tx);
    if let (Some(mut stdin), Some(bytes)) = (child.stdin.take(), input) {
        // Written on a thread: a process that does not read must not hold us.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&bytes);
        });
    }
    let (line_tx, lines) = mpsc::channel(64);
    let receiver = pipe::Receiver::from_owned_fd(read)?;
    tokio::spawn(read_lines(receiver, line_tx));
    Ok(Side {
        group: pid,
        mark,
        finished: false,
        exit,
        lines,
    })
}

/// Hands each line over, cut to [`LINE_LIMIT`] bytes (what a line has beyond it
/// is read and dropped: a process printing without newlines costs no memory), its
/// control characters left out.
async fn read_lines(receiver: pipe::Receiver, lines: mpsc::Sender<String>) {
    let mut reader = tokio::io::BufReader::new(receiver);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let (used, ended) = match reader.fill_buf().await {
            Ok([]) | Err(_) => (0, true),
            Ok(buf) => match memchr::memchr(b'\n', buf) {
                Some(i) => {
                    keep(&mut line, &buf[..i]);
                    (i + 1, false)
                }
                None => {
                    keep(&mut line, buf);
                    (buf.len(), false)
                }
            },
        };
        let complete = used > 0 && reader.buffer().get(used - 1) == Some(&b'\n');
        reader.consume(used);
        if complete || (ended && !line.is_empty()) {
            let text: String = String::from_utf8_lossy(&line)
                .chars()
                .filter(|c| !c.is_control() || *c == '\t')
                .collect();
            line.clear();
            if lines.send(text.trim_end().to_string()).await.is_err() {
                return;
            }
        }
        if ended {
            return;
        }
    }
}

/// Adds `bytes` to `line` up to [`LINE_LIMIT`].
fn keep(line: &mut Vec<u8>, bytes: &[u8]) {
    let room = LINE_LIMIT.saturating_sub(line.len());
    line.extend_from_slice(&bytes[..bytes.len().min(room)]);
}

/// Kills what of the job carries `mark` (nothing of the job's own steps does).
fn kill_marked(mark: &str) -> usize {
    let Some(me) = crate::store::ProcessIdentity::of(std::process::id() as i32) else {
        return 0;
    };
    let marked: Vec<i32> = crate::store::proc::job_processes(me)
        .into_iter()
        .filter(|p| {
            crate::store::proc::environ_var(p.pid, MARK_VARIABLE)
                .is_some_and(|m| m == mark.as_bytes())
        })
        .map(|p| p.pid)
        .collect();
    for pid in &marked {
        let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    marked.len()
}

/// Whatever becomes of it, a side process's group is killed with its handle
/// (a task aborted before it first ran included).
impl Drop for Side {
    fn drop(&mut self) {
        if !self.finished {
            let _ = killpg(Pid::from_raw(self.group), Signal::SIGKILL);
            kill_marked(&self.mark);
        }
    }
}

impl Side {
    /// Waits for the process to end, at most `timeout`; its group is killed then
    /// either way (what it started in the background goes with it).
    pub async fn finish(&mut self, timeout: Duration) -> SideEnd {
        let end = match tokio::time::timeout(timeout, &mut self.exit).await {
            Ok(Ok(exit)) => SideEnd::Exited(exit),
            // The supervisor is going away: said as a timeout, which it is for
            // whoever waited.
            Ok(Err(_)) | Err(_) => SideEnd::TimedOut,
        };
        let _ = killpg(Pid::from_raw(self.group), Signal::SIGKILL);
        // What left the group is handed to the supervisor as its members die,
        // and one that is just starting a program cannot be read for a moment:
        // looked for until two looks in a row find nothing (ten at most).
        let mut quiet = 0;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            quiet = match kill_marked(&self.mark) {
                0 => quiet + 1,
                _ => 0,
            };
            if quiet == 2 {
                break;
            }
        }
        self.finished = true;
        end
    }

    /// Its process group (for a guard held while it runs).
    pub fn group(&self) -> i32 {
        self.group
    }
}
