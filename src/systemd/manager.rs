//! The user's systemd manager, through `systemctl --user`: whether one answers, the
//! calls that change units, and one look at many units' states.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Which manager a call goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// The user's own manager (`systemctl --user`).
    User,
    /// The system's manager (PID 1), for units that run as a given user.
    System,
}

impl Scope {
    fn flag(self) -> &'static str {
        match self {
            Scope::User => "--user",
            Scope::System => "--system",
        }
    }
}

/// `systemctl --user ARGS`, run (with no signal blocked, whatever the caller's mask).
fn run(args: &[&str]) -> Result<Output, String> {
    run_in(Scope::User, args)
}

/// How long a call may take before the manager counts as not answering: a start
/// waits for the supervisor's readiness (10 s at most, `TimeoutStartSec=`), a stop
/// for the job's grace period, which the caller adds.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// How long a look at units' states may take: a listing shows them as unknown
/// rather than wait on a manager that does not answer.
const LOOK_DEADLINE: Duration = Duration::from_secs(3);

/// `systemctl --user|--system ARGS`, run within [`DEADLINE`].
fn run_in(scope: Scope, args: &[&str]) -> Result<Output, String> {
    run_within(scope, args, DEADLINE)
}

/// `systemctl --user|--system ARGS`, killed (and an error) if it takes longer than
/// `deadline`: a manager that is stopped or stuck holds no verb for ever.
fn run_within(scope: Scope, args: &[&str], deadline: Duration) -> Result<Output, String> {
    let mut command = Command::new("systemctl");
    command
        .arg(scope.flag())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    crate::spawn::unblock_signals(&mut command);
    let child = command
        .spawn()
        .map_err(|e| format!("running systemctl (is systemd installed?): {e}"))?;
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(deadline) {
        Ok(out) => out.map_err(|e| format!("running systemctl: {e}")),
        Err(_) => {
            // Still ours: its waiting thread has not reaped it.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            Err(format!(
                "systemctl {} {}: the systemd manager did not answer within {} s",
                scope.flag(),
                args.join(" "),
                deadline.as_secs()
            ))
        }
    }
}

/// `systemctl --user ARGS`, which must succeed; the error is what systemctl said.
pub fn systemctl(args: &[&str]) -> Result<(), String> {
    systemctl_in(Scope::User, args)
}

/// `systemctl --user|--system ARGS`, which must succeed.
pub fn systemctl_in(scope: Scope, args: &[&str]) -> Result<(), String> {
    let out = run_in(scope, args)?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "systemctl {} {}: {}",
        scope.flag(),
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// How long a user manager that answered is taken to answer still: a command
/// acting on many systemd jobs asks once, not once per job (a `systemctl` run
/// costs about what the rest of a stop does).
const ANSWERED_FOR: Duration = Duration::from_secs(10);

/// When a user manager last answered (with the `XDG_RUNTIME_DIR` it was asked
/// through).
static ANSWERED: std::sync::Mutex<Option<(std::time::Instant, std::ffi::OsString)>> =
    std::sync::Mutex::new(None);

/// That a user manager answers, or what is missing and how to get it. An answer
/// is remembered for a few seconds; a failure never is.
pub fn answers() -> Result<(), String> {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").unwrap_or_default();
    let fresh = |seen: &Option<(std::time::Instant, std::ffi::OsString)>| {
        seen.as_ref()
            .is_some_and(|(at, dir)| at.elapsed() < ANSWERED_FOR && *dir == runtime)
    };
    if ANSWERED.lock().is_ok_and(|seen| fresh(&seen)) {
        return Ok(());
    }
    // The manager's own socket takes a connection: it runs (a look that costs a
    // connect, not a systemctl run); else systemctl says what is the matter.
    let private = std::path::Path::new(&runtime).join("systemd/private");
    if runtime.is_empty() || std::os::unix::net::UnixStream::connect(private).is_err() {
        ask_manager()?;
    }
    if let Ok(mut seen) = ANSWERED.lock() {
        *seen = Some((std::time::Instant::now(), runtime));
    }
    Ok(())
}

/// Asks the user manager whether it runs.
fn ask_manager() -> Result<(), String> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none_or(|v| v.is_empty()) {
        return Err(
            "no systemd user manager: XDG_RUNTIME_DIR is not set (log in through a session, \
             or run `loginctl enable-linger $USER` so the manager runs at boot)"
                .into(),
        );
    }
    let out = run(&["is-system-running"])?;
    let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match state.as_str() {
        "running" | "degraded" | "starting" | "initializing" => Ok(()),
        "offline" | "" => Err(
            "no systemd user manager answers (the machine is not booted with systemd, or \
             the user's manager is not running: `loginctl enable-linger $USER` starts it at \
             boot)"
                .into(),
        ),
        other => Err(format!("the systemd user manager is {other}")),
    }
}

/// That the system's manager answers (the machine is booted with systemd).
pub fn system_answers() -> Result<(), String> {
    let out = run_in(Scope::System, &["is-system-running"])?;
    match String::from_utf8_lossy(&out.stdout).trim() {
        "running" | "degraded" | "starting" | "initializing" | "maintenance" => Ok(()),
        "offline" | "" => {
            Err("the machine is not booted with systemd (no system manager answers)".into())
        }
        other => Err(format!("the systemd system manager is {other}")),
    }
}

/// Where the user manager reads the user's own units: `CONFIG/systemd/user`, with
/// CONFIG the user's configuration directory (`$XDG_CONFIG_HOME`).
pub fn unit_dir(config_home: Option<&Path>) -> Result<PathBuf, String> {
    config_home
        .map(|c| c.join("systemd").join("user"))
        .ok_or_else(|| "neither XDG_CONFIG_HOME nor HOME is set".to_string())
}

/// A unit as its manager sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnitState {
    /// The unit's name.
    pub name: String,
    /// `active`, `activating`, `inactive`, `failed` …
    pub active: String,
    /// The finer state (`running`, `auto-restart`, `dead` …).
    pub sub: String,
    /// `enabled`, `disabled`, or empty when the manager does not know the unit.
    pub enabled: String,
}

/// The states of `units`, in one call; a unit the manager does not know is left
/// out, and so is everything when no manager answers.
pub fn states(units: &[String]) -> BTreeMap<String, UnitState> {
    let mut found = BTreeMap::new();
    if units.is_empty() || std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        return found;
    }
    let mut args = vec![
        "show",
        "--property=Id,ActiveState,SubState,UnitFileState,LoadState",
    ];
    args.extend(units.iter().map(String::as_str));
    let Ok(out) = run_within(Scope::User, &args, LOOK_DEADLINE) else {
        return found;
    };
    // Blocks of `KEY=VALUE` lines, one per unit, in the order asked.
    for block in String::from_utf8_lossy(&out.stdout).split("\n\n") {
        let mut id = None;
        let mut loaded = false;
        let mut state = UnitState::default();
        for line in block.lines() {
            match line.split_once('=') {
                Some(("Id", v)) => {
                    id = Some(v.to_string());
                    state.name = v.to_string();
                }
                Some(("ActiveState", v)) => state.active = v.to_string(),
                Some(("SubState", v)) => state.sub = v.to_string(),
                Some(("UnitFileState", v)) => state.enabled = v.to_string(),
                Some(("LoadState", v)) => loaded = v == "loaded",
                _ => {}
            }
        }
        if let Some(id) = id.filter(|_| loaded) {
            found.insert(id, state);
        }
    }
    found
}
