//! API tokens for `mrsm serve`: a secret is shown once, when it is made; the root
//! keeps only its SHA-256 (in `tokens.json`, owner-only), with the token's name,
//! scopes and expiry. Checking a secret compares it with every stored hash in
//! constant time, so neither the answer's timing nor an error says which token is
//! near.

use std::io::Read;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{read_json, write_json, Root, RootLock, StoreError};

/// What a token may do, named as Meerschaum names its API scopes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
pub enum Scope {
    /// List jobs, read their state, logs and history.
    #[serde(rename = "jobs:read")]
    #[value(name = "jobs:read")]
    JobsRead,
    /// Create, start, stop and pause jobs.
    #[serde(rename = "jobs:write")]
    #[value(name = "jobs:write")]
    JobsWrite,
    /// Run commands (a foreground `run -e`, input to a job).
    #[serde(rename = "jobs:execute")]
    #[value(name = "jobs:execute")]
    JobsExecute,
    /// Delete jobs.
    #[serde(rename = "jobs:delete")]
    #[value(name = "jobs:delete")]
    JobsDelete,
}

impl Scope {
    /// Every scope: what a token gets when none are named.
    pub const ALL: [Scope; 4] = [
        Scope::JobsRead,
        Scope::JobsWrite,
        Scope::JobsExecute,
        Scope::JobsDelete,
    ];
}

/// One token as stored: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Token {
    pub name: String,
    /// SHA-256 of the secret, lowercase hex.
    pub hash: String,
    pub scopes: Vec<Scope>,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
}

/// Why a secret was not accepted. The three are told apart for the server's own
/// log; a client is told 401 for all of them.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no token matches")]
    Unknown,
    #[error("token {0:?} has expired")]
    Expired(String),
}

/// Why a token could not be made or removed.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("a token named {0:?} exists already (`mrsm token revoke {0}` first)")]
    Exists(String),
    #[error("no token is named {0:?}")]
    NotFound(String),
    #[error("a token name is 1 to 64 letters, digits, `-`, `_` or `.`: {0:?}")]
    BadName(String),
    #[error("no randomness for the secret: {0}")]
    Random(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn tokens_file(root: &Root) -> PathBuf {
    root.dir().join("tokens.json")
}

/// The stored tokens, oldest first.
pub fn list(root: &Root) -> Result<Vec<Token>, StoreError> {
    Ok(read_json(&tokens_file(root))?.unwrap_or_default())
}

fn hash_hex(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Makes token `name` and returns its secret, which is not kept anywhere.
pub fn create(
    root: &Root,
    name: &str,
    scopes: &[Scope],
    expires: Option<Timestamp>,
) -> Result<String, TokenError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(TokenError::BadName(name.to_string()));
    }
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(TokenError::Random)?;
    let secret: String = std::iter::once("mrsm_".to_string())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    let _lock = RootLock::acquire(root)?;
    let mut tokens = list(root)?;
    if tokens.iter().any(|t| t.name == name) {
        return Err(TokenError::Exists(name.to_string()));
    }
    let mut scopes = scopes.to_vec();
    if scopes.is_empty() {
        scopes = Scope::ALL.to_vec();
    }
    scopes.dedup();
    tokens.push(Token {
        name: name.to_string(),
        hash: hash_hex(&secret),
        scopes,
        created: Timestamp::now(),
        expires,
    });
    write_json(&tokens_file(root), &tokens)?;
    Ok(secret)
}

/// Removes token `name`: its secret is refused from now on.
pub fn revoke(root: &Root, name: &str) -> Result<(), TokenError> {
    let _lock = RootLock::acquire(root)?;
    let mut tokens = list(root)?;
    let before = tokens.len();
    tokens.retain(|t| t.name != name);
    if tokens.len() == before {
        return Err(TokenError::NotFound(name.to_string()));
    }
    write_json(&tokens_file(root), &tokens)?;
    Ok(())
}

/// Equal byte strings, in a time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token whose secret this is, if it is one and has not expired at `now`.
/// Every stored hash is compared, whichever matches.
pub fn check(tokens: &[Token], secret: &str, now: Timestamp) -> Result<Token, Refusal> {
    let hash = hash_hex(secret);
    let mut found = None;
    for token in tokens {
        if same(token.hash.as_bytes(), hash.as_bytes()) {
            found = Some(token);
        }
    }
    let token = found.ok_or(Refusal::Unknown)?;
    match token.expires {
        Some(at) if at <= now => Err(Refusal::Expired(token.name.clone())),
        _ => Ok(token.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_checked_by_its_hash_and_expires() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let later: Timestamp = "2030-01-01T00:00:00Z".parse().expect("a time");
        let secret = create(&root, "ci", &[Scope::JobsRead], Some(later)).expect("made");
        let stored = std::fs::read_to_string(dir.path().join("tokens.json")).expect("stored");
        assert!(!stored.contains(&secret), "the secret itself is not kept");
        let tokens = list(&root).expect("listed");
        let before: Timestamp = "2029-12-31T23:59:59Z".parse().expect("a time");
        let token = check(&tokens, &secret, before).expect("accepted");
        assert_eq!(token.scopes, [Scope::JobsRead]);
        assert_eq!(
            check(&tokens, &secret, later),
            Err(Refusal::Expired("ci".into()))
        );
        assert_eq!(check(&tokens, "mrsm_wrong", before), Err(Refusal::Unknown));
        assert!(matches!(
            create(&root, "ci", &[], None),
            Err(TokenError::Exists(_))
        ));
        assert!(matches!(
            create(&root, "../x", &[], None),
            Err(TokenError::BadName(_))
        ));
        revoke(&root, "ci").expect("revoked");
        assert_eq!(
            check(&list(&root).expect("listed"), &secret, before),
            Err(Refusal::Unknown)
        );
        assert!(matches!(revoke(&root, "ci"), Err(TokenError::NotFound(_))));
    }

    #[test]
    fn no_scopes_named_means_all_of_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        create(&root, "admin", &[], None).expect("made");
        assert_eq!(list(&root).expect("listed")[0].scopes, Scope::ALL);
    }
}
