//! A job's input through its supervisor's control socket, and `run` in the foreground.

mod support;

use std::time::Duration;

use mrsm::supervisor::{call, Request, Response};
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
        .stderr(predicate::str::contains("step 2/3"));
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
