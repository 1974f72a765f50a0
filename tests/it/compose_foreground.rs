//! Foreground `mrsm up` through the real binary: it shows the jobs' first lines and
//! what it applied, keeps applying edits of every kind and healing killed jobs for
//! as long as it runs (whether or not anyone reads its output), refuses to be a
//! second watcher of a project, waits for the project lock, and never lets an empty
//! or half-written file delete anything.

use crate::support;
use crate::support::orphans;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use orphans::Orphans;
use support::{wait_for, Env};

/// Deadline for one change to be converged on a loaded machine.
const CONVERGE: Duration = Duration::from_secs(20);

/// `mrsm up` in the foreground (killed by its pid if the test ends early).
struct Up {
    child: Spawned,
    stdout: Lines,
    stderr: Lines,
}

/// What a stream said so far, read on a thread.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn read_from(&self, stream: impl Read + Send + 'static) {
        let lines = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Ok(mut all) = lines.0.lock() {
                    all.push(line);
                }
            }
        });
    }

    fn count(&self, needle: &str) -> usize {
        self.0
            .lock()
            .map(|l| l.iter().filter(|l| l.contains(needle)).count())
            .unwrap_or_default()
    }

    fn text(&self) -> String {
        self.0.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// Waits until `needle` has been said `times` times; says what was said if not.
    fn wait(&self, needle: &str, times: usize) {
        if support::poll(CONVERGE, || (self.count(needle) >= times).then_some(())).is_none() {
            let text = self.text();
            let tail: String = text
                .lines()
                .filter(|l| !l.contains("| chatter-line"))
                .collect::<Vec<_>>()
                .join("\n");
            panic!("timed out after {CONVERGE:?} waiting for {needle:?} × {times}; said (chatter left out):\n{tail}");
        }
    }
}

impl Up {
    /// Starts `mrsm up` (plus `args`) in the work directory; its stdout is read at
    /// once only when `read` says so.
    fn start(env: &Env, args: &[&str], read: bool) -> Up {
        let mut child = support::mrsm_process()
            .arg("up")
            .args(args)
            .env("MRSM_ROOT_DIR", env.root())
            .env("NO_COLOR", "1")
            .env("MRSM_WATCH_HEAL_EVERY", "300ms")
            .env("MRSM_WATCH_SETTLE", "5s")
            .env_remove("MRSM_BIN")
            .current_dir(env.work())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("up starts");
        let stderr = Lines::default();
        stderr.read_from(child.stderr.take().expect("piped"));
        let stdout = Lines::default();
        if read {
            stdout.read_from(child.stdout.take().expect("piped"));
        }
        Up {
            child: Spawned(child),
            stdout,
            stderr,
        }
    }

    /// Starts reading stdout now (for a test that left it unread).
    fn start_reading(&mut self) {
        if let Some(out) = self.child.0.stdout.take() {
            self.stdout.read_from(out);
        }
    }

    /// Ctrl-C, then the exit status.
    fn interrupt(&mut self) -> std::process::ExitStatus {
        kill(Pid::from_raw(self.child.0.id() as i32), Signal::SIGINT).expect("Ctrl-C");
        wait_for(CONVERGE, "up to stop its jobs and exit", || {
            self.child.0.try_wait().ok().flatten()
        })
    }
}

/// A helper process, killed (by its pid) if the test ends early.
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("written");
}

fn spec(jobs: &[(&str, &str)]) -> String {
    let mut text = String::from("project: fg\njobs:\n");
    for (name, command) in jobs {
        text.push_str(&format!("  {name}:\n    command: {command}\n"));
    }
    text
}

/// A job that says `word` first, then sleeps.
fn says(word: &str) -> String {
    format!("sh -c 'echo {word}; sleep 300'")
}

/// The first step of a running job, once it runs `expected`.
fn runs(env: &Env, name: &str, expected: &str) -> Option<()> {
    let out = env
        .mrsm()
        .args(["show", "jobs", name, "--json"])
        .output()
        .ok()?;
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    (list[0]["status"] == "running" && list[0]["command"][0] == expected).then_some(())
}

/// The supervisor's pid as recorded, for comparisons.
fn supervisor_pid(env: &Env, name: &str) -> i32 {
    env.supervisor(name).expect("recorded").pid
}

