//! Settings that belong to the machine, not to a project: the root directory and the
//! credentials of named executors. Layered with figment: a config file
//! (`$MRSM_CONFIG`, else `$XDG_CONFIG_HOME/mrsm/config.toml`, else
//! `~/.config/mrsm/config.toml`), then `MRSM_*` environment variables
//! (`MRSM_ROOT_DIR`, …), which win.

use std::collections::BTreeMap;
use std::path::PathBuf;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

/// A named executor's address and credentials.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct ExecutorSettings {
    pub url: Option<String>,
    pub token: Option<String>,
}

/// The machine's settings.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Settings {
    /// Where jobs live (default `$XDG_STATE_HOME/mrsm`, else `~/.local/state/mrsm`).
    pub root_dir: Option<PathBuf>,
    /// Executors by name, e.g. `[executors.prod] url = "…" token = "…"`.
    #[serde(default)]
    pub executors: BTreeMap<String, ExecutorSettings>,
}

fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The config file read, if any.
pub fn config_file() -> Option<PathBuf> {
    var("MRSM_CONFIG")
        .or_else(|| var("XDG_CONFIG_HOME").map(|d| d.join("mrsm/config.toml")))
        .or_else(|| var("HOME").map(|h| h.join(".config/mrsm/config.toml")))
}

impl Settings {
    /// Reads the config file (if it exists) under the `MRSM_*` variables.
    pub fn load() -> Result<Settings, Box<figment::Error>> {
        let mut figment = Figment::new();
        if let Some(file) = config_file() {
            figment = figment.merge(Toml::file(file));
        }
        figment
            .merge(Env::prefixed("MRSM_").only(&["root_dir"]))
            .extract()
            .map_err(Box::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's own test harness signature
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "config.toml",
                "root_dir = \"/from/file\"\n[executors.prod]\nurl = \"http://127.0.0.1:8000\"\ntoken = \"t\"\n",
            )?;
            jail.set_env("MRSM_CONFIG", "config.toml");
            let s = Settings::load().map_err(|e| *e)?;
            assert_eq!(s.root_dir, Some(PathBuf::from("/from/file")));
            assert_eq!(s.executors["prod"].token.as_deref(), Some("t"));
            jail.set_env("MRSM_ROOT_DIR", "/from/env");
            assert_eq!(
                Settings::load().map_err(|e| *e)?.root_dir,
                Some(PathBuf::from("/from/env"))
            );
            Ok(())
        });
    }
}
