//! `mrsm resurrect`: brings a root's jobs back as they are meant to be once their
//! supervisors died with the machine (a reboot, a power loss): run at boot, by
//! hand, or from cron's `@reboot` on a machine without systemd. A job meant to run
//! whose supervisor is gone starts again, one meant to be paused comes back paused,
//! a stopped one stays stopped and a live one is left alone, so a second run starts
//! nothing twice.

use super::On;

/// `mrsm resurrect`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub on: On,
    /// Print the jobs started again as JSON (`[{"name", "outcome"}]`, `[]` when none).
    #[arg(long)]
    pub json: bool,
}

/// Starts again, all at once, every job of the executor (and of the others that
/// keep their jobs in the same root) whose supervisor died while it was meant to
/// run or be paused.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    let executor = args.on.executor()?;
    let executor = executor.as_ref();
    // Every job kept where this executor keeps its own (`local`'s root holds the
    // `slurm` and `systemd` jobs too).
    let dead: Vec<String> = executor
        .list_home(None)?
        .into_iter()
        .filter(|job| job.died)
        .map(|job| job.name)
        .collect();
    // Each decided again under the job's lock: one that came back meanwhile (a
    // second resurrect, the watcher) is left alone.
    let results = executor.revive_all(&dead);
    let mut code = 0;
    let mut revived = Vec::new();
    for (name, result) in dead.iter().zip(results) {
        match result {
            Ok(Some(outcome)) => {
                let said = outcome.on(executor.label());
                if !args.json {
                    out!("{said}");
                }
                revived.push(serde_json::json!({ "name": name, "outcome": said }));
            }
            Ok(None) => {}
            Err(e) => {
                err!("error: {e}");
                code = 1;
            }
        }
    }
    if args.json {
        out!("{}", serde_json::to_string_pretty(&revived)?);
    } else if revived.is_empty() && code == 0 {
        out!("every job is as it is meant to be");
    }
    Ok(code)
}
