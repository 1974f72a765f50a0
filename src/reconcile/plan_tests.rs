//! The pure decision [`decide`]: one row per situation, both modes.

use std::collections::BTreeMap;

use super::{decide, Action, Actual, Mode};
use crate::executor::{CreateOptions, MemoryJob};
use crate::job::{DesiredState, JobInfo, JobSpec, JobStatus};
use crate::spec::{spec_hash, Desired, DesiredJob};

const PROJECT: &str = "demo";

fn declared(name: &str, command: &str, state: DesiredState) -> DesiredJob {
    let spec = JobSpec::new(name, vec![command.to_string()]);
    DesiredJob {
        spec_hash: spec_hash(&spec, "local"),
        spec,
        state,
        executor: "local".into(),
    }
}

/// How a job exists on the machine.
struct Exists {
    project: Option<&'static str>,
    command: &'static str,
    status: JobStatus,
    /// What the job was last told (by the reconciler or by hand).
    desired: DesiredState,
    died: bool,
}

const RUNNING: Exists = Exists {
    project: Some(PROJECT),
    command: "sleep 300",
    status: JobStatus::Running,
    desired: DesiredState::Running,
    died: false,
};

fn existing(name: &str, e: &Exists) -> JobInfo {
    let spec = JobSpec::new(name, vec![e.command.to_string()]);
    let options = CreateOptions {
        desired: e.desired,
        project: e.project.map(str::to_string),
        spec_hash: Some(spec_hash(&spec, "local")),
        lease: None,
    };
    let mut job = MemoryJob::new(&spec, &options);
    job.status = e.status;
    let mut info = job.info("local");
    info.died = e.died;
    info
}

struct Row {
    what: &'static str,
    declared: Option<DesiredState>,
    exists: Option<Exists>,
    full: Option<Action>,
    heal: Option<Action>,
}

fn rows() -> Vec<Row> {
    use DesiredState as D;
    use JobStatus as S;
    let by_hand = |status, desired| Exists {
        status,
        desired,
        ..RUNNING
    };
    vec![
        Row {
            what: "missing: created in both modes",
            declared: Some(D::Running),
            exists: None,
            full: Some(Action::Create),
            heal: Some(Action::Create),
        },
        Row {
            what: "converged: nothing",
            declared: Some(D::Running),
            exists: Some(RUNNING),
            full: None,
            heal: None,
        },
        Row {
            what: "definition changed: updated by a full plan only",
            declared: Some(D::Running),
            exists: Some(Exists {
                command: "sleep 1",
                ..RUNNING
            }),
            full: Some(Action::Update(vec!["command".into()])),
            heal: None,
        },
        Row {
            what: "owned by another project: a conflict, reported by a full plan only",
            declared: Some(D::Running),
            exists: Some(Exists {
                project: Some("other"),
                ..RUNNING
            }),
            full: Some(Action::Conflict(Some("other".into()))),
            heal: None,
        },
        Row {
            what: "made by `mrsm run`: a conflict",
            declared: Some(D::Running),
            exists: Some(Exists {
                project: None,
                ..RUNNING
            }),
            full: Some(Action::Conflict(None)),
            heal: None,
        },
        Row {
            what: "paused by hand: resumed by a full plan only",
            declared: Some(D::Running),
            exists: Some(by_hand(S::Paused, D::Paused)),
            full: Some(Action::Resume),
            heal: None,
        },
        Row {
            what: "supervisor killed: started in both modes",
            declared: Some(D::Running),
            exists: Some(Exists {
                status: S::Failed,
                died: true,
                ..RUNNING
            }),
            full: Some(Action::Start),
            heal: Some(Action::Start),
        },
        Row {
            what: "stopped by hand: started by a full plan only",
            declared: Some(D::Running),
            exists: Some(by_hand(S::Stopped, D::Stopped)),
            full: Some(Action::Start),
            heal: None,
        },
        Row {
            what: "ran to its end successfully: left alone",
            declared: Some(D::Running),
            exists: Some(by_hand(S::Stopped, D::Running)),
            full: None,
            heal: None,
        },
        Row {
            what: "failed by itself: started by a full plan, the heal keeps to its policy",
            declared: Some(D::Running),
            exists: Some(by_hand(S::Failed, D::Running)),
            full: Some(Action::Start),
            heal: None,
        },
        Row {
            what: "declared paused, failed by itself: brought back paused by a full plan only",
            declared: Some(D::Paused),
            exists: Some(by_hand(S::Failed, D::Paused)),
            full: Some(Action::Pause),
            heal: None,
        },
        Row {
            what: "declared paused, running: paused by a full plan only",
            declared: Some(D::Paused),
            exists: Some(RUNNING),
            full: Some(Action::Pause),
            heal: None,
        },
        Row {
            what: "declared paused, supervisor killed: brought back paused in both modes",
            declared: Some(D::Paused),
            exists: Some(Exists {
                status: S::Failed,
                desired: D::Paused,
                died: true,
                ..RUNNING
            }),
            full: Some(Action::Pause),
            heal: Some(Action::Pause),
        },
        Row {
            what: "declared stopped, running: stopped by a full plan only",
            declared: Some(D::Stopped),
            exists: Some(RUNNING),
            full: Some(Action::Stop),
            heal: None,
        },
        Row {
            what: "declared stopped, paused: stopped by a full plan only",
            declared: Some(D::Stopped),
            exists: Some(by_hand(S::Paused, D::Paused)),
            full: Some(Action::Stop),
            heal: None,
        },
        Row {
            what: "no longer declared: deleted by a full plan only",
            declared: None,
            exists: Some(RUNNING),
            full: Some(Action::Delete),
            heal: None,
        },
        Row {
            what: "another project's job, not declared: never touched",
            declared: None,
            exists: Some(Exists {
                project: Some("other"),
                ..RUNNING
            }),
            full: None,
            heal: None,
        },
    ]
}

