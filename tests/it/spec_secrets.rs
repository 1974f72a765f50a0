//! A `${VAR}` from `.env` in a spec's command (and its `env:`) runs with its value
//! but is shown as written: `ps`, `show jobs`, `show runs`, `diff`, `validate`, the job's log (the
//! supervisor's own lines about its steps included), `logs`, and a server's
//! Meerschaum-shaped and `/v1` routes never carry the value, while the job gets it
//! (its steps write what they received to files the test reads). A changed value
//! restarts the job and is shown no more than the first one. A server's whole
//! definition of a job, which holds the value, is only for tokens that can create
//! jobs.

use crate::support;
use crate::support::server;

use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;
use server::{call, Server};
use support::{wait_for, Env};

const SECRET: &str = "s3cr3t-9f2c";
const ROTATED: &str = "s3cr3t-7b1d";

/// Steps that prove what they received without printing it: the first writes the
/// token to `received`, the second the `${MODE:-plain}` default to `mode` and fails,
/// so that the supervisor records which step failed and how.
const DELIVER: [&str; 2] = [
    r#"sh -c 'printf %s "$0" > received' ${TOKEN}"#,
    r#"sh -c 'printf %s "$0" > mode; exit 3' ${MODE:-plain} ${TOKEN}"#,
];

/// A program whose name comes from the token: it cannot start.
const MISSING: &str = "${TOKEN}-tool --version";

/// A program named by a value that is part of the text as written: still not named.
const SHORT: &str = "${SHORT} --version";

/// A job running [`DELIVER`] (with `${VARIABLE}` for `${TOKEN}`), on `executor`,
/// with the value in its `env:` too.
fn deliver(name: &str, variable: &str, executor: &str) -> String {
    let steps: Vec<String> = DELIVER
        .iter()
        .map(|s| format!("      - {}\n", s.replace("TOKEN", variable)))
        .collect();
    format!(
        "  {name}:\n    executor: {executor}\n    env:\n      HEADER: ${{{variable}}}\n    command:\n{}",
        steps.concat()
    )
}

/// The local project: [`DELIVER`], [`MISSING`] and [`SHORT`].
fn spec(variable: &str) -> String {
    format!(
        "project: secrets\njobs:\n{}  missing:\n    command: {}\n  short:\n    command: {SHORT}\n",
        deliver("deliver", variable, "local"),
        MISSING.replace("TOKEN", variable)
    )
}

/// `.env` with `TOKEN` (or another name) set to `value`, and `SHORT` to a piece
/// of its own name.
fn dotenv(variable: &str, value: &str) -> String {
    format!("{variable}={value}\nSHORT=HOR\n")
}

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("written");
}

/// `mrsm` in `env`, without the caller's values of the spec's variables.
fn mrsm(env: &Env) -> Command {
    let mut cmd = env.mrsm();
    for var in ["TOKEN", "KEY", "MODE", "SHORT"] {
        cmd.env_remove(var);
    }
    cmd
}

