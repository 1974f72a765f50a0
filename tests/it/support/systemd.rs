//! A real systemd user manager for one test, started by `tests/systemd/manager.sh`
//! in a private mount namespace and cgroups of its own (PID 1 here is not systemd),
//! and stopped, its cgroups removed, when the test ends, passed or not. Where a
//! manager cannot run, the test says why it is skipped; with
//! `MRSM_REQUIRE_SYSTEMD=1` (CI) that is a failure instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// A user manager of the test's own; stopped when dropped.
pub struct UserManager {
    dir: PathBuf,
    /// Removes the directory last.
    _temp: tempfile::TempDir,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/systemd/manager.sh")
}

fn manager_sh(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(script())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("runs tests/systemd/manager.sh")
}

impl UserManager {
    /// A new manager; `None` (after saying why) where one cannot run here.
    pub fn start() -> Option<UserManager> {
        let temp = tempfile::Builder::new()
            .prefix("mrsm-systemd")
            .tempdir()
            .expect("a temp dir");
        let manager = UserManager {
            dir: temp.path().to_path_buf(),
            _temp: temp,
        };
        match manager.start_again() {
            Ok(()) => Some(manager),
            Err(why) if std::env::var("MRSM_REQUIRE_SYSTEMD").is_ok_and(|v| v == "1") => {
                panic!(
                    "a systemd user manager is required here (MRSM_REQUIRE_SYSTEMD=1) but: {why}"
                )
            }
            Err(why) => {
                eprintln!("skipped: no systemd user manager: {why}");
                None
            }
        }
    }

    /// Starts a manager on the same directories (after [`UserManager::power_loss`]).
    pub fn start_again(&self) -> Result<(), String> {
        let out = manager_sh(&["start".as_ref(), self.dir.as_os_str()]);
        match out.status.success() {
            true => Ok(()),
            false => Err(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        }
    }

    /// Where its state lives (`runtime/`, `config/`, …).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The name of its cgroup in each hierarchy.
    pub fn cgroup(&self) -> String {
        std::fs::read_to_string(self.dir.join("cgroup"))
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// `program args` run inside the manager's namespace, with its environment.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        let mut all: Vec<&std::ffi::OsStr> = vec!["run".as_ref(), self.dir.as_os_str()];
        all.push(program.as_ref());
        all.extend(args.iter().map(std::ffi::OsStr::new));
        manager_sh(&all)
    }

    /// What `systemctl --user args` printed inside the namespace, trimmed.
    pub fn systemctl(&self, args: &[&str]) -> String {
        let mut all = vec!["--user"];
        all.extend_from_slice(args);
        let out = self.run("systemctl", &all);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `mrsm ARGS` inside the manager's namespace for the root `root`, with
    /// nothing of the caller's environment but a plain PATH.
    pub fn mrsm(&self, root: &Path, args: &[&str]) -> Output {
        let mrsm = assert_cmd::cargo::cargo_bin("mrsm");
        let runtime = format!("XDG_RUNTIME_DIR={}", self.dir.join("runtime").display());
        let config = format!("XDG_CONFIG_HOME={}", self.dir.join("config").display());
        let root = format!("MRSM_ROOT_DIR={}", root.display());
        let mrsm = mrsm.to_string_lossy();
        let mut all = vec![
            "-i",
            "PATH=/usr/bin:/bin",
            "NO_COLOR=1",
            &runtime,
            &config,
            &root,
        ];
        all.push(&mrsm);
        all.extend_from_slice(args);
        self.run("env", &all)
    }

    /// [`UserManager::mrsm`], which must succeed; what it printed.
    pub fn mrsm_ok(&self, root: &Path, args: &[&str]) -> String {
        super::succeeded(&self.mrsm(root, args), &format!("mrsm {args:?}"))
    }

    /// Where the manager reads the user's units.
    pub fn unit_dir(&self) -> PathBuf {
        self.dir.join("config/systemd/user")
    }

    /// The unit files there whose names start with `prefix`.
    pub fn unit_files(&self, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.unit_dir())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(prefix) && n.ends_with(".service"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// What `systemd-analyze --user verify UNIT-FILE` said (nothing when it is clean).
    pub fn verify(&self, unit: &str) -> String {
        let path = self.unit_dir().join(unit);
        let out = self.run(
            "systemd-analyze",
            &["--user", "verify", &path.to_string_lossy()],
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        match out.status.success() {
            true => said.trim().to_string(),
            false => format!("failed: {said}"),
        }
    }

    /// A power loss: the manager and every process in its cgroups get SIGKILL; its
    /// directories and cgroups stay for the next [`UserManager::start_again`].
    pub fn power_loss(&self) {
        let out = manager_sh(&["kill".as_ref(), self.dir.as_os_str()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for UserManager {
    fn drop(&mut self) {
        let _ = manager_sh(&["stop".as_ref(), self.dir.as_os_str()]);
    }
}

/// `show jobs NAME --json` inside the manager's namespace (with the unit's state).
pub fn shown(manager: &UserManager, root: &Path, name: &str) -> Value {
    let text = manager.mrsm_ok(root, &["show", "jobs", name, "--json"]);
    let value: Value = serde_json::from_str(&text).expect("JSON");
    match value {
        Value::Array(mut jobs) => jobs.remove(0),
        one => one,
    }
}

/// Whether process `pid` is still there (not a zombie).
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| !r.trim_start().starts_with('Z'))
    })
}

/// The pids of processes whose command line is `words` and whose root is `root`.
pub fn processes_of(root: &Path, words: &str) -> Vec<i32> {
    mrsm::store::proc::all_processes()
        .into_iter()
        .filter(|p| {
            let line = std::fs::read(format!("/proc/{}/cmdline", p.pid)).unwrap_or_default();
            let tagged = mrsm::store::proc::environ_var(p.pid, "MRSM_ROOT_DIR")
                .is_some_and(|v| v == root.as_os_str().as_encoded_bytes());
            tagged && String::from_utf8_lossy(&line).replace('\0', " ").trim() == words
        })
        .map(|p| p.pid)
        .collect()
}

/// A user manager of the test's own and a root (`None` where no manager can run).
pub fn manager_and_root() -> Option<(UserManager, super::Env)> {
    UserManager::start().map(|manager| (manager, super::Env::new()))
}

/// `mrsm run -d -e systemd --name NAME -- COMMAND…` inside the manager's namespace.
pub fn run_on_systemd(manager: &UserManager, root: &Path, name: &str, command: &[&str]) {
    let mut args = vec!["run", "-d", "-e", "systemd", "--name", name, "--"];
    args.extend_from_slice(command);
    manager.mrsm_ok(root, &args);
}
