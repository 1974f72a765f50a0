//! mrsm: a declarative job orchestrator.
//!
//! Users declare background jobs (shell commands or chains of them), their schedules and
//! their executors in `mrsm-jobs.yaml`; mrsm converges the machine to the file. This
//! crate is the library that does the work; the `mrsm` binary is a thin command line
//! over it.
//!
//! The schedule language is the first piece: [`parse_schedule`] turns a string such as
//! `every 30 minutes starting 00:00` or `0 9 * * mon-fri` into a [`Schedule`] whose
//! [`Schedule::fire_times`] lists when a job started at a given instant runs.

pub mod cli;
pub mod schedule;

pub use schedule::{parse_schedule, FireTimes, Schedule, ScheduleError};
