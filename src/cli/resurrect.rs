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
}

/// Starts again, all at once, every job of the executor whose supervisor died
/// while it was meant to run or be paused.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    let executor = args.on.executor()?;
    let executor = executor.as_ref();
    let dead: Vec<String> = executor
        .list(None)?
        .into_iter()
        .filter(|job| job.died)
        .map(|job| job.name)
        .collect();
    // Each decided again under the job's lock: one that came back meanwhile (a
    // second resurrect, the watcher) is left alone.
    let results = crate::parallel::each(&dead, |name| executor.revive(name));
    let mut code = 0;
    let mut revived = 0;
    for result in results {
        match result {
            Ok(Some(outcome)) => {
                revived += 1;
                out!("{}", outcome.on(executor.label()));
            }
            Ok(None) => {}
            Err(e) => {
                err!("error: {e}");
                code = 1;
            }
        }
    }
    if revived == 0 && code == 0 {
        out!("every job is as it is meant to be");
    }
    Ok(code)
}
