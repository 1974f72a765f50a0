//! The local executor's side of the [`Executor`] trait: each verb under the job's
//! lock, over the supervisor's files and socket.

use super::listing::Holder;
use super::supervisors::{reports_a_live_job, wake};
use super::*;
use crate::store::proc::Census;

impl LocalExecutor {
    /// Whether a deleted job's logs or run history are still here.
    pub(super) fn has_kept_data(&self, name: &str) -> bool {
        self.root.runs_file(name).exists()
            || self.root.kept_file(name).exists()
            || !crate::logs::log_files(&self.root.log_file(name)).is_empty()
    }

    /// Whether job `name`'s log may be read: it exists, or it was deleted and its
    /// log kept.
    pub(super) fn log_readable(&self, name: &str) -> Result<(), ExecutorError> {
        match self.definition(name) {
            Err(ExecutorError::NotFound(_)) if self.has_kept_data(name) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Jobs deleted with their logs and run history kept, and whose they were.
    pub fn kept(&self) -> Vec<(String, crate::store::Kept)> {
        crate::store::kept_jobs(&self.root)
    }

    /// Where the job's schedule stands, to carry over to its next definition.
    pub(super) fn schedule_position(&self, name: &str) -> Option<ScheduleResume> {
        self.read_state(name).and_then(|s| s.schedule)
    }

    /// Starts the job whose definition (read under its lock) is `file`, bringing it
    /// to the state the definition asks for: resumes a paused one, lets a stop under
    /// way finish first, cleans up what a killed supervisor left.
    pub(super) fn start_locked(
        &self,
        name: &str,
        mut file: JobFile,
        census: Option<&Census>,
    ) -> Result<Outcome, ExecutorError> {
        // A report that cannot be read is an error only while its supervisor runs
        // (see `state`): nothing to start then, and nothing of the job may be taken
        // for leftovers (found by the breaker).
        let report = self.report(name).map_err(|e| ExecutorError::Supervisor {
            name: name.into(),
            message: format!(
                "its supervisor is running, but its report cannot be read ({e}); `mrsm stop jobs {name}` stops it"
            ),
        })?;
        if let Some(live) = report.filter(reports_a_live_job) {
            match live.phase {
                Phase::Paused => {
                    wake(live.supervisor);
                    return match self.request(name, &Request::Resume, Duration::from_secs(10))? {
                        Response::Refused { message, .. } => Err(ExecutorError::Supervisor {
                            name: name.into(),
                            message,
                        }),
                        _ => Ok(Outcome::Resumed { name: name.into() }),
                    };
                }
                // A stop under way is let finish, then the job starts again.
                Phase::Stopping => {
                    let supervisor = live.supervisor;
                    let grace = file.spec.stop.timeout + STOP_SLACK;
                    if !wait_for(grace, || !supervisor.is_alive()) {
                        return Err(ExecutorError::Supervisor {
                            name: name.into(),
                            message: format!(
                                "it is still stopping (supervisor pid {})",
                                supervisor.pid
                            ),
                        });
                    }
                }
                Phase::Running | Phase::Exited => {
                    // Its report may be a moment behind: a supervisor that has just
                    // finished the job (draining the last output) no longer answers.
                    match self.request(name, &Request::Status, Duration::from_secs(10)) {
                        Ok(Response::State { state }) if state.phase != Phase::Exited => {
                            return Ok(Outcome::AlreadyRunning { name: name.into() })
                        }
                        _ => {
                            let supervisor = live.supervisor;
                            wait_for(STOP_SLACK, || !supervisor.is_alive());
                        }
                    }
                }
            }
        }
        let last = self.read_state(name);
        // What a dead supervisor left is looked for, unless a look at every
        // process taken for many jobs at once found nothing of this one.
        let supervisor = self.supervisor_of(name);
        if let Some(supervisor) =
            supervisor.filter(|s| census.is_none_or(|c| c.may_have_left(name, *s)))
        {
            let stop = file.spec.stop;
            self.clean_leftovers(name, supervisor, stop.signal.0, stop.timeout);
        }
        // A job whose supervisor was killed continues its schedule; one that was
        // stopped or had finished starts it afresh, as a new job would.
        let died = last.as_ref().is_some_and(|s| s.phase != Phase::Exited);
        let resume = last.and_then(|s| s.schedule).filter(|_| died);
        if file.resume != resume {
            file.resume = resume;
            write_json(&self.root.job_file(name), &file)?;
        }
        // A supervisor still finishing its exit holds the job's lock for a moment.
        let finishing = self.read_state(name).map(|s| s.supervisor);
        if let Some(previous) = finishing {
            wait_for(STOP_SLACK, || !previous.is_alive());
        }
        self.bring_up(&file, &|| {})?;
        Ok(match file.desired {
            DesiredState::Paused => Outcome::Paused { name: name.into() },
            _ => Outcome::Started { name: name.into() },
        })
    }

    /// Job `name` as users see it, when `holder` holds it.
    pub(super) fn info(&self, name: &str, holder: Holder) -> Result<JobInfo, ExecutorError> {
        let file = match self.definition(name)? {
            // Another executor's of the same root (local and slurm).
            Definition::Readable(file) if holder == Holder::This && !self.holds(&file) => {
                return Err(ExecutorError::NotFound(name.into()))
            }
            Definition::Readable(file) => file,
            // Which executor of the root holds a job whose definition cannot be read
            // is unknown: `local` shows it, once (the verbs act on any job of the root).
            Definition::Broken(_) if !matches!(self.runs, Runs::Here) => {
                return Err(ExecutorError::NotFound(name.into()))
            }
            Definition::Broken(reason) => {
                return Ok(JobInfo::broken(
                    name,
                    format!("{reason}; `mrsm delete jobs {name}` removes it"),
                    self.supervisor_of(name),
                    self.label(),
                ))
            }
        };
        // A report there that cannot be read, with no supervisor alive, is not a job
        // that never started: taken for one, it would be started again (a finished
        // one-shot job run twice by the server's watchdog or by `up`).
        let report = self.report(name).and_then(|state| match state {
            None => self.unreadable_report(name).map_or(Ok(None), Err),
            found => Ok(found),
        });
        match report {
            Ok(state) => Ok(JobInfo::derive(&file, state.as_ref(), self.label_of(&file))),
            Err(e) => {
                let supervisor = SupervisorLock::holder(&self.root, name);
                let running = match supervisor.filter(|s| s.is_alive()) {
                    Some(s) => format!("its supervisor (pid {}) is running", s.pid),
                    None => "no supervisor is running".to_string(),
                };
                let mut info = JobInfo::broken(
                    name,
                    format!("{e}; {running}; `mrsm stop jobs {name}` or `mrsm delete jobs {name}` still work"),
                    supervisor,
                    match holder {
                        Holder::This => self.label(),
                        Holder::Any => self.label_of(&file),
                    },
                );
                info.command = file.spec.shown_command().to_vec();
                info.schedule = file.spec.schedule.clone();
                info.desired = file.desired;
                info.project = file.project.clone();
                info.spec_hash = file.spec_hash.clone();
                Ok(info)
            }
        }
    }

    /// Job `name`'s supervisor lock, taken to remove its files; the error `why` says
    /// (given the pid of the supervisor that holds it) when one does.
    fn vacant_or(
        &self,
        name: &str,
        why: impl FnOnce(i32) -> String,
    ) -> Result<SupervisorLock, ExecutorError> {
        SupervisorLock::vacant(&self.root, name)?.ok_or_else(|| ExecutorError::Supervisor {
            name: name.into(),
            message: why(self.live_lock_holder(name).map_or(0, |s| s.pid)),
        })
    }

    /// Why job `name`'s report cannot be read, when there is one in its place that
    /// cannot (damaged, a directory or a FIFO). An empty one is no report: reports
    /// are not flushed to disk, so a power cut may leave one empty, and the job is
    /// then one that died meant to run.
    fn unreadable_report(&self, name: &str) -> Option<crate::store::StoreError> {
        let path = self.root.state_file(name);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if meta.is_file() && meta.len() == 0 {
            return None;
        }
        read_json::<SupervisorState>(&path).err()
    }
}

impl Executor for LocalExecutor {
    fn label(&self) -> &str {
        &self.label
    }

    fn home(&self) -> Option<String> {
        Some(self.home.get_or_init(|| self.root.home_id()).clone())
    }

    fn capabilities(&self) -> crate::executor::Capabilities {
        crate::executor::Capabilities::ALL
    }

    fn create(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        let spec = &self.placed(spec)?;
        let name = spec.name.clone();
        let _job = self.lock_job(&name)?;
        let file = {
            if self.root.job_file(&name).exists() {
                return Err(ExecutorError::AlreadyExists(name));
            }
            let file = self.new_file(spec, options);
            write_json_unflushed(&self.root.job_file(&name), &file)?;
            // Logs and history kept from an earlier job of this name are its own now.
            let _ = std::fs::remove_file(self.root.kept_file(&name));
            file
        };
        // Jobs of other names start at the same time; the supervisor's own lock keeps
        // a job from ever having two. The definition reaches the disk while the
        // supervisor starts (before the job is reported).
        let job_file = self.root.job_file(&name);
        let flushed = std::cell::OnceCell::new();
        let flush = || {
            flushed.get_or_init(|| flush_to_disk(&job_file));
        };
        let launched = self.bring_up(&file, &flush);
        flush(); // when no supervisor was launched
        if let Some(Err(e)) = flushed.get() {
            err!("warning: job {name:?}: {e}");
        }
        if let Err(e) = launched {
            // Nothing of it runs (launch made sure): the definition goes, its logs
            // stay for the user to read.
            if units::on_systemd(&file) {
                self.remove_unit(&name);
            }
            crate::store::remove_job_definition(&self.root, &name, file.project.as_deref());
            return Err(e);
        }
        Ok(JobInfo::derive(
            &file,
            self.read_state(&name).as_ref(),
            self.label(),
        ))
    }

    fn replace(&self, spec: &JobSpec, options: &CreateOptions) -> Result<JobInfo, ExecutorError> {
        let spec = &self.placed(spec)?;
        let name = spec.name.clone();
        let _job = self.lock_job(&name)?;
        self.systemd_reachable(&name)?;
        let old = self.mark_stopped(&name)?;
        let position = self.schedule_position(&name);
        self.stop_unlocked(
            &name,
            old.as_ref().map(|f| &f.spec),
            &StopOptions::default(),
            None,
        )?;
        let mut file = self.new_file(spec, options);
        let same_schedule = old.as_ref().is_some_and(|old| {
            old.spec.schedule == file.spec.schedule && old.spec.timezone == file.spec.timezone
        });
        if same_schedule {
            file.resume = position;
        }
        write_json(&self.root.job_file(&name), &file)?;
        // Moved off systemd: its unit goes (the job's files stay, as for any move).
        if old.as_ref().is_some_and(units::on_systemd) && !units::on_systemd(&file) {
            self.remove_unit(&name);
        }
        self.bring_up(&file, &|| {})?;
        Ok(JobInfo::derive(
            &file,
            self.read_state(&name).as_ref(),
            self.label(),
        ))
    }

    fn spec(&self, name: &str) -> Result<JobSpec, ExecutorError> {
        Ok(self.read_file(name)?.spec)
    }

    fn start(&self, name: &str) -> Result<Outcome, ExecutorError> {
        let _job = self.lock_job(name)?;
        self.systemd_reachable(name)?;
        let file = self.set_desired(name, DesiredState::Running)?;
        self.start_locked(name, file, None)
    }

    fn revive(&self, name: &str) -> Result<Option<Outcome>, ExecutorError> {
        self.revive_with(name, None)
    }

    fn revive_all(&self, names: &[String]) -> Vec<Result<Option<Outcome>, ExecutorError>> {
        self.revive_many(names)
    }

    fn pause(&self, name: &str) -> Result<Outcome, ExecutorError> {
        let _job = self.lock_job(name)?;
        let before = self.read_file(name)?.desired;
        let Some(live) = self.live_supervisor(name) else {
            return Err(ExecutorError::NotRunning(name.into()));
        };
        self.set_desired(name, DesiredState::Paused)?;
        // A supervisor stopped from outside (SIGSTOP) could not answer.
        wake(live.supervisor);
        let refused = match self.request(name, &Request::Pause, Duration::from_secs(10)) {
            // Not paused (Slurm refused to suspend its steps): it runs on.
            Ok(Response::Refused { message, .. }) => ExecutorError::Supervisor {
                name: name.into(),
                message,
            },
            Ok(_) => return Ok(Outcome::Paused { name: name.into() }),
            Err(e) => e,
        };
        // Not paused: what it is meant to do stays as it was.
        self.set_desired(name, before)?;
        Err(refused)
    }

    fn stop(&self, name: &str, options: &StopOptions) -> Result<Outcome, ExecutorError> {
        let _job = self.lock_job(name)?;
        self.systemd_reachable(name)?;
        let file = self.mark_stopped(name)?;
        let outcome = self.stop_unlocked(name, file.as_ref().map(|f| &f.spec), options, None);
        // Stopped for good: systemd neither restarts it nor starts it at boot.
        if file.as_ref().is_some_and(units::on_systemd) {
            let answered = matches!(outcome, Ok(Outcome::Stopped { .. }));
            self.disable_unit(name, !answered);
        }
        // That it is to stay stopped reaches the disk before the stop is reported;
        // many stops at once share the disk's round trips.
        if file.is_some() {
            let _ = flush_to_disk(&self.root.job_file(name));
        }
        outcome
    }

    fn delete(&self, name: &str, options: &DeleteOptions) -> Result<Outcome, ExecutorError> {
        let job = self.lock_job(name)?;
        if options.purge && !self.root.job_file(name).exists() && self.has_kept_data(name) {
            // The supervisor of a job that just ended may still be finishing its exit
            // (its lock held a moment longer): waited for, or nothing would go
            // though the deletion was reported (seen under load).
            if let Some(finishing) = self.live_lock_holder(name) {
                wait_for(STOP_SLACK, || !finishing.is_alive());
            }
            let vacant = self.vacant_or(name, |pid| {
                format!("its supervisor (pid {pid}) is still running; nothing was deleted")
            })?;
            supervisor::remove_job_files(&self.root, name);
            job.remove_files(&self.root, name, vacant);
            return Ok(Outcome::KeptDataDeleted { name: name.into() });
        }
        self.systemd_reachable(name)?;
        let file = self.mark_stopped(name)?;
        let project = file.as_ref().and_then(|f| f.project.clone());
        // Asked from inside the job, this command is one of the processes the stop
        // ends: the supervisor removes the files itself once the job is over.
        let removal = match options.purge {
            true => crate::control::Removal::All,
            false => crate::control::Removal::Definition,
        };
        let inside = self.asked_from_inside(name).then_some(removal);
        self.stop_unlocked(name, file.as_ref().map(|f| &f.spec), &options.stop, inside)?;
        // Whatever its definition says (it may be unreadable): a unit left behind
        // would start a job that no longer exists at every boot.
        self.remove_unit(name);
        // No supervisor of the job may start while its files go (verbs wait for
        // this one; a supervisor started by hand may not): one that runs keeps them,
        // since removing them would leave it running unseen.
        let vacant = self.vacant_or(name, |again| {
            format!("it was started again while it was being deleted (supervisor pid {again}); nothing was deleted")
        })?;
        if options.purge {
            supervisor::remove_job_files(&self.root, name);
            job.remove_files(&self.root, name, vacant);
            Ok(Outcome::Deleted {
                name: name.into(),
                kept: false,
            })
        } else {
            crate::store::remove_job_definition(&self.root, name, project.as_deref());
            Ok(Outcome::Deleted {
                name: name.into(),
                kept: true,
            })
        }
    }

    fn get(&self, name: &str) -> Result<JobInfo, ExecutorError> {
        let mut info = [self.info(name, Holder::This)?];
        self.add_unit_states(&mut info);
        let [info] = info;
        Ok(info)
    }

    fn list(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        self.list_where(project, Holder::This)
    }

    fn local_home(&self) -> Option<&std::path::Path> {
        Some(self.root.dir())
    }

    fn list_home(&self, project: Option<&str>) -> Result<Vec<JobInfo>, ExecutorError> {
        self.list_where(project, Holder::Any)
    }

    fn kept_jobs(&self, project: Option<&str>) -> Result<Vec<String>, ExecutorError> {
        Ok(self
            .kept()
            .into_iter()
            .filter(|(_, kept)| project.is_none() || kept.project.as_deref() == project)
            .map(|(name, _)| name)
            .collect())
    }

    fn runs(&self, name: &str) -> Result<RunHistory, ExecutorError> {
        // A deleted job's kept history can still be read.
        if !self.has_kept_data(name) {
            self.definition(name)?;
        }
        Ok(read_runs(&self.root.runs_file(name))?)
    }

    /// The last lines of job `name`'s log that `selection` admits (at most its
    /// `tail`), and no more than `max_bytes` of them: read from the end of the log,
    /// they cost what they return, which is what a server needs of a tail.
    fn tail_logs(
        &self,
        name: &str,
        selection: &Selection,
        max_bytes: usize,
    ) -> Result<Tail, ExecutorError> {
        self.log_readable(name)?;
        let max = selection.tail.unwrap_or(usize::MAX);
        let path = self.root.log_file(name);
        Ok(crate::logs::read_tail(
            name, &path, selection, max, max_bytes,
        ))
    }

    fn logs(&self, name: &str, selection: &Selection) -> Result<Vec<LogLine>, ExecutorError> {
        if selection.tail.is_some() {
            return Ok(self.tail_logs(name, selection, usize::MAX)?.lines);
        }
        self.log_readable(name)?;
        let mut follower = Follower::from_start(&self.root.log_file(name));
        Ok(selection.apply(drain(name, &mut follower, &mut vec![0u8; 64 * 1024])))
    }

    fn read_logs(
        &self,
        name: &str,
        cursor: crate::logs::Cursor,
        max: usize,
    ) -> Result<(Vec<LogLine>, crate::logs::Cursor), ExecutorError> {
        validate_name(name).map_err(crate::job::SpecError::from)?;
        if !self.root.job_file(name).exists() && !self.has_kept_data(name) {
            return Err(ExecutorError::NotFound(name.into()));
        }
        Ok(crate::logs::read_page(
            name,
            &self.root.log_file(name),
            cursor,
            max,
        ))
    }

    fn follow_logs_when_ready(
        &self,
        name: &str,
        from_start: bool,
        ready: &mut dyn FnMut(),
        on_line: &mut dyn FnMut(LogLine) -> bool,
    ) -> Result<(), ExecutorError> {
        self.read_file(name)?;
        let path = self.root.log_file(name);
        // Its log, and its report (which says when it ended).
        let activity = Activity::watch(&[self.root.logs_dir(), self.root.job_dir(name)]);
        let grabber = Grabber::start(activity.clone());
        let mut follower = if from_start {
            Follower::from_start(&path)
        } else {
            Follower::from_end(&path)
        };
        grabber.watch(&follower);
        ready();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let mark = activity.seen();
            // Whether the job was still running *before* reading: lines written
            // before it stopped are then all read.
            let running = self
                .live_supervisor(name)
                .is_some_and(|s| s.phase != Phase::Exited);
            // Once it stopped, everything left is read, one bounded batch at a time.
            let mut idle = true;
            loop {
                let lines = drain_some(name, &mut follower, &mut buf);
                if lines.is_empty() {
                    break;
                }
                idle = false;
                for line in lines {
                    if !on_line(line) {
                        return Ok(());
                    }
                }
                if running {
                    break;
                }
            }
            if !running {
                return Ok(());
            }
            if idle {
                activity.wait(mark, Duration::from_millis(100));
            }
        }
    }

    fn send_input(&self, name: &str, data: &[u8], eof: bool) -> Result<(), ExecutorError> {
        self.read_file(name)?;
        if self.live_supervisor(name).is_none() {
            return Err(ExecutorError::NotRunning(name.into()));
        }
        let request = Request::Stdin {
            data: data.to_vec(),
            eof,
        };
        match self.request(name, &request, Duration::from_secs(10))? {
            Response::Refused { message, .. } => Err(ExecutorError::Supervisor {
                name: name.into(),
                message,
            }),
            Response::Busy { message } => Err(ExecutorError::Busy {
                name: name.into(),
                message,
            }),
            _ => Ok(()),
        }
    }
}
