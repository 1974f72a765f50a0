//! Job names: safe as file names, unit names and URL segments, and a random
//! `adjective-noun` when the user gives none.

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid job name {name:?}: names are 1-64 characters of letters, digits, '_', '.' and '-', starting with a letter or digit")]
pub struct InvalidName {
    pub name: String,
}

/// Checks `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`.
pub fn validate_name(name: &str) -> Result<(), InvalidName> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        Err(InvalidName {
            name: name.to_string(),
        })
    }
}

/// A job name checked once, where it comes in (a command-line argument, a request
/// body): whatever holds one need not check it again. Executors still check the
/// `&str` names their trait takes where a name becomes a path, as a last defence.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct JobName(String);

impl JobName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for JobName {
    type Err = InvalidName;
    fn from_str(s: &str) -> Result<JobName, InvalidName> {
        validate_name(s).map(|()| JobName(s.to_string()))
    }
}

impl TryFrom<String> for JobName {
    type Error = InvalidName;
    fn try_from(s: String) -> Result<JobName, InvalidName> {
        validate_name(&s).map(|()| JobName(s))
    }
}

impl From<JobName> for String {
    fn from(name: JobName) -> String {
        name.0
    }
}

impl std::ops::Deref for JobName {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JobName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

const ADJECTIVES: [&str; 32] = [
    "amber", "brave", "calm", "dapper", "eager", "fancy", "gentle", "happy", "icy", "jolly",
    "keen", "lively", "mellow", "nimble", "odd", "proud", "quick", "rapid", "sunny", "tidy",
    "upbeat", "vivid", "witty", "young", "zesty", "bold", "crisp", "dusty", "fuzzy", "grand",
    "humble", "lucky",
];

const NOUNS: [&str; 32] = [
    "badger", "comet", "dolphin", "ember", "falcon", "glacier", "heron", "island", "jaguar",
    "kettle", "lantern", "meadow", "nebula", "otter", "pebble", "quartz", "river", "sparrow",
    "tiger", "urchin", "valley", "walrus", "yak", "zephyr", "anchor", "beacon", "canyon", "delta",
    "forest", "harbor", "maple", "summit",
];

/// A random `adjective-noun` name; `taken` says which names are already used.
pub fn random_name(taken: impl Fn(&str) -> bool) -> String {
    for _ in 0..64 {
        let name = format!(
            "{}-{}",
            ADJECTIVES[fastrand::usize(..ADJECTIVES.len())],
            NOUNS[fastrand::usize(..NOUNS.len())]
        );
        if !taken(&name) {
            return name;
        }
    }
    format!(
        "{}-{}-{}",
        ADJECTIVES[fastrand::usize(..ADJECTIVES.len())],
        NOUNS[fastrand::usize(..NOUNS.len())],
        fastrand::u32(1000..10000)
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn job_names_are_checked_once_and_on_the_wire_too() {
        let name: super::JobName = "etl.daily-1".parse().expect("valid");
        assert_eq!(name.as_str(), "etl.daily-1");
        assert!("../etc".parse::<super::JobName>().is_err());
        assert!(serde_json::from_str::<super::JobName>("\"a b\"").is_err());
        let json = serde_json::to_string(&name).expect("serialises");
        assert_eq!(json, "\"etl.daily-1\"");
    }

    use super::*;

    #[test]
    fn names() {
        for good in ["a", "etl", "sync-engine_2.v1", &"x".repeat(64)] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "-a",
            ".hidden",
            "a b",
            "a/b",
            "ünï",
            &"x".repeat(65),
            "a;b",
            "$x",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        let name = random_name(|_| false);
        assert!(validate_name(&name).is_ok(), "{name}");
    }
}