#[test]
fn foreground_up_applies_every_kind_of_edit_and_heals_while_its_output_is_read() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    let (alpha, beta, gamma) = (says("alpha-began"), says("beta-began"), says("gamma-began"));
    write(
        &path,
        &spec(&[("alpha", &alpha), ("beta", &beta), ("gamma", &gamma)]),
    );
    let mut up = Up::start(&env, &[], true);
    // The jobs' first lines, though they were written before the logs were followed.
    for first in ["alpha-began", "beta-began", "gamma-began"] {
        up.stdout.wait(&format!("| {first}"), 1);
    }
    up.stdout.wait("watching", 1);
    let mut orphans = Orphans::default();

    // 1. sed -i.
    let sed = Command::new("sed")
        .args(["-i", "s/alpha-began/alpha-v2/"])
        .arg(&path)
        .status()
        .expect("sed runs");
    assert!(sed.success());
    let alpha = says("alpha-v2");
    up.stdout.wait("updated alpha", 1);
    up.stdout.wait("| alpha-v2", 1);
    wait_for(CONVERGE, "alpha v2", || runs(&env, "alpha", &alpha));

    // 2. Saved by rename, as vim does.
    let beta = says("beta-v2");
    let tmp = env.work().join(".mrsm-jobs.yaml.swp");
    write(
        &tmp,
        &spec(&[("alpha", &alpha), ("beta", &beta), ("gamma", &gamma)]),
    );
    std::fs::rename(&tmp, &path).expect("renamed");
    up.stdout.wait("updated beta", 1);
    wait_for(CONVERGE, "beta v2", || runs(&env, "beta", &beta));

    // 3. A job added: created, and its first line shown.
    let delta = says("delta-began");
    let four = [
        ("alpha", alpha.as_str()),
        ("beta", &beta),
        ("gamma", &gamma),
        ("delta", &delta),
    ];
    write(&path, &spec(&four));
    up.stdout.wait("created delta", 1);
    up.stdout.wait("| delta-began", 1);

    // 4. A job removed.
    write(&path, &spec(&four[..3]));
    up.stdout.wait("deleted job \"delta\"", 1);
    wait_for(CONVERGE, "delta to be gone", || {
        (!env.job_dir("delta").join("job.json").exists()).then_some(())
    });
    assert!(
        env.log_text("delta").contains(" out delta-began"),
        "a job removed from the file keeps its log"
    );

    // 5. A broken edit changes nothing; its fix is applied.
    let pids: Vec<i32> = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| supervisor_pid(&env, n))
        .collect();
    write(&path, "project: fg\njobs:\n  alpha: [\n");
    up.stderr.wait("mrsm-jobs.yaml:3:", 1);
    up.stderr.wait("not applied", 1);
    let gamma = says("gamma-v2");
    write(
        &path,
        &spec(&[("alpha", &alpha), ("beta", &beta), ("gamma", &gamma)]),
    );
    up.stdout.wait("updated gamma", 1);
    wait_for(CONVERGE, "gamma v2", || runs(&env, "gamma", &gamma));
    assert_eq!(supervisor_pid(&env, "alpha"), pids[0], "alpha untouched");
    assert_eq!(supervisor_pid(&env, "beta"), pids[1], "beta untouched");

    // Two heals: supervisors killed with SIGKILL are started again.
    for name in ["alpha", "beta"] {
        let before = supervisor_pid(&env, name);
        orphans.kill_supervisor(&env, name);
        up.stdout.wait(&format!("started job \"{name}\""), 1);
        wait_for(CONVERGE, &format!("{name} healed"), || {
            let again = env.supervisor(name)?;
            (again.pid != before && again.is_alive() && env.status(name) == "running").then_some(())
        });
    }
    assert_eq!(up.stdout.count("deleted"), 1, "{}", up.stdout.text());

    let status = up.interrupt();
    assert!(status.success(), "{status:?}: {}", up.stderr.text());
    for name in ["alpha", "beta", "gamma"] {
        assert_eq!(env.status(name), "stopped", "{name}");
    }
}

