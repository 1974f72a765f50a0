//! `up --watch` and the foreground `up`: every way editors save is picked up and
//! converged within 2 s, a broken file changes nothing, drift is healed, and Ctrl-C
//! stops the declared jobs.

use crate::support;
use crate::support::orphans;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use orphans::Orphans;
use support::{wait_for, Env};

const CONVERGE: Duration = Duration::from_secs(2);

/// A child process killed (by its pid) if the test ends early.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spec(jobs: &[(&str, &str)]) -> String {
    let mut text = String::from("project: watched\njobs:\n");
    for (name, command) in jobs {
        text.push_str(&format!("  {name}:\n    command: {command}\n"));
    }
    text
}

fn command_of(env: &Env, name: &str) -> Option<String> {
    let out = env
        .mrsm()
        .args(["show", "jobs", name, "--json"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    (list[0]["status"] == "running").then(|| {
        list[0]["command"][0]
            .as_str()
            .unwrap_or_default()
            .to_string()
    })
}

#[test]
fn every_kind_of_save_is_converged_and_a_broken_file_changes_nothing() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    std::fs::write(&path, spec(&[("keeper", "sleep 300")])).expect("written");
    env.ok(&["up", "-d", "--watch"]);
    assert_eq!(env.status("mrsm-watch-watched"), "running");
    let keeper_pid = env.info("keeper")["pid"].clone();

    // Saved by rename, as vim does.
    let tmp = env.work().join(".mrsm-jobs.yaml.swp");
    std::fs::write(
        &tmp,
        spec(&[("keeper", "sleep 300"), ("renamed", "sleep 301")]),
    )
    .expect("written");
    std::fs::rename(&tmp, &path).expect("renamed");
    wait_for(CONVERGE, "the renamed file to converge", || {
        command_of(&env, "renamed")
    });

    // Written in place.
    std::fs::write(
        &path,
        spec(&[
            ("keeper", "sleep 300"),
            ("renamed", "sleep 301"),
            ("inplace", "sleep 302"),
        ]),
    )
    .expect("written");
    wait_for(CONVERGE, "the in-place write to converge", || {
        command_of(&env, "inplace")
    });

    // Edited by sed -i.
    let sed = std::process::Command::new("sed")
        .args(["-i", "s/sleep 302/sleep 303/"])
        .arg(&path)
        .status()
        .expect("sed runs");
    assert!(sed.success());
    wait_for(CONVERGE, "the sed edit to converge", || {
        command_of(&env, "inplace").filter(|c| c == "sleep 303")
    });

    // A syntax error mid-edit: reported with its place, nothing touched.
    let pids: Vec<_> = ["keeper", "renamed", "inplace"]
        .iter()
        .map(|n| env.info(n)["pid"].clone())
        .collect();
    std::fs::write(&path, "project: watched\njobs:\n  keeper: [\n").expect("written");
    wait_for(CONVERGE, "the error in the watcher's log", || {
        env.log_text("mrsm-watch-watched")
            .contains("mrsm-jobs.yaml:3:")
            .then_some(())
    });
    for (name, pid) in ["keeper", "renamed", "inplace"].iter().zip(&pids) {
        assert_eq!(env.status(name), "running", "{name} must keep running");
        assert_eq!(&env.info(name)["pid"], pid, "{name} must not be restarted");
    }

    // Put back as it was: nothing to do, and the watcher says the file is fine again.
    std::fs::write(
        &path,
        spec(&[
            ("keeper", "sleep 300"),
            ("renamed", "sleep 301"),
            ("inplace", "sleep 303"),
        ]),
    )
    .expect("written");
    wait_for(CONVERGE, "word that the files load again", || {
        env.log_text("mrsm-watch-watched")
            .contains("the files load again; nothing to change")
            .then_some(())
    });

    // Fixing it converges.
    std::fs::write(&path, spec(&[("keeper", "sleep 300")])).expect("written");
    wait_for(CONVERGE, "the fix to converge", || {
        env.mrsm()
            .args(["show", "jobs", "renamed"])
            .output()
            .ok()
            .filter(|o| !o.status.success())
            .map(|_| ())
    });
    assert_eq!(
        env.info("keeper")["pid"],
        keeper_pid,
        "keeper never restarted"
    );

    env.ok(&["down"]);
    env.mrsm()
        .args(["show", "jobs", "mrsm-watch-watched"])
        .assert()
        .failure();
}

/// Waits until the background watcher has made its first pass (which converges
/// everything by itself, so a test of the timer starts after it).
fn wait_until_watching(env: &Env) {
    wait_for(Duration::from_secs(20), "the watcher's first pass", || {
        env.log_text("mrsm-watch-watched")
            .contains("watching")
            .then_some(())
    });
}

#[test]
fn the_heal_timer_starts_a_killed_supervisor_again() {
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        spec(&[("victim", "sleep 300")]),
    )
    .expect("written");
    env.mrsm()
        .args(["up", "-d", "--watch"])
        .env("MRSM_WATCH_HEAL_EVERY", "200ms")
        .assert()
        .success();
    wait_until_watching(&env);
    let mut orphans = Orphans::default();
    let killed = orphans.kill_supervisor(&env, "victim");
    // Nothing but the timer notices: no file changes from here on.
    wait_for(
        Duration::from_secs(10),
        "the heal timer to start it again",
        || {
            let again = env.supervisor("victim")?;
            (again != killed && env.status("victim") == "running").then_some(())
        },
    );
    // The watcher says so once `start` has returned, just after the job runs.
    wait_for(Duration::from_secs(10), "the watcher to report it", || {
        env.log_text("mrsm-watch-watched")
            .contains("started job \"victim\"")
            .then_some(())
    });
    env.ok(&["down"]);
}

