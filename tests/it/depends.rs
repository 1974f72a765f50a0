//! `depends_on` through the real binary: `up` starts a job once what it depends
//! on holds its condition (healthy, finished, a log line), fails clearly when a
//! dependency never does, restarts dependents with `restart: true`, and `down`
//! and `stop` reach dependents first; a cycle is a spec error with its path.

use crate::support;

use std::time::Duration;

use support::Env;

fn mrsm_out(env: &Env, args: &[&str]) -> (bool, String, String) {
    let out = env.mrsm().args(args).output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The stamp of the first log line of `name` containing `text`.
fn stamp_of(env: &Env, name: &str, text: &str) -> String {
    let log = env.log_text(name);
    let line = log
        .lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no {text:?} in {name}'s log:\n{log}"));
    line.split(' ').next().unwrap_or_default().to_string()
}

const WEB_AND_DB: &str = r#"project: deps
jobs:
  db:
    command: sleep 2 && touch ready && exec sleep 300
    healthcheck:
      test: ["CMD", "test", "-f", "ready"]
      start_period: 1m
      start_interval: 100ms
  web:
    command: exec sleep 300
    depends_on:
      db: { condition: service_healthy }
"#;

#[test]
fn web_starts_once_db_is_healthy_and_goes_down_first() {
    let env = Env::new();
    let file = env.spec_file(WEB_AND_DB);
    let file = file.to_str().expect("utf-8");
    let (ok, out, err) = mrsm_out(&env, &["up", "-d", "-f", file]);
    assert!(ok, "{out}{err}");
    // When `up` returns, web runs, and it began after db turned healthy.
    assert_eq!(env.status("web"), "running");
    let healthy = stamp_of(&env, "db", "health: starting -> healthy");
    let started = stamp_of(&env, "web", "run 1 started");
    let db_started = stamp_of(&env, "db", "run 1 started");
    assert!(
        started >= healthy,
        "web began {started}, db healthy {healthy}"
    );
    assert!(
        support::seconds_between(&db_started.clone().into(), &started.clone().into()) >= 1.5,
        "db began {db_started}, web {started}"
    );
    // Down: web (the dependent) is deleted before db.
    let (ok, out, err) = mrsm_out(&env, &["down", "-f", file]);
    assert!(ok, "{out}{err}");
    let web = out.find("\"web\"").expect("web deleted");
    let db = out.find("\"db\"").expect("db deleted");
    assert!(web < db, "{out}");
}

#[test]
fn a_dependency_that_never_gets_healthy_fails_up_naming_both() {
    let env = Env::new();
    let spec = r#"project: deps
jobs:
  sick:
    command: exec sleep 300
    healthcheck: { test: "exit 1", interval: 200ms, start_period: 1m, start_interval: 100ms }
  client:
    command: exec sleep 300
    depends_on:
      sick: { condition: service_healthy, timeout: 2s }
"#;
    let file = env.spec_file(spec);
    let (ok, out, err) = mrsm_out(&env, &["up", "-d", "-f", file.to_str().expect("utf-8")]);
    assert!(!ok, "{out}{err}");
    assert!(
        err.contains("job \"client\": not started: dependency \"sick\" is not healthy (service_healthy): still not after 2s"),
        "{err}"
    );
    assert!(env.try_info("client").is_none(), "client was not made");
    assert_eq!(
        env.status("sick"),
        "running",
        "the dependency is left as it is"
    );
}

#[test]
fn finished_and_log_ready_dependencies_and_a_restart_that_carries_over() {
    let env = Env::new();
    let spec = r#"project: deps
jobs:
  migrate:
    command: sleep 1 && echo migrated
  server:
    command: sleep 1 && echo "listening on 8080" && exec sleep 300
  app:
    command: exec sleep 300
    depends_on:
      migrate: { condition: service_completed_successfully }
      server: { condition: log_ready, ready_log_line: 'listening on \d+', restart: true }
"#;
    let file = env.spec_file(spec);
    let file = file.to_str().expect("utf-8");
    let (ok, out, err) = mrsm_out(&env, &["up", "-d", "-f", file]);
    assert!(ok, "{out}{err}");
    let started = stamp_of(&env, "app", "run 1 started");
    assert!(started >= stamp_of(&env, "migrate", "run 1 step 1/1 exited with status 0"));
    assert!(started >= stamp_of(&env, "server", "listening on 8080"));
    let app = env.info("app")["supervisor_pid"].clone();
    // The server changes: the app, restart: true, is restarted with it.
    std::fs::write(file, spec.replace("8080", "8081")).expect("edit");
    let (_, diff, err) = mrsm_out(&env, &["diff", "-f", file]);
    assert!(
        diff.contains("~ update app (server restarts)"),
        "{diff}{err}"
    );
    let (ok, out, err) = mrsm_out(&env, &["up", "-d", "-f", file]);
    assert!(ok, "{out}{err}");
    assert_ne!(env.info("app")["supervisor_pid"], app, "app restarted");
    // A stop of several: the dependent first.
    let (ok, out, err) = mrsm_out(&env, &["stop", "jobs", "server", "app", "-y"]);
    assert!(ok, "{out}{err}");
    assert!(out.find("\"app\"") < out.find("\"server\""), "{out}");
}

#[test]
fn a_failed_dependency_fails_its_dependent_at_once() {
    let env = Env::new();
    let spec = r#"project: deps
jobs:
  broken:
    command: exit 3
  after:
    command: exec sleep 300
    depends_on:
      broken: { condition: service_completed_successfully }
"#;
    let file = env.spec_file(spec);
    let began = std::time::Instant::now();
    let (ok, _, err) = mrsm_out(&env, &["up", "-d", "-f", file.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(
        err.contains("dependency \"broken\" is not completed successfully"),
        "{err}"
    );
    assert!(err.contains("exited with status 3"), "{err}");
    assert!(
        began.elapsed() < Duration::from_secs(30),
        "not its whole timeout"
    );
}

#[test]
fn a_cycle_is_an_error_with_its_path_and_place() {
    let env = Env::new();
    let spec = "project: deps\njobs:\n  a:\n    command: \"true\"\n    depends_on: [b]\n  b:\n    command: \"true\"\n    depends_on: [c]\n  c:\n    command: \"true\"\n    depends_on: [a]\n  d:\n    command: \"true\"\n    depends_on: [databse]\n  database:\n    command: \"true\"\n";
    let file = env.spec_file(spec);
    let (ok, out, err) = mrsm_out(&env, &["validate", "-f", file.to_str().expect("utf-8")]);
    assert!(!ok, "{out}");
    assert!(
        err.contains("mrsm-jobs.yaml:5:17: dependency cycle: a -> b -> c -> a"),
        "{err}"
    );
    assert!(
        err.contains("mrsm-jobs.yaml:14:18: job `d` depends on `databse`, which is not declared: did you mean `database`?"),
        "{err}"
    );
    // Nothing was made.
    let (ok, _, _) = mrsm_out(&env, &["up", "-d", "-f", file.to_str().expect("utf-8")]);
    assert!(!ok);
    assert!(env.try_info("a").is_none());
}

#[test]
fn a_finished_one_shot_between_two_jobs_still_orders_them() {
    let env = Env::new();
    let spec = r#"project: deps
jobs:
  db:
    command: sleep 1 && touch ready && exec sleep 300
    healthcheck:
      test: ["CMD", "test", "-f", "ready"]
      start_period: 1m
      start_interval: 100ms
  migrate:
    command: echo migrated
    depends_on:
      db: { condition: service_healthy }
  web:
    command: exec sleep 300
    depends_on:
      migrate: { condition: service_completed_successfully }
"#;
    let file = env.spec_file(spec);
    let file = file.to_str().expect("utf-8");
    let (ok, out, err) = mrsm_out(&env, &["up", "-d", "-f", file]);
    assert!(ok, "{out}{err}");
    // migrate is done; stopping the two that run goes web first, then db.
    let (ok, out, err) = mrsm_out(&env, &["stop", "jobs", "db", "web", "-y"]);
    assert!(ok, "{out}{err}");
    assert!(out.find("\"web\"") < out.find("\"db\""), "{out}");
    std::fs::remove_file(env.work().join("ready")).expect("ready removed");
    // Up again: migrate is not run again, but web still waits for db, through it.
    let (ok, out, err) = mrsm_out(&env, &["up", "-d", "-f", file]);
    assert!(ok, "{out}{err}");
    let healthy = stamp_of(&env, "db", "run 2 health: starting -> healthy");
    let started = stamp_of(&env, "web", "run 2 started");
    assert!(
        started >= healthy,
        "web began {started}, db healthy {healthy}"
    );
    assert_eq!(env.runs("migrate").len(), 1, "migrate ran once");
}
