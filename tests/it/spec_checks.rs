//! What `mrsm validate` (and every verb that loads the spec files) says about a
//! file that loads but looks wrong: warnings with file:line:col that leave the exit
//! status alone; and what it refuses: empty or cut-short files, empty chain steps.

use crate::support;

use predicates::prelude::*;
use support::Env;

/// `validate` of one file: (exit status, stderr with the file's path shortened).
fn validate(env: &Env, text: &str) -> (i32, String) {
    let path = env.work().join("mrsm-jobs.yaml");
    std::fs::write(&path, text).expect("written");
    let out = env
        .mrsm()
        .args(["validate", "-f"])
        .arg(&path)
        .env_remove("MRSM_TEST_UNDEFINED")
        .output()
        .expect("runs");
    assert!(out.stdout.is_empty(), "validate prints only to stderr");
    let stderr = String::from_utf8(out.stderr).expect("utf-8");
    let shown = stderr
        .replace(&env.work().display().to_string(), "WORK")
        .replace("WORK/mrsm-jobs.yaml", "mrsm-jobs.yaml");
    (out.status.code().unwrap_or(-1), shown)
}

#[test]
fn questionable_specs_warn_with_their_place_and_still_validate() {
    let env = Env::new();
    let cases: &[(&str, &str)] = &[
        (
            "unset_variable",
            "jobs:\n  etl:\n    command: echo ${MRSM_TEST_UNDEFINED} ${MRSM_TEST_UNDEFINED:-ok}\n",
        ),
        (
            "missing_cwd",
            "jobs:\n  etl:\n    command: echo\n    cwd: ./not-there\n",
        ),
        (
            "restart_with_a_schedule",
            "jobs:\n  etl:\n    command: echo\n    schedule: every 1 hour\n    restart: always\n",
        ),
    ];
    let mut all = String::new();
    for (name, text) in cases {
        let (code, shown) = validate(&env, text);
        assert_eq!(code, 0, "{name}: a warning is not an error: {shown}");
        assert!(
            shown.starts_with("warning: mrsm-jobs.yaml:"),
            "{name}: {shown}"
        );
        assert_eq!(shown.matches("warning:").count(), 1, "{name}: {shown}");
        all.push_str(&format!("--- {name}\n{shown}"));
    }
    insta::assert_snapshot!("spec_warnings", all);

    // `restart` from `defaults` suits the jobs without a schedule: no warning.
    let (code, shown) = validate(
        &env,
        "defaults:\n  restart: on-failure\njobs:\n  etl:\n    command: echo\n    schedule: every 1 hour\n  loop:\n    command: sleep 1\n",
    );
    assert_eq!((code, shown.as_str()), (0, ""));
}

#[test]
fn warnings_are_shown_by_up_too() {
    let env = Env::new();
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: warned\njobs:\n  etl:\n    command: sleep 300 ${MRSM_TEST_UNDEFINED}\n",
    )
    .expect("written");
    env.mrsm()
        .args(["up", "-d"])
        .env_remove("MRSM_TEST_UNDEFINED")
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "mrsm-jobs.yaml:4:24: variable MRSM_TEST_UNDEFINED is not set",
        ));
    env.ok(&["down"]);
}

#[test]
fn extension_keys_hold_anchors_and_are_ignored() {
    let env = Env::new();
    let (code, shown) = validate(
        &env,
        "x-defaults: &common\n  stop: { timeout: 2s }\nx-notes: anything at all\nproject: ext\njobs:\n  etl:\n    <<: *common\n    command: echo\n",
    );
    assert_eq!((code, shown.as_str()), (0, ""));
    let (code, shown) = validate(&env, "y-notes: 1\njobs: {}\n");
    assert_eq!(code, 1);
    assert!(
        shown.contains("mrsm-jobs.yaml:1:1: unknown key `y-notes`"),
        "{shown}"
    );
}

