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
