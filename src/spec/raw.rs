//! The spec file as written: every value that can be wrong keeps its place in the
//! file, so validation errors can point at it. Unknown keys are refused here.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::job::SlurmOptions;

/// A command: one string (steps split on a lone `+`) or a list of steps.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RawCommand {
    One(String),
    Steps(Vec<String>),
}

/// One path or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum RawPaths {
    One(String),
    Many(Vec<String>),
}

/// `stop: { signal, timeout }`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStop {
    pub signal: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
}

/// `logs: { max_size, keep, max_line }`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    pub max_size: Option<Spanned<String>>,
    pub keep: Option<Spanned<u32>>,
    pub max_line: Option<Spanned<String>>,
}

/// A job (or the `defaults` block) as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJob {
    pub command: Option<Spanned<RawCommand>>,
    pub schedule: Option<Spanned<String>>,
    pub timezone: Option<Spanned<String>>,
    pub overlap: Option<Spanned<String>>,
    pub restart: Option<Spanned<String>>,
    pub executor: Option<Spanned<String>>,
    pub env: Option<IndexMap<Spanned<String>, Spanned<String>>>,
    pub env_file: Option<Spanned<RawPaths>>,
    pub cwd: Option<Spanned<String>>,
    pub state: Option<Spanned<String>>,
    pub stop: Option<RawStop>,
    pub logs: Option<RawLogs>,
    pub shell: Option<Spanned<bool>>,
    pub allow_fast: Option<Spanned<bool>>,
    /// The job's own Slurm options, over its executor's.
    pub slurm: Option<Spanned<SlurmOptions>>,
}

/// A named executor beyond `local`: a remote `mrsm serve` (`url`, `token`), or a
/// Slurm cluster (`kind: slurm` and the options every job on it gets).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExecutor {
    pub kind: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub token: Option<Spanned<String>>,
    pub ca_file: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<String>>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub time: Option<String>,
    pub cpus: Option<u32>,
    pub mem: Option<String>,
    pub gres: Option<String>,
    pub extra: Option<Vec<String>>,
}

impl RawExecutor {
    /// Its Slurm options (a `kind: slurm` executor's).
    pub fn slurm_options(&self) -> SlurmOptions {
        SlurmOptions {
            partition: self.partition.clone(),
            account: self.account.clone(),
            qos: self.qos.clone(),
            time: self.time.clone(),
            cpus: self.cpus,
            mem: self.mem.clone(),
            gres: self.gres.clone(),
            extra: self.extra.clone().unwrap_or_default(),
        }
    }

    /// The keys of a remote executor, each with whether it is given.
    pub fn remote_keys(&self) -> [(&'static str, bool); 5] {
        [
            ("url", self.url.is_some()),
            ("token", self.token.is_some()),
            ("ca_file", self.ca_file.is_some()),
            ("timeout", self.timeout.is_some()),
            ("connect_timeout", self.connect_timeout.is_some()),
        ]
    }

    /// Whether any Slurm option is given.
    pub fn has_slurm_options(&self) -> bool {
        self.slurm_options() != SlurmOptions::default()
    }
}

/// The jobs mapping (a job with nothing under it is `None`).
pub type RawJobs = IndexMap<Spanned<String>, Spanned<Option<RawJob>>>;

/// A whole spec file. Top-level keys starting with `x-` are compose-style extension
/// fields (homes for YAML anchors) and are ignored; any other unknown key is refused.
#[derive(Clone, Debug, Default)]
pub struct RawFile {
    pub project: Option<Spanned<String>>,
    pub executors: Option<IndexMap<Spanned<String>, Spanned<RawExecutor>>>,
    pub defaults: Option<RawJob>,
    /// `jobs:` as written, when present.
    pub jobs: Option<RawJobsBlock>,
    /// Unknown top-level keys, reported by the loader with their place.
    pub unknown: Vec<Spanned<String>>,
}

/// The `jobs:` key and what follows it: nothing (`None`: a file cut short, never "no
/// jobs") or a mapping (`jobs: {}` is "no jobs").
#[derive(Clone, Debug)]
pub struct RawJobsBlock {
    pub key: Spanned<String>,
    pub jobs: Option<RawJobs>,
}

impl<'de> Deserialize<'de> for RawFile {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FileVisitor)
    }
}

struct FileVisitor;

impl<'de> serde::de::Visitor<'de> for FileVisitor {
    type Value = RawFile;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a mapping with the keys project, executors, defaults and jobs")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawFile, A::Error> {
        let mut file = RawFile::default();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            match key.value.as_str() {
                "project" => file.project = map.next_value()?,
                "executors" => file.executors = map.next_value()?,
                "defaults" => file.defaults = map.next_value()?,
                "jobs" => {
                    file.jobs = Some(RawJobsBlock {
                        jobs: map.next_value()?,
                        key,
                    })
                }
                extension if extension.starts_with("x-") => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    file.unknown.push(key);
                }
            }
        }
        Ok(file)
    }
}

/// Keys each mapping accepts, for "did you mean".
pub const JOB_KEYS: [&str; 15] = [
    "command",
    "schedule",
    "timezone",
    "overlap",
    "restart",
    "executor",
    "env",
    "env_file",
    "cwd",
    "state",
    "stop",
    "logs",
    "shell",
    "allow_fast",
    "slurm",
];
pub const TOP_KEYS: [&str; 4] = ["project", "executors", "defaults", "jobs"];
pub const STOP_KEYS: [&str; 2] = ["signal", "timeout"];
pub const LOGS_KEYS: [&str; 3] = ["max_size", "keep", "max_line"];
pub const EXECUTOR_KEYS: [&str; 14] = [
    "kind",
    "url",
    "token",
    "ca_file",
    "timeout",
    "connect_timeout",
    "partition",
    "account",
    "qos",
    "time",
    "cpus",
    "mem",
    "gres",
    "extra",
];
pub const SLURM_KEYS: [&str; 8] = [
    "partition",
    "account",
    "qos",
    "time",
    "cpus",
    "mem",
    "gres",
    "extra",
];
