//! `mrsm token`: a secret is printed once and never stored; only its hash is, in an
//! owner-only file; a revoked token is gone; scopes are Meerschaum's names, and no
//! scopes named is every one.

use crate::support;

use std::os::unix::fs::PermissionsExt;

use support::Env;

fn stdout(env: &Env, args: &[&str]) -> String {
    let out = env.mrsm().args(args).output().expect("runs");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn a_secret_is_shown_once_and_only_its_hash_is_kept() {
    let env = Env::new();
    let secret = stdout(
        &env,
        &[
            "token",
            "create",
            "ci",
            "--scopes",
            "jobs:read",
            "--expires",
            "30d",
        ],
    );
    let secret = secret.trim();
    assert!(
        secret.starts_with("mrsm_") && secret.len() == 69,
        "{secret}"
    );
    let file = env.root().join("tokens.json");
    let stored = std::fs::read_to_string(&file).expect("stored");
    assert!(!stored.contains(secret), "the secret is not kept");
    let mode = std::fs::metadata(&file)
        .expect("there")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let listed = stdout(&env, &["token", "list", "--json"]);
    assert!(!listed.contains(secret));
    let list: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(list[0]["name"], "ci");
    assert_eq!(list[0]["scopes"], serde_json::json!(["jobs:read"]));
    assert!(list[0]["expires"].is_string());
    // A second token of that name is refused; an unknown scope is a usage error.
    env.mrsm()
        .args(["token", "create", "ci"])
        .assert()
        .code(1)
        .stderr(predicates::str::contains("exists already"));
    env.mrsm()
        .args(["token", "create", "x", "--scopes", "jobs:everything"])
        .assert()
        .code(2);
    assert_eq!(
        stdout(&env, &["token", "revoke", "ci"]).trim(),
        "revoked token \"ci\""
    );
    assert_eq!(stdout(&env, &["token", "list"]).trim(), "No tokens.");
    env.mrsm().args(["token", "revoke", "ci"]).assert().code(1);
}

#[test]
fn scopes_are_meerschaum_s_names_and_none_named_is_every_one() {
    let env = Env::new();
    stdout(&env, &["token", "create", "admin"]);
    stdout(&env, &["token", "create", "star", "--scopes", "*"]);
    stdout(
        &env,
        &[
            "token",
            "create",
            "operator",
            "--scopes",
            "logs:read,jobs:read,jobs:execute,jobs:stop,jobs:pause",
        ],
    );
    let list: serde_json::Value =
        serde_json::from_str(&stdout(&env, &["token", "list", "--json"])).expect("JSON");
    assert_eq!(list[0]["scopes"], serde_json::json!(["*"]));
    assert_eq!(list[1]["scopes"], serde_json::json!(["*"]));
    assert_eq!(
        list[2]["scopes"],
        serde_json::json!([
            "jobs:read",
            "jobs:execute",
            "jobs:stop",
            "jobs:pause",
            "logs:read"
        ])
    );
    let table = stdout(&env, &["token", "list"]);
    assert!(
        table.contains("jobs:read,jobs:execute,jobs:stop,jobs:pause,logs:read"),
        "{table}"
    );
    // Meerschaum's scopes for what mrsm has not are refused, saying why; a typo
    // gets the name it is near; both list the scopes there are.
    for (scope, said) in [
        (
            "pipes:read",
            "Meerschaum's scopes for what mrsm serve does not have",
        ),
        ("actions:execute", "jobs:execute covers"),
        ("josb:stop", "did you mean jobs:stop?"),
    ] {
        env.mrsm()
            .args(["token", "create", "x", "--scopes", scope])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(said))
            .stderr(predicates::str::contains(
                "metrics:read, or * for every one",
            ));
    }
}
