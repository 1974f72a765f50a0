//! The command line: clap definitions and rendering, no logic beyond that.
//!
//! Verbs follow Meerschaum's vocabulary (`show schedule`, `show jobs`, …); each verb's
//! handler lives in its own module.

mod show_schedule;

use clap::{Parser, Subcommand};

/// An error caused by what the user typed (exit status 2), as opposed to a failure
/// while doing the work (exit status 1).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// mrsm runs shell commands as background jobs, chained or on schedules, declared in
/// mrsm-jobs.yaml or driven from the command line.
#[derive(Debug, Parser)]
#[command(name = "mrsm", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show things: `show schedule SCHEDULE [N]`.
    #[command(subcommand)]
    Show(ShowCommand),
}

#[derive(Debug, Subcommand)]
enum ShowCommand {
    /// Print the next fire times of a schedule, e.g. `show schedule 'daily and mon-fri' 10`.
    Schedule(show_schedule::Args),
}

/// Runs the command line and returns the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Show(ShowCommand::Schedule(args)) => show_schedule::run(&args),
    };
    match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() {
                2
            } else {
                1
            }
        }
    }
}