#[test]
fn each_situation_gives_its_action_in_each_mode() {
    for row in rows() {
        let desired = Desired {
            project: PROJECT.into(),
            jobs: row
                .declared
                .map(|state| declared("job", "sleep 300", state))
                .into_iter()
                .collect(),
            executors: Vec::new(),
        };
        let actual: Vec<JobInfo> = row.exists.iter().map(|e| existing("job", e)).collect();
        let old_specs: BTreeMap<String, JobSpec> = row
            .exists
            .iter()
            .map(|e| {
                (
                    "job".to_string(),
                    JobSpec::new("job", vec![e.command.into()]),
                )
            })
            .collect();
        for (mode, expected) in [(Mode::Full, &row.full), (Mode::Heal, &row.heal)] {
            let actual = Actual {
                old_specs: old_specs.clone(),
                ..Actual::of(actual.clone())
            };
            let plan = decide(&desired, &actual, mode);
            let actions: Vec<&Action> = plan.steps.iter().map(|s| &s.action).collect();
            assert_eq!(
                actions,
                expected.iter().collect::<Vec<_>>(),
                "{} ({mode:?})",
                row.what
            );
            assert!(plan.steps.iter().all(|s| s.name == "job"), "{}", row.what);
        }
    }
}

#[test]
fn a_change_without_the_stored_definition_names_the_definition() {
    let desired = Desired {
        project: PROJECT.into(),
        jobs: vec![declared("job", "sleep 300", DesiredState::Running)],
        executors: Vec::new(),
    };
    let stale = Exists {
        command: "sleep 1",
        ..RUNNING
    };
    let plan = decide(
        &desired,
        &Actual::of(vec![existing("job", &stale)]),
        Mode::Full,
    );
    assert_eq!(
        plan.steps[0].action,
        Action::Update(vec!["definition".into()])
    );
}

#[test]
fn deletes_are_counted_and_only_owned_jobs_go() {
    let desired = Desired {
        project: PROJECT.into(),
        jobs: vec![declared("kept", "sleep 300", DesiredState::Running)],
        executors: Vec::new(),
    };
    let actual = vec![
        existing("kept", &RUNNING),
        existing("gone-1", &RUNNING),
        existing("gone-2", &RUNNING),
        existing(
            "foreign",
            &Exists {
                project: Some("other"),
                ..RUNNING
            },
        ),
    ];
    let plan = decide(&desired, &Actual::of(actual), Mode::Full);
    assert_eq!(plan.deletes(), 2);
    let names: Vec<&str> = plan.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["gone-1", "gone-2"]);
}

