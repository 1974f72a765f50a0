//! Asking the cluster: Slurm's own commands (`squeue`, `sacct`, `scancel`,
//! `scontrol`), found on the PATH and configured as Slurm configures them
//! (`SLURM_CONF`). Plain `-o` formats are read rather than `--json`, whose layout
//! changes between Slurm versions while the format letters have not.

use std::process::{Command, Output, Stdio};

/// A cluster command that could not run or that Slurm refused.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("could not run {command}: {source} (is Slurm's client installed and on the PATH?)")]
    Missing {
        command: String,
        source: std::io::Error,
    },
    #[error("{command}: {message}")]
    Refused { command: String, message: String },
}

/// Runs a Slurm command and returns its output, or Slurm's message when it failed.
fn slurm(program: &str, args: &[&str]) -> Result<String, ClusterError> {
    let output: Output = crate::spawn::unblock_signals(&mut Command::new(program))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ClusterError::Missing {
            command: program.into(),
            source,
        })?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let message = said
        .lines()
        .map(|l| l.trim_start_matches(&format!("{program}: ")).trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Err(ClusterError::Refused {
        command: format!("{program} {}", args.join(" ")),
        message: if message.is_empty() {
            format!("failed ({})", output.status)
        } else {
            message
        },
    })
}

/// Whether Slurm's client commands are here (`srun --version` answers).
pub fn available() -> Result<(), ClusterError> {
    slurm("srun", &["--version"]).map(|_| ())
}

/// The id of the job named `name`, in any state the controller still remembers,
/// and, while it waits in the queue, why (`PENDING (Resources)`).
pub fn job_by_name(name: &str) -> Result<Option<(String, Option<String>)>, ClusterError> {
    let out = slurm(
        "squeue",
        &["-h", "--states=all", "--name", name, "-o", "%A %T %r"],
    )?;
    let Some(line) = out.lines().last() else {
        return Ok(None);
    };
    let mut words = line.split_whitespace();
    let (Some(id), state) = (words.next(), words.next()) else {
        return Ok(None);
    };
    let reason = words.collect::<Vec<_>>().join(" ");
    let waiting = (state == Some("PENDING")).then(|| match reason.as_str() {
        "" | "None" => "PENDING".to_string(),
        r => format!("PENDING ({r})"),
    });
    Ok(Some((id.to_string(), waiting)))
}

/// The job's state (`RUNNING`, `COMPLETED`, `CANCELLED`, `NODE_FAIL` …): from the
/// controller while it remembers the job, else from accounting (`sacct`) where
/// the cluster keeps it; `None` when neither knows it.
pub fn state_of(id: &str) -> Option<String> {
    if let Ok(out) = slurm("squeue", &["-h", "--states=all", "-j", id, "-o", "%T"]) {
        if let Some(state) = out.split_whitespace().next() {
            return Some(state.to_string());
        }
    }
    let out = slurm("sacct", &["-n", "-X", "-P", "-j", id, "-o", "State"]).ok()?;
    // `CANCELLED by 0` → `CANCELLED`.
    out.split_whitespace().next().map(str::to_string)
}

/// The cluster's `KillWait`: how long Slurm waits between the SIGTERM of a cancel
/// and its SIGKILL (30 s unless configured). Asked once per process.
pub fn kill_wait() -> std::time::Duration {
    static ASKED: std::sync::OnceLock<std::time::Duration> = std::sync::OnceLock::new();
    *ASKED.get_or_init(|| {
        let seconds = slurm("scontrol", &["show", "config"])
            .ok()
            .and_then(|out| {
                out.lines()
                    .find(|l| l.trim_start().starts_with("KillWait "))
                    .and_then(|l| l.split('=').nth(1))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .unwrap_or(30);
        std::time::Duration::from_secs(seconds)
    })
}

/// Whether a state is one of a job that is not over (its processes may still run).
pub fn is_active(state: &str) -> bool {
    matches!(
        state,
        "PENDING"
            | "CONFIGURING"
            | "RUNNING"
            | "SUSPENDED"
            | "COMPLETING"
            | "STOPPED"
            | "SIGNALING"
            | "RESIZING"
            | "REQUEUED"
            | "REQUEUE_FED"
            | "REQUEUE_HOLD"
            | "STAGE_OUT"
            | "RESV_DEL_HOLD"
    )
}

/// Cancels the job: with a signal, only that signal to its steps; without, Slurm's
/// own end (SIGCONT and SIGTERM, then SIGKILL after the cluster's `KillWait`).
pub fn cancel(id: &str, signal: Option<&str>) -> Result<(), ClusterError> {
    match signal {
        Some(sig) => slurm("scancel", &["--signal", sig, id]).map(|_| ()),
        None => slurm("scancel", &[id]).map(|_| ()),
    }
}

/// Suspends the running job (`scontrol suspend`: SIGSTOP to its processes and its
/// CPUs given back); Slurm allows it to operators and administrators only.
pub fn suspend(id: &str) -> Result<(), ClusterError> {
    slurm("scontrol", &["suspend", id]).map(|_| ())
}

/// Holds a job that waits in the queue: it does not start until released.
pub fn hold(id: &str) -> Result<(), ClusterError> {
    slurm("scontrol", &["hold", id]).map(|_| ())
}

/// Lets a held job start.
pub fn release(id: &str) -> Result<(), ClusterError> {
    slurm("scontrol", &["release", id]).map(|_| ())
}

/// Resumes a suspended job.
pub fn resume(id: &str) -> Result<(), ClusterError> {
    slurm("scontrol", &["resume", id]).map(|_| ())
}
