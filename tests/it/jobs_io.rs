//! A job's input through its supervisor's control socket, and `run` in the foreground.

use crate::support;

use std::time::Duration;

use mrsm::control::{call, Request, Response};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use predicates::prelude::*;
use support::{wait_for, Env};

#[test]
fn input_reaches_a_step_waiting_for_it() {
    let env = Env::new();
    env.run_d(
        "greeter",
        &["--", "sh", "-c", "read name; echo \"hello $name\""],
    );
    // The step waits for input rather than reading end-of-file.
    assert_eq!(env.status("greeter"), "running");
    let socket = env.job_dir("greeter").join("control.sock");
    let answer = call(
        &socket,
        &Request::Stdin {
            data: "world\n".into(),
            eof: false,
        },
        Duration::from_secs(5),
    )
    .expect("the supervisor answers");
    assert!(matches!(answer, Response::Done { .. }), "{answer:?}");
    wait_for(Duration::from_secs(10), "the greeting", || {
        env.log_text("greeter")
            .contains(" out hello world")
            .then_some(())
    });
    wait_for(Duration::from_secs(10), "the job to end", || {
        (env.status("greeter") == "stopped").then_some(())
    });
    assert_eq!(env.info("greeter")["last_result"]["ok"], true);
}

#[test]
fn closing_input_gives_end_of_file() {
    let env = Env::new();
    env.run_d("counter", &["--", "wc", "-l"]);
    let socket = env.job_dir("counter").join("control.sock");
    call(
        &socket,
        &Request::Stdin {
            data: "a\nb\nc\n".into(),
            eof: true,
        },
        Duration::from_secs(5),
    )
    .expect("the supervisor answers");
    wait_for(Duration::from_secs(10), "wc to end", || {
        (env.status("counter") == "stopped").then_some(())
    });
    assert!(
        env.log_text("counter").contains(" out 3"),
        "{}",
        env.log_text("counter")
    );
}

#[test]
fn foreground_runs_the_chain_here() {
    let env = Env::new();
    env.mrsm()
        .args(["run", "--", "echo", "one", "+", "false", "+", "touch", "x"])
        .assert()
        .code(1)
        .stdout("one\n")
        .stderr(predicate::str::contains(
            "step 2/3 (\"false\") exited with status 1",
        ));
    assert!(!env.work().join("x").exists());
    env.mrsm()
        .args(["run", "--", "echo", "1", "++", "1"])
        .assert()
        .success()
        .stdout("1 + 1\n");
    // Nothing is left behind as a job.
    assert!(
        !env.root().join("jobs").exists()
            || std::fs::read_dir(env.root().join("jobs"))
                .map(|d| d.count())
                .unwrap_or(0)
                == 0
    );
}

/// Processes started for this test's root whose command line is exactly `words`.
fn tagged(env: &Env, words: &[&str]) -> Vec<i32> {
    let wanted: Vec<u8> = words
        .iter()
        .flat_map(|w| [w.as_bytes(), b"\0"].concat())
        .collect();
    mrsm::store::proc::all_processes()
        .into_iter()
        .filter(|p| {
            mrsm::store::proc::environ_var(p.pid, "MRSM_ROOT_DIR")
                .is_some_and(|v| v == env.root().as_os_str().as_encoded_bytes())
                && std::fs::read(format!("/proc/{}/cmdline", p.pid)).is_ok_and(|c| c == wanted)
        })
        .map(|p| p.pid)
        .collect()
}

#[test]
fn a_foreground_run_leaves_nothing_behind() {
    let env = Env::new();
    env.mrsm()
        .args([
            "run",
            "--stop-timeout",
            "2s",
            "--",
            "sh",
            "-c",
            "sleep 1091 & setsid sleep 1092 & echo done",
        ])
        .assert()
        .success()
        .stdout("done\n");
    assert!(tagged(&env, &["sleep", "1091"]).is_empty());
    assert!(
        tagged(&env, &["sleep", "1092"]).is_empty(),
        "even what left the session"
    );
}

#[test]
fn a_stopped_foreground_run_stops_what_it_started() {
    let env = Env::new();
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let mut run = support::mrsm_process()
            .args(["run", "--", "sh", "-c", "sleep 1093 & sleep 1094"])
            .env("MRSM_ROOT_DIR", env.root())
            .spawn()
            .expect("starts");
        wait_for(Duration::from_secs(10), "both sleeps", || {
            (tagged(&env, &["sleep", "1093"]).len() == 1
                && tagged(&env, &["sleep", "1094"]).len() == 1)
                .then_some(())
        });
        // Sent to mrsm alone, not to its process group (as `kill PID` does).
        kill(Pid::from_raw(run.id() as i32), signal).expect("signals");
        let status = run.wait().expect("waits");
        assert_eq!(status.code(), Some(128 + signal as i32), "{signal:?}");
        assert!(tagged(&env, &["sleep", "1093"]).is_empty(), "{signal:?}");
        assert!(tagged(&env, &["sleep", "1094"]).is_empty(), "{signal:?}");
    }
}