#[test]
fn broken_jobs_are_reported_and_never_touched() {
    let desired = Desired {
        project: PROJECT.into(),
        jobs: vec![
            declared("unreadable", "sleep 300", DesiredState::Running),
            declared("garbled", "sleep 300", DesiredState::Running),
        ],
        executors: Vec::new(),
    };
    // job.json unreadable: its owner is unknown.
    let unreadable = JobInfo::broken("unreadable", "job.json is not valid".into(), None, "local");
    // state.json unreadable: the definition says it is ours and current.
    let mut garbled = existing("garbled", &RUNNING);
    garbled.status = JobStatus::Broken;
    garbled.reason = Some("state.json is not valid".into());
    for mode in [Mode::Full, Mode::Heal] {
        let plan = decide(
            &desired,
            &Actual::of(vec![unreadable.clone(), garbled.clone()]),
            mode,
        );
        let expected: Vec<(&str, Action)> = match mode {
            Mode::Full => vec![("unreadable", Action::Broken("job.json is not valid".into()))],
            Mode::Heal => Vec::new(),
        };
        let got: Vec<(&str, Action)> = plan
            .steps
            .iter()
            .map(|s| (s.name.as_str(), s.action.clone()))
            .collect();
        assert_eq!(got, expected, "{mode:?}");
    }
    // Not declared any more: neither is deleted (one has no known owner, the other is
    // left for its supervisor to repair).
    let empty = Desired {
        project: PROJECT.into(),
        jobs: Vec::new(),
        executors: Vec::new(),
    };
    let plan = decide(&empty, &Actual::of(vec![unreadable]), Mode::Full);
    assert!(plan.steps.is_empty(), "{:?}", plan.steps);
}

/// `name` declared on `executor`.
fn declared_on(name: &str, executor: &str) -> DesiredJob {
    let mut job = declared(name, "sleep 300", DesiredState::Running);
    job.executor = executor.into();
    job.spec_hash = spec_hash(&job.spec, executor);
    job
}

/// `name` running on `executor`, owned by the project and current.
fn running_on(name: &str, executor: &str) -> JobInfo {
    let mut info = existing(name, &RUNNING);
    info.executor = executor.into();
    info.spec_hash = Some(declared_on(name, executor).spec_hash);
    info
}