#[test]
fn edits_of_dotenv_and_env_files_are_applied() {
    let env = Env::new();
    let work = env.work();
    std::fs::create_dir(work.join("conf")).expect("dir");
    std::fs::write(work.join(".env"), "MRSM_TEST_WORD=first\n").expect("written");
    std::fs::write(work.join("conf/app.env"), "LEVEL=one\n").expect("written");
    std::fs::write(
        work.join("mrsm-jobs.yaml"),
        "project: watched\njobs:\n  reader:\n    command: sh -c 'echo word=${MRSM_TEST_WORD} level=$$LEVEL; sleep 300'\n    env_file: conf/app.env\n",
    )
    .expect("written");
    env.ok(&["up", "-d", "--watch"]);
    wait_until_watching(&env);
    let said = |what: &str| {
        let what = what.to_string();
        let env = &env;
        move || env.log_text("reader").contains(&what).then_some(())
    };
    wait_for(CONVERGE, "the first line", said("word=first level=one"));

    std::fs::write(work.join(".env"), "MRSM_TEST_WORD=second\n").expect("written");
    wait_for(
        CONVERGE,
        "the .env edit to be applied",
        said("word=second level=one"),
    );

    std::fs::write(work.join("conf/app.env"), "LEVEL=two\n").expect("written");
    wait_for(
        CONVERGE,
        "the env_file edit to be applied",
        said("word=second level=two"),
    );
    env.ok(&["down"]);
}

#[test]
fn an_emptied_file_changes_nothing_under_the_background_watcher() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    std::fs::write(&path, spec(&[("kept", "sleep 300")])).expect("written");
    env.ok(&["up", "-d", "--watch"]);
    wait_until_watching(&env);
    let pid = env.info("kept")["pid"].clone();
    std::fs::write(&path, "").expect("truncated");
    wait_for(CONVERGE, "the error in the watcher's log", || {
        env.log_text("mrsm-watch-watched")
            .contains("the file is empty")
            .then_some(())
    });
    assert_eq!(env.status("kept"), "running");
    assert_eq!(env.info("kept")["pid"], pid);
    std::fs::write(&path, spec(&[("kept", "sleep 300")])).expect("written");
    env.ok(&["down"]);
    // The watcher's log was kept like the jobs'; `down -v` later removes it too.
    let watcher_log = env.root().join("logs/mrsm-watch-watched.log");
    assert!(watcher_log.exists());
    env.ok(&["down", "-v"]);
    assert!(!watcher_log.exists(), "down -v left the watcher's log");
}

