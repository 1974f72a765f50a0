//! A second executor beside `local`: the test-only `mem` (jobs kept in memory),
//! registered the way a library user registers one, and driven through the same
//! command line in this process. One spec with jobs on both converges; `diff`, `ps`
//! and `show jobs` show both; jobs move between them; `-e` picks one; and an
//! executor out of reach leaves every job elsewhere as it is.

use crate::support;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mrsm::executor::MemoryExecutor as Mem;
use mrsm::executor::Registry;
use mrsm::store::Root;
use support::{wait_for, Env};

/// The command line with `local` on the test's root and `mem`, in this process:
/// (exit status, stdout, stderr).
fn mrsm(env: &Env, mem: &Arc<Mem>, args: &[&str]) -> (i32, String, String) {
    let mut registry = Registry::with_local(Root::at(env.root()));
    registry.register("mem", mem.clone());
    let mut argv = vec!["mrsm".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let spec = env.work().join("mrsm-jobs.yaml");
    argv = argv
        .into_iter()
        .map(|a| {
            if a == "SPEC" {
                spec.display().to_string()
            } else {
                a
            }
        })
        .collect();
    mrsm::print::capture(|| mrsm::cli::run_with(registry, argv))
}

fn declare(env: &Env, jobs: &[(&str, &str, &str)]) {
    let mut text = String::from("project: mixed\njobs:\n");
    for (name, command, executor) in jobs {
        text.push_str(&format!(
            "  {name}:\n    command: {command}\n    executor: {executor}\n"
        ));
    }
    std::fs::write(env.work().join("mrsm-jobs.yaml"), text).expect("spec written");
}

fn status(env: &Env, name: &str) -> String {
    env.status(name)
}

#[test]
fn jobs_on_two_executors_converge_show_move_and_are_picked_with_e() {
    let env = Env::new();
    let mem = Arc::new(Mem::new("mem"));
    declare(
        &env,
        &[
            ("here", "sleep 300", "local"),
            ("there", "sleep 301", "mem"),
        ],
    );

    // `diff` plans both, then `up -d` creates both.
    let (code, out, err) = mrsm(&env, &mem, &["diff", "-f", "SPEC"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("+ create here\n"), "{out}");
    assert!(out.contains("+ create there on mem\n"), "{out}");
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("created there on mem"), "{out}");
    assert_eq!(status(&env, "here"), "running");
    assert_eq!(mem.names(), ["there"]);
    assert_eq!(
        mem.file("there").and_then(|f| f.project).as_deref(),
        Some("mixed")
    );
    let (code, out, _) = mrsm(&env, &mem, &["diff", "-f", "SPEC"]);
    assert_eq!((code, out.as_str()), (0, ""), "converged");

    // Every executor's jobs, with the EXECUTOR column; `-e mem` only mem's.
    let (code, out, _) = mrsm(&env, &mem, &["show", "jobs"]);
    assert_eq!(code, 0);
    let header = out.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("NAME") && header.contains("EXECUTOR"),
        "{out}"
    );
    let row = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
    };
    assert_eq!(row("here").as_deref(), Some("here local running"), "{out}");
    assert_eq!(row("there").as_deref(), Some("there mem running"), "{out}");
    let (_, out, _) = mrsm(&env, &mem, &["show", "jobs", "-e", "mem", "--json"]);
    let listed: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let names: Vec<&str> = listed
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|j| j["name"].as_str())
        .collect();
    assert_eq!(names, ["there"]);
    let (code, out, _) = mrsm(&env, &mem, &["stop", "jobs", "-e", "mem", "there"]);
    assert_eq!(code, 0);
    assert!(out.contains("stopped job \"there\" on mem"), "{out}");
    assert_eq!(status(&env, "here"), "running", "local untouched");
    let (code, out, _) = mrsm(&env, &mem, &["ps", "-f", "SPEC"]);
    assert_eq!(code, 0);
    assert!(out.contains("EXECUTOR") && out.contains("there"), "{out}");

    // Moving a job: deleted where it was, created where it is declared now.
    let before = env.supervisor("here").expect("a supervisor");
    declare(
        &env,
        &[
            ("here", "sleep 300", "local"),
            ("there", "sleep 301", "local"),
        ],
    );
    let (_, out, _) = mrsm(&env, &mem, &["diff", "-f", "SPEC"]);
    assert!(out.contains("> move there from mem\n"), "{out}");
    assert!(!out.contains("delete"), "{out}");
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(mem.names().is_empty());
    assert_eq!(status(&env, "there"), "running");
    assert_eq!(
        env.supervisor("here"),
        Some(before),
        "the other job is untouched"
    );
}

