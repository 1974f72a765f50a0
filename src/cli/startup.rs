//! `mrsm startup` / `mrsm unstartup` (pm2's words): one enabled systemd unit per
//! root that runs `mrsm resurrect` when the manager starts, so the root's jobs come
//! back after a reboot as they were meant to be. By default a unit of the user's
//! own manager (at boot with lingering); with `--system`, a unit of the system's
//! manager that runs as a given user. The unit is named from the root, so two
//! roots never clash, and it is a one-shot that stays active: it only starts the
//! supervisors, and neither its end nor its stop takes them down
//! (`KillMode=process`).

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::store::Root;
use crate::systemd::Scope;

/// Where systemd reads the administrator's system units.
const SYSTEM_UNIT_DIR: &str = "/etc/systemd/system";

/// `mrsm startup`'s and `mrsm unstartup`'s arguments.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A unit of the system's manager (in /etc/systemd/system, run as `--user`)
    /// instead of one of your own user manager: for machines where lingering is
    /// not allowed. Needs root; the jobs are still the user's.
    #[arg(long)]
    pub system: bool,
    /// With `--system`: the user the unit runs as (default: `$SUDO_USER`, else
    /// the current user).
    #[arg(long, short = 'u', value_name = "USER", requires = "system")]
    pub user: Option<String>,
    /// Print the unit instead of installing it (e.g. to review it, or to install it
    /// by hand with `sudo tee`).
    #[arg(long)]
    pub print: bool,
}

/// The unit to write: for which manager, running as whom.
struct Plan {
    scope: Scope,
    /// The user a system unit runs as.
    user: Option<String>,
    dir: PathBuf,
    name: String,
}

impl Plan {
    fn for_args(args: &Args, root: &Root) -> anyhow::Result<Plan> {
        let name = crate::systemd::resurrect_unit_name(root.dir());
        if !args.system {
            let dir = crate::systemd::unit_dir(crate::store::settings::config_home().as_deref())
                .map_err(anyhow::Error::msg)?;
            return Ok(Plan {
                scope: Scope::User,
                user: None,
                dir,
                name,
            });
        }
        let user = args
            .user
            .clone()
            .or_else(|| std::env::var("SUDO_USER").ok().filter(|u| !u.is_empty()))
            .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
            .context("no user to run the unit as: give `--user USER`")?;
        if user
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '%')
        {
            anyhow::bail!("{user:?} is not a user name systemd accepts");
        }
        Ok(Plan {
            scope: Scope::System,
            user: Some(user),
            dir: PathBuf::from(SYSTEM_UNIT_DIR),
            name,
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    /// The unit's text.
    fn unit_text(&self, root: &Path, mrsm: &Path) -> String {
        let root = root.to_string_lossy();
        let (user, wanted_by) = match &self.user {
            Some(user) => (format!("User={user}\n"), "multi-user.target"),
            None => (String::new(), "default.target"),
        };
        format!(
            "[Unit]\n\
             Description=mrsm: bring back the jobs of {}\n\
             \n\
             [Service]\n\
             Type=oneshot\n\
             RemainAfterExit=yes\n\
             KillMode=process\n\
             {user}\
             Environment={}\n\
             ExecStart={} resurrect\n\
             \n\
             [Install]\n\
             WantedBy={wanted_by}\n",
            root.replace('%', "%%"),
            crate::systemd::quoted(&format!("MRSM_ROOT_DIR={root}"), false),
            crate::systemd::quoted(&mrsm.to_string_lossy(), true),
        )
    }

    fn systemctl(&self, args: &[&str]) -> anyhow::Result<()> {
        crate::systemd::systemctl_in(self.scope, args).map_err(anyhow::Error::msg)
    }

    /// That the manager answers, or what is missing (nothing is installed then).
    fn manager_answers(&self) -> anyhow::Result<()> {
        let answers = match self.scope {
            Scope::User => crate::systemd::answers(),
            Scope::System => crate::systemd::system_answers(),
        };
        answers.map_err(|why| {
            anyhow::anyhow!(
                "{why}; nothing was installed: run `mrsm resurrect` at boot instead, e.g. from cron's `@reboot`"
            )
        })
    }
}

/// Writes and enables the root's unit.
pub fn install(args: &Args) -> anyhow::Result<i32> {
    let root = Root::at(crate::systemd::canonical_root(Root::from_env()?.dir()));
    let plan = Plan::for_args(args, &root)?;
    let mrsm = std::env::current_exe().context("finding this program's path")?;
    let text = plan.unit_text(root.dir(), &mrsm);
    if args.print {
        print!("{text}");
        return Ok(0);
    }
    plan.manager_answers()?;
    let path = plan.path();
    crate::store::write_file(&path, text.as_bytes())?;
    plan.systemctl(&["daemon-reload"])?;
    plan.systemctl(&["enable", &plan.name])?;
    let when = match plan.scope {
        Scope::User => {
            "your systemd user manager starts (at boot once `loginctl enable-linger $USER` is set)"
        }
        Scope::System => "the machine boots",
    };
    out!(
        "installed {}: `mrsm resurrect` runs for {} when {when}",
        path.display(),
        root.dir().display()
    );
    Ok(0)
}

/// Disables and removes the root's unit.
pub fn remove(args: &Args) -> anyhow::Result<i32> {
    let root = Root::at(crate::systemd::canonical_root(Root::from_env()?.dir()));
    let plan = Plan::for_args(args, &root)?;
    let path = plan.path();
    if !path.exists() {
        out!(
            "no startup unit for {} in {}",
            root.dir().display(),
            plan.dir.display()
        );
        return Ok(0);
    }
    plan.manager_answers()?;
    // Stopped too (it only marks that it ran: the jobs are not touched), so the
    // manager does not keep showing it.
    plan.systemctl(&["disable", "--now", &plan.name])?;
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    plan.systemctl(&["daemon-reload"])?;
    out!("removed {}", path.display());
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(user: Option<&str>) -> Plan {
        Plan {
            scope: if user.is_some() {
                Scope::System
            } else {
                Scope::User
            },
            user: user.map(str::to_string),
            dir: PathBuf::from("/units"),
            name: "mrsm-resurrect-x.service".into(),
        }
    }

    #[test]
    fn a_unit_quotes_what_systemd_would_read_otherwise() {
        let text = plan(None).unit_text(
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
        assert!(!text.contains("User="), "{text}");
        assert!(text.contains("WantedBy=default.target\n"), "{text}");
        assert_ne!(
            crate::systemd::resurrect_unit_name(Path::new("/a")),
            crate::systemd::resurrect_unit_name(Path::new("/b"))
        );
    }

    #[test]
    fn a_system_unit_runs_as_its_user_and_starts_at_boot() {
        let text = plan(Some("alice")).unit_text(Path::new("/r"), Path::new("/bin/mrsm"));
        assert!(text.contains("User=alice\n"), "{text}");
        assert!(text.contains("WantedBy=multi-user.target\n"), "{text}");
    }
}
