//! Settings that belong to the machine, not to a project: the root directory and the
//! credentials of named executors. Layered with figment: a config file
//! (`$MRSM_CONFIG`, else `$XDG_CONFIG_HOME/mrsm/config.toml`, else
//! `~/.config/mrsm/config.toml`), then `MRSM_*` environment variables
//! (`MRSM_ROOT_DIR`, …), which win. The file is checked strictly first, so a typo
//! or a syntax error is reported with its file and line rather than ignored.
//!
//! ```toml
//! root_dir = "/srv/mrsm"
//!
//! [executors.prod]
//! url = "https://jobs.example.com:8000"
//! token = "…"
//! ca_file = "prod-ca.pem"        # relative to this file
//! timeout = "5s"
//! connect_timeout = "3s"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use super::StoreError;

/// A named executor's address and credentials.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSettings {
    pub url: Option<String>,
    pub token: Option<String>,
    /// Send the token over plain `http://` to a host that is not this machine (a
    /// trusted network only); without it such an executor is refused.
    #[serde(default)]
    pub allow_plain_http: bool,
    /// PEM certificates the client trusts for this server instead of the system's
    /// (a private CA's, or a self-signed server's own); relative to the file.
    pub ca_file: Option<PathBuf>,
    /// Longest wait for an ordinary answer (`"5s"`), so a server that accepts
    /// connections and never answers cannot hold up every command.
    #[serde(default, deserialize_with = "duration")]
    pub timeout: Option<Duration>,
    /// Longest wait for a connection (`"3s"`).
    #[serde(default, deserialize_with = "duration")]
    pub connect_timeout: Option<Duration>,
}

/// A duration as people write it (`5s`, `500ms`, `1m`), more than zero.
fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    match humantime::parse_duration(&text) {
        Ok(t) if !t.is_zero() => Ok(Some(t)),
        Ok(_) => Err(serde::de::Error::custom(format!(
            "bad duration {text:?}: it must be more than zero"
        ))),
        Err(e) => Err(serde::de::Error::custom(format!(
            "bad duration {text:?}: {e} (expected e.g. 5s or 500ms)"
        ))),
    }
}

/// The machine's settings.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Where jobs live (default `$XDG_STATE_HOME/mrsm`, else `~/.local/state/mrsm`).
    pub root_dir: Option<PathBuf>,
    /// Executors by name, e.g. `[executors.prod] url = "…" token = "…"`.
    #[serde(default)]
    pub executors: BTreeMap<String, ExecutorSettings>,
    /// Where the command line creates jobs when no `-e` is given (`local` unless
    /// set; `systemd` makes every job a user service, as Meerschaum does where
    /// systemd runs). Spec files say their own (`executor:`, `local` by default).
    pub default_executor: Option<String>,
}

fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The user's configuration directory: `$XDG_CONFIG_HOME`, else `~/.config` (where
/// the settings file and the user's systemd units live).
pub fn config_home() -> Option<PathBuf> {
    var("XDG_CONFIG_HOME").or_else(|| var("HOME").map(|h| h.join(".config")))
}

/// The config file read, if any.
pub fn config_file() -> Option<PathBuf> {
    var("MRSM_CONFIG").or_else(|| config_home().map(|d| d.join("mrsm/config.toml")))
}

/// `file:line:column: message` for a problem at byte `offset` of `text`.
fn located(file: &Path, text: &str, offset: usize, message: &str) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{}:{line}:{column}: {message}", file.display())
}

/// The most bytes of a settings file read.
const MAX_SETTINGS: u64 = 1 << 20;

/// The file's text (`None` when it does not exist): a FIFO or a device in its
/// place is refused at once, never waited on.
fn read_text(file: &Path) -> Result<Option<String>, StoreError> {
    match super::read_user_file(file, MAX_SETTINGS) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| StoreError::Settings(format!("{}: not UTF-8 text", file.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StoreError::io("reading", file, e)),
    }
}

/// Checks the file's syntax and keys, with the place of the first problem.
fn check_file(file: &Path, text: &str) -> Result<(), StoreError> {
    let settings = toml::from_str::<Settings>(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let message = e.message().trim().replace('\n', " ");
        StoreError::Settings(located(file, text, offset, &message))
    })?;
    for (name, executor) in &settings.executors {
        // Pointed at where the table names it, as near as the text tells.
        let table = text
            .find(&format!("executors.{name}"))
            .or_else(|| text.find(&format!("executors.\"{name}\"")))
            .unwrap_or(0);
        if let Some(problem) = executor_problem(name, executor) {
            return Err(StoreError::Settings(located(file, text, table, &problem)));
        }
        if let Some(ca_file) = &executor.ca_file {
            if let Err(problem) = crate::certs::read_pem_certificates(&beside(file, ca_file)) {
                let offset = text[table..].find("ca_file").map_or(table, |o| table + o);
                let problem = format!("executor {name:?}: ca_file: {problem}");
                return Err(StoreError::Settings(located(file, text, offset, &problem)));
            }
        }
    }
    if let Some(label) = &settings.default_executor {
        if let Some(problem) = default_executor_problem(label, &settings) {
            let offset = text.find("default_executor").unwrap_or(0);
            return Err(StoreError::Settings(located(file, text, offset, &problem)));
        }
    }
    Ok(())
}

/// The executors every machine has.
const BUILT_IN_EXECUTORS: [&str; 3] = ["local", "systemd", "slurm"];

