//! Processes as /proc shows them: recognising a recorded process again, and finding
//! every process that belongs to a job.

use std::collections::HashMap;
use std::os::fd::{AsFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A process, identified beyond its pid: the kernel's start time (clock ticks since
/// boot) tells a live process from a later one that reused the pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_ticks: u64,
}

/// The fields of `/proc/PID/stat` that mrsm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: i32,
    pub state: char,
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub start_ticks: u64,
}

impl ProcStat {
    /// Reads one process's stat line; `None` when it does not exist.
    pub fn read(pid: i32) -> Option<ProcStat> {
        use std::io::Read;
        // One read: a stat line is a few hundred bytes (a 15-byte name at most), and
        // listing a thousand jobs reads one per job.
        let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
        let mut buf = [0u8; 1024];
        let n = file.read(&mut buf).ok()?;
        ProcStat::parse(pid, std::str::from_utf8(&buf[..n]).ok()?)
    }

    /// Parses a stat line. The command name may contain spaces and parentheses, so
    /// fields are counted from the last `)`.
    pub fn parse(pid: i32, text: &str) -> Option<ProcStat> {
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // fields[0] is field 3 (state); starttime is field 22.
        Some(ProcStat {
            pid,
            state: fields.first()?.chars().next()?,
            ppid: fields.get(1)?.parse().ok()?,
            pgrp: fields.get(2)?.parse().ok()?,
            session: fields.get(3)?.parse().ok()?,
            start_ticks: fields.get(19)?.parse().ok()?,
        })
    }

    /// Whether it has exited (a zombie waiting to be reaped counts as gone).
    pub fn is_gone(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }

    /// Its identity.
    pub fn identity(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.pid,
            start_ticks: self.start_ticks,
        }
    }
}

impl ProcessIdentity {
    /// The identity of a live process.
    pub fn of(pid: i32) -> Option<ProcessIdentity> {
        ProcStat::read(pid)
            .filter(|s| !s.is_gone())
            .map(|s| s.identity())
    }

    /// This process.
    pub fn current() -> Option<ProcessIdentity> {
        ProcessIdentity::of(std::process::id() as i32)
    }

    /// Whether a process with this pid exists (zombies included), without checking
    /// that it is this very process: for a supervisor's own child, whose pid cannot
    /// be reused before the supervisor has reaped it and said so.
    pub fn pid_exists(&self) -> bool {
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), None) {
            Ok(()) | Err(nix::errno::Errno::EPERM) => true,
            Err(_) => false,
        }
    }

    /// Waits until this process has exited, at most `timeout`; whether it has. Woken
    /// by the kernel (a pidfd) where it can, else by looking every 2 ms.
    pub fn wait_gone(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
        let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, self.pid, 0) };
        if fd >= 0 {
            // SAFETY: the descriptor was just returned to us and is owned here.
            let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
            // Opened by pid: it is this process only if that is still alive now.
            if !self.is_alive() {
                return true;
            }
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let mut fds = [nix::poll::PollFd::new(
                    pidfd.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
                match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)) {
                    Ok(0) if left.is_zero() => return !self.is_alive(),
                    Ok(0) => continue,
                    Ok(_) => return true,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                }
            }
        }
        loop {
            if !self.is_alive() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether this very process is still running (not a pid reused since).
    pub fn is_alive(&self) -> bool {
        ProcStat::read(self.pid).is_some_and(|s| !s.is_gone() && s.start_ticks == self.start_ticks)
    }
}

/// Every live process on the machine.
pub fn all_processes() -> Vec<ProcStat> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter_map(ProcStat::read)
        .filter(|s| !s.is_gone())
        .collect()
}

/// The direct children of a process, from `/proc/PID/task/*/children`; `None` when
/// the kernel does not offer that file.
fn children_of(pid: i32) -> Option<Vec<i32>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut children = Vec::new();
    for task in tasks.filter_map(|t| t.ok()) {
        let text = std::fs::read_to_string(task.path().join("children")).ok()?;
        children.extend(
            text.split_whitespace()
                .filter_map(|c| c.parse::<i32>().ok()),
        );
    }
    Some(children)
}

/// Set in the environment of every step to the job's name: with the root
/// (`MRSM_ROOT_DIR`), how a dead supervisor's leftovers are recognised.
pub const JOB_VARIABLE: &str = "MRSM_JOB";

/// Set in the environment of every supervisor mrsm launches, to the job's name. A
/// supervisor launched from inside another job (the background watcher, `mrsm serve`
/// run as a job, a step that runs `mrsm run -d`) is that job's descendant, yet none
/// of its processes: a walk of a job's process tree stops at it, so stopping the
/// launching job never stops the jobs it launched.
pub const SUPERVISOR_VARIABLE: &str = "MRSM_SUPERVISOR";

