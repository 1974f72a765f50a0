//! The scopes of `mrsm serve`'s tokens, spelled as Meerschaum 4.1.7 spells its API
//! scopes (so that its users can name them as they know them), and what a token
//! holds: every scope (`*`) or the ones it names. Which route needs which scopes is
//! the server's route table (`src/serve/routes.rs`).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One thing a token may do. A route may need several, and a token must hold all
/// of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    JobsRead,
    JobsWrite,
    JobsExecute,
    JobsDelete,
    JobsStop,
    JobsPause,
    LogsRead,
    /// Prometheus' scrapes of `GET /metrics`: figures about every job, none of
    /// their output or definitions.
    MetricsRead,
}

impl Scope {
    /// Every scope, in the order they are listed.
    pub const ALL: [Scope; 8] = [
        Scope::JobsRead,
        Scope::JobsWrite,
        Scope::JobsExecute,
        Scope::JobsDelete,
        Scope::JobsStop,
        Scope::JobsPause,
        Scope::LogsRead,
        Scope::MetricsRead,
    ];

    /// Its name, as Meerschaum spells it; the only place names are written.
    pub const fn name(self) -> &'static str {
        match self {
            Scope::JobsRead => "jobs:read",
            Scope::JobsWrite => "jobs:write",
            Scope::JobsExecute => "jobs:execute",
            Scope::JobsDelete => "jobs:delete",
            Scope::JobsStop => "jobs:stop",
            Scope::JobsPause => "jobs:pause",
            Scope::LogsRead => "logs:read",
            Scope::MetricsRead => "metrics:read",
        }
    }

    /// What it allows, for help texts and the docs.
    pub const fn meaning(self) -> &'static str {
        match self {
            Scope::JobsRead => {
                "list jobs, read their state and run history; with jobs:execute and jobs:write, their whole definitions"
            }
            Scope::JobsWrite => "choose what a job runs: create or replace jobs (with jobs:execute)",
            Scope::JobsExecute => {
                "start jobs and send them input; needed too to create, replace, stop, pause and delete"
            }
            Scope::JobsDelete => "delete jobs (with jobs:execute and jobs:stop)",
            Scope::JobsStop => {
                "stop jobs (with jobs:execute); needed too to delete or replace one, which stops it"
            }
            Scope::JobsPause => "pause jobs (with jobs:execute)",
            Scope::LogsRead => "read and follow jobs' logs (with jobs:read)",
            Scope::MetricsRead => {
                "scrape `GET /metrics` (Prometheus): counts and timings of every job, no output or definitions"
            }
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Meerschaum's scopes for what `mrsm serve` does not have (pipes, actions,
/// connectors, SQL, instances, plugins, users): refused by name, with a reason,
/// rather than kept as names that would allow nothing.
const MEERSCHAUM_ONLY: [&str; 16] = [
    "pipes:read",
    "pipes:write",
    "pipes:drop",
    "pipes:delete",
    "actions:execute",
    "connectors:read",
    "sql:read",
    "instance:read",
    "instance:chain",
    "plugins:read",
    "plugins:write",
    "plugins:delete",
    "users:read",
    "users:write",
    "users:register",
    "users:delete",
];

/// A name that is not one of mrsm's scopes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScopeError {
    /// One of Meerschaum's scopes that would allow nothing here.
    MeerschaumOnly(String),
    /// No scope of anyone's, perhaps a typo of one.
    Unknown {
        name: String,
        suggestion: Option<&'static str>,
    },
}

/// `jobs:read, jobs:write, …, logs:read`.
fn valid_names() -> String {
    Scope::ALL.map(Scope::name).join(", ")
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::MeerschaumOnly(name) => {
                write!(
                    f,
                    "{name} is one of Meerschaum's scopes for what mrsm serve does not have \
                     (pipes, actions, connectors, SQL, instances, plugins, users), so it would allow nothing here"
                )?;
                if name == "actions:execute" {
                    f.write_str(
                        " (the only commands mrsm runs are jobs', which jobs:execute covers)",
                    )?;
                }
            }
            ScopeError::Unknown { name, suggestion } => {
                write!(f, "unknown scope {name:?}")?;
                if let Some(known) = suggestion {
                    write!(f, " (did you mean {known}?)")?;
                }
            }
        }
        write!(f, "; the scopes are {}, or * for every one", valid_names())
    }
}

impl std::error::Error for ScopeError {}

impl FromStr for Scope {
    type Err = ScopeError;

    fn from_str(name: &str) -> Result<Scope, ScopeError> {
        if let Some(scope) = Scope::ALL.into_iter().find(|s| s.name() == name) {
            return Ok(scope);
        }
        if MEERSCHAUM_ONLY.contains(&name) {
            return Err(ScopeError::MeerschaumOnly(name.to_string()));
        }
        Err(ScopeError::Unknown {
            name: name.to_string(),
            suggestion: crate::suggest::did_you_mean(name, &Scope::ALL.map(Scope::name)),
        })
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Scope, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// The name that stands for every scope, as in Meerschaum.
pub const EVERY: &str = "*";

/// One name given to `token create --scopes`: `*` or a scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeName {
    Every,
    One(Scope),
}

impl FromStr for ScopeName {
    type Err = ScopeError;

