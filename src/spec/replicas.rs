//! `replicas: N`: a job declared once, run as `NAME.1` … `NAME.N`, each copy a job
//! of its own with `MRSM_REPLICA` (its number) in its environment. The number of
//! copies is in no copy's definition, so scaling leaves the copies that stay
//! untouched; a dependency on the job is one on every copy.

use std::collections::BTreeMap;

use super::fields::At;
use super::loader::Loader;
use super::{spec_hash, DesiredJob};

/// The variable that tells a copy its number.
pub const REPLICA_VARIABLE: &str = "MRSM_REPLICA";

/// The name of copy `index` (from 1) of job `name`.
pub fn replica_name(name: &str, index: u32) -> String {
    format!("{name}.{index}")
}

impl Loader {
    /// The copies of `job`, `count` of them (none for 0); a copy whose name would
    /// be too long is an error at `written`.
    pub(super) fn replicate(
        &mut self,
        job: DesiredJob,
        count: u32,
        written: &At<String>,
    ) -> Vec<DesiredJob> {
        let last = replica_name(&job.spec.name, count.max(1));
        if let Err(e) = crate::job::validate_name(&last) {
            self.error(
                written,
                format!("with replicas: {count}, the copy {last:?}: {e}"),
            );
            return Vec::new();
        }
        (1..=count)
            .map(|index| {
                let mut copy = job.clone();
                copy.spec.name = replica_name(&job.spec.name, index);
                copy.spec
                    .env
                    .insert(REPLICA_VARIABLE.into(), index.to_string());
                copy.spec_hash = spec_hash(&copy.spec, &copy.executor);
                copy
            })
            .collect()
    }

    /// A job declared under the name of a copy of a replicated job is an error
    /// (a dependency on a replicated job is one on each of its copies: see
    /// [`is_copy_of`]).
    pub(super) fn check_copy_names(&mut self, places: &BTreeMap<String, At<String>>) {
        for (name, place) in places {
            self.error(
                place,
                format!("job `{name}` has the name of a copy of a job with `replicas`"),
            );
        }
    }
}

/// Whether `name` is a copy of job `of` (`of.N`).
pub fn is_copy_of(name: &str, of: &str) -> bool {
    name.strip_prefix(of)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The jobs among `names` that a dependency on `of` waits for: `of` itself, or
/// else its copies.
pub fn dependency_targets<'a>(
    of: &str,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Vec<&'a str> {
    match names.clone().find(|n| *n == of) {
        Some(n) => vec![n],
        None => names.filter(|n| is_copy_of(n, of)).collect(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn copies_are_named_by_number() {
        assert_eq!(super::replica_name("web", 3), "web.3");
        assert!(super::is_copy_of("web.12", "web"));
        assert!(!super::is_copy_of("web.x", "web") && !super::is_copy_of("webs.1", "web"));
        assert!(!super::is_copy_of("web.", "web") && !super::is_copy_of("web", "web"));
        let names = ["web.1", "web.2", "db"];
        assert_eq!(
            super::dependency_targets("web", names.iter().copied()),
            ["web.1", "web.2"]
        );
        assert_eq!(
            super::dependency_targets("db", names.iter().copied()),
            ["db"]
        );
    }
}