/// Everything `mrsm ARGS…` printed, on both streams, with its exit status.
fn said(mut cmd: Command, args: &[&str]) -> (i32, String) {
    let out = cmd.args(args).output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Fails naming every place that shows one of `secrets`.
fn assert_unseen(places: &[(String, String)], secrets: &[&str]) {
    let leaks: Vec<&(String, String)> = places
        .iter()
        .filter(|(_, text)| secrets.iter().any(|s| text.contains(s)))
        .collect();
    let names: Vec<&str> = leaks.iter().map(|(what, _)| what.as_str()).collect();
    let texts: Vec<String> = leaks
        .iter()
        .map(|(what, text)| format!("--- {what}\n{text}"))
        .collect();
    assert!(
        leaks.is_empty(),
        "a secret is shown by: {}\n{}",
        names.join(", "),
        texts.join("\n")
    );
}

/// What a file holds, once it holds `expected`.
fn wait_for_file(path: &Path, expected: &str) {
    wait_for(
        Duration::from_secs(20),
        &format!("{path:?} = {expected}"),
        || (std::fs::read_to_string(path).ok()? == expected).then_some(()),
    );
}

/// What the local verbs show of the project and its jobs.
fn local_views(env: &Env) -> Vec<(String, String)> {
    let views: &[&[&str]] = &[
        &["ps"],
        &["ps", "--json"],
        &["show", "jobs"],
        &["show", "jobs", "--json"],
        &["show", "jobs", "deliver", "--json"],
        &["show", "runs", "deliver"],
        &["show", "runs", "deliver", "--json"],
        &["show", "runs", "missing", "--json"],
        &["show", "logs", "deliver", "missing"],
        &["logs"],
        &["diff"],
        &["validate"],
    ];
    let mut seen: Vec<(String, String)> = views
        .iter()
        .map(|args| (args.join(" "), said(mrsm(env), args).1))
        .collect();
    for name in ["deliver", "missing"] {
        seen.push((format!("{name}'s log file"), env.log_text(name)));
        for file in ["runs.jsonl", "state.json"] {
            let text = std::fs::read_to_string(env.job_dir(name).join(file)).unwrap_or_default();
            seen.push((format!("{name}'s {file}"), text));
        }
    }
    seen
}

/// The project's jobs as `ps --json` shows them, by name.
fn ps(env: &Env) -> Vec<Value> {
    let (code, text) = said(mrsm(env), &["ps", "--json"]);
    assert_eq!(code, 0, "{text}");
    serde_json::from_str(&text).expect("JSON")
}

fn job<'a>(jobs: &'a [Value], name: &str) -> &'a Value {
    jobs.iter()
        .find(|j| j["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {jobs:?}"))
}

/// Waits until both jobs have recorded a run after `runs` earlier ones, and the
/// supervisor has written its notes about the failing steps.
fn wait_for_runs(env: &Env, runs: usize) {
    wait_for(Duration::from_secs(20), "both jobs' runs", || {
        let done = env.runs("deliver").len() > runs && env.runs("missing").len() > runs;
        let noted = env
            .log_text("deliver")
            .matches("exited with status 3")
            .count()
            > runs
            && env.log_text("missing").matches("could not start").count() > runs;
        (done && noted).then_some(())
    });
}

#[test]
fn a_secret_from_dotenv_runs_but_is_shown_nowhere() {
    let env = Env::new();
    let work = env.work();
    write(work, ".env", &dotenv("TOKEN", SECRET));
    write(work, "mrsm-jobs.yaml", &spec("TOKEN"));
    let (code, validated) = said(mrsm(&env), &["validate"]);
    assert_eq!((code, validated.as_str()), (0, ""));
    let (code, up) = said(mrsm(&env), &["up", "-d"]);
    // `missing` and `short` cannot start their program: an error of `up`, said
    // without the value.
    assert_eq!(code, 1, "{up}");
    assert!(up.contains("could not start"), "{up}");

    // The job got the value, and the default.
    wait_for_file(&work.join("received"), SECRET);
    wait_for_file(&work.join("mode"), "plain");
    wait_for_runs(&env, 0);
    let mut seen = local_views(&env);
    seen.push(("up -d".into(), up));
    assert_unseen(&seen, &[SECRET]);

    // Shown as written, wherever a step is quoted.
    let jobs = ps(&env);
    assert_eq!(job(&jobs, "deliver")["command"], serde_json::json!(DELIVER));
    assert_eq!(
        job(&jobs, "missing")["command"],
        serde_json::json!([MISSING])
    );
    let failed = &env.runs("deliver")[0];
    assert_eq!(
        failed["message"],
        format!("step 2/2 ({:?}) exited with status 3", DELIVER[1])
    );
    let not_started = env.runs("missing")[0]["message"].clone();
    assert_eq!(
        not_started,
        format!(
            "step 1/1 ({MISSING:?}) could not start: the program (named by a variable, whose value is not shown) not found (not a path, and not on PATH)"
        )
    );
    assert!(
        env.log_text("missing")
            .contains(not_started.as_str().unwrap_or("-")),
        "{}",
        env.log_text("missing")
    );
    wait_for(Duration::from_secs(20), "short's run", || {
        env.runs("short").first().cloned()
    });
    assert_eq!(
        env.runs("short")[0]["message"],
        format!(
            "step 1/1 ({SHORT:?}) could not start: the program (named by a variable, whose value is not shown) not found (not a path, and not on PATH)"
        )
    );

    // A new value: what runs changed, so the jobs restart; what is shown did not.
    write(work, ".env", &dotenv("TOKEN", ROTATED));
    let (code, diff) = said(mrsm(&env), &["diff"]);
    assert_eq!(
        (code, diff.as_str()),
        (
            1,
            "~ update deliver (command, env)\n~ update missing (command)\n> start short\n"
        )
    );
    let (code, up) = said(mrsm(&env), &["up", "-d"]);
    assert_eq!(code, 1, "`missing` still cannot start: {up}");
    wait_for_file(&work.join("received"), ROTATED);
    wait_for_runs(&env, 1);
    let after = ps(&env);
    for name in ["deliver", "missing"] {
        assert_eq!(job(&after, name)["command"], job(&jobs, name)["command"]);
        assert_ne!(
            job(&after, name)["spec_hash"],
            job(&jobs, name)["spec_hash"]
        );
    }
    let mut seen = local_views(&env);
    seen.push(("up -d after the change".into(), up));
    assert_unseen(&seen, &[SECRET, ROTATED]);

    // The written form is only shown: a variable renamed, its value the same,
    // changes nothing that runs, and so updates nothing (the failed jobs are to
    // be started, as before).
    let (_, before) = said(mrsm(&env), &["diff"]);
    write(work, ".env", &dotenv("KEY", ROTATED));
    write(work, "mrsm-jobs.yaml", &spec("KEY"));
    let (_, renamed) = said(mrsm(&env), &["diff"]);
    assert_eq!(renamed, before);
    assert!(!renamed.contains("update"), "{renamed}");
}

