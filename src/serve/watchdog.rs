//! The server's watchdog: a job meant to run whose supervisor died (killed from
//! outside, the machine's OOM killer) is started again, as Meerschaum's API server
//! restarts killed jobs. It looks every half second, so a death is repaired within
//! about a second; a job stopped or paused on purpose is never touched.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::executor::{Executor, LocalExecutor};
use crate::job::{DesiredState, JobStatus};

/// How often the watchdog looks.
pub const LOOK_EVERY: Duration = Duration::from_millis(500);

/// Runs until `stop` is set: restarts every job that died while meant to run (or
/// be paused: it comes back paused).
pub fn run(executor: Arc<LocalExecutor>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        if let Ok(jobs) = executor.list(None) {
            for job in jobs {
                if job.status != JobStatus::Stopped || !job.died {
                    continue;
                }
                let result = match job.desired {
                    DesiredState::Running => executor.start(&job.name),
                    DesiredState::Paused => executor
                        .start(&job.name)
                        .and_then(|_| executor.pause(&job.name)),
                    DesiredState::Stopped => continue,
                };
                match result {
                    Ok(_) => eprintln!(
                        "mrsm serve: job {:?} had died (its supervisor was killed); started it again",
                        job.name
                    ),
                    Err(e) => eprintln!("mrsm serve: job {:?} died and could not be started again: {e}", job.name),
                }
            }
        }
        std::thread::sleep(LOOK_EVERY);
    }
}
