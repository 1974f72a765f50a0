//! The Slurm step runner: each step is submitted with `srun` through `mrsm
//! slurm-step` (see `crate::slurm`), which the supervisor runs, signals and waits
//! for like any step; pausing and resuming the job suspend and resume its steps'
//! Slurm jobs.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::steps::{plain_command, program_and_args, Placed, StepAt, StepRunner};
use crate::job::{JobSpec, SlurmOptions};
use crate::slurm::{self, StepInfo, StepOrder};

/// How long a suspend or resume may take to show in the cluster's state.
const SETTLE: Duration = Duration::from_secs(2);

/// Waits (a little) until Slurm reports job `id` in `state`: the controller takes
/// a suspend or resume in before its node has done it.
fn settle(id: &str, state: &str) {
    let deadline = std::time::Instant::now() + SETTLE;
    while std::time::Instant::now() < deadline {
        if slurm::state_of(id).is_none_or(|s| s == state) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs a job's steps on a Slurm cluster.
pub struct SlurmRunner {
    options: SlurmOptions,
    /// Where each step's [`StepInfo`] is written (under the job's directory).
    dir: PathBuf,
    /// Tells this root's steps apart from other roots' in the cluster's queue.
    root_tag: String,
    /// The `mrsm` executable that runs `slurm-step`.
    mrsm: PathBuf,
}

impl SlurmRunner {
    /// A runner for the job whose files are under `job_dir`, in root `root_dir`.
    pub fn new(options: SlurmOptions, job_dir: PathBuf, root_dir: &std::path::Path) -> SlurmRunner {
        let tag = crate::fnv::Fnv::new()
            .write(root_dir.as_os_str().as_encoded_bytes())
            .finish();
        SlurmRunner {
            options,
            dir: job_dir.join("slurm"),
            root_tag: format!("{:06x}", tag & 0xff_ffff),
            // This process's own executable (by its name, so `ps` says mrsm), or the
            // file it was started from if that was replaced since.
            mrsm: std::env::current_exe()
                .ok()
                .filter(|p| p.is_file())
                .unwrap_or_else(|| PathBuf::from("/proc/self/exe")),
        }
    }

    fn info_path(&self, at: StepAt) -> PathBuf {
        self.dir.join(format!("r{}s{}.json", at.run, at.step))
    }

    /// The Slurm job ids of the live steps known so far.
    fn job_ids(&self, live: &[StepAt]) -> Vec<String> {
        live.iter()
            .filter_map(|at| self.placed(*at).map(|p| p.id))
            .collect()
    }
}

impl StepRunner for SlurmRunner {
    fn command(
        &self,
        spec: &JobSpec,
        at: StepAt,
        text: &str,
        paused: bool,
    ) -> std::io::Result<Command> {
        std::fs::create_dir_all(&self.dir)?;
        let info = self.info_path(at);
        let _ = std::fs::remove_file(&info);
        // As on this machine: one plain command runs without a shell in between,
        // so the job's stop signal reaches the program itself.
        let command = match (spec.shell, plain_command(text)) {
            (true, Some(words)) => words,
            (true, None) => vec!["/bin/sh".to_string(), "-c".to_string(), text.to_string()],
            (false, _) => {
                let (program, args) = program_and_args(text)?;
                std::iter::once(program).chain(args).collect()
            }
        };
        let order = StepOrder {
            slurm_name: slurm::step_job_name(&self.root_tag, &spec.name, at.run, at.step),
            info,
            srun_args: self.options.srun_args(),
            command,
            stop_signal: spec.stop.signal.0 as i32,
            grace_ms: spec.stop.timeout.as_millis() as u64,
            paused,
        };
        let order = serde_json::to_string(&order).map_err(std::io::Error::other)?;
        let mut c = Command::new(&self.mrsm);
        c.arg("slurm-step").arg(order);
        Ok(c)
    }

    fn placed(&self, at: StepAt) -> Option<Placed> {
        let info = StepInfo::read(&self.info_path(at));
        let id = info.job_id?;
        Some(Placed {
            note: info
                .waiting
                .map(|why| format!("Slurm job {id} waits in the queue: {why}")),
            id,
        })
    }

    fn suspend(&self, live: &[StepAt]) -> Result<(), String> {
        let mut done: Vec<String> = Vec::new();
        for id in self.job_ids(live) {
            // Still in the queue: held there, so it does not start while paused.
            if slurm::state_of(&id).is_some_and(|s| s == "PENDING") && slurm::hold(&id).is_ok() {
                done.push(id);
                continue;
            }
            match slurm::suspend(&id) {
                Ok(()) => {
                    settle(&id, "SUSPENDED");
                    done.push(id)
                }
                Err(e) => {
                    let text = e.to_string();
                    let denied = text.contains("ermission") || text.contains("Access");
                    if !denied && slurm::state_of(&id).is_none_or(|s| s != "RUNNING") {
                        // Pending or already over: nothing runs there to hold.
                        continue;
                    }
                    for earlier in &done {
                        let _ = slurm::resume(earlier).or_else(|_| slurm::release(earlier));
                    }
                    return Err(if denied {
                        format!("Slurm refused to suspend job {id} (`scontrol suspend` is for the cluster's operators and administrators): {text}")
                    } else {
                        format!("Slurm could not suspend job {id}: {text}")
                    });
                }
            }
        }
        Ok(())
    }

    fn resume(&self, live: &[StepAt]) -> Result<(), String> {
        let mut failed = Vec::new();
        for at in live {
            let Some(id) = self.placed(*at).map(|p| p.id) else {
                continue;
            };
            let done = match slurm::state_of(&id).as_deref() {
                // Held while paused in the queue.
                Some("PENDING") => slurm::release(&id),
                // Signals sent before the cluster has it running again are lost, and
                // its node drops them for a moment even then: the step's process
                // holds a stop back until that moment is over.
                Some("SUSPENDED") => slurm::resume(&id).map(|()| {
                    settle(&id, "RUNNING");
                    slurm::note_resumed(&self.info_path(*at));
                }),
                _ => Ok(()),
            };
            if let Err(e) = done {
                failed.push(format!("job {id}: {e}"));
            }
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(format!("Slurm could not resume {}", failed.join("; "))),
        }
    }

    fn kill_slack(&self) -> Duration {
        slurm::stop_slack()
    }

    fn ended(&self, at: StepAt) -> Option<Placed> {
        let path = self.info_path(at);
        let info = StepInfo::read(&path);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(slurm::resumed_path(&path));
        let id = info.job_id?;
        if info.state.is_none() {
            // Its step process ended without seeing the job over (killed): the
            // job may still run there, so it is cancelled (best effort).
            let _ = slurm::cancel(&id, None);
        }
        let note = match info.state.as_deref() {
            Some("COMPLETED") | None => format!("Slurm job {id}"),
            // Ended by a stop: how Slurm ended it is the stop's doing.
            Some(_) if info.stopped => format!("Slurm job {id}"),
            Some(state) => format!("Slurm job {id} ended {state}"),
        };
        Some(Placed {
            id,
            note: Some(note),
        })
    }
}