#[test]
fn only_an_explicit_empty_mapping_means_no_jobs() {
    let env = Env::new();
    for (text, says) in [
        ("", "the file is empty"),
        ("# nothing yet\n", "the file is empty"),
        ("project: p\n", "no `jobs:` key"),
        ("project: p\njobs:\n", "`jobs:` has nothing under it"),
    ] {
        let (code, shown) = validate(&env, text);
        assert_eq!(code, 1, "{text:?}");
        assert!(shown.contains(says), "{text:?}: {shown}");
    }
    assert_eq!(validate(&env, "project: p\njobs: {}\n"), (0, String::new()));
}

#[test]
fn an_empty_chain_step_is_an_error_where_it_is_written() {
    let env = Env::new();
    for (text, place) in [
        (
            "jobs:\n  etl:\n    command: a + + b\n",
            "mrsm-jobs.yaml:3:18:",
        ),
        ("jobs:\n  etl:\n    command: + a\n", "mrsm-jobs.yaml:3:14:"),
        (
            "jobs:\n  etl:\n    command: \"a +\"\n",
            "mrsm-jobs.yaml:3:17:",
        ),
    ] {
        let (code, shown) = validate(&env, text);
        assert_eq!(code, 1, "{text:?}");
        assert!(
            shown.starts_with(place) && shown.contains("empty step in the chain"),
            "{text:?}: {shown}"
        );
    }
    // On the command line too (a usage error).
    for words in [
        &["echo", "a", "+", "+", "echo", "b"][..],
        &["echo", "a", "+"],
    ] {
        env.mrsm()
            .args(["run", "--"])
            .args(words)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("empty step in the chain"));
    }
}

#[test]
fn a_schedule_faster_than_a_second_needs_allow_fast() {
    let env = Env::new();
    let (code, shown) = validate(
        &env,
        "jobs:\n  hasty:\n    command: echo\n    schedule: every 0.0001 seconds\n",
    );
    assert_eq!(code, 1);
    assert!(
        shown.contains("mrsm-jobs.yaml:4:15: schedule \"every 0.0001 seconds\" fires every 100us, more often than once a second"),
        "{shown}"
    );
    let (code, shown) = validate(
        &env,
        "jobs:\n  hasty:\n    command: echo\n    schedule: every 0.5 seconds\n    allow_fast: true\n    logs: { max_line: 1MiB }\n",
    );
    assert_eq!((code, shown.as_str()), (0, ""));
    let (code, shown) = validate(
        &env,
        "jobs:\n  etl:\n    command: echo\n    logs: { max_line: 0 }\n",
    );
    assert_eq!(code, 1);
    assert!(
        shown.contains("mrsm-jobs.yaml:4:23: size \"0\" must be positive"),
        "{shown}"
    );
    let (code, shown) = validate(
        &env,
        "jobs:\n  etl:\n    command: echo\n    logs: { max_line: 4GiB }\n",
    );
    assert_eq!(code, 1);
    assert!(shown.contains("too long for one record"), "{shown}");
}

#[test]
fn a_project_name_on_the_command_line_is_checked() {
    let env = Env::new();
    for verb in ["up", "down", "ps", "logs"] {
        env.mrsm()
            .args([verb, "-p", "../../escape"])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("invalid project name"));
    }
    assert!(!env
        .root()
        .parent()
        .expect("a parent")
        .join("escape.lock")
        .exists());
}

#[test]
fn mistaken_names_are_answered() {
    let env = Env::new();
    let spec = env.work().join("mrsm-jobs.yaml");
    std::fs::write(&spec, "project: named\njobs: {}\n").expect("written");
    env.mrsm()
        .args(["logs", "-f"])
        .arg(&spec)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("use --file"));
    env.mrsm()
        .args(["down", "-p", "typo"])
        .assert()
        .success()
        .stdout(predicate::str::contains("No jobs in project \"typo\"."));
}

/// The `file:line:col` of every error in `validate`'s stderr (not the warnings'),
/// in order.
fn places(shown: &str) -> Vec<&str> {
    shown
        .lines()
        .filter(|l| l.starts_with("mrsm-jobs.yaml:") || l.starts_with("other.yaml:"))
        .filter_map(|l| l.split(": ").next())
        .collect()
}

