//! Shared by the integration tests: a temporary root directory, the real `mrsm`
//! binary pointed at it, waiting on conditions with deadlines, and cleanup of every
//! process the test started (by recorded pid and start time) when the test ends,
//! passed or failed. Its modules are the pieces only some areas use.

pub mod browser;
pub mod following;
pub mod orphans;
pub mod peers;
pub mod server;
pub mod slurm;
pub mod systemd;
pub mod ws;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use mrsm::store::proc::{job_processes, ProcStat};
use mrsm::store::ProcessIdentity;
use serde_json::Value;

/// A test's own mrsm installation.
pub struct Env {
    root: tempfile::TempDir,
    work: tempfile::TempDir,
}

/// Leaves the caller's settings out of this test process once, before anything
/// runs: no `MRSM_*` variable and no settings file of theirs reach the binaries it
/// starts or the command line it runs in process (tests set what they need).
fn hermetic() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for (key, _) in std::env::vars_os() {
            let key_text = key.to_string_lossy();
            // The harness's own (`MRSM_REQUIRE_SLURM`, `MRSM_SHARED_DIR`) stay: they
            // are no setting of mrsm.
            let harness = key_text.starts_with("MRSM_REQUIRE_") || key_text == "MRSM_SHARED_DIR";
            if key_text.starts_with("MRSM_") && !harness {
                std::env::remove_var(key);
            }
        }
        std::env::set_var("XDG_CONFIG_HOME", NO_SETTINGS);
    });
}

/// Where no settings file is.
const NO_SETTINGS: &str = "/nonexistent/mrsm-tests/config";

