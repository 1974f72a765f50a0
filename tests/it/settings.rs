//! The machine's settings file is read: its `root_dir` decides where jobs live, and a
//! typo or a syntax error in it is reported with file, line and column instead of
//! being ignored.

use crate::support;

use predicates::prelude::*;
use support::Env;

#[test]
fn root_dir_comes_from_the_settings_file() {
    let env = Env::new();
    let config = env.work().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "root_dir = {:?}\n\n[executors.prod]\nurl = \"http://127.0.0.1:8000\"\n",
            env.root()
        ),
    )
    .expect("written");
    env.mrsm()
        .env_remove("MRSM_ROOT_DIR")
        .env("MRSM_CONFIG", &config)
        .args(["run", "-d", "--name", "configured", "--", "sleep", "300"])
        .assert()
        .success();
    assert!(env.job_dir("configured").join("job.json").exists());
    // MRSM_ROOT_DIR still wins over the file.
    let other = tempfile::tempdir().expect("temp dir");
    env.mrsm()
        .env("MRSM_ROOT_DIR", other.path())
        .env("MRSM_CONFIG", &config)
        .args(["show", "jobs", "-e", "local"])
        .assert()
        .success()
        .stdout(predicate::str::contains("No jobs."));
    env.ok(&["stop", "jobs", "configured"]);
}

#[test]
fn a_bad_settings_file_is_an_error_with_its_place() {
    let env = Env::new();
    let config = env.work().join("config.toml");
    for (text, expected) in [
        (
            "root_dir = \"/x\"\nrootdir = \"/y\"\n",
            "config.toml:2:1: unknown field `rootdir`",
        ),
        (
            "[executors.prod]\nurl = \"http://h\"\ntokn = \"t\"\n",
            "config.toml:3:1: unknown field `tokn`",
        ),
        ("root_dir = /x\n", "config.toml:1:12:"),
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
fn a_named_settings_file_must_exist_and_relative_roots_follow_the_file() {
    let env = Env::new();
    env.mrsm()
        .env("MRSM_CONFIG", env.work().join("missing.toml"))
        .args(["show", "jobs"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("missing.toml: no such file"));
    let conf = env.root().join("conf");
    std::fs::create_dir(&conf).expect("dir");
    std::fs::write(conf.join("config.toml"), "root_dir = \"relative-root\"\n").expect("written");
    env.mrsm()
        .env_remove("MRSM_ROOT_DIR")
        .env("MRSM_CONFIG", conf.join("config.toml"))
        .args(["run", "-d", "--name", "where", "--", "true"])
        .assert()
        .success();
    assert!(conf.join("relative-root/jobs/where/job.json").exists());
}