#[test]
fn every_error_of_the_files_is_reported_once_then_counted() {
    let env = Env::new();
    let text = "project: many\n\
                jbos: {}\n\
                jobs:\n  \
                  a:\n    comand: echo hi\n  \
                  b:\n    command: echo b\n    schedule: every fortnight\n    logs: {keep: many}\n  \
                  c:\n    command: echo c\n    shell: yes\n    stop: {sginal: SIGTERM}\n  \
                  d:\n    command: echo d\n    restart: sometimes\n";
    let (code, shown) = validate(&env, text);
    assert_eq!(code, 1, "{shown}");
    assert_eq!(
        places(&shown),
        [
            "mrsm-jobs.yaml:2:1",
            "mrsm-jobs.yaml:5:5",
            "mrsm-jobs.yaml:8:21",
            "mrsm-jobs.yaml:9:18",
            "mrsm-jobs.yaml:12:12",
            "mrsm-jobs.yaml:13:12",
            "mrsm-jobs.yaml:16:14",
        ],
        "{shown}"
    );
    assert!(shown.ends_with("\n7 errors\n"), "{shown}");
    // One bad key is one error: no "no `command`" after `comand`, no "no `jobs:`"
    // after `jbos`.
    assert!(!shown.contains("has no `command`"), "{shown}");
    assert!(!shown.contains("no `jobs:` key"), "{shown}");

    // Every file's errors, in the order of the files; a lone error has no count.
    std::fs::write(
        env.work().join("other.yaml"),
        "jobs:\n  a:\n    command: x\n    overlap: sometimes\n",
    )
    .expect("written");
    let out = env
        .mrsm()
        .args(["up", "-d", "-f", "mrsm-jobs.yaml", "-f", "other.yaml"])
        .output()
        .expect("runs");
    let said = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = places(&said);
    assert_eq!(errors.len(), 8, "{said}");
    assert_eq!(errors.last(), Some(&"other.yaml:4:14"), "{said}");
    assert!(said.ends_with("\n8 errors\n"), "{said}");
    let (code, shown) = validate(&env, "jobs:\n  a:\n    command: x\n    shell: yes\n");
    assert_eq!((code, places(&shown).len()), (1, 1), "{shown}");
    assert!(!shown.contains("1 error"), "{shown}");
}

#[test]
fn a_schedule_s_own_tz_is_the_job_s_zone() {
    let env = Env::new();
    let job = |extra: &str| {
        format!(
            "defaults: {{timezone: UTC}}\njobs:\n  a:\n    command: x\n    \
             schedule: daily starting tomorrow 09:00 tz Europe/Berlin\n{extra}"
        )
    };
    // The defaults' zone gives way to the schedule's; the job's own may repeat it.
    assert_eq!(validate(&env, &job("")), (0, String::new()));
    let same = job("    timezone: Europe/Berlin\n");
    assert_eq!(validate(&env, &same), (0, String::new()));
    let (code, shown) = validate(&env, &job("    timezone: America/New_York\n"));
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.starts_with(
            "mrsm-jobs.yaml:5:48: bad schedule: a second time zone, America/New_York, beside tz Europe/Berlin"
        ),
        "{shown}"
    );
    let (code, shown) = validate(
        &env,
        "jobs:\n  a:\n    command: x\n    schedule: hourly tz Mars/Base\n",
    );
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.starts_with("mrsm-jobs.yaml:4:25: bad schedule: unknown time zone \"Mars/Base\""),
        "{shown}"
    );
    // The job runs in the schedule's zone.
    std::fs::write(env.work().join("mrsm-jobs.yaml"), job("")).expect("written");
    env.ok(&["up", "-d", "-p", "zones"]);
    let info = env.info("a");
    assert_eq!(info["timezone"], "Europe/Berlin", "{info}");
    let next: jiff::Timestamp = info["next_fire"]
        .as_str()
        .expect("a next fire")
        .parse()
        .expect("RFC 3339");
    let berlin = next.to_zoned_datetime(jiff::tz::TimeZone::get("Europe/Berlin").expect("zone"));
    assert_eq!((berlin.hour(), berlin.minute()), (9, 0), "{info}");
    env.ok(&["down", "-p", "zones"]);
}