#[test]
fn foreground_up_keeps_converging_while_nobody_reads_its_output() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    // Far more output than a pipe holds, all of it shown (written since `up` began).
    let chatter = "sh -c 'yes chatter-line | head -n 20000; sleep 300'";
    write(
        &path,
        &spec(&[("chatter", chatter), ("steady", "sleep 300")]),
    );
    let mut up = Up::start(&env, &[], false);
    wait_for(CONVERGE, "the chatter to be written", || {
        (env.log_text("chatter").matches("chatter-line").count() == 20000).then_some(())
    });

    // The printer is stuck on a full pipe; edits and heals go on.
    write(
        &path,
        &spec(&[("chatter", chatter), ("steady", "sleep 301")]),
    );
    wait_for(CONVERGE, "the edit to converge unread", || {
        runs(&env, "steady", "sleep 301")
    });
    // The update is over once it lets go of the job's lock (its new supervisor
    // then said it is ready); killed before that, the supervisor fails the update
    // instead (seen under load), which is not what this test is about.
    let root = mrsm::store::Root::at(env.root());
    wait_for(CONVERGE, "the update to let go of the job", || {
        mrsm::store::JobLock::try_acquire(&root, "steady")
            .ok()
            .flatten()
            .map(drop)
    });
    let before = supervisor_pid(&env, "steady");
    let mut orphans = Orphans::default();
    orphans.kill_supervisor(&env, "steady");
    wait_for(CONVERGE, "the heal, unread", || {
        let again = env.supervisor("steady")?;
        (again.pid != before && env.status("steady") == "running").then_some(())
    });

    // Read at last: the logs and the watcher's messages are all there.
    up.start_reading();
    up.stdout.wait("| chatter-line", 20000);
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        up.stdout.wait("updated steady", 1)
    }));
    assert!(waited.is_ok(), "stderr said:\n{}", up.stderr.text());
    up.stdout.wait("started job \"steady\"", 1);
    assert!(up.interrupt().success());
}

#[test]
fn a_second_watcher_of_a_project_is_refused_and_told_who_holds_it() {
    let env = Env::new();
    write(
        &env.work().join("mrsm-jobs.yaml"),
        &spec(&[("only", "sleep 300")]),
    );
    let mut up = Up::start(&env, &[], true);
    up.stdout.wait("watching", 1);
    let holder = format!("pid {} (mrsm up)", up.child.0.id());
    for args in [&["up"][..], &["up", "-d", "--watch"], &["down"]] {
        // A watcher that is not refused would run on: the timeout fails the test.
        let out = env
            .mrsm()
            .args(args)
            .timeout(CONVERGE)
            .output()
            .expect("refused in time");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("already watched by") && stderr.contains(&holder),
            "{args:?}: {stderr}"
        );
    }
    assert!(up.interrupt().success());
    assert_eq!(env.status("only"), "stopped");

    // The background watcher holds it in turn.
    env.ok(&["up", "-d", "--watch"]);
    wait_for(CONVERGE, "the background watcher to watch", || {
        env.log_text("mrsm-watch-fg")
            .contains("watching")
            .then_some(())
    });
    let out = env
        .mrsm()
        .arg("up")
        .timeout(CONVERGE)
        .output()
        .expect("refused in time");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("(mrsm watch, the job mrsm-watch-fg)"),
        "{stderr}"
    );
    // Running `up -d --watch` again keeps that watcher.
    env.ok(&["up", "-d", "--watch"]);
    env.ok(&["down"]);
}

#[test]
fn an_empty_or_half_written_file_never_deletes_jobs() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    let three = [("a", "sleep 300"), ("b", "sleep 300"), ("c", "sleep 300")];
    write(&path, &spec(&three));
    let mut up = Up::start(&env, &[], true);
    up.stdout.wait("watching", 1);
    let pids: Vec<i32> = ["a", "b", "c"]
        .iter()
        .map(|n| supervisor_pid(&env, n))
        .collect();

    // `: > mrsm-jobs.yaml`.
    write(&path, "");
    up.stderr.wait("the file is empty", 1);

    // A generator that writes the file in parts, closing it after each (`>` then
    // `>>`; one that keeps it open is waited for, see compose_watch), and stops after
    // each part until the watcher has seen it: no `jobs:` yet, `jobs:` with nothing
    // under it, one job of three (held back, then re-read), and at last the whole
    // file.
    let parts = [
        ("echo project: fg >", "no `jobs:` key"),
        ("echo jobs: >>", "`jobs:` has nothing under it"),
        (
            "{ echo '  a:'; echo '    command: sleep 300'; } >>",
            "deletes 2 of the project's 3 jobs",
        ),
    ];
    let mut script = String::new();
    for (i, (part, _)) in parts.iter().enumerate() {
        script.push_str(&format!(
            "{part} mrsm-jobs.yaml; while [ ! -e go{i} ]; do sleep 0.02; done; "
        ));
    }
    script.push_str(
        "{ echo '  b:'; echo '    command: sleep 300'; echo '  c:'; echo '    command: sleep 301'; } >> mrsm-jobs.yaml",
    );
    let mut generator = Spawned(
        Command::new("sh")
            .args(["-c", &script])
            .current_dir(env.work())
            .spawn()
            .expect("generator starts"),
    );
    for (i, (_, said)) in parts.iter().enumerate() {
        up.stderr.wait(said, 1);
        write(&env.work().join(format!("go{i}")), "");
    }
    assert!(generator.0.wait().expect("generator ends").success());
    up.stdout.wait("updated c", 1);
    wait_for(CONVERGE, "c to run its new command", || {
        runs(&env, "c", "sleep 301")
    });
    assert_eq!(up.stdout.count("deleted"), 0, "{}", up.stdout.text());
    assert_eq!(supervisor_pid(&env, "a"), pids[0]);
    assert_eq!(supervisor_pid(&env, "b"), pids[1]);
    assert!(up.interrupt().success());
}

