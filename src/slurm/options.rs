//! What a job asks of a Slurm cluster for each of its steps: the executor's defaults
//! with the job's own `slurm:` keys over them. Pure data: `srun`'s options are built
//! from it, and checked before anything is submitted.

use serde::{Deserialize, Serialize};

/// Resources and placement of a job's steps on a Slurm cluster. Every field left out
/// is the cluster's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qos: Option<String>,
    /// A time limit as Slurm writes it (`30`, `01:00:00`, `1-00:00:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// CPUs per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<u32>,
    /// Memory per node as Slurm writes it (`512M`, `1G`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem: Option<String>,
    /// Generic resources (`gpu:1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gres: Option<String>,
    /// More `srun` options, passed as written (`--qos=high`, `--constraint=avx2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<String>,
}

/// `srun` options mrsm sets itself: a job may not take them over through `extra`.
const OWN_OPTIONS: [&str; 9] = [
    "--job-name",
    "-J",
    "--output",
    "-o",
    "--error",
    "-e",
    "--input",
    "-i",
    "--pty",
];

impl SlurmOptions {
    /// `self` with every key `over` sets replaced by its value (`extra` appended).
    pub fn overlaid(&self, over: &SlurmOptions) -> SlurmOptions {
        let pick = |mine: &Option<String>, theirs: &Option<String>| theirs.clone().or(mine.clone());
        let mut extra = self.extra.clone();
        extra.extend(over.extra.iter().cloned());
        SlurmOptions {
            partition: pick(&self.partition, &over.partition),
            account: pick(&self.account, &over.account),
            qos: pick(&self.qos, &over.qos),
            time: pick(&self.time, &over.time),
            cpus: over.cpus.or(self.cpus),
            mem: pick(&self.mem, &over.mem),
            gres: pick(&self.gres, &over.gres),
            extra,
        }
    }

    /// Why the options cannot be submitted, naming the key.
    pub fn problem(&self) -> Option<String> {
        let word = |key: &str, value: &Option<String>| -> Option<String> {
            let v = value.as_deref()?;
            let ok = !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ',' | ':'));
            (!ok).then(|| {
                format!("slurm `{key}` {v:?}: expected a name (letters, digits, _ - . , :)")
            })
        };
        if let Some(p) = word("partition", &self.partition)
            .or_else(|| word("account", &self.account))
            .or_else(|| word("qos", &self.qos))
            .or_else(|| word("gres", &self.gres))
        {
            return Some(p);
        }
        if let Some(t) = &self.time {
            let ok = !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_digit() || c == ':' || c == '-')
                && t.chars().next().is_some_and(|c| c.is_ascii_digit());
            if !ok && t != "UNLIMITED" && t != "INFINITE" {
                return Some(format!(
                    "slurm `time` {t:?}: expected minutes or [days-]hours:minutes:seconds, as in 30 or 01:00:00"
                ));
            }
        }
        if self.cpus == Some(0) {
            return Some("slurm `cpus` must be at least 1".into());
        }
        if let Some(m) = &self.mem {
            let digits = m.trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
            if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
                return Some(format!(
                    "slurm `mem` {m:?}: expected a size such as 512M or 1G"
                ));
            }
        }
        for option in &self.extra {
            if !option.starts_with('-') {
                return Some(format!(
                    "slurm `extra` {option:?}: expected an srun option such as --qos=high"
                ));
            }
            let name = option.split('=').next().unwrap_or_default();
            let short_with_value = OWN_OPTIONS
                .iter()
                .any(|own| own.len() == 2 && option.starts_with(own) && option.len() > 2);
            if OWN_OPTIONS.contains(&name) || short_with_value {
                return Some(format!(
                    "slurm `extra` {option:?}: mrsm sets {name} itself (the step's name and its output come back to the job's log)"
                ));
            }
        }
        None
    }

    /// The `srun` options these stand for.
    pub fn srun_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        let mut push = |flag: &str, value: Option<String>| {
            if let Some(v) = value {
                args.push(format!("--{flag}={v}"));
            }
        };
        push("partition", self.partition.clone());
        push("account", self.account.clone());
        push("qos", self.qos.clone());
        push("time", self.time.clone());
        push("cpus-per-task", self.cpus.map(|c| c.to_string()));
        push("mem", self.mem.clone());
        push("gres", self.gres.clone());
        args.extend(self.extra.iter().cloned());
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_s_keys_go_over_the_executor_s() {
        let base = SlurmOptions {
            partition: Some("debug".into()),
            cpus: Some(2),
            extra: vec!["--qos=low".into()],
            ..SlurmOptions::default()
        };
        let job = SlurmOptions {
            cpus: Some(4),
            gres: Some("gpu:1".into()),
            extra: vec!["--constraint=avx2".into()],
            ..SlurmOptions::default()
        };
        let merged = base.overlaid(&job);
        assert_eq!(
            merged.srun_args(),
            vec![
                "--partition=debug",
                "--cpus-per-task=4",
                "--gres=gpu:1",
                "--qos=low",
                "--constraint=avx2"
            ]
        );
    }

    #[test]
    fn bad_values_are_named() {
        let bad = |o: SlurmOptions| o.problem().expect("a problem");
        assert!(bad(SlurmOptions {
            partition: Some("a b".into()),
            ..Default::default()
        })
        .contains("partition"));
        assert!(bad(SlurmOptions {
            time: Some("an hour".into()),
            ..Default::default()
        })
        .contains("time"));
        assert!(bad(SlurmOptions {
            mem: Some("lots".into()),
            ..Default::default()
        })
        .contains("mem"));
        assert!(bad(SlurmOptions {
            cpus: Some(0),
            ..Default::default()
        })
        .contains("cpus"));
        for own in ["--output=x", "-J", "-Jname", "--job-name=x"] {
            assert!(bad(SlurmOptions {
                extra: vec![own.into()],
                ..Default::default()
            })
            .contains("sets"));
        }
        assert!(SlurmOptions {
            time: Some("1-00:00:00".into()),
            mem: Some("1G".into()),
            extra: vec!["--qos=high".into(), "--exclusive".into()],
            ..Default::default()
        }
        .problem()
        .is_none());
    }
}