/// Whether a process is the supervisor of a job of its own (a session leader that
/// mrsm launched as one), and so, with everything below it, no part of the job whose
/// tree it is found in.
fn supervises_another_job(p: &ProcStat) -> bool {
    p.session == p.pid && environ_var(p.pid, SUPERVISOR_VARIABLE).is_some()
}

/// Every descendant of a live process, walking the children lists (no scan of all
/// of /proc) and leaving out other jobs' supervisors with their processes; `None`
/// when the kernel does not list children.
fn descendants(pid: i32) -> Option<Vec<ProcStat>> {
    let mut found = Vec::new();
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        for child in children_of(p)? {
            match ProcStat::read(child) {
                Some(stat) if supervises_another_job(&stat) => continue,
                Some(stat) if !stat.is_gone() => found.push(stat),
                _ => {}
            }
            stack.push(child);
        }
    }
    Some(found)
}

/// The processes of a job whose supervisor is `supervisor` (a session leader): all
/// live processes in its session, plus its descendants that left the session (daemons
/// that called `setsid` are reparented to the supervisor, a child subreaper). The
/// supervisor itself is not included, nor are the supervisors of other jobs that the
/// job launched, with their processes. Works after the supervisor died too: its
/// session's members are then recognised by having started after it.
pub fn job_processes(supervisor: ProcessIdentity) -> Vec<ProcStat> {
    // Asked by the supervisor itself: with no child at all, it has no descendant,
    // and so (a subreaper) nothing of its job is left, known without reading /proc.
    if supervisor.pid == std::process::id() as i32 && childless() {
        return Vec::new();
    }
    let alive = supervisor.is_alive();
    // A live supervisor is a child subreaper: every process of its session is one of
    // its descendants, which are found without reading every process on the machine.
    if alive {
        if let Some(found) = descendants(supervisor.pid) {
            return found;
        }
    }
    let procs = all_processes();
    // A dead supervisor's pid may have been reused by another session leader; then the
    // session is not ours any more.
    if !alive {
        let reused = procs
            .iter()
            .any(|p| p.pid == supervisor.pid && p.session == supervisor.pid);
        if reused {
            return Vec::new();
        }
    }
    let children: HashMap<i32, Vec<i32>> = procs.iter().fold(HashMap::new(), |mut map, p| {
        map.entry(p.ppid).or_default().push(p.pid);
        map
    });
    let by_pid: HashMap<i32, &ProcStat> = procs.iter().map(|p| (p.pid, p)).collect();
    let mut ours: Vec<i32> = Vec::new();
    if alive {
        let mut stack = vec![supervisor.pid];
        while let Some(pid) = stack.pop() {
            for &child in children.get(&pid).into_iter().flatten() {
                if by_pid
                    .get(&child)
                    .is_some_and(|p| supervises_another_job(p))
                {
                    continue;
                }
                ours.push(child);
                stack.push(child);
            }
        }
    }
    procs
        .into_iter()
        .filter(|p| p.pid != supervisor.pid)
        .filter(|p| {
            ours.contains(&p.pid)
                || (p.session == supervisor.pid && p.start_ticks >= supervisor.start_ticks)
        })
        .collect()
}

/// The processes of job `job` whose supervisor is `supervisor`: its
/// [`job_processes`] less those that carry another job's name (what another job's
/// killed supervisor left, handed to this supervisor as subreaper, is that job's
/// to clean up, never this one's).
pub fn own_processes(supervisor: ProcessIdentity, job: &str) -> Vec<ProcStat> {
    job_processes(supervisor)
        .into_iter()
        .filter(|p| environ_var(p.pid, JOB_VARIABLE).is_none_or(|v| v == job.as_bytes()))
        .collect()
}

/// Whether this process has no child, running, stopped or unreaped. Every
/// descendant of a child subreaper has an ancestor among its children, so a
/// childless supervisor has no process of its job left.
pub fn childless() -> bool {
    use nix::sys::wait::{waitid, Id, WaitPidFlag};
    let flags = WaitPidFlag::WEXITED
        | WaitPidFlag::WSTOPPED
        | WaitPidFlag::WCONTINUED
        | WaitPidFlag::WNOHANG
        | WaitPidFlag::WNOWAIT;
    matches!(waitid(Id::All, flags), Err(nix::errno::Errno::ECHILD))
}

