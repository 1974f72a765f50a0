//! A root another user could change is refused: one owned by someone else or
//! writable by others (or whose `jobs/`, `logs/`, `locks/`, `projects/` is) makes
//! every command stop with the reason before it reads or writes anything there; a
//! job directory owned by someone else is a broken job whose files are never read.
//! "Someone else" is `nobody` (uid 65534): the tests run as root, which may give
//! away the directories they make.

use crate::support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use support::Env;

const NOBODY: u32 = 65534;

/// Commands that use the root (a foreground `run` does not).
const COMMANDS: &[&[&str]] = &[
    &["run", "-d", "--name", "x", "--", "true"],
    &["stop", "jobs", "x"],
    &["show", "runs", "x"],
    &["show", "jobs"],
    &["show", "logs", "x"],
    &["start", "jobs", "x"],
    &["delete", "jobs", "x", "-y"],
    &["token", "create", "t"],
    &["token", "list"],
    &["up", "-d"],
    &["down"],
    &["serve", "--bind", "127.0.0.1:0"],
];

/// Everything under `dir`: path, owner, mode and length, to see that nothing
/// changed.
fn tree(dir: &Path) -> Vec<(PathBuf, u32, u32, u64)> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        found.push((path.clone(), meta.uid(), meta.mode(), meta.len()));
        if meta.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                pending.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
            }
        }
    }
    found.sort();
    found
}

/// Runs every command of [`COMMANDS`] on `root`: each must refuse with `said` and
/// leave the root as it was.
fn every_command_refuses(env: &Env, root: &Path, said: &str) {
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: p\njobs:\n  svc:\n    command: sleep 300\n",
    )
    .expect("written");
    let before = tree(root);
    for args in COMMANDS {
        let out = env
            .mrsm()
            .env("MRSM_ROOT_DIR", root)
            .args(*args)
            .timeout(Duration::from_secs(20))
            .output()
            .expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "mrsm {args:?}: {err}");
        assert!(err.contains(said), "mrsm {args:?}: {err}");
    }
    assert_eq!(tree(root), before, "nothing under the root changed");
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn as_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        println!("SKIPPED: needs root to give a directory to another user");
    }
    root
}

#[test]
fn a_root_others_can_write_is_refused_by_every_command() {
    let env = Env::new();
    let root = env.root().join("open");
    std::fs::create_dir(&root).expect("root");
    chmod(&root, 0o777);
    let said = format!(
        "refusing root {}: it is writable by others (mode 0777)",
        root.display()
    );
    every_command_refuses(&env, &root, &said);
    chmod(&root, 0o775);
    every_command_refuses(&env, &root, "(mode 0775)");
    // Private again, it is used.
    chmod(&root, 0o700);
    env.mrsm()
        .env("MRSM_ROOT_DIR", &root)
        .args(["show", "jobs"])
        .assert()
        .success();
}

#[test]
fn a_jobs_or_logs_directory_others_can_write_is_refused() {
    let env = Env::new();
    for sub in ["jobs", "logs", "locks", "projects"] {
        let root = env.root().join(format!("with-{sub}"));
        std::fs::create_dir(&root).expect("root");
        let dir = root.join(sub);
        std::fs::create_dir(&dir).expect("sub");
        chmod(&dir, 0o777);
        let said = format!(
            "refusing {}: it is writable by others (mode 0777)",
            dir.display()
        );
        every_command_refuses(&env, &root, &said);
    }
}

#[test]
fn a_root_or_logs_owned_by_someone_else_is_refused() {
    if !as_root() {
        return;
    }
    let env = Env::new();
    let me = nix::unistd::geteuid().as_raw();
    let theirs = env.root().join("theirs");
    std::fs::create_dir(&theirs).expect("root");
    chmod(&theirs, 0o700);
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).expect("chown");
    let said = format!(
        "refusing root {}: owned by uid {NOBODY}, not you (uid {me})",
        theirs.display()
    );
    every_command_refuses(&env, &theirs, &said);

    // A root of one's own whose logs/ someone else made: they could plant links
    // there that receive a job's output.
    let mine = env.root().join("mine");
    let logs = mine.join("logs");
    std::fs::create_dir_all(&logs).expect("logs");
    chmod(&mine, 0o700);
    chmod(&logs, 0o700);
    std::os::unix::fs::chown(&logs, Some(NOBODY), Some(NOBODY)).expect("chown");
    let said = format!("refusing {}: owned by uid {NOBODY}", logs.display());
    every_command_refuses(&env, &mine, &said);
}

#[test]
fn a_job_directory_owned_by_someone_else_is_broken_and_never_read() {
    if !as_root() {
        return;
    }
    let env = Env::new();
    env.run_d("mine", &["--", "sleep", "300"]);
    // Their job: the same definition, running a command of theirs.
    let theirs = env.job_dir("theirs");
    std::fs::create_dir(&theirs).expect("dir");
    let planted = env.work().join("planted");
    let mine = std::fs::read_to_string(env.job_dir("mine").join("job.json")).expect("mine");
    let command = format!("touch {}", planted.display());
    std::fs::write(
        theirs.join("job.json"),
        mine.replace("\"mine\"", "\"theirs\"")
            .replace("sleep 300", &command),
    )
    .expect("written");
    for path in [&theirs, &theirs.join("job.json")] {
        std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).expect("chown");
    }
    let info = env.info("theirs");
    assert_eq!(info["status"], "broken", "{info}");
    let reason = info["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!(
            "refusing {}: owned by uid {NOBODY}",
            theirs.display()
        )),
        "{reason}"
    );
    assert_eq!(env.status("mine"), "running");
    let out = env
        .mrsm()
        .args(["start", "jobs", "theirs"])
        .timeout(Duration::from_secs(20))
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(!planted.exists(), "their command never ran");
    env.ok(&["delete", "jobs", "mine", "-y"]);
}

#[test]
fn a_root_given_as_a_link_is_used_when_the_link_is_one_s_own() {
    let env = Env::new();
    let real = env.root().join("real");
    std::fs::create_dir(&real).expect("root");
    chmod(&real, 0o700);
    let link = env.work().join("root-link");
    std::os::unix::fs::symlink(&real, &link).expect("linked");
    env.mrsm()
        .env("MRSM_ROOT_DIR", &link)
        .args(["token", "create", "t"])
        .assert()
        .success();
    assert!(real.join("tokens.json").is_file());
    if !as_root() {
        return;
    }
    // Someone else's link could be made to lead anywhere.
    let theirs = env.work().join("their-link");
    std::os::unix::fs::symlink(&real, &theirs).expect("linked");
    std::os::unix::fs::lchown(&theirs, Some(NOBODY), Some(NOBODY)).expect("lchown");
    let said = format!(
        "refusing root {}: it is a symbolic link owned by uid {NOBODY}",
        theirs.display()
    );
    every_command_refuses(&env, &theirs, &said);
}