#[test]
fn a_server_shows_its_jobs_commands_as_written() {
    let server = Server::start();
    let client = server.client();
    let work = client.env.work();
    write(work, ".env", &format!("TOKEN={SECRET}\n"));
    write(
        work,
        "mrsm-jobs.yaml",
        &format!(
            "project: secrets\njobs:\n{}",
            deliver("remote", "TOKEN", "api:test")
        ),
    );
    let on_client = || {
        let mut cmd = mrsm(&client.env);
        cmd.env("MRSM_CONFIG", &client.config);
        cmd
    };
    let (code, up) = said(on_client(), &["up", "-d"]);
    assert_eq!(code, 0, "{up}");
    // Run by the server (on this machine, in the client's directory).
    wait_for_file(&work.join("received"), SECRET);
    wait_for(Duration::from_secs(20), "the remote run's record", || {
        (!server.env.runs("remote").is_empty()).then_some(())
    });

    let url = |path: &str| format!("{}{path}", server.url());
    let mut seen = vec![("up -d".to_string(), up)];
    for path in [
        "/jobs",
        "/jobs/remote",
        "/logs/remote",
        "/v1/jobs",
        "/v1/jobs?project=secrets",
        "/v1/jobs/remote",
        "/v1/jobs/remote/runs",
        "/v1/jobs/remote/logs?tail=100",
    ] {
        let (status, answer) = call("GET", &url(path), Some(&server.token), "");
        assert_eq!(status, 200, "{path}: {answer}");
        seen.push((format!("GET {path}"), answer));
    }
    for args in [
        &["ps", "--json"][..],
        &["show", "jobs", "-e", "api:test", "--json"],
        &["show", "runs", "-e", "api:test", "remote", "--json"],
        &["show", "logs", "-e", "api:test", "remote"],
        &["logs"],
        &["diff"],
    ] {
        seen.push((args.join(" "), said(on_client(), args).1));
    }
    assert_unseen(&seen, &[SECRET]);

    // Meerschaum's client reads the command as `sysargs`.
    let (_, jobs) = call("GET", &url("/jobs"), Some(&server.token), "");
    let jobs: Value = serde_json::from_str(&jobs).expect("JSON");
    assert_eq!(
        jobs["remote"]["sysargs"],
        serde_json::json!([DELIVER[0], "+", DELIVER[1]])
    );
    let (_, info) = call("GET", &url("/v1/jobs/remote"), Some(&server.token), "");
    let info: Value = serde_json::from_str(&info).expect("JSON");
    assert_eq!(info["command"], serde_json::json!(DELIVER));

    // The whole definition holds the value: only for a token that can create jobs.
    let reader = server.env.token("reader", &["jobs:read", "logs:read"]);
    let (status, answer) = call("GET", &url("/v1/jobs/remote/spec"), Some(&reader), "");
    assert_eq!(status, 403, "{answer}");
    assert_unseen(&[("GET /v1/jobs/remote/spec".into(), answer)], &[SECRET]);
    let (status, definition) = call("GET", &url("/v1/jobs/remote/spec"), Some(&server.token), "");
    assert_eq!(status, 200, "{definition}");
    let definition: Value = serde_json::from_str(&definition).expect("JSON");
    assert_eq!(definition["written_command"], serde_json::json!(DELIVER));
    assert_eq!(definition["env"]["HEADER"], SECRET);
    assert!(definition["command"][0]
        .as_str()
        .is_some_and(|step| step.ends_with(SECRET)));
}

