//! mrsm: a declarative job orchestrator.
//!
//! Users declare background jobs (shell commands or chains of them), their schedules and
//! their executors in `mrsm-jobs.yaml`; mrsm converges the machine to the file. This
//! crate is the library that does the work; the `mrsm` binary is a thin command line
//! over it.
//!
//! - [`parse_schedule`] turns `every 30 minutes starting 00:00` or `0 9 * * mon-fri`
//!   into a [`Schedule`] whose [`Schedule::fire_times`] lists when a job runs.
//! - [`Job`] starts, pauses, stops and deletes a background job, like Meerschaum's
//!   Python `Job` class; [`executor::Executor`] is the trait behind it.

#[macro_use]
#[doc(hidden)]
pub mod print;

mod certs;
pub mod cli;
pub mod control;
pub mod executor;
mod fnv;
pub mod job;
pub mod logs;
pub mod parallel;
pub mod reconcile;
pub mod schedule;
pub mod serve;
pub mod slurm;
pub mod spawn;
pub mod spec;
pub mod store;
mod suggest;
pub mod supervisor;
pub mod systemd;

pub use executor::Job;
pub use schedule::{parse_schedule, FireTimes, Schedule, ScheduleError};
