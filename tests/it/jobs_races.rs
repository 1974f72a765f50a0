//! Verbs racing on one job name, from many processes (the command line) and many
//! threads (the HTTP API): whatever order they land in, a job never has two
//! supervisors, a live supervisor is always the one its job shows (and `stop`
//! stops), and a deleted job leaves no supervisor running unseen.
//! `bench/races.py` runs the same races for hundreds of rounds.

use crate::support;
use crate::support::server;

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use mrsm::store::proc::{all_processes, environ_var};
use support::{poll, Env};

const NAME: &str = "raced";

/// The live supervisors of job `name` under `root`, by the mark every launched
/// supervisor carries.
fn supervisors(root: &Path, name: &str) -> Vec<i32> {
    all_processes()
        .into_iter()
        .filter(|p| {
            environ_var(p.pid, mrsm::store::proc::SUPERVISOR_VARIABLE).as_deref()
                == Some(name.as_bytes())
                && environ_var(p.pid, "MRSM_ROOT_DIR")
                    .is_some_and(|r| Path::new(std::ffi::OsStr::from_bytes(&r)) == root)
        })
        .map(|p| p.pid)
        .collect()
}

/// Once the verbs of a round have all returned: at most one supervisor, and the
/// one there is shows as the job's, running.
fn check_consistent(env: &Env, round: usize) {
    let alive = supervisors(env.root(), NAME);
    assert!(
        alive.len() <= 1,
        "round {round}: two supervisors: {alive:?}"
    );
    let shown = env
        .mrsm()
        .args(["show", "jobs", NAME, "--json"])
        .output()
        .expect("runs");
    let listed: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap_or_default();
    let info = &listed[0];
    match alive.first() {
        Some(pid) => {
            assert_eq!(
                info["supervisor_pid"].as_i64(),
                Some(*pid as i64),
                "round {round}: supervisor {pid} runs, the job shows {info}"
            );
        }
        None => assert!(
            info.is_null() || info["supervisor_pid"].is_null(),
            "round {round}: no supervisor runs, the job shows {info}"
        ),
    }
}

#[test]
fn run_delete_and_start_racing_on_one_name_never_make_two_supervisors() {
    let env = Env::new();
    let bin = assert_cmd::cargo::cargo_bin("mrsm");
    let verbs: [&[&str]; 3] = [
        &["run", "-d", "--name", NAME, "--", "sleep", "300"],
        &["delete", "jobs", NAME, "-y"],
        &["start", "jobs", NAME],
    ];
    // How often each verb went through: the races must really happen.
    let mut went_through = [0usize; 3];
    for round in 0..25 {
        let children: Vec<_> = (0..4)
            .flat_map(|_| verbs.iter().enumerate())
            .map(|(verb, args)| {
                Command::new(&bin)
                    .args(*args)
                    .env("MRSM_ROOT_DIR", env.root())
                    .env_remove("MRSM_BIN")
                    .env_remove("MRSM_CONFIG")
                    .current_dir(env.work())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map(|child| (verb, child))
                    .expect("mrsm starts")
            })
            .collect();
        for (verb, mut child) in children {
            if child.wait().is_ok_and(|s| s.success()) {
                went_through[verb] += 1;
            }
        }
        check_consistent(&env, round);
    }
    assert!(went_through.iter().all(|&n| n > 0), "{went_through:?}");
    // Whatever is left can be stopped and deleted, leaving nothing running.
    env.mrsm()
        .args(["delete", "jobs", NAME, "-y"])
        .output()
        .expect("runs");
    let gone = poll(Duration::from_secs(10), || {
        supervisors(env.root(), NAME).is_empty().then_some(())
    });
    assert!(gone.is_some(), "{:?}", supervisors(env.root(), NAME));
}

#[test]
fn http_verbs_racing_on_one_name_never_make_two_supervisors() {
    let server = server::Server::start();
    let spec = serde_json::json!({
        "spec": { "name": NAME, "command": ["sleep 300"] },
        "desired": "running",
    })
    .to_string();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let url = |path: &str| format!("{}{path}", server.url());
    let auth = format!("Bearer {}", server.token);
    let went_through: [std::sync::atomic::AtomicUsize; 6] = Default::default();
    for round in 0..10 {
        std::thread::scope(|scope| {
            for thread in 0..20 {
                let (agent, auth, spec) = (agent.clone(), auth.clone(), spec.clone());
                let (url, went_through) = (&url, &went_through);
                scope.spawn(move || {
                    let path = format!("/v1/jobs/{NAME}");
                    let result = match thread % 6 {
                        0 => agent
                            .post(url(&path))
                            .header("Authorization", &auth)
                            .header("Content-Type", "application/json")
                            .send(&spec),
                        1 => agent
                            .put(url(&path))
                            .header("Authorization", &auth)
                            .header("Content-Type", "application/json")
                            .send(&spec),
                        2 => agent
                            .delete(url(&format!("{path}?purge=true")))
                            .header("Authorization", &auth)
                            .call(),
                        3 => agent
                            .post(url(&format!("{path}/start")))
                            .header("Authorization", &auth)
                            .send_empty(),
                        4 => agent
                            .post(url(&format!("{path}/stop")))
                            .header("Authorization", &auth)
                            .send_empty(),
                        _ => agent
                            .post(url(&format!("{path}/pause")))
                            .header("Authorization", &auth)
                            .send_empty(),
                    };
                    let status = result.map(|r| r.status().as_u16()).unwrap_or(0);
                    assert!(
                        status != 0 && status != 500,
                        "round {round}: answered {status}"
                    );
                    if (200..300).contains(&status) {
                        went_through[thread % 6].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                });
            }
        });
        check_consistent(&server.env, round);
    }
    let counts: Vec<usize> = went_through
        .iter()
        .map(|n| n.load(std::sync::atomic::Ordering::SeqCst))
        .collect();
    assert!(
        counts.iter().all(|&n| n > 0),
        "create, put, delete, start, stop, pause: {counts:?}"
    );
}

/// Whether a process holds (`waiting` false) or waits for (true) a lock on the file
/// at `path`: a line of `/proc/locks` naming its inode, `->` marking a waiter.
fn lock_on(path: &Path, waiting: bool) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let inode = format!(":{} ", meta.ino());
    std::fs::read_to_string("/proc/locks")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains("->") == waiting && l.contains(&inode))
}