/// What a job left running: for a live supervisor, its processes
/// ([`job_processes`]); for a dead one, the members of its session and, since a
/// daemon may have left the session and been handed to another parent, every process
/// started after it whose environment names the job (`MRSM_JOB`) under this root
/// (`MRSM_ROOT_DIR`). This process is never included.
pub fn leftovers(supervisor: ProcessIdentity, root: &Path, job: &str) -> Vec<ProcStat> {
    let mut found = job_processes(supervisor);
    if supervisor.is_alive() {
        return found;
    }
    let me = std::process::id() as i32;
    for p in all_processes() {
        if p.pid == me
            || p.start_ticks < supervisor.start_ticks
            || found.iter().any(|f| f.pid == p.pid)
        {
            continue;
        }
        let tagged = environ_var(p.pid, JOB_VARIABLE).is_some_and(|v| v == job.as_bytes())
            && environ_var(p.pid, "MRSM_ROOT_DIR")
                .is_some_and(|v| Path::new(std::ffi::OsStr::from_bytes(&v)) == root);
        if tagged {
            found.push(p);
        }
    }
    found
}

/// One look at every process for a root's jobs: which jobs have processes now,
/// and which sessions there are. Deciding that many dead jobs left nothing behind
/// then costs one reading of `/proc`, not one per job (`resurrect` after a
/// reboot would otherwise read every new job's processes again for each job).
#[derive(Debug, Default)]
pub struct Census {
    jobs: std::collections::HashSet<Vec<u8>>,
    sessions: std::collections::HashSet<i32>,
}

impl Census {
    /// The processes of `root`'s jobs as they are now.
    pub fn take(root: &Path) -> Census {
        let mut census = Census::default();
        let me = std::process::id() as i32;
        for p in all_processes() {
            census.sessions.insert(p.session);
            if p.pid == me {
                continue;
            }
            let ours = environ_var(p.pid, "MRSM_ROOT_DIR")
                .is_some_and(|v| Path::new(std::ffi::OsStr::from_bytes(&v)) == root);
            if let Some(job) = environ_var(p.pid, JOB_VARIABLE).filter(|_| ours) {
                census.jobs.insert(job);
            }
        }
        census
    }

    /// Whether job `job`, whose supervisor `supervisor` died, may have left a
    /// process ([`leftovers`] then says which): one tagged with the job, or one in
    /// the dead supervisor's session.
    pub fn may_have_left(&self, job: &str, supervisor: ProcessIdentity) -> bool {
        self.jobs.contains(job.as_bytes()) || self.sessions.contains(&supervisor.pid)
    }
}

/// The value of variable `key` in a process's environment as it was when the
/// process started (what it inherited); `None` when unreadable or absent.
pub fn environ_var(pid: i32, key: &str) -> Option<Vec<u8>> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|&b| b == 0).find_map(|entry| {
        let rest = entry.strip_prefix(key.as_bytes())?;
        rest.strip_prefix(b"=").map(<[u8]>::to_vec)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let line = "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 12345 0 0";
        let s = ProcStat::parse(42, line).expect("parses");
        assert_eq!(
            (s.state, s.ppid, s.pgrp, s.session, s.start_ticks),
            ('S', 1, 42, 42, 12345)
        );
    }

    #[test]
    fn reads_an_inherited_variable() {
        let child = std::process::Command::new("sleep")
            .arg("30")
            .env("MRSM_TEST_VAR", "run-7")
            .spawn()
            .expect("sleep starts");
        let pid = child.id() as i32;
        // Until `sleep` is executed, the child shows this process's environment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = None;
        while seen.is_none() && std::time::Instant::now() < deadline {
            seen = environ_var(pid, "MRSM_TEST_VAR");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let absent = environ_var(pid, "MRSM_TEST");
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(seen.as_deref(), Some(&b"run-7"[..]));
        assert_eq!(absent, None);
    }

    #[test]
    fn waiting_for_a_process_ends_when_it_does() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("sleep starts");
        let identity = ProcessIdentity::of(child.id() as i32).expect("alive");
        assert!(
            !identity.wait_gone(Duration::from_millis(50)),
            "still running"
        );
        let _ = child.kill();
        let reaper = std::thread::spawn(move || child.wait());
        assert!(
            identity.wait_gone(Duration::from_secs(30)),
            "gone once killed"
        );
        reaper.join().expect("reaped").expect("waited");
    }

    #[test]
    fn this_process_is_alive_and_a_changed_start_is_not() {
        let me = ProcessIdentity::current().expect("/proc is mounted");
        assert!(me.is_alive());
        let impostor = ProcessIdentity {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!impostor.is_alive());
    }
}
