//! The watcher's decisions on an in-memory executor, with the clock as a
//! parameter: unseen changes after a failed listing, retries with backoff, the
//! pause before deleting most jobs, the project lock, and the inputs it hashes.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::watch::{messages, Event, Reconciler, Timing, Watched};
use crate::executor::MemoryExecutor as Fake;
use crate::store::{ProjectLock, Root};

const HEAL: Duration = Duration::from_secs(5);
const SETTLE: Duration = Duration::from_secs(1);

fn timing() -> Timing {
    Timing {
        debounce: Duration::from_millis(50),
        heal_every: HEAL,
        settle: SETTLE,
    }
}

/// A project directory with a spec file, and a root for the locks.
struct Scene {
    dir: tempfile::TempDir,
    root: Root,
    files: Vec<PathBuf>,
    fake: std::sync::Arc<Fake>,
    registry: crate::executor::Registry,
    /// Every message the watcher produced.
    said: Mutex<Vec<String>>,
}

impl Scene {
    fn new(jobs: &[(&str, &str)]) -> Scene {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path().join("root"));
        let files = vec![dir.path().join("mrsm-jobs.yaml")];
        let fake = std::sync::Arc::new(Fake::new("local"));
        let mut registry = crate::executor::Registry::new();
        registry.register("local", fake.clone());
        let scene = Scene {
            dir,
            root,
            files,
            fake,
            registry,
            said: Mutex::new(Vec::new()),
        };
        scene.declare(jobs);
        scene
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn declare(&self, jobs: &[(&str, &str)]) {
        let mut text = String::from("project: demo\njobs:\n");
        for (name, command) in jobs {
            text.push_str(&format!("  {name}:\n    command: {command}\n"));
        }
        write(&self.files[0], &text);
    }

    fn hear(&self, event: &Event<'_>) {
        if let Ok(mut said) = self.said.lock() {
            said.extend(messages(event).into_iter().map(|m| m.text));
        }
    }

    fn heard(&self, needle: &str) -> bool {
        self.said
            .lock()
            .is_ok_and(|s| s.iter().any(|m| m.contains(needle)))
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("written");
}

fn reconciler<'a>(scene: &'a Scene, on_event: &'a dyn Fn(&Event<'_>)) -> Reconciler<'a> {
    Reconciler::new(
        &scene.files,
        Watched::Pinned("demo"),
        &scene.registry,
        &scene.root,
        timing(),
        on_event,
    )
}

#[test]
fn a_change_is_applied_later_when_the_jobs_cannot_be_listed() {
    let scene = Scene::new(&[("a", "sleep 300")]);
    let hear = |e: &Event<'_>| scene.hear(e);
    let mut r = reconciler(&scene, &hear);
    let t0 = Instant::now();
    scene.fake.fail_list.store(true, Ordering::SeqCst);
    r.reconcile_files(t0);
    assert!(scene.fake.names().is_empty());
    assert!(scene.heard("cannot list the jobs"), "{:?}", scene.said);
    // Still out of reach: the heal tick changes nothing either.
    r.tick(t0 + HEAL / 2);
    assert!(scene.fake.names().is_empty());
    scene.fake.fail_list.store(false, Ordering::SeqCst);
    // Due: the change is read and applied without any new edit.
    r.tick(t0 + HEAL);
    assert_eq!(scene.fake.names(), ["a"]);
}

#[test]
fn failed_steps_are_retried_on_heal_ticks_backing_off() {
    let scene = Scene::new(&[("a", "sleep 300")]);
    let hear = |e: &Event<'_>| scene.hear(e);
    let mut r = reconciler(&scene, &hear);
    let t0 = Instant::now();
    r.reconcile_files(t0);
    assert_eq!(first_step(&scene, "a").as_deref(), Some("sleep 300"));

    scene.declare(&[("a", "sleep 301")]);
    scene
        .fake
        .fail_replace
        .lock()
        .expect("lock")
        .insert("a".into());
    r.reconcile_files(t0);
    assert_eq!(scene.fake.count("replace"), 1);
    assert!(scene.heard("trying again in 5s"), "{:?}", scene.said);
    // Heal ticks before the retry is due do not update anything.
    r.tick(t0 + HEAL / 2);
    assert_eq!(scene.fake.count("replace"), 1);
    // First retry after one heal period: fails again, so the next waits twice as long.
    let t1 = t0 + HEAL;
    r.tick(t1);
    assert_eq!(scene.fake.count("replace"), 2);
    assert!(scene.heard("trying again in 10s"), "{:?}", scene.said);
    r.tick(t1 + HEAL);
    assert_eq!(scene.fake.count("replace"), 2, "backing off");
    scene.fake.fail_replace.lock().expect("lock").clear();
    r.tick(t1 + 2 * HEAL);
    assert_eq!(scene.fake.count("replace"), 3);
    assert_eq!(first_step(&scene, "a").as_deref(), Some("sleep 301"));
    // Done: later ticks only heal.
    r.tick(t1 + 10 * HEAL);
    assert_eq!(scene.fake.count("replace"), 3);
}