#[test]
fn a_line_of_an_env_file_that_does_not_read_is_not_quoted() {
    let env = Env::new();
    let work = env.work();
    write(work, "mrsm-jobs.yaml", &spec("TOKEN"));
    // A `.env` line without `=`, then an env file written as YAML.
    write(work, ".env", &format!("# the token\nTOKEN {SECRET}\n"));
    let (code, shown) = said(mrsm(&env), &["validate"]);
    assert_eq!(code, 1, "{shown}");
    assert!(
        shown.contains(".env:2:1: expected KEY=value (the line is not shown"),
        "{shown}"
    );
    write(work, ".env", &format!("TOKEN={SECRET}\n"));
    write(work, "more.env", &format!("PASSWORD: {ROTATED}\n"));
    let text = format!("{}    env_file: more.env\n", spec("TOKEN"));
    write(work, "mrsm-jobs.yaml", &text);
    let (code, also) = said(mrsm(&env), &["validate"]);
    assert_eq!(code, 1, "{also}");
    assert!(also.contains("more.env:1:1: expected KEY=value"), "{also}");
    assert_unseen(
        &[("validate".into(), shown), ("validate".into(), also)],
        &[SECRET, ROTATED],
    );
}

#[test]
fn a_step_that_does_not_split_is_refused_as_written() {
    let env = Env::new();
    let work = env.work();
    // Without a shell, a value's lone quote leaves the step unsplittable.
    write(work, ".env", &format!("TOKEN=it's-{SECRET}\n"));
    write(
        work,
        "mrsm-jobs.yaml",
        "project: secrets\njobs:\n  quoted:\n    command: echo ${TOKEN}\n    shell: false\n",
    );
    let (code, up) = said(mrsm(&env), &["up", "-d"]);
    assert_eq!(code, 1, "{up}");
    // Refused when the files load, with its place, never with its value.
    assert!(
        up.contains("mrsm-jobs.yaml:4:14: step 1 cannot be read as a command"),
        "{up}"
    );
    assert_unseen(&[("up -d".into(), up)], &[SECRET]);
}

#[test]
fn the_watcher_applies_a_new_value_without_saying_it() {
    let env = Env::new();
    let work = env.work();
    let watcher = "mrsm-watch-secrets";
    write(work, ".env", &format!("TOKEN={SECRET}\n"));
    let text = format!(
        "project: secrets\njobs:\n{}",
        deliver("deliver", "TOKEN", "local")
    );
    write(work, "mrsm-jobs.yaml", &text);
    let (code, up) = said(mrsm(&env), &["up", "-d", "--watch"]);
    assert_eq!(code, 0, "{up}");
    wait_for_file(&work.join("received"), SECRET);

    // A new value is applied; a `.env` that does not read is reported, unquoted.
    write(work, ".env", &format!("TOKEN={ROTATED}\n"));
    wait_for_file(&work.join("received"), ROTATED);
    let env = &env;
    let said_by_watcher = |what: &'static str| {
        wait_for(Duration::from_secs(20), what, || {
            env.log_text(watcher).contains(what).then_some(())
        })
    };
    said_by_watcher("updated deliver");
    write(work, ".env", &format!("TOKEN {SECRET}\n"));
    said_by_watcher(".env:1:1: expected KEY=value");
    let seen = vec![
        ("up -d --watch".to_string(), up),
        ("the watcher's log".to_string(), env.log_text(watcher)),
        (
            "show jobs (the watcher)".to_string(),
            said(mrsm(env), &["show", "jobs", watcher, "--json"]).1,
        ),
    ];
    assert_unseen(&seen, &[SECRET, ROTATED]);
}
