//! Executors as users name them: in a spec (`executor:`), in the settings file
//! (`[executors.NAME]`) and with `-e`. An unknown one is an error with its place and
//! a suggestion; a declared one that cannot be reached is reported while every job
//! elsewhere converges.

use crate::support;

use predicates::prelude::*;
use support::Env;

fn spec(env: &Env, text: &str) {
    std::fs::write(env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
}

#[test]
fn an_unknown_executor_is_an_error_with_its_place_and_a_suggestion() {
    let env = Env::new();
    spec(
        &env,
        "project: p\njobs:\n  a:\n    command: sleep 300\n    executor: lcoal\n",
    );
    for args in [&["validate"][..], &["up", "-d"]] {
        env.mrsm()
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "mrsm-jobs.yaml:5:15: unknown executor \"lcoal\": expected one of local, slurm, systemd; did you mean `local`?",
            ));
    }
    assert!(!env.job_dir("a").exists(), "nothing was created");
}

#[test]
fn the_settings_file_names_executors_and_one_out_of_reach_changes_nothing_else() {
    let env = Env::new();
    let config = env.work().join("config.toml");
    std::fs::write(&config, "[executors.prod]\nurl = \"http://127.0.0.1:9\"\n").expect("written");
    let mrsm = || {
        let mut cmd = env.mrsm();
        cmd.env("MRSM_CONFIG", &config);
        cmd
    };
    // A near miss of a name the settings declare is suggested.
    spec(
        &env,
        "project: p\njobs:\n  far:\n    command: sleep 300\n    executor: prdo\n",
    );
    mrsm()
        .arg("validate")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("did you mean `prod`?"));
    // Declared: valid, and `up` reports it while the local job converges.
    spec(
        &env,
        "project: p\njobs:\n  far:\n    command: sleep 300\n    executor: prod\n  near:\n    command: sleep 301\n",
    );
    mrsm().arg("validate").assert().success();
    mrsm()
        .args(["diff"])
        .assert()
        .stdout(predicate::str::contains("! unreachable far on api:prod"))
        .stdout(predicate::str::contains("+ create near\n"));
    mrsm()
        .args(["up", "-d"])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("created near"))
        .stderr(predicate::str::contains("executor api:prod"));
    assert_eq!(env.status("near"), "running");
    // Every executor listed: the unreachable one is a warning, the rest a table
    // with the EXECUTOR column.
    mrsm()
        .args(["show", "jobs"])
        .assert()
        .success()
        .stdout(predicate::str::contains("EXECUTOR"))
        .stdout(predicate::str::is_match(r"near +local +running").expect("regex"))
        .stdout(predicate::str::is_match(r"(?m)^- +api:prod +unreachable ").expect("regex"))
        .stderr(predicate::str::contains("warning: executor api:prod"));
    mrsm()
        .args(["show", "jobs", "-e", "prod"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("executor api:prod"));
    // Named jobs are looked up everywhere; the unreachable executor only warns.
    mrsm()
        .args(["show", "jobs", "near"])
        .assert()
        .success()
        .stdout(predicate::str::contains("near"))
        .stderr(predicate::str::contains("warning: executor api:prod"));
    // A near miss on the command line is suggested too.
    mrsm()
        .args(["show", "jobs", "-e", "prd"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `prod`?"));
    mrsm()
        .env("MRSM_EXECUTOR", "garbage")
        .args(["run", "echo", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unknown executor \"garbage\""));
    // `down` cannot vouch for an executor it cannot list: it says so and fails.
    mrsm()
        .arg("down")
        .assert()
        .code(1)
        .stdout(predicate::str::contains("deleted job \"near\""));
    assert!(
        !env.job_dir("near").join("job.json").exists(),
        "near was deleted"
    );
}

#[test]
fn named_executors_in_the_settings_file_are_checked() {
    let env = Env::new();
    let config = env.work().join("config.toml");
    for (text, expected) in [
        (
            "[executors.\"a b\"]\nurl = \"x\"\n",
            ":1:2: executor name \"a b\"",
        ),
        (
            "[executors.local]\nurl = \"x\"\n",
            "is the built-in executor's",
        ),
        (
            "\n[executors.prod]\ntoken = \"t\"\n",
            ":2:2: executor \"prod\" has no `url`",
        ),
    ] {
        std::fs::write(&config, text).expect("written");
        env.mrsm()
            .env("MRSM_CONFIG", &config)
            .args(["show", "jobs"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(expected));
    }
}

#[test]
fn run_takes_e_and_refuses_options_it_does_not_know() {
    let env = Env::new();
    env.mrsm()
        .args([
            "run", "-d", "-e", "local", "--name", "x1", "--", "sleep", "300",
        ])
        .assert()
        .success()
        .stdout("job \"x1\" running\n");
    assert_eq!(env.info("x1")["command"][0], "sleep 300");
    // An option run does not know is an error, never the start of the command.
    env.mrsm()
        .args(["run", "-d", "--bogus", "--name", "x2", "--", "sleep", "300"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("unexpected argument '--bogus'"));
    env.mrsm()
        .args(["run", "-d", "-e", "lcoal", "--name", "x3", "--", "true"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("did you mean `local`?"));
    env.mrsm()
        .args(["show", "jobs", "--json"])
        .assert()
        .stdout(predicate::str::contains("\"x2\"").not())
        .stdout(predicate::str::contains("\"x3\"").not());
    // The command starts at the first word that is not an option.
    env.mrsm()
        .args(["run", "sh", "-c", "echo $0-ok", "it"])
        .assert()
        .success()
        .stdout("it-ok\n");
    env.ok(&["stop", "jobs", "x1"]);
}

#[test]
fn a_remote_executor_s_ca_file_and_timeouts_are_checked_with_their_place() {
    let env = Env::new();
    std::fs::write(env.work().join("key.pem"), "not a certificate\n").expect("written");
    for (executor, expected) in [
        (
            "    ca_file: missing.pem\n",
            "mrsm-jobs.yaml:5:14: ca_file: cannot read ",
        ),
        ("    ca_file: key.pem\n", "mrsm-jobs.yaml:5:14: ca_file: "),
        (
            "    timeout: soon\n",
            "mrsm-jobs.yaml:5:14: bad duration \"soon\"",
        ),
        (
            "    connect_timeout: 0s\n",
            "mrsm-jobs.yaml:5:22: a timeout must be more than zero",
        ),
        (
            "    kind: slurm\n    timeout: 5s\n",
            "`timeout` belongs to a remote executor",
        ),
    ] {
        let url = match executor.contains("slurm") {
            true => "",
            false => "    url: https://127.0.0.1:8443\n",
        };
        spec(
            &env,
            &format!("project: p\nexecutors:\n  prod:\n{url}{executor}jobs: {{}}\n"),
        );
        env.mrsm()
            .arg("validate")
            .assert()
            .code(1)
            .stderr(predicate::str::contains(expected));
    }
    // The file names where it is and says what is wrong with it.
    spec(
        &env,
        "project: p\nexecutors:\n  prod:\n    url: https://127.0.0.1:8443\n    ca_file: key.pem\njobs: {}\n",
    );
    env.mrsm()
        .arg("validate")
        .assert()
        .stderr(predicate::str::contains("key.pem: no certificate in it"));
    // The settings file's keys are checked with their place too.
    let config = env.work().join("config.toml");
    for (text, expected) in [
        (
            "[executors.prod]\nurl = \"https://h\"\nca_file = \"missing.pem\"\n",
            "config.toml:3:1: executor \"prod\": ca_file: cannot read ",
        ),
        (
            "[executors.prod]\nurl = \"https://h\"\ntimeout = \"soon\"\n",
            "config.toml:3:11: bad duration \"soon\"",
        ),
    ] {
        std::fs::write(&config, text).expect("written");
        env.mrsm()
            .env("MRSM_CONFIG", &config)
            .args(["show", "jobs"])
            .assert()
            .code(1)
            .stderr(predicate::str::contains(expected));
    }
}
