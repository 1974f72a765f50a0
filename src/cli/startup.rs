//! `mrsm startup` / `mrsm unstartup` (pm2's words): one enabled systemd user unit per
//! root that runs `mrsm resurrect` when the user's manager starts (at boot, with
//! lingering), so the root's jobs come back after a reboot as they were meant to
//! be. The unit is named from the root, so two roots never clash, and it is a
//! one-shot that stays active: it only starts the supervisors, and neither its end
//! nor its stop takes them down (`KillMode=process`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{bail, Context};

use crate::store::Root;

/// `mrsm startup`'s and `mrsm unstartup`'s arguments (none yet: the user manager).
#[derive(Debug, clap::Args)]
pub struct Args {}

/// The unit's name for `root`: `mrsm-resurrect-HASH.service`, HASH from the root's
/// path.
fn unit_name(root: &Path) -> String {
    let mut hash = crate::fnv::Fnv::new();
    hash.write(root.as_os_str().as_encoded_bytes());
    format!("mrsm-resurrect-{:016x}.service", hash.finish())
}

/// A value quoted for a unit file: inside double quotes, `\` and `"` escaped, `%`
/// doubled (specifiers), and in a command line (`exec`) `$` doubled (variables are
/// expanded there, not in `Environment=`).
fn quoted(text: &str, exec: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The unit's text.
fn unit_text(root: &Path, mrsm: &Path) -> String {
    let root = root.to_string_lossy();
    format!(
        "[Unit]\n\
         Description=mrsm: bring back the jobs of {}\n\
         \n\
         [Service]\n\
         Type=oneshot\n\
         RemainAfterExit=yes\n\
         KillMode=process\n\
         Environment={}\n\
         ExecStart={} resurrect\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        root.replace('%', "%%"),
        quoted(&format!("MRSM_ROOT_DIR={root}"), false),
        quoted(&mrsm.to_string_lossy(), true),
    )
}

/// Where the user manager reads units: `$XDG_CONFIG_HOME/systemd/user`.
fn unit_dir() -> anyhow::Result<PathBuf> {
    let config =
        crate::store::settings::config_home().context("neither XDG_CONFIG_HOME nor HOME is set")?;
    Ok(config.join("systemd").join("user"))
}

/// `systemctl --user ARGS`, run.
fn systemctl_output(args: &[&str]) -> anyhow::Result<Output> {
    Command::new("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .context("running systemctl (is systemd installed?)")
}

/// `systemctl --user ARGS`, which must succeed.
fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    let out = systemctl_output(args)?;
    if !out.status.success() {
        bail!(
            "systemctl --user {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// That a user manager answers, or what is missing.
fn manager_answers() -> anyhow::Result<()> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_none_or(|v| v.is_empty()) {
        bail!(
            "no systemd user manager: XDG_RUNTIME_DIR is not set (log in through a session, \
             or run `loginctl enable-linger $USER` so the manager runs at boot)"
        );
    }
    let out = systemctl_output(&["is-system-running"])?;
    let state = String::from_utf8_lossy(&out.stdout).trim().to_string();
    match state.as_str() {
        "running" | "degraded" | "starting" | "initializing" => Ok(()),
        "offline" | "" => bail!(
            "no systemd user manager answers (the machine is not booted with systemd, or \
             the user's manager is not running: `loginctl enable-linger $USER` starts it at \
             boot); nothing was installed: run `mrsm resurrect` at boot instead, e.g. from \
             cron's `@reboot`"
        ),
        other => bail!("the systemd user manager is {other}; nothing was installed"),
    }
}

/// Writes and enables the root's unit.
pub fn install(_args: &Args) -> anyhow::Result<i32> {
    let root = Root::from_env()?;
    manager_answers()?;
    let mrsm = std::env::current_exe().context("finding this program's path")?;
    let dir = unit_dir()?;
    let name = unit_name(root.dir());
    let path = dir.join(&name);
    crate::store::write_file(&path, unit_text(root.dir(), &mrsm).as_bytes())?;
    systemctl(&["daemon-reload"])?;
    systemctl(&["enable", &name])?;
    out!(
        "installed {}: `mrsm resurrect` runs for {} when your systemd user manager starts \
         (at boot once `loginctl enable-linger $USER` is set)",
        path.display(),
        root.dir().display()
    );
    Ok(0)
}

/// Disables and removes the root's unit.
pub fn remove(_args: &Args) -> anyhow::Result<i32> {
    let root = Root::from_env()?;
    let name = unit_name(root.dir());
    let path = unit_dir()?.join(&name);
    if !path.exists() {
        out!("no startup unit for {}", root.dir().display());
        return Ok(0);
    }
    manager_answers()?;
    systemctl(&["disable", &name])?;
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    systemctl(&["daemon-reload"])?;
    out!("removed {}", path.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_quotes_what_systemd_would_read_otherwise() {
        let text = unit_text(
            Path::new("/srv/50% \"jobs\"/$HOME"),
            Path::new("/opt/$m rsm"),
        );
        assert!(
            text.contains(r#"Environment="MRSM_ROOT_DIR=/srv/50%% \"jobs\"/$HOME""#),
            "{text}"
        );
        assert!(
            text.contains(r#"ExecStart="/opt/$$m rsm" resurrect"#),
            "{text}"
        );
        assert!(text.contains("KillMode=process\n"), "{text}");
        assert_ne!(unit_name(Path::new("/a")), unit_name(Path::new("/b")));
    }
}
