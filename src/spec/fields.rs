//! A job's keys as the files wrote them, each remembering its place (file, line,
//! column), merged key by key: later files over earlier ones, jobs over `defaults`.
//! A relative path resolves against the file that wrote its key, so the place of a
//! key is kept through the merge.

use indexmap::IndexMap;

use super::raw::{RawAfter, RawCommand, RawDependency, RawHealth, RawPaths};
use crate::job::SlurmOptions;

/// A value and where it was written (`file` indexes the loader's sources).
#[derive(Clone, Debug)]
pub(super) struct At<T> {
    pub value: T,
    pub file: usize,
    pub line: usize,
    pub column: usize,
}

impl<T> At<T> {
    /// The same place, at another column of its line.
    pub fn place_at(&self, column: usize) -> At<()> {
        At {
            value: (),
            file: self.file,
            line: self.line,
            column,
        }
    }
}

impl At<()> {
    /// A value at this place.
    pub fn with<T>(self, value: T) -> At<T> {
        At {
            value,
            file: self.file,
            line: self.line,
            column: self.column,
        }
    }
}

/// A job's fields after merging files and defaults.
#[derive(Clone, Debug, Default)]
pub(super) struct Fields {
    pub command: Option<At<RawCommand>>,
    pub schedule: Option<At<String>>,
    pub timezone: Option<At<String>>,
    pub overlap: Option<At<String>>,
    pub restart: Option<At<String>>,
    pub executor: Option<At<String>>,
    pub env: IndexMap<String, At<String>>,
    pub env_file: Option<At<RawPaths>>,
    pub cwd: Option<At<String>>,
    pub state: Option<At<String>>,
    pub stop_signal: Option<At<String>>,
    pub stop_timeout: Option<At<String>>,
    pub max_size: Option<At<String>>,
    pub keep: Option<At<u32>>,
    pub max_line: Option<At<String>>,
    pub shell: Option<At<bool>>,
    pub allow_fast: Option<At<bool>>,
    pub slurm: Option<At<SlurmOptions>>,
    pub healthcheck: Option<At<RawHealth>>,
    pub depends_on: Option<At<Vec<RawDependency>>>,
    pub on_start: Option<At<String>>,
    pub on_success: Option<At<String>>,
    pub on_failure: Option<At<String>>,
    pub hook_timeout: Option<At<String>>,
    pub replicas: Option<At<u32>>,
    pub after: Option<At<RawAfter>>,
}

impl Fields {
    /// `self` over `base`, key by key (maps merged key by key).
    pub fn over(self, base: Fields) -> Fields {
        let mut env = base.env;
        env.extend(self.env);
        Fields {
            command: self.command.or(base.command),
            schedule: self.schedule.or(base.schedule),
            timezone: self.timezone.or(base.timezone),
            overlap: self.overlap.or(base.overlap),
            restart: self.restart.or(base.restart),
            executor: self.executor.or(base.executor),
            env,
            env_file: self.env_file.or(base.env_file),
            cwd: self.cwd.or(base.cwd),
            state: self.state.or(base.state),
            stop_signal: self.stop_signal.or(base.stop_signal),
            stop_timeout: self.stop_timeout.or(base.stop_timeout),
            max_size: self.max_size.or(base.max_size),
            keep: self.keep.or(base.keep),
            max_line: self.max_line.or(base.max_line),
            shell: self.shell.or(base.shell),
            allow_fast: self.allow_fast.or(base.allow_fast),
            healthcheck: self.healthcheck.or(base.healthcheck),
            depends_on: self.depends_on.or(base.depends_on),
            on_start: self.on_start.or(base.on_start),
            on_success: self.on_success.or(base.on_success),
            on_failure: self.on_failure.or(base.on_failure),
            hook_timeout: self.hook_timeout.or(base.hook_timeout),
            replicas: self.replicas.or(base.replicas),
            after: self.after.or(base.after),
            // Key by key too: a job's `slurm:` over the defaults'.
            slurm: match (self.slurm, base.slurm) {
                (Some(own), Some(base)) => Some(At {
                    value: base.value.overlaid(&own.value),
                    ..own
                }),
                (own, base) => own.or(base),
            },
        }
    }
}