#[test]
fn foreground_up_follows_logs_and_ctrl_c_stops_the_jobs() {
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        spec(&[(
            "talker",
            "sh -c 'while true; do echo chatter; sleep 0.2; done'",
        )]),
    )
    .expect("written");
    let mut up = KillOnDrop(
        support::mrsm_process()
            .arg("up")
            .env("MRSM_ROOT_DIR", env.root())
            .env("NO_COLOR", "1")
            .current_dir(env.work())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("up starts"),
    );
    // Lines arrive on a channel, so a missing line fails the test instead of hanging it.
    let stdout = up.0.stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let first_line_with = |needle: &str| -> Option<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    };
    let seen = first_line_with("| chatter");
    assert!(
        seen.is_some_and(|l| l.starts_with("talker")),
        "prefixed log lines"
    );
    // A job added to the file while `up` runs is applied, and its lines followed.
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        spec(&[
            (
                "talker",
                "sh -c 'while true; do echo chatter; sleep 0.2; done'",
            ),
            (
                "newcomer",
                "sh -c 'while true; do echo hello; sleep 0.2; done'",
            ),
            ("once", "echo done-once"),
        ]),
    )
    .expect("written");
    let seen = first_line_with("| hello");
    wait_for(
        Duration::from_secs(20),
        "the one-shot job to finish",
        || (env.info("once")["last_result"]["ok"] == true).then_some(()),
    );
    assert!(
        seen.is_some_and(|l| l.starts_with("newcomer")),
        "the new job is followed"
    );
    kill(Pid::from_raw(up.0.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    let status = up.0.wait().expect("up ends");
    assert!(status.success(), "{status:?}");
    assert_eq!(env.status("talker"), "stopped");
    assert_eq!(env.status("newcomer"), "stopped");
    // What had finished by itself keeps its result.
    let once = env.info("once");
    assert_eq!(
        once["last_result"]["message"], "exited with status 0",
        "{once}"
    );
    assert_eq!(once["desired"], "running", "{once}");
}

#[test]
fn a_slowly_written_file_is_applied_only_once_its_writer_closes_it() {
    let env = Env::new();
    let work = env.work();
    let done = work.join("partial-but-complete");
    let first = "project: watched\njobs:\n  alpha:\n    command: sleep 300\n  beta:\n    command: sleep 301\n";
    std::fs::write(work.join("mrsm-jobs.yaml"), first).expect("written");
    env.ok(&["up", "-d", "--watch"]);
    wait_until_watching(&env);
    let beta = env.info("beta")["supervisor_pid"].clone();
    // What a slow generator writes: the file parses at the pause, with beta missing
    // and a command cut short.
    let full = format!(
        "project: watched\njobs:\n  alpha:\n    command: sleep 300\n  toucher:\n    command: touch {}\n  beta:\n    command: sleep 301\n",
        done.display()
    );
    let cut = full.find("-but-complete").expect("the cut");
    std::fs::write(work.join("head"), &full[..cut]).expect("written");
    std::fs::write(work.join("tail"), &full[cut..]).expect("written");
    let status = std::process::Command::new("sh")
        .args(["-c", "{ cat head; sleep 1.5; cat tail; } > mrsm-jobs.yaml"])
        .current_dir(work)
        .status()
        .expect("runs");
    assert!(status.success());
    wait_for(CONVERGE, "the whole file to be applied", || {
        done.exists().then_some(())
    });
    assert!(
        !work.join("partial").exists(),
        "the command cut short never ran"
    );
    assert_eq!(
        env.info("beta")["supervisor_pid"],
        beta,
        "beta was never deleted"
    );
    assert!(!env
        .log_text("mrsm-watch-watched")
        .contains("deleted job \"beta\""));
    env.ok(&["down"]);
}

#[test]
fn edits_through_a_symbolic_link_are_applied() {
    let env = Env::new();
    let work = env.work();
    std::fs::create_dir(work.join("real")).expect("dir");
    let target = work.join("real/jobs.yaml");
    std::fs::write(&target, spec(&[("linked", "sleep 300")])).expect("written");
    std::os::unix::fs::symlink(&target, work.join("mrsm-jobs.yaml")).expect("linked");
    env.ok(&["up", "-d", "--watch"]);
    wait_until_watching(&env);
    let status = std::process::Command::new("sed")
        .args(["-i", "s/sleep 300/sleep 302/"])
        .arg(&target)
        .status()
        .expect("sed runs");
    assert!(status.success());
    wait_for(CONVERGE, "the edit of the link's target", || {
        command_of(&env, "linked")
            .filter(|c| c == "sleep 302")
            .map(|_| ())
    });
    env.ok(&["down"]);
}

#[test]
fn a_job_that_only_has_the_watcher_s_name_is_left_alone() {
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        spec(&[("own", "sleep 300")]),
    )
    .expect("written");
    env.run_d("mrsm-watch-watched", &["--", "sleep", "300"]);
    env.mrsm()
        .args(["up", "-d", "--watch"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "is not project \"watched\"'s watcher",
        ));
    env.ok(&["down"]);
    assert_eq!(env.status("mrsm-watch-watched"), "running");
    assert_eq!(env.info("mrsm-watch-watched")["command"][0], "sleep 300");
    env.ok(&["stop", "jobs", "mrsm-watch-watched"]);
}