impl Env {
    pub fn new() -> Env {
        hermetic();
        Env {
            root: tempfile::Builder::new()
                .prefix("mrsm-root")
                .tempdir()
                .expect("temp root"),
            work: tempfile::Builder::new()
                .prefix("mrsm-work")
                .tempdir()
                .expect("temp work dir"),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A scratch directory where jobs run.
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// `mrsm` with this root, run in the work directory, with none of the caller's
    /// settings: no settings file of theirs, no `MRSM_*` variable but the root.
    pub fn mrsm(&self) -> Command {
        let mut cmd = Command::from_std(mrsm_process());
        cmd.env("MRSM_ROOT_DIR", self.root())
            .env("NO_COLOR", "1")
            .current_dir(self.work());
        cmd
    }

    /// Writes `mrsm-jobs.yaml` in the work directory (where `mrsm up` looks
    /// for it); its path.
    pub fn spec_file(&self, text: &str) -> PathBuf {
        let path = self.work().join("mrsm-jobs.yaml");
        std::fs::write(&path, text).expect("spec written");
        path
    }

    /// `mrsm ARGS…`, which must succeed.
    pub fn ok(&self, args: &[&str]) {
        self.mrsm().args(args).assert().success();
    }

    /// `mrsm run -d --name NAME ARGS…`, which must succeed.
    pub fn run_d(&self, name: &str, args: &[&str]) {
        self.mrsm()
            .args(["run", "-d", "--name", name])
            .args(args)
            .assert()
            .success();
    }

    /// The job as `show jobs NAME --json` reports it.
    pub fn info(&self, name: &str) -> Value {
        let out = self
            .mrsm()
            .args(["show", "jobs", name, "--json"])
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "show jobs {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        list[0].clone()
    }

    /// The job as `show jobs NAME --json` reports it, if it exists (for a probe
    /// that waits until it does).
    pub fn try_info(&self, name: &str) -> Option<Value> {
        let out = self
            .mrsm()
            .args(["show", "jobs", name, "--json"])
            .output()
            .ok()?;
        let list: Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(list[0].clone()).filter(|info| !info.is_null())
    }

    pub fn status(&self, name: &str) -> String {
        self.info(name)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn job_dir(&self, name: &str) -> PathBuf {
        self.root().join("jobs").join(name)
    }

    /// The supervisor recorded in `state.json` (none when that is not a regular
    /// file: a test may have put a FIFO there, which would block a reader).
    pub fn supervisor(&self, name: &str) -> Option<ProcessIdentity> {
        let path = self.job_dir(name).join("state.json");
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return None;
        }
        let text = std::fs::read_to_string(path).ok()?;
        let state: Value = serde_json::from_str(&text).ok()?;
        serde_json::from_value(state["supervisor"].clone()).ok()
    }

    /// Finished runs from `runs.jsonl`.
    pub fn runs(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.job_dir(name).join("runs.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The job's log lines (stream `out` and `err`), oldest file first.
    pub fn log_text(&self, name: &str) -> String {
        std::fs::read_to_string(self.root().join("logs").join(format!("{name}.log")))
            .unwrap_or_default()
    }

    /// Every recorded supervisor under this root.
    fn supervisors(&self) -> Vec<ProcessIdentity> {
        let Ok(entries) = std::fs::read_dir(self.root().join("jobs")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|name| self.supervisor(&name))
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for supervisor in self.supervisors() {
            kill_job(supervisor);
        }
        // Anything else started for this root (a killed supervisor's orphans, a
        // foreground command): every such process carries the root in its
        // environment.
        kill_tagged(self.root());
    }
}

/// The `mrsm` binary as a process to start, with none of the caller's settings: no
/// `MRSM_*` variable (the test sets what it needs) and no settings file of theirs.
pub fn mrsm_process() -> std::process::Command {
    hermetic();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("mrsm"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("MRSM_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("XDG_CONFIG_HOME", NO_SETTINGS);
    cmd
}

/// A free loopback port (bound, then let go for a server the test starts to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Kills every process whose environment has `MRSM_ROOT_DIR` at or under `root`.
fn kill_tagged(root: &Path) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let me = std::process::id() as i32;
    for p in mrsm::store::proc::all_processes() {
        let tagged = mrsm::store::proc::environ_var(p.pid, "MRSM_ROOT_DIR")
            .is_some_and(|v| Path::new(std::ffi::OsStr::from_bytes(&v)).starts_with(root));
        if tagged && p.pid != me {
            let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
        }
    }
}

/// Kills a supervisor and every process of its job, by recorded identity.
pub fn kill_job(supervisor: ProcessIdentity) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    let procs = job_processes(supervisor);
    if supervisor.is_alive() {
        let _ = kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL);
    }
    for p in procs {
        let _ = kill(Pid::from_raw(p.pid), Signal::SIGKILL);
    }
}

/// Kills only a job's supervisor (SIGKILL, by recorded identity), as a crash would.
pub fn kill_job_supervisor_only(supervisor: ProcessIdentity) {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    if supervisor.is_alive() {
        let _ = kill(Pid::from_raw(supervisor.pid), Signal::SIGKILL);
    }
}

/// The processes of a job (its supervisor's session and descendants).
pub fn processes(supervisor: ProcessIdentity) -> Vec<ProcStat> {
    job_processes(supervisor)
}

/// How often conditions are checked while waiting on them.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Polls `probe` every 10 ms until it returns `Some`, failing the test after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, probe: impl FnMut() -> Option<T>) -> T {
    poll(timeout, probe).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// [`wait_for`] that returns `None` at the deadline instead of failing, for a
/// caller that says more about what it saw.
pub fn poll<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Polls `holds` until `duration` has passed, failing the test the first time it
/// does not hold.
pub fn assert_holds_for(duration: Duration, what: &str, mut holds: impl FnMut() -> bool) {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        assert!(holds(), "{what} stopped holding");
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Seconds between two RFC 3339 instants in JSON values.
pub fn seconds_between(a: &Value, b: &Value) -> f64 {
    let a: jiff::Timestamp = a.as_str().expect("instant").parse().expect("RFC 3339");
    let b: jiff::Timestamp = b.as_str().expect("instant").parse().expect("RFC 3339");
    b.duration_since(a).as_secs_f64()
}

/// What a finished command printed on standard output, failing the test (with
/// both its outputs) unless it succeeded.
pub fn succeeded(out: &std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