#[test]
fn compose_names_environment_and_working_dir_are_env_and_cwd() {
    let env = Env::new();
    std::fs::create_dir(env.work().join("there")).expect("dir");
    let compose = "project: aliases\njobs:\n  a:\n    command: sh -c 'echo $A$B; pwd'\n    \
                   environment: [A=one, \"B=two\"]\n    working_dir: there\n";
    let mrsm = "project: aliases\njobs:\n  a:\n    command: sh -c 'echo $A$B; pwd'\n    \
                env: {A: one, B: two}\n    cwd: there\n";
    std::fs::write(env.work().join("mrsm-jobs.yaml"), compose).expect("written");
    env.ok(&["up", "-d"]);
    support::wait_for(std::time::Duration::from_secs(10), "the job to end", || {
        (env.status("a") == "stopped").then_some(())
    });
    let log = env.log_text("a");
    assert!(log.contains(" out onetwo\n"), "{log}");
    assert!(log.contains("/there\n"), "{log}");
    // The same job written with mrsm's names is the same job: nothing to do.
    std::fs::write(env.work().join("mrsm-jobs.yaml"), mrsm).expect("written");
    env.mrsm().arg("diff").assert().code(0).stdout("");
    // Both names in one job is an error at the second one.
    let (code, shown) = validate(
        &env,
        "jobs:\n  a:\n    command: x\n    env: {A: 1}\n    environment: {A: 2}\n    cwd: .\n    working_dir: .\n",
    );
    assert_eq!(code, 1, "{shown}");
    assert_eq!(
        places(&shown),
        ["mrsm-jobs.yaml:5:5", "mrsm-jobs.yaml:7:5"],
        "{shown}"
    );
    assert!(
        shown.contains("`environment` and `env` are the same key"),
        "{shown}"
    );
    let (code, shown) = validate(&env, "jobs:\n  a:\n    command: x\n    environment: [A]\n");
    assert_eq!(code, 1, "{shown}");
    assert!(shown.contains("expected NAME=value"), "{shown}");
    env.ok(&["down", "-p", "aliases"]);
}

#[test]
fn a_step_the_shell_cannot_read_is_an_error_with_its_place() {
    let env = Env::new();
    let (code, said) = validate(
        &env,
        "jobs:\n  a:\n    command: echo \"unclosed\n  b:\n    command: [\"true\", \"echo 'half\"]\n",
    );
    assert_eq!(code, 1, "{said}");
    assert!(
        said.contains("mrsm-jobs.yaml:3:14: step 1 cannot be read as a command"),
        "{said}"
    );
    assert!(
        said.contains("step 2 cannot be read as a command"),
        "{said}"
    );
    // A lone quote that the shell reads (in a heredoc) is fine.
    let (code, said) = validate(
        &env,
        "jobs:\n  c:\n    command: |\n      cat <<EOF\n      it's fine\n      EOF\n",
    );
    assert_eq!(code, 0, "{said}");
}

#[test]
fn a_value_never_adds_a_step() {
    let env = Env::new();
    std::fs::write(env.work().join(".env"), "PLUS=x + touch added-by-a-value\n").expect("written");
    std::fs::write(
        env.work().join("mrsm-jobs.yaml"),
        "project: values\njobs:\n  one:\n    command: echo ${PLUS} + echo second\n",
    )
    .expect("written");
    env.ok(&["up", "-d"]);
    support::wait_for(std::time::Duration::from_secs(10), "the run to end", || {
        (env.runs("one").len() == 1).then_some(())
    });
    let log = env.log_text("one");
    // Two steps as written; the value's `+` is text of the first.
    assert!(log.contains("out x + touch added-by-a-value"), "{log}");
    assert!(log.contains("step 2/2"), "{log}");
    assert!(!env.work().join("added-by-a-value").exists());
}
