//! API tokens for `mrsm serve`: a secret is shown once, when it is made; the root
//! keeps only its SHA-256 (in `tokens.json`, owner-only), with the token's name,
//! scopes and expiry. Checking a secret compares it with every stored hash in
//! constant time, so neither the answer's timing nor an error says which token is
//! near.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::PathBuf;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{read_json, write_json, Root, RootLock, StoreError};

pub use super::scopes::{Grant, Scope, ScopeError, ScopeName};

/// The `format` this version writes in each token: 2 since `jobs:stop`,
/// `jobs:pause` and `logs:read`. Files of earlier versions have none.
const FORMAT: u32 = 2;

/// The scopes there were before `format` 2: a token stored with all four was
/// made to do everything, and is read as every scope (`*`).
const FIRST_SCOPES: [Scope; 4] = [
    Scope::JobsRead,
    Scope::JobsWrite,
    Scope::JobsExecute,
    Scope::JobsDelete,
];

/// One token as stored: never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Stored", into = "Stored")]
pub struct Token {
    pub name: String,
    /// SHA-256 of the secret, lowercase hex.
    pub hash: String,
    pub scopes: Grant,
    pub created: Timestamp,
    pub expires: Option<Timestamp>,
}

/// A token as `tokens.json` holds it, with the format it was written in.
#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    hash: String,
    scopes: Grant,
    created: Timestamp,
    expires: Option<Timestamp>,
    #[serde(default)]
    format: u32,
}

impl From<Stored> for Token {
    fn from(stored: Stored) -> Token {
        let scopes = match stored.scopes {
            Grant::Only(set) if stored.format < FORMAT && set == BTreeSet::from(FIRST_SCOPES) => {
                Grant::All
            }
            scopes => scopes,
        };
        Token {
            name: stored.name,
            hash: stored.hash,
            scopes,
            created: stored.created,
            expires: stored.expires,
        }
    }
}

impl From<Token> for Stored {
    fn from(token: Token) -> Stored {
        Stored {
            name: token.name,
            hash: token.hash,
            scopes: token.scopes,
            created: token.created,
            expires: token.expires,
            format: FORMAT,
        }
    }
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
    scopes: &Grant,
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
    tokens.push(Token {
        name: name.to_string(),
        hash: hash_hex(&secret),
        scopes: scopes.clone(),
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
        let read = Grant::Only(BTreeSet::from([Scope::JobsRead]));
        let secret = create(&root, "ci", &read, Some(later)).expect("made");
        let stored = std::fs::read_to_string(dir.path().join("tokens.json")).expect("stored");
        assert!(!stored.contains(&secret), "the secret itself is not kept");
        let tokens = list(&root).expect("listed");
        let before: Timestamp = "2029-12-31T23:59:59Z".parse().expect("a time");
        let token = check(&tokens, &secret, before).expect("accepted");
        assert_eq!(token.scopes, read);
        assert_eq!(
            check(&tokens, &secret, later),
            Err(Refusal::Expired("ci".into()))
        );
        assert_eq!(check(&tokens, "mrsm_wrong", before), Err(Refusal::Unknown));
        assert!(matches!(
            create(&root, "ci", &Grant::All, None),
            Err(TokenError::Exists(_))
        ));
        assert!(matches!(
            create(&root, "../x", &Grant::All, None),
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
    fn every_scope_is_stored_as_a_star() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        create(&root, "admin", &Grant::All, None).expect("made");
        assert_eq!(list(&root).expect("listed")[0].scopes, Grant::All);
        let stored = std::fs::read_to_string(dir.path().join("tokens.json")).expect("stored");
        let stored: serde_json::Value = serde_json::from_str(&stored).expect("JSON");
        assert_eq!(stored[0]["scopes"], serde_json::json!(["*"]));
        assert_eq!(stored[0]["format"], FORMAT);
    }

    /// A token as the version before `format` 2 wrote it.
    fn first_format(name: &str, scopes: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "name": name,
            "hash": "00",
            "scopes": scopes,
            "created": "2026-01-01T00:00:00Z",
            "expires": null,
        })
    }

    #[test]
    fn tokens_of_the_first_format_keep_what_they_were_given() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = Root::at(dir.path());
        let old = serde_json::json!([
            // All four, as `token create` wrote them, or named in another order.
            first_format(
                "admin",
                &["jobs:read", "jobs:write", "jobs:execute", "jobs:delete"]
            ),
            first_format(
                "named",
                &["jobs:delete", "jobs:read", "jobs:execute", "jobs:write"]
            ),
            first_format("reader", &["jobs:read"]),
            first_format("three", &["jobs:read", "jobs:write", "jobs:execute"]),
        ]);
        std::fs::write(dir.path().join("tokens.json"), old.to_string()).expect("written");
        let tokens = list(&root).expect("listed");
        assert_eq!(tokens[0].scopes, Grant::All);
        assert_eq!(tokens[1].scopes, Grant::All);
        assert_eq!(
            tokens[2].scopes,
            Grant::Only(BTreeSet::from([Scope::JobsRead]))
        );
        assert_eq!(tokens[3].scopes.lacking(&Scope::ALL).len(), 5);
        // Written again (a new token), they keep their meaning; and a token made
        // now with the same four is just those four.
        let four = Grant::Only(BTreeSet::from(FIRST_SCOPES));
        create(&root, "four", &four, None).expect("made");
        let again = list(&root).expect("listed");
        assert_eq!(again[..4], tokens[..]);
        assert_eq!(again[4].scopes, four);
    }
}
