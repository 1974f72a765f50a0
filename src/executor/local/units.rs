//! Jobs on the `systemd` executor: each job's supervisor is a unit of the user's
//! systemd manager. Which jobs these are is read from each job's definition (its
//! `executor`), not from the executor asked, so every verb of the root (`local`
//! acts on any of its jobs) starts, stops and removes them through systemd.
//!
//! The unit file exists while the job does; it is enabled (started with the user's
//! manager, at boot with lingering) while the job is meant to run or be paused,
//! and disabled while it is meant to stay stopped or once it finished on its own.

use super::*;

/// Whether job `file` runs under systemd.
pub(super) fn on_systemd(file: &JobFile) -> bool {
    file.executor.as_deref() == Some(crate::executor::SYSTEMD_LABEL)
}

impl LocalExecutor {
    /// That the user's systemd manager answers, when job `name` (its definition as
    /// far as it can be read) runs under systemd: a verb that would change its
    /// unit does nothing at all otherwise, rather than half of its work.
    pub(super) fn systemd_reachable(&self, name: &str) -> Result<(), ExecutorError> {
        let on = match self.definition(name) {
            Ok(Definition::Readable(file)) => on_systemd(&file),
            // Which executor holds it is unknown: its unit, if it has one, says.
            Ok(Definition::Broken(_)) => self.has_unit(name),
            Err(_) => false,
        };
        if !on {
            return Ok(());
        }
        crate::systemd::answers().map_err(|why| {
            self.systemd_unavailable(format!(
                "job {name:?} is a systemd service, and {why}; nothing was done (run this where your user manager answers)"
            ))
        })
    }

    /// The root as units name it, however it was spelled.
    fn unit_root(&self) -> &Path {
        self.unit_root
            .get_or_init(|| crate::systemd::canonical_root(self.root.dir()))
    }

    /// The unit's name of job `name`.
    pub(super) fn unit_name(&self, name: &str) -> String {
        crate::systemd::job_unit_name(self.unit_root(), name)
    }

    /// Whether job `name` has a unit file (whatever its definition says, or if it
    /// cannot be read).
    fn has_unit(&self, name: &str) -> bool {
        self.unit_path(name).is_ok_and(|p| p.exists())
    }

    /// Where the user's units are.
    fn unit_dir(&self) -> Result<PathBuf, ExecutorError> {
        crate::systemd::unit_dir(crate::store::settings::config_home().as_deref())
            .map_err(|why| self.systemd_unavailable(why))
    }

    /// Where job `name`'s unit file is.
    fn unit_path(&self, name: &str) -> Result<PathBuf, ExecutorError> {
        Ok(self.unit_dir()?.join(self.unit_name(name)))
    }

    fn systemd_unavailable(&self, why: String) -> ExecutorError {
        ExecutorError::Unavailable {
            executor: crate::executor::SYSTEMD_LABEL.into(),
            message: why,
        }
    }

    /// Writes job `file`'s unit (and has the manager read it again) unless it is
    /// there as it should be; the file written (not yet flushed to disk), if any.
    fn install_unit(&self, file: &JobFile) -> Result<Option<PathBuf>, ExecutorError> {
        let name = file.spec.name.as_str();
        let mrsm = self.absolute_supervisor_bin()?;
        let root = Root::at(self.unit_root());
        let errors = root.supervisor_errors(name);
        let command = file.spec.shown_command().join(" + ");
        let dir = self.unit_dir()?;
        let unit = crate::systemd::JobUnit {
            dir: &dir,
            root: root.dir(),
            name,
            mrsm: &mrsm,
            command: &command,
            cwd: file.spec.cwd.as_deref(),
            stop_timeout: file.spec.stop.timeout.min(crate::job::MAX_STOP_TIMEOUT) + STOP_SLACK,
            start_timeout: ready_timeout(),
            errors: &errors,
        };
        let text = unit.text();
        let path = dir.join(unit.unit_name());
        let old = std::fs::read(&path).ok();
        if old.as_deref() == Some(text.as_bytes()) {
            return Ok(None);
        }
        crate::store::write_file_unflushed(&path, text.as_bytes())?;
        // A new file is read when the unit is first asked for (the manager sees
        // that its unit directory changed); a changed one only after a reload,
        // which costs as much as the manager has units. Removing a unit reloads,
        // so no stale copy of a removed one is left loaded.
        if old.is_some() {
            crate::store::flush_to_disk(&path)?;
            crate::systemd::systemctl(&["daemon-reload"])
                .map_err(|why| self.systemd_unavailable(why))?;
        }
        Ok(Some(path))
    }

    /// Takes job `name`'s unit out of the manager's start (`systemctl disable`,
    /// done on the files), without a call to the manager.
    fn unlink_wants(&self, name: &str) -> Result<(), ExecutorError> {
        let path = self.unit_path(name)?;
        crate::systemd::unlink_wants(&path).map_err(|e| {
            let link = crate::systemd::wants_link(&path).unwrap_or(path);
            StoreError::io("removing", &link, e).into()
        })
    }