/// The server's watchdog looked while a verb was under way (the job defined, its
/// supervisor not yet reporting: it seemed to have died); by the time the watchdog
/// holds the job's lock the job has run and finished. Reviving it then would run a
/// one-shot job twice (seen as a second supervisor writing into a log under load):
/// the decision is taken again under the lock.
#[test]
fn a_revive_decided_on_a_stale_look_leaves_a_finished_job_alone() {
    use mrsm::executor::{CreateOptions, Executor, LocalExecutor};
    use mrsm::store::{JobLock, Root};
    use std::sync::Arc;

    let env = Env::new();
    let root = Root::at(env.root());
    let executor = Arc::new(
        LocalExecutor::new(root.clone())
            .with_supervisor_binary(std::path::PathBuf::from(env!("CARGO_BIN_EXE_mrsm"))),
    );
    let spec = mrsm::job::JobSpec::new("once", vec!["true".into()]);
    executor
        .create(&spec, &CreateOptions::default())
        .expect("created");
    let supervisor = support::wait_for(Duration::from_secs(30), "the job to finish", || {
        (env.status("once") == "stopped").then(|| env.supervisor("once"))
    });
    if let Some(supervisor) = supervisor {
        support::wait_for(Duration::from_secs(30), "its supervisor to exit", || {
            (!supervisor.is_alive()).then_some(())
        });
    }
    assert_eq!(env.runs("once").len(), 1);

    // The look: its report says running, its supervisor is gone.
    let state_path = env.job_dir("once").join("state.json");
    let finished = std::fs::read_to_string(&state_path).expect("a report");
    let mut seemed: serde_json::Value = serde_json::from_str(&finished).expect("JSON");
    seemed["phase"] = "running".into();
    std::fs::write(&state_path, seemed.to_string()).expect("written");
    assert!(executor.get("once").expect("the job").died);

    // A verb holds the job's lock while the watchdog's revive waits for it; the
    // verb ends with the job finished.
    let lock = JobLock::acquire(&root, "once").expect("locked");
    let reviver = {
        let executor = Arc::clone(&executor);
        std::thread::spawn(move || executor.revive("once"))
    };
    support::wait_for(
        Duration::from_secs(30),
        "the revive to wait for the lock",
        || lock_on(&root.job_lock("once"), true).then_some(()),
    );
    std::fs::write(&state_path, &finished).expect("written");
    drop(lock);

    let revived = reviver.join().expect("no panic").expect("no error");
    assert!(revived.is_none(), "revived a finished job: {revived:?}");
    assert_eq!(env.runs("once").len(), 1, "{:?}", env.runs("once"));
    assert_eq!(env.status("once"), "stopped");
}

/// `delete jobs NAME -y` of a deleted job's kept logs and runs while the job's last
/// supervisor is still finishing its exit (its lock held a moment longer) waits for
/// it, then deletes them: it once said they were deleted and deleted nothing.
#[test]
fn deleting_kept_data_waits_for_a_supervisor_finishing_its_exit() {
    let env = Env::new();
    env.run_d("kept", &["--", "echo", "hi"]);
    support::wait_for(Duration::from_secs(30), "the job to be over", || {
        let over = env.status("kept") == "stopped";
        (over && env.supervisor("kept").is_none_or(|s| !s.is_alive())).then_some(())
    });
    std::fs::remove_file(env.job_dir("kept").join("job.json")).expect("removed");
    // A supervisor finishing its exit: a process that holds the job's supervisor
    // lock, named in it, for a moment.
    let lock = env.root().join("locks/kept.supervisor");
    let mut finishing = Command::new("flock")
        .arg(&lock)
        .args(["sleep", "1"])
        .spawn()
        .expect("flock runs");
    let held = support::poll(Duration::from_secs(10), || {
        lock_on(&lock, false).then_some(())
    });
    let identity = mrsm::store::ProcessIdentity::of(finishing.id() as i32);
    if let (Some(()), Some(identity)) = (held, identity) {
        std::fs::write(
            &lock,
            format!("{} {}\n", identity.pid, identity.start_ticks),
        )
        .expect("named");
    }
    let out = env
        .mrsm()
        .args(["delete", "jobs", "kept", "-y"])
        .output()
        .expect("runs");
    let _ = finishing.kill();
    let _ = finishing.wait();
    assert!(held.is_some(), "flock took the lock");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("kept for job \"kept\""), "{said}");
    assert!(
        !env.root().join("logs/kept.log").exists(),
        "the log is gone"
    );
    assert!(!env.job_dir("kept").exists(), "the runs are gone");
}