#[test]
fn a_foreground_run_killed_with_sigkill_takes_everything_it_started_with_it() {
    let env = Env::new();
    let mut run = support::mrsm_process()
        .args(["run", "--stop-timeout", "1s", "--"])
        .args(["sh", "-c", "sleep 1095 & sleep 1096 & wait"])
        .env("MRSM_ROOT_DIR", env.root())
        .spawn()
        .expect("starts");
    wait_for(Duration::from_secs(10), "both sleeps", || {
        (tagged(&env, &["sleep", "1095"]).len() == 1 && tagged(&env, &["sleep", "1096"]).len() == 1)
            .then_some(())
    });
    // `kill -9` of the mrsm that was started: no chance to clean up itself.
    kill(Pid::from_raw(run.id() as i32), Signal::SIGKILL).expect("signals");
    let _ = run.wait();
    wait_for(Duration::from_secs(10), "the sleeps to be gone", || {
        (tagged(&env, &["sleep", "1095"]).is_empty() && tagged(&env, &["sleep", "1096"]).is_empty())
            .then_some(())
    });
}

#[test]
fn ctrl_c_on_a_terminal_reaches_a_foreground_step_once() {
    let env = Env::new();
    let mut cmd = support::mrsm_process();
    cmd.args(["run", "--", "sh", "-c"])
        .arg("trap 'sleep 0.3; echo got-int' INT; echo ready; sleep 1 & wait; sleep 0.3 & wait; exit 3")
        .env("MRSM_ROOT_DIR", env.root());
    let mut session =
        rexpect::session::spawn_command(cmd, Some(15_000)).expect("run starts in a pty");
    session.exp_string("ready").expect("the step runs");
    session.send_control('c').expect("Ctrl-C");
    let rest = session.exp_eof().expect("the run ends");
    // The terminal sent it to the whole process group: mrsm passes on only what
    // was sent to it alone, so the step's handler runs once, and whole: the stop
    // signal waits for the step to act on Ctrl-C (its handler takes a moment here;
    // under load even an instant one was cut short).
    assert_eq!(rest.matches("got-int").count(), 1, "{rest}");
}

#[test]
fn input_a_step_does_not_read_is_held_back_not_hoarded() {
    let env = Env::new();
    env.run_d("deaf", &["--", "sleep", "300"]);
    let socket = env.job_dir("deaf").join("control.sock");
    let chunk = vec![b'x'; 64 * 1024];
    let mut accepted = 0usize;
    let refusal = loop {
        let answer = call(
            &socket,
            &Request::Stdin {
                data: chunk.clone(),
                eof: false,
            },
            Duration::from_secs(5),
        )
        .expect("the supervisor answers");
        match answer {
            Response::Done { .. } => accepted += chunk.len(),
            Response::Busy { message } => break message,
            other => panic!("{other:?}"),
        }
        assert!(
            accepted <= 4 << 20,
            "4 MiB taken for a step that reads nothing"
        );
    };
    assert!(
        refusal.contains(mrsm::supervisor::INPUT_NOT_READ),
        "{refusal}"
    );
    // What the pipe holds plus about 1 MiB waiting: not everything it was sent.
    assert!(
        accepted <= (1 << 20) + (128 << 10),
        "{accepted} bytes taken"
    );
    env.ok(&["stop", "jobs", "deaf"]);
}

#[test]
fn input_reaches_the_job_byte_for_byte() {
    let env = Env::new();
    let out = env.work().join("got.bin");
    env.run_d(
        "binary",
        &["--", "sh", "-c", &format!("head -c 4 > {}", out.display())],
    );
    // Not text: invalid UTF-8 and a NUL. Piped, so attach reads it to the end.
    env.mrsm()
        .args(["attach", "job", "binary"])
        .write_stdin(vec![0xff, 0xfe, 0x00, b'z'])
        .timeout(Duration::from_secs(30))
        .assert()
        .success();
    assert_eq!(
        std::fs::read(&out).expect("written"),
        [0xff, 0xfe, 0x00, b'z']
    );
}

#[test]
fn a_foreground_run_whose_child_is_killed_leaves_nothing_either() {
    let env = Env::new();
    let mut run = support::mrsm_process()
        .args(["run", "--stop-timeout", "1s", "--"])
        .args(["sh", "-c", "sleep 1098 & sleep 1099 & wait"])
        .env("MRSM_ROOT_DIR", env.root())
        .spawn()
        .expect("starts");
    wait_for(Duration::from_secs(10), "both sleeps", || {
        (tagged(&env, &["sleep", "1098"]).len() == 1 && tagged(&env, &["sleep", "1099"]).len() == 1)
            .then_some(())
    });
    // The child that runs the chain (`mrsm __foreground …`), killed with SIGKILL.
    let child: i32 = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", run.id()))
        .expect("its children")
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a child");
    kill(Pid::from_raw(child), Signal::SIGKILL).expect("signals");
    let status = run.wait().expect("waits");
    assert_eq!(status.code(), Some(128 + 9));
    wait_for(Duration::from_secs(10), "the sleeps to be gone", || {
        (tagged(&env, &["sleep", "1098"]).is_empty() && tagged(&env, &["sleep", "1099"]).is_empty())
            .then_some(())
    });
}