    /// The supervisor's executable as a unit must name it: an absolute path.
    fn absolute_supervisor_bin(&self) -> Result<PathBuf, ExecutorError> {
        let bin = &self.supervisor_bin;
        if bin.is_absolute() {
            return Ok(bin.clone());
        }
        let found = match bin.components().count() {
            1 => std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(bin))
                    .find(|p| p.is_file())
            }),
            _ => Some(absolute(bin)),
        };
        found.ok_or_else(|| ExecutorError::Supervisor {
            name: String::new(),
            message: format!("{} is not on the PATH (set MRSM_BIN)", bin.display()),
        })
    }

    /// Brings job `file` to what it is meant to be through systemd: its unit
    /// written, then enabled and started (`systemctl start` returns once the
    /// supervisor is up), or disabled when it is to stay stopped. A supervisor that
    /// does not come up is stopped by systemd with every process of its cgroup.
    pub(super) fn bring_up_unit(
        &self,
        file: &JobFile,
        meanwhile: &dyn Fn(),
    ) -> Result<(), ExecutorError> {
        let name = file.spec.name.as_str();
        let written = self.install_unit(file)?;
        let flush_unit = || {
            if let Some(Err(e)) = written.as_deref().map(crate::store::flush_to_disk) {
                err!("warning: job {name:?}: {e}");
            }
        };
        let unit = self.unit_name(name);
        if file.desired == DesiredState::Stopped {
            flush_unit();
            return self.unlink_wants(name);
        }
        let errors_path = self.root.supervisor_errors(name);
        let errors_before = std::fs::metadata(&errors_path).map_or(0, |m| m.len());
        // Enabled as `systemctl enable` would (its link, made here: the manager
        // reads links from disk when it starts, and needs no call for it), then
        // started. The definition and the unit reach the disk while it starts.
        let path = self.unit_path(name)?;
        crate::systemd::link_wants(&path).map_err(|e| {
            let link = crate::systemd::wants_link(&path).unwrap_or(path);
            ExecutorError::from(StoreError::io("linking", &link, e))
        })?;
        let enabled = std::thread::scope(|scope| {
            let enabling = scope.spawn(|| crate::systemd::systemctl(&["start", &unit]));
            meanwhile();
            flush_unit();
            enabling
                .join()
                .unwrap_or_else(|_| Err("systemctl could not be run".to_string()))
        });
        if let Err(why) = enabled {
            self.disable_unit(name, true);
            // What the supervisor said, else what systemd did.
            let said = crate::store::read_text(&errors_path)
                .ok()
                .and_then(|t| {
                    let new = t.get(errors_before as usize..)?;
                    new.lines().last().map(str::to_string)
                })
                .unwrap_or(why);
            // The manager reads units from elsewhere (another HOME or
            // XDG_CONFIG_HOME than its own, e.g. under sudo).
            let hint = match said.contains("does not exist") {
                true => format!(
                    "; the user manager does not read units from {} (is HOME or XDG_CONFIG_HOME another than its own?)",
                    self.unit_dir().map(|d| d.display().to_string()).unwrap_or_default()
                ),
                false => String::new(),
            };
            return Err(ExecutorError::Supervisor {
                name: name.into(),
                message: format!(
                    "the supervisor did not start under systemd: {said}{hint} (`systemctl --user status {unit}`)"
                ),
            });
        }
        Ok(())
    }

    /// Takes job `name`'s unit out of the boot: it stays stopped. `stop_unit` when
    /// its supervisor was not there to stop (killed: systemd may be about to
    /// start it again); otherwise the unit ended with it.
    pub(super) fn disable_unit(&self, name: &str, stop_unit: bool) {
        let unit = self.unit_name(name);
        let stopped = match stop_unit {
            true => crate::systemd::systemctl(&["stop", &unit]),
            false => Ok(()),
        };
        let unlinked = self.unlink_wants(name).map_err(|e| e.to_string());
        if let Err(why) = stopped.and(unlinked) {
            err!(
                "warning: job {name:?}: {why}; it may start again with the user's systemd manager"
            );
        }
    }

    /// Removes job `name`'s unit: stopped, disabled, its file gone, the manager told.
    pub(super) fn remove_unit(&self, name: &str) {
        let Ok(path) = self.unit_path(name) else {
            return;
        };
        if !path.exists() {
            return;
        }
        self.disable_unit(name, true);
        if let Err(e) = std::fs::remove_file(&path) {
            err!("warning: job {name:?}: removing {}: {e}", path.display());
        }
        if let Err(why) = crate::systemd::systemctl(&["daemon-reload"]) {
            err!("warning: job {name:?}: {why}");
        }
    }

    /// Adds what the user's systemd manager says of their units to the jobs on
    /// systemd among `jobs`, in one call.
    pub(super) fn add_unit_states(&self, jobs: &mut [JobInfo]) {
        let label = crate::executor::SYSTEMD_LABEL;
        let mut on_systemd: Vec<(&mut JobInfo, String)> = jobs
            .iter_mut()
            .filter(|j| j.executor == label)
            .map(|j| {
                let unit = self.unit_name(&j.name);
                (j, unit)
            })
            .collect();
        let units: Vec<String> = on_systemd.iter().map(|(_, u)| u.clone()).collect();
        let mut states = crate::systemd::states(&units);
        for (job, unit) in on_systemd.iter_mut() {
            let name = std::mem::take(unit);
            job.unit = Some(states.remove(&name).unwrap_or(crate::systemd::UnitState {
                name,
                ..Default::default()
            }));
        }
    }
}