#[test]
fn an_executor_out_of_reach_changes_nothing_elsewhere() {
    let env = Env::new();
    let mem = Arc::new(Mem::new("mem"));
    declare(
        &env,
        &[
            ("here", "sleep 300", "local"),
            ("there", "sleep 301", "mem"),
        ],
    );
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 0, "{out}{err}");
    let here = env.supervisor("here").expect("a supervisor");

    // mem goes down, and the file moves `here` to mem and drops `there`.
    mem.down.store(true, Ordering::SeqCst);
    declare(
        &env,
        &[
            ("here", "sleep 300", "mem"),
            ("other", "sleep 302", "local"),
        ],
    );
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 1, "an unreachable executor is a failure: {out}{err}");
    assert!(
        err.contains("executor mem: job \"here\": switched off"),
        "{err}"
    );
    // `here` is not deleted from local on its way to an unreachable executor; the
    // job declared on local is created as usual.
    assert_eq!(env.supervisor("here"), Some(here));
    assert_eq!(status(&env, "here"), "running");
    wait_for(Duration::from_secs(10), "other created", || {
        (status(&env, "other") == "running").then_some(())
    });
    // Listing every executor warns about mem and still shows the rest.
    let (code, out, err) = mrsm(&env, &mem, &["show", "jobs"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning: executor mem"), "{err}");
    assert!(out.contains("here") && out.contains("other"), "{out}");

    // Back: the move completes.
    mem.down.store(false, Ordering::SeqCst);
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(mem.names(), ["here"]);
    assert!(env.supervisor("here").is_none_or(|s| !s.is_alive()));
}

#[test]
fn a_move_whose_create_fails_leaves_the_job_where_it_was() {
    let env = Env::new();
    let mem = Arc::new(Mem::new("mem"));
    declare(&env, &[("important", "sleep 300", "local")]);
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 0, "{out}{err}");
    let log = env.root().join("logs/important.log");
    wait_for(Duration::from_secs(10), "its first line", || {
        log.exists().then_some(())
    });

    // mem refuses the create: the job is never deleted here, and runs again.
    mem.refuse_create.store(true, Ordering::SeqCst);
    declare(&env, &[("important", "sleep 300", "mem")]);
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("not moved to mem") && err.contains("it stays on local"),
        "{err}"
    );
    assert!(!out.contains("deleted"), "{out}");
    assert_eq!(status(&env, "important"), "running");
    assert!(mem.names().is_empty());
    assert!(log.exists(), "its log is kept");

    // Once mem takes it, the move completes: created there, then deleted here.
    mem.refuse_create.store(false, Ordering::SeqCst);
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("moved important on mem from local"), "{out}");
    assert_eq!(mem.names(), ["important"]);
    assert!(!env.job_dir("important").join("job.json").exists());
}

#[test]
fn a_paused_job_moved_nowhere_comes_back_paused() {
    let env = Env::new();
    let mem = Arc::new(Mem::new("mem"));
    declare(&env, &[("held", "sleep 300", "local")]);
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = mrsm(&env, &mem, &["pause", "jobs", "held"]);
    assert_eq!(code, 0, "{err}");
    mem.refuse_create.store(true, Ordering::SeqCst);
    declare(&env, &[("held", "sleep 300", "mem")]);
    let (code, _, _) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 1);
    assert_eq!(status(&env, "held"), "paused");
}

#[test]
fn a_move_whose_answer_is_lost_is_a_move_not_two_copies() {
    let env = Env::new();
    let mem = Arc::new(Mem::new("mem"));
    declare(&env, &[("important", "sleep 300", "local")]);
    assert_eq!(mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]).0, 0);
    // mem makes the job but its answer never arrives.
    mem.lose_create_answer.store(true, Ordering::SeqCst);
    declare(&env, &[("important", "sleep 300", "mem")]);
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(mem.names(), ["important"]);
    assert!(
        !env.job_dir("important").join("job.json").exists(),
        "the old copy is gone: {out}{err}"
    );
}

#[test]
fn a_move_to_where_the_job_cannot_start_keeps_it_where_it_was() {
    let env = Env::new();
    let mem = Arc::new(Mem::new("mem"));
    declare(&env, &[("important", "sleep 300", "local")]);
    assert_eq!(mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]).0, 0);
    mem.first_step_fails.store(true, Ordering::SeqCst);
    declare(&env, &[("important", "sleep 300", "mem")]);
    let (code, out, err) = mrsm(&env, &mem, &["up", "-d", "-f", "SPEC"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("not moved to mem")
            && err.contains("could not start")
            && err.contains("it stays on local"),
        "{err}"
    );
    assert!(mem.names().is_empty(), "the copy made there goes again");
    assert_eq!(status(&env, "important"), "running");
}