#[test]
fn jobs_are_planned_per_executor() {
    struct Case {
        what: &'static str,
        declared: Vec<DesiredJob>,
        exists: Vec<JobInfo>,
        unreachable: &'static [&'static str],
        expected: &'static [(&'static str, &'static str, &'static str)],
    }
    let cases = [
        Case {
            what: "each executor's job where it is declared: nothing to do",
            declared: vec![declared_on("a", "local"), declared_on("b", "mem")],
            exists: vec![running_on("a", "local"), running_on("b", "mem")],
            unreachable: &[],
            expected: &[],
        },
        Case {
            what: "a move: one step where it is declared, from where it was (no delete)",
            declared: vec![declared_on("a", "mem")],
            exists: vec![running_on("a", "local")],
            unreachable: &[],
            expected: &[("a", "mem", "move from local")],
        },
        Case {
            what: "a copy left on another executor besides the declared one: deleted",
            declared: vec![declared_on("a", "mem")],
            exists: vec![running_on("a", "local"), running_on("a", "mem")],
            unreachable: &[],
            expected: &[("a", "local", "delete")],
        },
        Case {
            what: "copies on two other executors: one moves, the other is deleted",
            declared: vec![declared_on("a", "mem")],
            exists: vec![running_on("a", "local"), running_on("a", "far")],
            unreachable: &[],
            expected: &[("a", "mem", "move from local"), ("a", "far", "delete")],
        },
        Case {
            what: "a move within one home (local → slurm): an update there, nothing deleted",
            declared: vec![declared_on("a", "slurm")],
            exists: vec![running_on("a", "local")],
            unreachable: &[],
            expected: &[("a", "slurm", "update")],
        },
        Case {
            what: "declared on a server of this very root, found as `local` with that declaration: converged",
            declared: vec![declared_on("a", "self")],
            exists: vec![JobInfo {
                spec_hash: Some(declared_on("a", "self").spec_hash),
                ..running_on("a", "local")
            }],
            unreachable: &[],
            expected: &[],
        },
        Case {
            what: "a move to an executor out of reach: reported, the job stays",
            declared: vec![declared_on("a", "mem")],
            exists: vec![running_on("a", "local")],
            unreachable: &["mem"],
            expected: &[("a", "mem", "unreachable")],
        },
        Case {
            what: "an executor out of reach: its jobs reported, others converge",
            declared: vec![declared_on("a", "mem"), declared_on("b", "local")],
            exists: vec![],
            unreachable: &["mem"],
            expected: &[("a", "mem", "unreachable"), ("b", "local", "create")],
        },
        Case {
            what: "an undeclared job on any executor is the project's to delete",
            declared: vec![],
            exists: vec![running_on("a", "mem"), running_on("b", "local")],
            unreachable: &[],
            expected: &[("a", "mem", "delete"), ("b", "local", "delete")],
        },
    ];
    for case in cases {
        let desired = Desired {
            project: PROJECT.into(),
            jobs: case.declared,
            executors: Vec::new(),
        };
        let actual = Actual {
            homes: [
                ("local", "/root"),
                ("slurm", "/root"),
                ("self", "/root"),
                ("mem", "elsewhere"),
                ("far", "further"),
            ]
            .map(|(l, h)| (l.to_string(), h.to_string()))
            .into(),
            unreachable: case
                .unreachable
                .iter()
                .map(|l| (l.to_string(), "down".to_string()))
                .collect(),
            ..Actual::of(case.exists)
        };
        let plan = decide(&desired, &actual, Mode::Full);
        let got: Vec<(&str, &str, &str)> = plan
            .steps
            .iter()
            .map(|s| {
                let action = match s.action {
                    Action::Create => "create",
                    Action::Update(_) => "update",
                    Action::Delete => "delete",
                    Action::Move(ref from) if from == "local" => "move from local",
                    Action::Unreachable(_) => "unreachable",
                    _ => "other",
                };
                (s.name.as_str(), s.executor.as_str(), action)
            })
            .collect();
        assert_eq!(got, case.expected, "{}", case.what);
    }
}

#[test]
fn the_heal_never_moves_a_job() {
    let desired = Desired {
        project: PROJECT.into(),
        jobs: vec![declared_on("a", "mem")],
        executors: Vec::new(),
    };
    let actual = Actual {
        homes: [("local", "/root"), ("mem", "elsewhere")]
            .map(|(l, h)| (l.to_string(), h.to_string()))
            .into(),
        ..Actual::of(vec![running_on("a", "local")])
    };
    let plan = decide(&desired, &actual, Mode::Heal);
    assert!(plan.steps.is_empty(), "{:?}", plan.steps);
}

#[test]
fn most_jobs_deleted_counts_those_out_of_sight_too() {
    let most = |declared: Vec<DesiredJob>, exists: Vec<JobInfo>, unreachable: &[&str]| {
        let desired = Desired {
            project: PROJECT.into(),
            jobs: declared,
            executors: Vec::new(),
        };
        let actual = Actual {
            unreachable: unreachable
                .iter()
                .map(|l| (l.to_string(), "down".to_string()))
                .collect(),
            ..Actual::of(exists)
        };
        let plan = decide(&desired, &actual, Mode::Full);
        super::project::deletes_most(&plan, &actual).map(|m| (m.names, m.owned))
    };
    let running = |names: &[&str]| names.iter().map(|n| running_on(n, "local")).collect();
    // Three of four: most.
    assert_eq!(
        most(
            vec![declared_on("a", "local")],
            running(&["a", "b", "c", "d"]),
            &[]
        ),
        Some((vec!["b".into(), "c".into(), "d".into()], 4))
    );
    // Two of four: not most.
    let two = vec![declared_on("a", "local"), declared_on("b", "local")];
    assert_eq!(most(two, running(&["a", "b", "c", "d"]), &[]), None);
    // One seen of two, the other on an executor out of reach: not most.
    assert_eq!(
        most(
            vec![declared_on("there", "mem")],
            running(&["here"]),
            &["mem"]
        ),
        None
    );
}
