//! `mrsm token create|list|revoke`: the secrets clients of `mrsm serve` present.

use clap::{Args as ClapArgs, Subcommand};

use super::jobs::parse_duration;
use crate::store::tokens::{self, Grant, ScopeName};

/// What to do with tokens.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token and print its secret (shown this once; only its hash is kept).
    Create(CreateArgs),
    /// List tokens: name, scopes, created, expires (never a secret).
    List {
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove a token: its secret is refused from now on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// `token create`.
#[derive(Debug, ClapArgs)]
pub struct CreateArgs {
    /// A name to tell the token by (letters, digits, `-`, `_`, `.`).
    name: String,
    /// What it may do, comma-separated, named as Meerschaum names its scopes:
    /// jobs:read, jobs:write, jobs:execute, jobs:delete, jobs:stop, jobs:pause,
    /// logs:read (and mrsm's metrics:read, for Prometheus), or * (the default) for
    /// every one, later ones included.
    #[arg(long, value_delimiter = ',', value_name = "SCOPES")]
    scopes: Vec<ScopeName>,
    /// How long it is valid, e.g. 30d or 12h (default: until revoked).
    #[arg(long, value_name = "DURATION")]
    expires: Option<String>,
}

/// Runs a `token` command.
pub fn run(command: &TokenCommand) -> anyhow::Result<i32> {
    let root = crate::store::Root::from_env()?;
    match command {
        TokenCommand::Create(args) => {
            let expires = match &args.expires {
                Some(text) => {
                    let span = parse_duration(text)?;
                    let span = jiff::SignedDuration::try_from(span)?;
                    Some(jiff::Timestamp::now().checked_add(span)?)
                }
                None => None,
            };
            let scopes = Grant::named(&args.scopes);
            let secret = tokens::create(&root, &args.name, &scopes, expires)?;
            out!("{secret}");
            let holds = match &scopes {
                Grant::All => "every scope (*)".to_string(),
                Grant::Only(_) => scopes.names().join(", "),
            };
            err!(
                "token {:?} created with {holds}; this is the only time its secret is shown",
                args.name
            );
        }
        TokenCommand::List { json } => {
            let list = tokens::list(&root)?;
            if *json {
                out!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                out!("No tokens.");
            } else {
                out!("{:<20} {:<48} {:<20} EXPIRES", "NAME", "SCOPES", "CREATED");
                for t in list {
                    out!(
                        "{:<20} {:<48} {:<20} {}",
                        t.name,
                        t.scopes.to_string(),
                        t.created.strftime("%Y-%m-%d %H:%M:%S"),
                        t.expires.map_or("never".to_string(), |e| e
                            .strftime("%Y-%m-%d %H:%M:%S")
                            .to_string())
                    );
                }
            }
        }
        TokenCommand::Revoke { name } => {
            tokens::revoke(&root, name)?;
            out!("revoked token {name:?}");
        }
    }
    Ok(0)
}