    fn from_str(name: &str) -> Result<ScopeName, ScopeError> {
        match name.trim() {
            EVERY => Ok(ScopeName::Every),
            name => name.parse().map(ScopeName::One),
        }
    }
}

/// The scopes a token holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Grant {
    /// Every scope (`*`), those later versions add included: what a token made
    /// without `--scopes` holds, so that an upgrade never takes from it.
    All,
    /// Just these.
    Only(BTreeSet<Scope>),
}

impl Grant {
    /// What `names` give: every scope when they are none or include `*`.
    pub fn named(names: &[ScopeName]) -> Grant {
        let mut only = BTreeSet::new();
        for name in names {
            match name {
                ScopeName::Every => return Grant::All,
                ScopeName::One(scope) => {
                    only.insert(*scope);
                }
            }
        }
        if only.is_empty() {
            Grant::All
        } else {
            Grant::Only(only)
        }
    }

    /// Whether it holds `scope`.
    pub fn holds(&self, scope: Scope) -> bool {
        match self {
            Grant::All => true,
            Grant::Only(set) => set.contains(&scope),
        }
    }

    /// The scopes of `needed` it does not hold, in `needed`'s order: what a
    /// refusal names.
    pub fn lacking(&self, needed: &[Scope]) -> Vec<Scope> {
        needed.iter().copied().filter(|s| !self.holds(*s)).collect()
    }

    /// Its names: `*`, or each scope's.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Grant::All => vec![EVERY],
            Grant::Only(set) => set.iter().map(|s| s.name()).collect(),
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

impl Serialize for Grant {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.names().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Grant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Grant, D::Error> {
        let names = Vec::<String>::deserialize(deserializer)?;
        let mut only = BTreeSet::new();
        for name in &names {
            match name.parse().map_err(serde::de::Error::custom)? {
                ScopeName::Every => return Ok(Grant::All),
                ScopeName::One(scope) => {
                    only.insert(scope);
                }
            }
        }
        // Stored as named: an empty list is a token that may do only what any
        // live token may.
        Ok(Grant::Only(only))
    }
}

/// Names joined for a sentence: `a`, `a and b`, `a, b and c`.
pub fn and_list(scopes: &[Scope]) -> String {
    match scopes {
        [] => String::new(),
        [one] => one.name().to_string(),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
            last.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_their_scope() {
        for scope in Scope::ALL {
            assert_eq!(scope.name().parse::<Scope>(), Ok(scope));
            let json = serde_json::to_string(&scope).expect("JSON");
            assert_eq!(json, format!("\"{}\"", scope.name()));
        }
    }

    #[test]
    fn meerschaum_s_other_scopes_and_typos_are_refused_with_the_list() {
        let said = "pipes:read"
            .parse::<Scope>()
            .expect_err("refused")
            .to_string();
        assert!(
            said.contains("Meerschaum") && said.contains("logs:read"),
            "{said}"
        );
        let said = "actions:execute"
            .parse::<Scope>()
            .expect_err("refused")
            .to_string();
        assert!(said.contains("jobs:execute covers"), "{said}");
        // Meerschaum 4.1.5's misspelling of jobs:stop.
        let said = "josb:stop"
            .parse::<Scope>()
            .expect_err("refused")
            .to_string();
        assert!(said.contains("did you mean jobs:stop?"), "{said}");
    }

    #[test]
    fn no_names_or_a_star_is_every_scope() {
        assert_eq!(Grant::named(&[]), Grant::All);
        let star = [ScopeName::One(Scope::JobsRead), ScopeName::Every];
        assert_eq!(Grant::named(&star), Grant::All);
        let read = Grant::named(&[ScopeName::One(Scope::JobsRead)]);
        assert_eq!(
            read.lacking(&[Scope::JobsRead, Scope::LogsRead]),
            [Scope::LogsRead]
        );
        assert!(Grant::All.lacking(&Scope::ALL).is_empty());
        let json = serde_json::to_string(&Grant::All).expect("JSON");
        assert_eq!(json, r#"["*"]"#);
        assert_eq!(
            serde_json::from_str::<Grant>(&json).expect("read"),
            Grant::All
        );
    }

    #[test]
    fn lists_read_as_sentences() {
        assert_eq!(and_list(&[Scope::JobsStop]), "jobs:stop");
        assert_eq!(
            and_list(&[Scope::JobsExecute, Scope::JobsStop, Scope::JobsDelete]),
            "jobs:execute, jobs:stop and jobs:delete"
        );
    }
}
