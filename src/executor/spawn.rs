//! Starting a supervisor the way a job start can afford a thousand times over: with
//! posix_spawn (the kernel shares the launcher's memory until the new program runs,
//! instead of copying its page tables, which for a launcher with many threads and a
//! large spec is most of the cost of a start), in a session of its own from its first
//! instruction (so a Ctrl-C or hang-up meant for the launcher never reaches a
//! supervisor still starting), with default signal handling, and with none of the
//! launcher's open files but the three it is given.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::libc;

/// Turns a posix_spawn-style return code into a result.
fn check(code: libc::c_int) -> io::Result<()> {
    match code {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte"))
}

/// Owns the spawn attributes and file actions, destroyed on every path.
struct Plan {
    actions: libc::posix_spawn_file_actions_t,
    attrs: libc::posix_spawnattr_t,
}

impl Drop for Plan {
    fn drop(&mut self) {
        // SAFETY: both were initialised by `Plan::new` and are destroyed once.
        unsafe {
            libc::posix_spawn_file_actions_destroy(&mut self.actions);
            libc::posix_spawnattr_destroy(&mut self.attrs);
        }
    }
}

impl Plan {
    fn new() -> io::Result<Box<Plan>> {
        // SAFETY: zeroed storage is what the init functions expect to fill in; the
        // box keeps them at one address for their whole life.
        let mut plan: Box<Plan> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: initialising owned, correctly sized structures.
        unsafe {
            check(libc::posix_spawn_file_actions_init(&mut plan.actions))?;
            if let Err(e) = check(libc::posix_spawnattr_init(&mut plan.attrs)) {
                libc::posix_spawn_file_actions_destroy(&mut plan.actions);
                std::mem::forget(plan);
                return Err(e);
            }
        }
        Ok(plan)
    }
}

/// Runs `program ARGS…` in a new session with this process's environment less the
/// variables named in `remove`, plus `extra`; standard input from /dev/null,
/// standard output and error on the given descriptors, in `/`; returns its pid.
pub fn spawn_in_new_session(
    program: &Path,
    args: &[&OsStr],
    remove: &[&str],
    extra: &[(&str, OsString)],
    stdin: BorrowedFd<'_>,
    stdout: BorrowedFd<'_>,
    stderr: BorrowedFd<'_>,
) -> io::Result<i32> {
    let program_c = c_string(program.as_os_str().as_bytes())?;
    let mut argv_owned = vec![program_c.clone()];
    for arg in args {
        argv_owned.push(c_string(arg.as_bytes())?);
    }
    let mut env_owned = Vec::new();
    for (key, value) in std::env::vars_os() {
        let named = |k: &str| OsStr::new(k) == key;
        if extra.iter().any(|(k, _)| named(k)) || remove.iter().any(|k| named(k)) {
            continue;
        }
        let mut entry = key.as_bytes().to_vec();
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        // A variable that cannot be passed on (a NUL byte) is left out.
        if let Ok(c) = CString::new(entry) {
            env_owned.push(c);
        }
    }
    for (key, value) in extra {
        let mut entry = key.as_bytes().to_vec();
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        env_owned.push(c_string(&entry)?);
    }
    let mut argv: Vec<*mut libc::c_char> =
        argv_owned.iter().map(|c| c.as_ptr() as *mut _).collect();
    argv.push(std::ptr::null_mut());
    let mut envp: Vec<*mut libc::c_char> = env_owned.iter().map(|c| c.as_ptr() as *mut _).collect();
    envp.push(std::ptr::null_mut());
    let root = c_string(b"/")?;

    let mut plan = Plan::new()?;
    let mut pid: libc::pid_t = 0;
    // SAFETY: every pointer handed over points into values that outlive the call
    // (`argv_owned`, `env_owned`, `root`, the plan); the descriptors are borrowed
    // for the call and only duplicated in the child.
    unsafe {
        let actions = &mut plan.actions;
        check(libc::posix_spawn_file_actions_adddup2(
            actions,
            stdin.as_raw_fd(),
            0,
        ))?;
        check(libc::posix_spawn_file_actions_adddup2(
            actions,
            stdout.as_raw_fd(),
            1,
        ))?;
        check(libc::posix_spawn_file_actions_adddup2(
            actions,
            stderr.as_raw_fd(),
            2,
        ))?;
        check(libc::posix_spawn_file_actions_addchdir_np(
            actions,
            root.as_ptr(),
        ))?;
        check(libc::posix_spawn_file_actions_addclosefrom_np(actions, 3))?;

        let attrs = &mut plan.attrs;
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        let mut defaults: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut defaults);
        for signal in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
            libc::SIGCHLD,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
        ] {
            libc::sigaddset(&mut defaults, signal);
        }
        check(libc::posix_spawnattr_setsigmask(attrs, &empty))?;
        check(libc::posix_spawnattr_setsigdefault(attrs, &defaults))?;
        let flags = libc::POSIX_SPAWN_SETSID
            | libc::POSIX_SPAWN_SETSIGMASK as libc::c_short
            | libc::POSIX_SPAWN_SETSIGDEF as libc::c_short;
        check(libc::posix_spawnattr_setflags(attrs, flags))?;

        check(libc::posix_spawnp(
            &mut pid,
            program_c.as_ptr(),
            &plan.actions,
            &plan.attrs,
            argv.as_ptr(),
            envp.as_ptr(),
        ))?;
    }
    Ok(pid)
}
