//! The module map of DESIGN.md, enforced: arrows point from user to used and
//! nothing points back up. A `crate::MODULE` path in a module that may not use
//! MODULE fails this test with the file and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What each module may use. Utilities (`certs`, `fnv`, `parallel`, `spawn`, `suggest`, the print macros) are open to all;
/// `cli` may use everything.
fn allowed() -> BTreeMap<&'static str, &'static [&'static str]> {
    BTreeMap::from([
        ("schedule", &[][..]),
        ("store", &[][..]),
        ("logs", &["store"][..]),
        ("job", &["store", "schedule", "slurm", "systemd"][..]),
        // The messages between a job's supervisor and its clients.
        ("control", &["job", "store"][..]),
        // Slurm's commands, and the process that stands for a step on the cluster.
        ("slurm", &[][..]),
        // systemd's units and `systemctl --user`.
        ("systemd", &[][..]),
        (
            "supervisor",
            &[
                "job", "logs", "schedule", "store", "slurm", "systemd", "control",
            ][..],
        ),
        (
            "executor",
            &[
                "job",
                "logs",
                "schedule",
                "store",
                "supervisor",
                "slurm",
                "systemd",
                "control",
            ][..],
        ),
        ("spec", &["job", "schedule"][..]),
        // The HTTP face of the local executor.
        ("serve", &["executor", "job", "logs", "store"][..]),
        // `store` only for the watcher's own lock files, never a job's.
        (
            "reconcile",
            &["spec", "executor", "job", "logs", "schedule", "store"][..],
        ),
    ])
}

const UTILITIES: &[&str] = &["certs", "fnv", "parallel", "print", "spawn", "suggest"];

/// One `crate::` reference: in `file` at `line`, module `from` uses `to`.
#[derive(Debug)]
struct Edge {
    from: String,
    to: String,
    file: PathBuf,
    line: usize,
}

/// Every `crate::NAME` (and `use crate::{A, B}`) in the sources under `src`.
fn edges(src: &Path) -> Vec<Edge> {
    let mut found = Vec::new();
    for entry in walk(src) {
        let relative = entry.strip_prefix(src).expect("under src");
        let Some(first) = relative.components().next() else {
            continue;
        };
        let from = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        let text = std::fs::read_to_string(&entry).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for to in referenced(code) {
                found.push(Edge {
                    from: from.clone(),
                    to,
                    file: entry.clone(),
                    line: number + 1,
                });
            }
        }
    }
    found
}

/// The modules a line of code names after `crate::`.
fn referenced(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = group.split('}').next().unwrap_or_default();
            names.extend(inner.split(',').filter_map(|item| {
                let name: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                (!name.is_empty()).then_some(name)
            }));
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                names.push(name);
            }
        }
    }
    names
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The references that break the map.
fn violations(src: &Path) -> Vec<String> {
    let allowed = allowed();
    edges(src)
        .into_iter()
        .filter(|e| e.from != e.to && !UTILITIES.contains(&e.to.as_str()))
        .filter(|e| {
            allowed
                .get(e.from.as_str())
                // Only module names count: `crate::parse_schedule` is a re-export
                // at the top, used by `cli` alone.
                .is_some_and(|ok| !ok.contains(&e.to.as_str()))
        })
        .map(|e| {
            format!(
                "{}:{}: `{}` may not use `{}`",
                e.file.display(),
                e.line,
                e.from,
                e.to
            )
        })
        .collect()
}

#[test]
fn modules_only_use_what_the_design_allows() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let found = violations(&src);
    assert!(found.is_empty(), "{}", found.join("\n"));
    // The map covers every module there is.
    let modules: Vec<String> = std::fs::read_dir(&src)
        .expect("src")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    for module in modules {
        assert!(
            module == "cli" || allowed().contains_key(module.as_str()),
            "module {module} is missing from the map"
        );
    }
}

#[test]
fn a_forbidden_edge_is_caught_with_its_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("logs")).expect("mkdir");
    std::fs::write(
        dir.path().join("logs/multiplex.rs"),
        "use crate::store::Root;\n// crate::job in a comment is fine\nuse crate::{job::JobFile, store};\n",
    )
    .expect("write");
    let found = violations(dir.path());
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].ends_with("multiplex.rs:3: `logs` may not use `job`"));
}

/// What the pure parts may not touch: a clock, processes, files, the runtime.
const IMPURE: &[&str] = &[
    "Instant",
    "SystemTime",
    "::now(",
    "nix::",
    "libc",
    "std::fs",
    "std::process",
    "std::thread",
    "std::env",
    "tokio",
];

/// The pure parts: the supervisor's state machine (its driver reads the clock and
/// touches processes for it).
const PURE: &[&str] = &["supervisor/machine"];

/// The lines of the pure parts under `src` that name something impure.
fn impurities(src: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for file in walk(src) {
        let relative = file.strip_prefix(src).expect("under src");
        let shown = relative.to_string_lossy().replace('\\', "/");
        if !PURE.iter().any(|p| shown.starts_with(p)) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("readable source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for word in IMPURE.iter().filter(|w| code.contains(*w)) {
                found.push(format!("{shown}:{}: uses `{word}`", number + 1));
            }
        }
    }
    found
}

#[test]
fn the_state_machine_reads_no_clock_and_touches_no_process_or_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    assert!(
        src.join("supervisor/machine/mod.rs").is_file(),
        "the machine moved: update PURE"
    );
    let found = impurities(&src);
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn an_impure_line_in_the_machine_is_caught_with_its_place() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("supervisor/machine")).expect("mkdir");
    std::fs::write(
        dir.path().join("supervisor/machine/runs.rs"),
        "// Instant::now() in a comment is fine\nlet t = Timestamp::now();\nuse nix::unistd::Pid;\n",
    )
    .expect("write");
    std::fs::write(dir.path().join("supervisor/driver.rs"), "Instant::now();\n").expect("write");
    let found = impurities(dir.path());
    assert_eq!(
        found,
        [
            "supervisor/machine/runs.rs:2: uses `::now(`",
            "supervisor/machine/runs.rs:3: uses `nix::`"
        ]
    );
}