/// What is wrong with `default_executor = LABEL`: it must be a built-in executor
/// or one this file names (`NAME` or `api:NAME`).
fn default_executor_problem(label: &str, settings: &Settings) -> Option<String> {
    let named = label.strip_prefix("api:").unwrap_or(label);
    if BUILT_IN_EXECUTORS.contains(&label) || settings.executors.contains_key(named) {
        return None;
    }
    let mut known: Vec<&str> = BUILT_IN_EXECUTORS.to_vec();
    known.extend(settings.executors.keys().map(String::as_str));
    let hint = crate::suggest::did_you_mean(label, &known)
        .map(|k| format!("; did you mean `{k}`?"))
        .unwrap_or_default();
    Some(format!(
        "default_executor: unknown executor {label:?}: expected one of {}{hint}",
        known.join(", ")
    ))
}

/// `path` as written in `file`: a relative path is relative to the file's
/// directory, not to wherever mrsm happens to run.
fn beside(file: &Path, path: &Path) -> PathBuf {
    let base = file.parent().unwrap_or(Path::new("."));
    base.join(path)
}

/// What is wrong with a named executor, if anything: its name becomes the label
/// `api:NAME` and its `url` is where it is reached.
fn executor_problem(name: &str, executor: &ExecutorSettings) -> Option<String> {
    let mut chars = name.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        && name.len() <= 64;
    if !well_formed {
        return Some(format!("executor name {name:?}: use 1-64 letters, digits, '_', '.' and '-', starting with a letter or digit"));
    }
    if name == "local" {
        return Some("executor name \"local\" is the built-in executor's; choose another".into());
    }
    match executor.url.as_deref().map(str::trim) {
        None | Some("") => Some(format!("executor {name:?} has no `url`")),
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => Some(format!(
            "executor {name:?}: bad url {url:?}: expected http://HOST:PORT or https://HOST:PORT"
        )),
        Some(_) => None,
    }
}

impl Settings {
    /// Reads the config file (if it exists) under the `MRSM_*` variables. An
    /// unreadable file, a syntax error or an unknown key is an error naming the
    /// file and line.
    pub fn load() -> Result<Settings, StoreError> {
        let mut figment = Figment::new();
        let file = config_file();
        if let Some(file) = &file {
            // A file named on purpose must exist; the default one may not.
            if var("MRSM_CONFIG").is_some() && !file.exists() {
                return Err(StoreError::Settings(format!(
                    "{}: no such file (named by MRSM_CONFIG)",
                    file.display()
                )));
            }
            if let Some(text) = read_text(file)? {
                check_file(file, &text)?;
                figment = figment.merge(Toml::string(&text));
            }
        }
        // MRSM_ROOT_DIR set but empty is unset (as XDG_STATE_HOME and HOME are), not a
        // root at "" (which became the settings file's own directory).
        if var("MRSM_ROOT_DIR").is_some() {
            figment = figment.merge(Env::prefixed("MRSM_").only(&["root_dir"]));
        }
        let mut settings: Settings = figment
            .extract()
            .map_err(|e| StoreError::Settings(e.to_string()))?;
        // A relative root_dir in the file is relative to the file, not to wherever
        // mrsm happens to run (MRSM_ROOT_DIR is made absolute by the caller).
        if let Some(file) = &file {
            if var("MRSM_ROOT_DIR").is_none() {
                if let Some(dir) = settings.root_dir.as_mut() {
                    *dir = beside(file, dir);
                }
            }
            for executor in settings.executors.values_mut() {
                if let Some(ca_file) = executor.ca_file.as_mut() {
                    *ca_file = beside(file, ca_file);
                }
            }
        }
        Ok(settings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's own test harness signature
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            // Whatever the caller's environment holds (MRSM_ROOT_DIR…) stays out.
            jail.clear_env();
            jail.create_file(
                "config.toml",
                "root_dir = \"/from/file\"\n[executors.prod]\nurl = \"http://127.0.0.1:8000\"\ntoken = \"t\"\n",
            )?;
            jail.set_env("MRSM_CONFIG", "config.toml");
            let s = Settings::load().map_err(|e| e.to_string())?;
            assert_eq!(s.root_dir, Some(PathBuf::from("/from/file")));
            assert_eq!(s.executors["prod"].token.as_deref(), Some("t"));
            jail.set_env("MRSM_ROOT_DIR", "/from/env");
            assert_eq!(
                Settings::load().map_err(|e| e.to_string())?.root_dir,
                Some(PathBuf::from("/from/env"))
            );
            // Set but empty is unset: the file's root, not the file's directory.
            jail.set_env("MRSM_ROOT_DIR", "");
            assert_eq!(
                Settings::load().map_err(|e| e.to_string())?.root_dir,
                Some(PathBuf::from("/from/file"))
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn typos_and_syntax_errors_name_the_line() {
        figment::Jail::expect_with(|jail| {
            jail.clear_env();
            jail.set_env("MRSM_CONFIG", "config.toml");
            jail.create_file("config.toml", "root_dir = \"/x\"\nroot_dri = \"/y\"\n")?;
            let error = Settings::load().expect_err("unknown key").to_string();
            assert!(
                error.contains("config.toml:2:1: unknown field `root_dri`"),
                "{error}"
            );
            jail.create_file(
                "config.toml",
                "[executors.prod]\nurl = \"http://h\"\ntokn = \"t\"\n",
            )?;
            let error = Settings::load().expect_err("unknown key").to_string();
            assert!(
                error.contains("config.toml:3:1: unknown field `tokn`"),
                "{error}"
            );
            jail.create_file("config.toml", "root_dir = /x\n")?;
            let error = Settings::load().expect_err("bad syntax").to_string();
            assert!(error.contains("config.toml:1:12: "), "{error}");
            Ok(())
        });
    }
}
