//! `show logs` / `mrsm logs` options: a job's control bytes escaped on a terminal
//! (raw with `--raw`, byte for byte to a pipe); `-p`/`--file` limit the jobs to a
//! project; `-f` means follow, and a spec file given to it gets a hint.

use crate::support;

use std::time::Duration;

use support::{wait_for, Env};

fn stopped(env: &Env, name: &str) {
    wait_for(Duration::from_secs(20), "the job to end", || {
        (env.status(name) == "stopped").then_some(())
    });
}

/// What `mrsm ARGS…` prints on a terminal (a pty), colour off.
fn on_terminal(env: &Env, args: &[&str]) -> String {
    let mut cmd = support::mrsm_process();
    cmd.args(args)
        .env("MRSM_ROOT_DIR", env.root())
        .env("NO_COLOR", "1");
    let mut session = rexpect::session::spawn_command(cmd, Some(10_000)).expect("runs in a pty");
    session.exp_eof().expect("ends")
}

#[test]
fn control_bytes_are_escaped_on_a_terminal_only() {
    let env = Env::new();
    env.run_d(
        "painter",
        &[
            "--",
            "printf",
            "\\033[31mred\\033[0m \\033]0;owned\\007 \\233x end\\n",
        ],
    );
    stopped(&env, "painter");
    let args = ["show", "logs", "painter", "--output-only"];

    let shown = on_terminal(&env, &args);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{7}') && !shown.contains('\u{9b}'),
        "raw control bytes reached the terminal: {shown:?}"
    );
    assert!(
        shown.contains("| \\x1b[31mred\\x1b[0m \\x1b]0;owned\\x07 \\x9bx end"),
        "{shown:?}"
    );

    let raw = on_terminal(&env, &[&args[..], &["--raw"]].concat());
    assert!(
        raw.contains("| \u{1b}[31mred\u{1b}[0m \u{1b}]0;owned\u{7}"),
        "{raw:?}"
    );

    let piped = env.mrsm().args(args).output().expect("runs");
    assert!(piped.status.success());
    assert!(
        piped
            .stdout
            .ends_with(b"| \x1b[31mred\x1b[0m \x1b]0;owned\x07 \x9bx end\n"),
        "a pipe gets the bytes as written: {:?}",
        String::from_utf8_lossy(&piped.stdout)
    );
}

#[test]
fn project_options_choose_the_jobs_and_f_means_follow() {
    let env = Env::new();
    for (file, project, job) in [("a.yaml", "alpha", "a-job"), ("b.yaml", "beta", "b-job")] {
        let text =
            format!("project: {project}\njobs:\n  {job}:\n    command: echo from-{project}\n");
        std::fs::write(env.work().join(file), text).expect("spec written");
        env.ok(&["up", "-d", "-f", file]);
    }
    env.run_d("loose", &["--", "echo", "from-nowhere"]);
    for job in ["a-job", "b-job", "loose"] {
        stopped(&env, job);
    }
    let shown = |args: &[&str]| -> Vec<String> {
        let out = env
            .mrsm()
            .args(["show", "logs", "--output-only"])
            .args(args)
            .output()
            .expect("runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| Some(l.split_once(" | ")?.1.to_string()))
            .collect();
        lines.sort();
        lines
    };
    assert_eq!(shown(&[]), ["from-alpha", "from-beta", "from-nowhere"]);
    assert_eq!(shown(&["-p", "alpha"]), ["from-alpha"]);
    assert_eq!(shown(&["--file", "b.yaml"]), ["from-beta"]);
    assert_eq!(shown(&["-p", "beta", "b-job"]), ["from-beta"]);

    let refused = env
        .mrsm()
        .args(["show", "logs", "-p", "alpha", "b-job"])
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not in project \"alpha\""),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // compose's `-f FILE` habit: -f is follow here, and the message says so.
    let mistaken = env
        .mrsm()
        .args(["logs", "-f", "b.yaml"])
        .output()
        .expect("runs");
    assert!(!mistaken.status.success());
    let message = String::from_utf8_lossy(&mistaken.stderr);
    assert!(
        message.contains("--file b.yaml") && message.contains("-f means --follow"),
        "{message}"
    );
    let help = env.mrsm().args(["logs", "--help"]).output().expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("`-f` means follow"), "{help}");
}

#[test]
fn prefixes_say_the_second_and_line_up_across_jobs_merged_by_time() {
    let env = Env::new();
    let script = |name: &str| format!("for i in 1 2 3 4; do echo {name}-$i; sleep 0.25; done");
    env.run_d("a", &["--", "sh", "-c", &script("a")]);
    env.run_d("longer-name", &["--", "sh", "-c", &script("b")]);
    for job in ["a", "longer-name"] {
        stopped(&env, job);
    }
    let out = env
        .mrsm()
        .args(["show", "logs", "--output-only", "a", "longer-name"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 8, "{text}");
    for line in &lines {
        // `a` padded to the width of `longer-name`, then two spaces and HH:MM:SS.
        let (prefix, _) = line.split_once(" | ").expect("prefixed");
        assert_eq!(prefix.len(), "longer-name".len() + 2 + 8, "{text}");
        let when = &prefix[prefix.len() - 8..];
        assert!(
            when.bytes().enumerate().all(|(i, b)| if i == 2 || i == 5 {
                b == b':'
            } else {
                b.is_ascii_digit()
            }),
            "HH:MM:SS in {line:?}"
        );
    }
    // Merged by time: the jobs' lines alternate rather than follow one another.
    let said: Vec<&str> = lines.iter().filter_map(|l| l.split(" | ").nth(1)).collect();
    assert!(said[..4].iter().any(|l| l.starts_with("b-")), "{text}");
}