#[test]
fn a_change_deleting_most_jobs_waits_and_is_read_again() {
    let all = [("a", "sleep 300"), ("b", "sleep 300"), ("c", "sleep 300")];
    let scene = Scene::new(&all);
    let hear = |e: &Event<'_>| scene.hear(e);
    let mut r = reconciler(&scene, &hear);
    let t0 = Instant::now();
    r.reconcile_files(t0);
    assert_eq!(scene.fake.names(), ["a", "b", "c"]);

    // A save in progress: most jobs gone for a moment, then back.
    scene.declare(&all[..1]);
    assert_eq!(r.reconcile_files(t0), Some(t0 + SETTLE));
    assert!(scene.heard("deletes 2 of the project's 3 jobs"));
    assert_eq!(scene.fake.count("delete"), 0);
    scene.declare(&all);
    assert_eq!(r.reconcile_files(t0 + SETTLE), None);
    assert_eq!(scene.fake.count("delete"), 0);

    // Meant: still so when read again, so it is applied.
    scene.declare(&all[..1]);
    let again = r.reconcile_files(t0).expect("deferred");
    assert_eq!(scene.fake.count("delete"), 0);
    assert_eq!(r.reconcile_files(again), None);
    assert_eq!(scene.fake.names(), ["a"]);

    // Deleting no more than half is applied at once.
    scene.declare(&[("a", "sleep 300"), ("d", "sleep 300")]);
    r.reconcile_files(t0);
    scene.declare(&[("a", "sleep 300")]);
    assert_eq!(r.reconcile_files(t0), None);
    assert_eq!(scene.fake.names(), ["a"]);
}

#[test]
fn a_file_that_does_not_load_changes_nothing() {
    let scene = Scene::new(&[("a", "sleep 300"), ("b", "sleep 300")]);
    let hear = |e: &Event<'_>| scene.hear(e);
    let mut r = reconciler(&scene, &hear);
    r.reconcile_files(Instant::now());
    for broken in ["", "project: demo\n", "project: demo\njobs:\n", "jobs: [\n"] {
        write(&scene.files[0], broken);
        r.reconcile_files(Instant::now());
        assert_eq!(scene.fake.names(), ["a", "b"], "{broken:?}");
    }
    assert_eq!(scene.fake.count("delete"), 0);
    write(&scene.files[0], "project: demo\njobs: {}\n");
    let again = r.reconcile_files(Instant::now()).expect("deferred");
    r.reconcile_files(again);
    assert!(scene.fake.names().is_empty(), "`jobs: {{}}` means no jobs");
}

