//! Everything under the root is private to its owner whatever the umask (job
//! definitions hold secrets from env files; the control socket accepts commands), and
//! a supervisor refuses commands from any other user even when the files are opened
//! up by mistake.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use support::{wait_for, Env};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `mrsm ARGS` with root `root` under umask 000.
fn mrsm_with_open_umask(env: &Env, root: &Path, args: &[&str]) {
    mrsm_with_umask(env, root, 0o000, args)
}

/// `mrsm ARGS` with root `root` under umask `mask`.
fn mrsm_with_umask(env: &Env, root: &Path, mask: u32, args: &[&str]) {
    let mut cmd = support::mrsm_process();
    cmd.args(args)
        .env("MRSM_ROOT_DIR", root)
        .current_dir(env.work());
    // SAFETY: umask is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
            Ok(())
        });
    }
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn files_are_private_whatever_the_umask() {
    let env = Env::new();
    let root = env.root().join("fresh");
    // The first command to touch the root is a project's watcher.
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: private\njobs:\n  svc:\n    command: sleep 300\n",
    )
    .expect("written");
    mrsm_with_open_umask(&env, &root, &["up", "-d", "--watch"]);
    mrsm_with_open_umask(
        &env,
        &root,
        &[
            "run",
            "-d",
            "--name",
            "secretive",
            "--",
            "sh",
            "-c",
            "echo out; sleep 300",
        ],
    );
    wait_for(Duration::from_secs(10), "a line in the log", || {
        std::fs::read_to_string(root.join("logs/secretive.log"))
            .ok()
            .filter(|t| t.contains(" out out"))
    });
    mrsm_with_open_umask(&env, &root, &["stop", "jobs", "secretive"]);
    mrsm_with_open_umask(&env, &root, &["start", "jobs", "secretive"]);
    let job = root.join("jobs/secretive");
    for dir in [
        root.clone(),
        root.join("jobs"),
        job.clone(),
        root.join("logs"),
    ] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in ["job.json", "state.json", "runs.jsonl", "control.sock"] {
        assert_eq!(mode(&job.join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&root.join("locks")), 0o700);
    for file in ["secretive.lock", "secretive.supervisor"] {
        assert_eq!(mode(&root.join("locks").join(file)), 0o600, "{file}");
    }
    assert_eq!(mode(&root.join("logs/secretive.log")), 0o600);
    assert_eq!(mode(&root.join("locks")), 0o700);
    for file in ["secretive.lock", "secretive.supervisor"] {
        assert_eq!(mode(&root.join("locks").join(file)), 0o600, "{file}");
    }
    // The root's own lock is taken for its tokens.
    mrsm_with_open_umask(&env, &root, &["token", "create", "t"]);
    assert_eq!(mode(&root.join("lock")), 0o600);
    assert_eq!(mode(&root.join("tokens.json")), 0o600);
    assert_eq!(mode(&root.join("projects")), 0o700);
    for file in ["private.lock", "private.watch"] {
        assert_eq!(mode(&root.join("projects").join(file)), 0o600, "{file}");
    }
    mrsm_with_open_umask(&env, &root, &["down", "-v"]);
    mrsm_with_open_umask(&env, &root, &["delete", "jobs", "secretive", "-y"]);
}

#[test]
fn other_users_are_refused_by_the_supervisor() {
    if !nix::unistd::geteuid().is_root() {
        println!("SKIPPED: needs root to act as a second user (nobody)");
        return;
    }
    let Ok(Some(nobody)) = nix::unistd::User::from_name("nobody") else {
        println!("SKIPPED: there is no user `nobody` here");
        return;
    };
    let env = Env::new();
    env.run_d("guarded", &["--", "sleep", "300"]);
    // An operator opens everything up by mistake.
    let job = env.job_dir("guarded");
    for dir in [env.root(), &env.root().join("jobs"), &job] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let socket = job.join("control.sock");
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let client = "import socket, sys\n\
        s = socket.socket(socket.AF_UNIX)\n\
        s.connect(sys.argv[1])\n\
        s.sendall(b'{\"op\":\"stop\"}\\n')\n\
        print(s.makefile().readline())\n";
    let out = std::process::Command::new("python3")
        .args(["-c", client])
        .arg(&socket)
        .uid(nobody.uid.as_raw())
        .gid(nobody.gid.as_raw())
        .output()
        .expect("python3 runs");
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        reply.contains("permission denied"),
        "{reply}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.status("guarded"), "running", "the stop was refused");
    env.ok(&["stop", "jobs", "guarded"]);
}

#[test]
fn a_umask_that_takes_the_owner_s_rights_away_does_not_lock_mrsm_out() {
    let env = Env::new();
    let root = env.root().join("strict");
    let out = env.work().join("umask-seen");
    let script = format!("umask > {}; sleep 300", out.display());
    mrsm_with_umask(
        &env,
        &root,
        0o277,
        &["run", "-d", "--name", "strict", "--", "sh", "-c", &script],
    );
    mrsm_with_umask(&env, &root, 0o277, &["show", "jobs", "strict"]);
    assert_eq!(mode(&root.join("jobs/strict/job.json")), 0o600);
    assert_eq!(mode(&root.join("jobs/strict")), 0o700);
    // The job itself runs with the umask it was started under.
    let seen = wait_for(Duration::from_secs(10), "the job's umask", || {
        std::fs::read_to_string(&out).ok().filter(|t| !t.is_empty())
    });
    assert_eq!(seen.trim(), "0277");
    mrsm_with_umask(&env, &root, 0o277, &["stop", "jobs", "strict"]);
}
