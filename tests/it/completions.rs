//! Completion scripts and the manual page come from the command line's own
//! definitions; bash's completes the names of the jobs there are.

use crate::support;

use predicates::prelude::*;
use support::Env;

#[test]
fn bash_completes_verbs_and_job_names() {
    let env = Env::new();
    env.run_d("alpha-job", &["--", "sleep", "300"]);
    env.run_d("beta-job", &["--", "sleep", "300"]);
    let bin = assert_cmd::cargo::cargo_bin("mrsm");
    let dir = bin.parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let complete = |words: &str, cword: usize| {
        let script = format!(
            "source <(mrsm completions bash)\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE=\"${{COMP_WORDS[*]}}\"\nCOMP_POINT=${{#COMP_LINE}}\n_mrsm_with_job_names mrsm \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\""
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &script])
            .env("PATH", &path)
            .env("MRSM_ROOT_DIR", env.root())
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(complete("mrsm stop jobs ''", 3), "alpha-job\nbeta-job\n");
    assert_eq!(complete("mrsm attach job b", 3), "beta-job\n");
    let verbs = complete("mrsm st", 1);
    assert!(verbs.contains("start") && verbs.contains("stop"), "{verbs}");
    // Hidden commands are not offered; an option's value is not a job name.
    let all = complete("mrsm ''", 1);
    assert!(all.contains("show") && !all.contains("supervise"), "{all}");
    assert!(
        !all.contains("__job-names") && !all.contains("watch\n"),
        "{all}"
    );
    let value = complete("mrsm stop jobs --signal ''", 4);
    assert!(!value.contains("alpha-job"), "{value}");
    env.ok(&["stop", "jobs", "alpha-job", "beta-job"]);
}

#[test]
fn zsh_fish_and_the_manual_page_are_generated() {
    let env = Env::new();
    env.mrsm()
        .args(["completions", "zsh"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("#compdef mrsm"));
    env.mrsm()
        .args(["completions", "fish"])
        .assert()
        .success()
        .stdout(predicate::str::contains("(mrsm __job-names"));
    env.mrsm()
        .arg("man")
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH mrsm 1"))
        .stdout(predicate::str::contains("completions"))
        .stdout(predicate::str::contains("MRSM_EXECUTOR"));
    // A command's own page, with its options.
    env.mrsm()
        .args(["man", "stop", "jobs"])
        .assert()
        .success()
        .stdout(predicate::str::contains(".TH mrsm-stop-jobs 1"))
        .stdout(predicate::str::contains("\\-\\-timeout"));
    env.mrsm().args(["man", "nope"]).assert().code(2);
    env.mrsm().args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn hidden_commands_are_never_suggested() {
    let env = Env::new();
    let hidden = ["supervise", "watch", "slurm-step", "__job-names"];
    for typo in ["supervis", "watc", "slurm-ste", "__job-name", "superviseX"] {
        let out = env.mrsm().arg(typo).output().expect("runs");
        assert_eq!(out.status.code(), Some(2), "{typo}");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains("unrecognized subcommand"), "{typo}: {said}");
        for name in hidden {
            assert!(!said.contains(&format!("'{name}'")), "{typo}: {said}");
        }
    }
    // Visible commands are still suggested.
    env.mrsm()
        .arg("serv")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("'serve'"));
    let help = env.mrsm().arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for name in hidden {
        assert!(!help.contains(&format!("  {name} ")), "{help}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let script = env
            .mrsm()
            .args(["completions", shell])
            .output()
            .expect("runs");
        let script = String::from_utf8_lossy(&script.stdout);
        for name in ["supervise", "slurm-step"] {
            assert!(!script.contains(name), "{shell} offers {name}");
        }
    }
}