#[test]
fn every_apply_waits_for_the_project_lock() {
    let scene = Scene::new(&[("a", "sleep 300")]);
    let lock = ProjectLock::acquire(&scene.root, "demo").expect("lock");
    std::thread::scope(|s| {
        let applying = s.spawn(|| {
            let quiet = |_: &Event<'_>| {};
            reconciler(&scene, &quiet).reconcile_files(Instant::now());
        });
        let until = Instant::now() + Duration::from_millis(300);
        while Instant::now() < until {
            assert!(scene.fake.names().is_empty(), "applied without the lock");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(lock);
        applying.join().expect("no panic");
    });
    assert_eq!(scene.fake.names(), ["a"]);
}

#[test]
fn dotenv_and_env_files_are_inputs_and_their_edits_are_applied() {
    let scene = Scene::new(&[]);
    write(
        &scene.files[0],
        "project: demo\njobs:\n  a:\n    command: echo ${MRSM_TEST_GREETING_WATCH}\n    env_file: vars/app.env\n",
    );
    std::fs::create_dir(scene.path("vars")).expect("dir");
    write(&scene.path("vars/app.env"), "LEVEL=1\n");
    write(&scene.path(".env"), "MRSM_TEST_GREETING_WATCH=hello\n");
    let hear = |e: &Event<'_>| scene.hear(e);
    let mut r = reconciler(&scene, &hear);
    r.reconcile_files(Instant::now());
    assert_eq!(first_step(&scene, "a").as_deref(), Some("echo hello"));
    let inputs: Vec<PathBuf> = r.inputs().to_vec();
    for name in ["mrsm-jobs.yaml", ".env", "vars/app.env"] {
        let path = std::path::absolute(scene.path(name)).expect("absolute");
        assert!(inputs.contains(&path), "{name} in {inputs:?}");
    }

    write(&scene.path(".env"), "MRSM_TEST_GREETING_WATCH=bonjour\n");
    r.reconcile_files(Instant::now());
    assert_eq!(first_step(&scene, "a").as_deref(), Some("echo bonjour"));

    write(&scene.path("vars/app.env"), "LEVEL=2\n");
    r.reconcile_files(Instant::now());
    let env = scene.fake.jobs.lock().expect("lock")["a"]
        .file
        .spec
        .env
        .clone();
    assert_eq!(env["LEVEL"], "2");
    assert_eq!(scene.fake.count("replace"), 2);
}

#[test]
fn heals_while_an_executor_is_out_of_reach_keep_to_the_new_files() {
    let scene = Scene::new(&[("a", "sleep 300"), ("b", "sleep 301")]);
    let mut registry = scene.registry.clone();
    registry.register(
        "api:prod",
        std::sync::Arc::new(crate::executor::Unavailable::new("api:prod", "down")),
    );
    let hear = |e: &Event<'_>| scene.hear(e);
    let mut r = Reconciler::new(
        &scene.files,
        Watched::Pinned("demo"),
        &registry,
        &scene.root,
        timing(),
        &hear,
    );
    let t0 = Instant::now();
    r.reconcile_files(t0);
    assert_eq!(scene.fake.names(), ["a", "b"]);
    // `a` goes, `c` is declared on an executor out of reach.
    write(
        &scene.files[0],
        "project: demo\njobs:\n  b:\n    command: sleep 301\n  c:\n    command: sleep 302\n    executor: prod\n",
    );
    r.reconcile_files(t0);
    assert_eq!(scene.fake.names(), ["b"]);
    assert!(scene.heard("executor api:prod: down"), "{:?}", scene.said);
    assert!(
        !scene.heard("api:prod: executor"),
        "said once: {:?}",
        scene.said
    );
    // Heals before the retry keep to the files as they are now: `a` stays gone.
    r.tick(t0 + HEAL / 2);
    assert_eq!(scene.fake.names(), ["b"]);
    assert_eq!(scene.fake.count("create"), 2, "nothing created again");
}

#[test]
fn files_that_come_to_name_another_project_are_reported_not_applied() {
    let scene = Scene::new(&[("a", "sleep 300")]);
    let hear = |e: &Event<'_>| scene.hear(e);
    let mut r = reconciler(&scene, &hear);
    let t0 = Instant::now();
    r.reconcile_files(t0);
    assert_eq!(scene.fake.names(), ["a"]);
    write(
        &scene.files[0],
        "project: other\njobs:\n  b:\n    command: sleep 301\n",
    );
    r.reconcile_files(t0);
    assert!(
        scene.heard(
            "the files now say project \"other\", but this watcher applies project \"demo\""
        ),
        "{:?}",
        scene.said
    );
    assert_eq!(scene.fake.names(), ["a"], "nothing applied");
    // Named back: said so, and nothing to change.
    write(
        &scene.files[0],
        "project: demo\njobs:\n  a:\n    command: sleep 300\n",
    );
    r.reconcile_files(t0);
    assert!(
        scene.heard("the files name project \"demo\" again"),
        "{:?}",
        scene.said
    );
    assert!(!scene.heard("load again"), "{:?}", scene.said);
    assert_eq!(scene.fake.names(), ["a"]);
}

/// The first step of job `name` as the executor holds it.
fn first_step(scene: &Scene, name: &str) -> Option<String> {
    let file = scene.fake.file(name)?;
    file.spec.command.first().cloned()
}
