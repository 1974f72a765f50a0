//! `mrsm top` in a real terminal: tmux runs it on a server socket of the test's
//! own (`send-keys` types, `capture-pane` reads the screen), and the server is
//! killed by that socket when the test ends. Where tmux is missing the test is
//! skipped; `MRSM_REQUIRE_TMUX=1` (CI) makes that a failure.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{wait_for, Env};

/// A tmux server of the test's own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn tmux(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    fn screen(&self) -> String {
        let out = self
            .tmux()
            .args(["capture-pane", "-p", "-t", "top"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-t", "top", keys])
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    fn wait_screen(&self, what: &str, holds: impl Fn(&str) -> bool) -> String {
        wait_for(Duration::from_secs(20), what, || {
            let screen = self.screen();
            holds(&screen).then_some(screen)
        })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// The screen's line that shows `job`.
fn row<'a>(screen: &'a str, job: &str) -> &'a str {
    screen
        .lines()
        .find(|l| {
            l.get(2..)
                .is_some_and(|rest| rest.starts_with(&format!("{job} ")))
        })
        .unwrap_or("")
}

#[test]
fn top_shows_the_jobs_live_and_its_keys_stop_start_and_show_a_log() {
    if !Path::new("/usr/bin/tmux").exists() {
        assert!(
            !std::env::var("MRSM_REQUIRE_TMUX").is_ok_and(|v| v == "1"),
            "tmux is required here (MRSM_REQUIRE_TMUX=1) but missing"
        );
        eprintln!("skipped: no tmux here");
        return;
    }
    let env = Env::new();
    env.run_d(
        "alpha",
        &[
            "--",
            "sh",
            "-c",
            "while true; do echo alpha-says-hi; sleep 0.2; done",
        ],
    );
    env.run_d("beta", &["--", "sleep", "600"]);
    let socket = format!("mrsm-top-{}", std::process::id());
    let tmux = Tmux { socket };
    let command = format!(
        "env -u TMUX MRSM_ROOT_DIR={} XDG_CONFIG_HOME=/nonexistent NO_COLOR=1 {} top --interval 300ms",
        env.root().display(),
        assert_cmd::cargo::cargo_bin("mrsm").display()
    );
    let status = tmux
        .tmux()
        .args([
            "new-session",
            "-d",
            "-s",
            "top",
            "-x",
            "150",
            "-y",
            "40",
            &command,
        ])
        .status()
        .expect("tmux starts");
    assert!(status.success());
    let screen = tmux.wait_screen("both jobs running", |s| {
        row(s, "alpha").contains("running") && row(s, "beta").contains("running")
    });
    assert!(row(&screen, "alpha").starts_with("> "), "{screen}");
    // Down to beta, stop it: the table says so, and so does the job.
    tmux.keys("j");
    tmux.wait_screen("beta selected", |s| row(s, "beta").starts_with("> "));
    tmux.keys("x");
    tmux.wait_screen("beta stopped", |s| row(s, "beta").contains("stopped"));
    assert_eq!(env.status("beta"), "stopped");
    tmux.keys("s");
    tmux.wait_screen("beta running again", |s| row(s, "beta").contains("running"));
    assert_eq!(env.status("beta"), "running");
    tmux.keys("p");
    tmux.wait_screen("beta paused", |s| row(s, "beta").contains("paused"));
    // Up to alpha, its log under the table.
    tmux.keys("k");
    tmux.keys("l");
    tmux.wait_screen("alpha's log", |s| {
        s.contains("log of alpha") && s.contains("alpha-says-hi")
    });
    // q quits, and the terminal is given back.
    tmux.keys("q");
    wait_for(Duration::from_secs(10), "top to end", || {
        let out = tmux
            .tmux()
            .args(["has-session", "-t", "top"])
            .output()
            .ok()?;
        (!out.status.success()).then_some(())
    });
    env.ok(&["stop", "jobs", "alpha", "beta"]);
}

#[test]
fn top_without_a_terminal_says_what_to_use_instead() {
    let env = Env::new();
    env.mrsm()
        .arg("top")
        .assert()
        .code(2)
        .stderr(predicates::str::contains("mrsm show jobs"));
}