#[test]
fn the_background_watcher_reports_files_that_name_another_project() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    std::fs::write(&path, spec(&[("keeper", "sleep 300")])).expect("written");
    env.ok(&["up", "-d", "--watch"]);
    let pid = env.info("keeper")["pid"].clone();
    wait_for(CONVERGE, "the watcher to watch", || {
        env.log_text("mrsm-watch-watched")
            .contains("watching 1 file")
            .then_some(())
    });
    let renamed = spec(&[("keeper", "sleep 301")]).replace("project: watched", "project: renamed");
    std::fs::write(&path, &renamed).expect("written");
    wait_for(CONVERGE, "the watcher to report it", || {
        env.log_text("mrsm-watch-watched")
            .contains("the files now say project \"renamed\", but this watcher applies project \"watched\"")
            .then_some(())
    });
    assert_eq!(env.info("keeper")["pid"], pid, "nothing applied");
    // What `diff` says of the files as they are: the name is another project's.
    let out = env.mrsm().arg("diff").output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("! conflict keeper"));
    // Started again, the watcher still applies its own project only.
    env.ok(&["stop", "jobs", "mrsm-watch-watched"]);
    env.ok(&["start", "jobs", "mrsm-watch-watched"]);
    wait_for(CONVERGE, "the restarted watcher to report it", || {
        (env.log_text("mrsm-watch-watched")
            .matches("the files now say project \"renamed\"")
            .count()
            == 2)
            .then_some(())
    });
    assert_eq!(env.info("keeper")["pid"], pid, "nothing applied");
}

#[test]
fn several_up_d_watch_at_once_leave_one_watcher() {
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        spec(&[("keeper", "sleep 300")]),
    )
    .expect("written");
    let ups: Vec<_> = (0..4)
        .map(|_| {
            support::mrsm_process()
                .args(["up", "-d", "--watch"])
                .env("MRSM_ROOT_DIR", env.root())
                .current_dir(env.work())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("up starts")
        })
        .collect();
    for up in ups {
        let out = up.wait_with_output().expect("up ends");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(env.status("mrsm-watch-watched"), "running");
    assert_eq!(env.status("keeper"), "running");
    env.ok(&["down"]);
}
