//! `scale NAME=N…`: the project converged with N copies of job NAME (`NAME.1` …
//! `NAME.N`), whatever its `replicas:` says, as compose's `up --scale`. The copies
//! that stay are left alone; the file's `replicas:` wins again at the next `up`
//! or change of the files (a background watcher's included).

use std::collections::BTreeMap;

use super::{converge, load_or_report_with, local_executor, Files};
use crate::reconcile::{self, project};

/// Arguments of `scale`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The copies are NAME.1 … NAME.N, each a job of its own (own supervisor, \
logs and runs) with MRSM_REPLICA=i in its environment; `logs NAME` shows them all. \
Scaling down deletes the highest numbers and leaves the others running. The spec file's \
`replicas:` is not changed: the next `up` (or a watcher's reload) applies it again."
)]
pub struct ScaleArgs {
    #[command(flatten)]
    files: Files,
    /// NAME=N: run N copies of job NAME (0 deletes them all).
    #[arg(required = true, value_name = "NAME=N", value_parser = parse_count)]
    counts: Vec<(String, u32)>,
}

fn parse_count(text: &str) -> Result<(String, u32), String> {
    let (name, count) = text
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=N, as in web=3 (got {text:?})"))?;
    crate::job::validate_name(name).map_err(|e| e.to_string())?;
    let count = count
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("expected a whole number of copies after {name}= (got {count:?})"))?;
    Ok((name.to_string(), count))
}

/// `scale`: applies the files with these numbers of copies, and returns.
pub fn scale(args: &ScaleArgs) -> anyhow::Result<i32> {
    let counts: BTreeMap<String, u32> = args.counts.iter().cloned().collect();
    let desired = match load_or_report_with(&args.files, &counts) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let executor = local_executor()?;
    let registry = reconcile::with_declared(&super::super::registry()?, &desired.executors);
    let request = reconcile::up::Up {
        desired: &desired,
        registry: &registry,
        local: &executor,
        files: &args.files.files,
        project_named: args.files.project.is_some(),
        remove_orphans: false,
        detach: true,
        watch: false,
    };
    // Scaling down is no reason to ask: the copies deleted are the ones asked for.
    let confirm = |_: &project::DeletesMost| Ok(true);
    Ok(match converge(&request, &confirm)? {
        Ok((failed, _)) => i32::from(failed),
        Err(code) => code,
    })
}
