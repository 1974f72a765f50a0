//! Meerschaum's action syntax in `sysargs`, as its CLI and client send it.

use super::meerschaum::spec_from_sysargs;
use crate::job::RestartPolicy;

fn spec(words: &[&str]) -> Result<crate::job::JobSpec, String> {
    let words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    spec_from_sysargs("j", &words, false)
}

#[test]
fn the_sh_action_runs_its_line_in_a_shell_and_meerschaum_s_flags_stay_out() {
    let got = spec(&["sh", "echo hi", "--name", "j", "-y", "--debug"]).expect("a job");
    assert_eq!(got.command, ["echo hi"]);
    let got = spec(&["sh", "echo", "hi", "-d", "-f"]).expect("a job");
    assert_eq!(got.command, ["echo hi"]);
    // The shell with its own arguments runs as it is.
    let got = spec(&["sh", "-c", "echo a; echo b"]).expect("a job");
    assert_eq!(got.command, ["sh -c 'echo a; echo b'"]);
}

#[test]
fn python_loop_restart_and_schedule_become_what_they_mean() {
    let got = spec(&["python", "print(1)"]).expect("a job");
    assert_eq!(got.command, ["python3 -c 'print(1)'"]);
    assert_eq!(
        spec(&["echo", "x", "--loop"]).expect("a job").restart,
        RestartPolicy::Always
    );
    let restart = spec(&["echo", "x", "--restart"]).expect("a job").restart;
    assert_eq!(restart, RestartPolicy::OnFailure);
    let got = spec(&["echo", "x", "-s", "every 5 minutes", "--loop"]).expect("a job");
    assert_eq!(got.schedule.as_deref(), Some("every 5 minutes"));
    assert_eq!(
        got.restart,
        RestartPolicy::Never,
        "a scheduled job is not restarted"
    );
}

#[test]
fn meerschaum_s_other_actions_are_refused_never_run() {
    let err = spec(&["sync", "pipes", "--loop"]).expect_err("refused");
    assert!(
        err.contains("`sync pipes`") && err.contains("sh 'COMMAND'"),
        "{err}"
    );
    assert!(spec(&["show", "jobs"]).is_err());
    assert!(spec(&["-y"]).is_err(), "no command");
}

#[test]
fn each_step_of_a_chain_is_an_action_of_its_own() {
    let got = spec(&["sh", "echo a; sleep 1", "+", "sh", "echo b", "+", "true"]).expect("a chain");
    assert_eq!(got.command, ["echo a; sleep 1", "echo b", "true"]);
    assert!(spec(&["sh", "true", "+", "sync", "pipes"]).is_err());
}