#[test]
fn the_watcher_waits_for_the_project_lock() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    write(&path, &spec(&[("first", "sleep 300")]));
    let mut up = Up::start(&env, &[], true);
    up.stdout.wait("watching", 1);
    let root = mrsm::store::Root::at(env.root());
    let lock = mrsm::store::ProjectLock::acquire(&root, "fg").expect("lock");
    write(
        &path,
        &spec(&[("first", "sleep 300"), ("second", "sleep 300")]),
    );
    support::assert_holds_for(
        Duration::from_secs(1),
        "nothing applied under the lock",
        || !env.job_dir("second").join("job.json").exists(),
    );
    drop(lock);
    up.stdout.wait("created second", 1);
    assert!(up.interrupt().success());
}

#[test]
fn up_stops_its_jobs_when_its_output_is_closed_or_never_read() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    // A chatty job, to fill a pipe nobody reads.
    write(
        &path,
        &spec(&[(
            "chatty",
            "sh -c 'while true; do echo lots of output here; done'",
        )]),
    );
    for closed in [true, false] {
        let mut child = support::mrsm_process()
            .arg("up")
            .env("MRSM_ROOT_DIR", env.root())
            .current_dir(env.work())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("up starts");
        let stdout = child.stdout.take().expect("piped");
        let stderr = child.stderr.take().expect("piped");
        let mut up = Spawned(child);
        let supervisor = wait_for(CONVERGE, "chatty to run", || {
            env.supervisor("chatty").filter(|s| s.is_alive())
        });
        if closed {
            // `mrsm up 2>&1 | head`: the reader went away; up stops by itself.
            drop(stdout);
            drop(stderr);
        } else {
            // Nobody reads: up blocks writing its output. Then it is told to stop.
            let pid = up.0.id();
            wait_for(CONVERGE, "up to block on its full pipe", || {
                let blocked = std::fs::read_dir(format!("/proc/{pid}/task"))
                    .ok()?
                    .filter_map(|t| t.ok())
                    .filter_map(|t| std::fs::read_to_string(t.path().join("wchan")).ok())
                    .any(|w| w.contains("pipe_write") || w.contains("pipe_wait"));
                blocked.then_some(())
            });
            kill(Pid::from_raw(pid as i32), Signal::SIGTERM).expect("signals");
        }
        let status = wait_for(CONVERGE, "up to stop its jobs and exit", || {
            up.0.try_wait().ok().flatten()
        });
        assert_ne!(status.code(), Some(101), "no panic (closed: {closed})");
        assert!(
            !supervisor.is_alive(),
            "its job was stopped (closed: {closed})"
        );
        assert_eq!(env.status("chatty"), "stopped");
    }
}

#[test]
fn a_warning_is_said_once_however_often_the_files_are_read() {
    let env = Env::new();
    let path = env.work().join("mrsm-jobs.yaml");
    let unset = "sh -c 'echo ${MRSM_TEST_NEVER_SET}; sleep 300'";
    write(&path, &spec(&[("one", unset), ("two", unset)]));
    let mut up = Up::start(&env, &[], true);
    up.stdout.wait("watching", 1);
    // An edit that keeps the warning: the files are read again.
    write(
        &path,
        &spec(&[("one", unset), ("two", unset), ("three", unset)]),
    );
    up.stdout.wait("created three", 1);
    assert!(up.interrupt().success());
    let said = up.stderr.text();
    assert_eq!(
        up.stderr.count("variable MRSM_TEST_NEVER_SET is not set"),
        1,
        "{said}"
    );
    // One warning for the places that say the same.
    assert_eq!(
        up.stderr.count("= also at mrsm-jobs.yaml:6:26"),
        1,
        "{said}"
    );
}
