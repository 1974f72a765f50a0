//! `mrsm startup` / `mrsm unstartup` (pm2's words): one enabled systemd user unit per
//! root that runs `mrsm resurrect` when the user's manager starts (at boot, with
//! lingering), so the root's jobs come back after a reboot as they were meant to
//! be. The unit is named from the root, so two roots never clash, and it is a
//! one-shot that stays active: it only starts the supervisors, and neither its end
//! nor its stop takes them down (`KillMode=process`).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::store::Root;

/// `mrsm startup`'s and `mrsm unstartup`'s arguments (none yet: the user manager).
#[derive(Debug, clap::Args)]
pub struct Args {}

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
        crate::systemd::quoted(&format!("MRSM_ROOT_DIR={root}"), false),
        crate::systemd::quoted(&mrsm.to_string_lossy(), true),
    )
}

/// Where the user manager reads units: `$XDG_CONFIG_HOME/systemd/user`.
fn unit_dir() -> anyhow::Result<PathBuf> {
    crate::systemd::unit_dir(crate::store::settings::config_home().as_deref())
        .map_err(anyhow::Error::msg)
}

/// `systemctl --user ARGS`, which must succeed.
fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    crate::systemd::systemctl(args).map_err(anyhow::Error::msg)
}

/// That a user manager answers, or what is missing (nothing is installed then).
fn manager_answers() -> anyhow::Result<()> {
    crate::systemd::answers().map_err(|why| {
        anyhow::anyhow!(
            "{why}; nothing was installed: run `mrsm resurrect` at boot instead, e.g. from cron's `@reboot`"
        )
    })
}

/// Writes and enables the root's unit.
pub fn install(_args: &Args) -> anyhow::Result<i32> {
    let root = Root::from_env()?;
    manager_answers()?;
    let mrsm = std::env::current_exe().context("finding this program's path")?;
    let dir = unit_dir()?;
    let name = crate::systemd::resurrect_unit_name(root.dir());
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
    let name = crate::systemd::resurrect_unit_name(root.dir());
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
        assert_ne!(
            crate::systemd::resurrect_unit_name(Path::new("/a")),
            crate::systemd::resurrect_unit_name(Path::new("/b"))
        );
    }
}
