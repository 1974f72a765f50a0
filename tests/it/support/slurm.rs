//! A real single-node Slurm cluster for the tests of this binary, started once by
//! `tests/slurm/cluster.sh` (which installs Slurm with apt when it is missing and
//! this runs as root) and stopped by it when the test binary exits. Where Slurm
//! cannot be had, each test says why it is skipped; with `MRSM_REQUIRE_SLURM=1`
//! (CI) that is a failure instead.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The cluster: Slurm's commands reach it with `SLURM_CONF` set to `conf`.
pub struct Cluster {
    pub conf: PathBuf,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
static SLOW_KILL: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// The cluster, started on first use; `None` (after saying why) where Slurm cannot
/// run here.
pub fn cluster() -> Option<&'static Cluster> {
    usable(CLUSTER.get_or_init(|| start(2)))
}

/// A second cluster with Slurm's default `KillWait` of 30 s (the first one's is 2 s,
/// so that its tests do not wait on it).
pub fn cluster_with_slurm_s_kill_wait() -> Option<&'static Cluster> {
    usable(SLOW_KILL.get_or_init(|| start(30)))
}

fn usable(started: &'static Result<Cluster, String>) -> Option<&'static Cluster> {
    match started {
        Ok(cluster) => Some(cluster),
        Err(why) if std::env::var("MRSM_REQUIRE_SLURM").is_ok_and(|v| v == "1") => {
            panic!("Slurm is required here (MRSM_REQUIRE_SLURM=1) but: {why}")
        }
        Err(why) => {
            eprintln!("skipped: no Slurm cluster: {why}");
            None
        }
    }
}

fn start(kill_wait: u32) -> Result<Cluster, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/cluster.sh");
    let dir = tempfile::Builder::new()
        .prefix("mrsm-slurm")
        .tempdir()
        .map_err(|e| format!("no temp dir: {e}"))?
        // Removed by the script once this process has ended (with the cluster).
        .keep();
    let out = std::process::Command::new(&script)
        .arg("start")
        .arg(&dir)
        .arg(std::process::id().to_string())
        .env("KILL_WAIT", kill_wait.to_string())
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("could not run {}: {e}", script.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} start failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(Cluster {
        conf: dir.join("slurm.conf"),
    })
}

impl Cluster {
    /// A Slurm command (`squeue`, `scancel` …) for this cluster.
    pub fn command(&self, program: &str) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    /// What a Slurm command printed (it must succeed).
    pub fn output(&self, program: &str, args: &[&str]) -> String {
        let out = self.command(program).args(args).output().expect("runs");
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The state of Slurm job `id` (`RUNNING`, `COMPLETED` …), empty if unknown.
    pub fn state(&self, id: &str) -> String {
        self.output("squeue", &["-h", "--states=all", "-j", id, "-o", "%T"])
            .trim()
            .to_string()
    }

    /// Whether Slurm job `id` is over (not pending, running, suspended or
    /// completing).
    pub fn is_over(&self, id: &str) -> bool {
        let out = self
            .command("squeue")
            .args(["-h", "-j", id, "-o", "%T"])
            .output()
            .expect("runs");
        // A job the controller has forgotten is an error: over too.
        String::from_utf8_lossy(&out.stdout).trim().is_empty()
    }

    /// The Slurm jobs not yet over whose name contains `part`, as `ID STATE` lines.
    pub fn active(&self, part: &str) -> Vec<String> {
        self.output("squeue", &["-h", "-o", "%A %T %j"])
            .lines()
            .filter(|l| l.contains(part))
            .map(str::to_string)
            .collect()
    }
}
