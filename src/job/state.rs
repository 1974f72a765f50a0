//! What a supervisor reports (`state.json`), what each finished run leaves
//! (`runs.jsonl`), and the job's status as users see it, derived from both and from
//! whether the supervisor is really alive.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::result::RunResult;
use super::spec::{DesiredState, JobFile, RestartPolicy, ScheduleResume};
use crate::store::ProcessIdentity;

/// Where the supervisor is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Running,
    Paused,
    Stopping,
    /// The supervisor ended on purpose (finished, or stopped); anything else with a
    /// dead supervisor means it was killed.
    Exited,
}

/// A live step process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepProcess {
    pub run: u64,
    /// 1-based step index.
    pub step: usize,
    pub process: ProcessIdentity,
    /// What started the run and when, so a run cut short by a killed supervisor can
    /// still be recorded by the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<Timestamp>,
    /// The step's Slurm job, once known (jobs on a `slurm` executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
    /// Why the step has not started on the cluster yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// The upstream runs the run came after (`after:`), for its record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<super::AfterLink>,
}

/// `state.json`: written only by the job's supervisor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorState {
    pub supervisor: ProcessIdentity,
    pub phase: Phase,
    pub began: Timestamp,
    pub paused: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    pub steps: Vec<StepProcess>,
    pub restarts: u32,
    pub next_fire: Option<Timestamp>,
    pub last_result: Option<RunResult>,
    /// The newest run's number.
    #[serde(default)]
    pub last_run: u64,
    /// Where the schedule stands (kept while paused or stopping, unlike
    /// `next_fire`), for a supervisor that replaces this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleResume>,
    /// Output the log could not keep (a full disk) and has not reported yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_trouble: Option<crate::store::LogTrouble>,
    /// The signal from outside mrsm that ended the supervisor (not a stop request):
    /// the job did not end by itself or by a user's stop, so the reconciler starts
    /// it again while it is meant to run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signalled: Option<String>,
    /// Runs whose steps are over and whose leftovers are being stopped, as they are
    /// to be recorded: a supervisor killed meanwhile leaves them for the next one
    /// to record.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ending: Vec<RunRecord>,
    /// What the health probes say of the run going now (jobs with a check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::Health>,
    /// For a job with `after:`: the last run of each upstream job it has taken.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub after: BTreeMap<String, u64>,
}

/// What started a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Trigger {
    Start,
    Restart,
    Schedule,
    Queue,
    /// Runs of other jobs (`after:`).
    After,
}

/// One line of `runs.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run: u64,
    pub trigger: Trigger,
    pub started: Timestamp,
    pub ended: Timestamp,
    #[serde(flatten)]
    pub result: RunResult,
    /// The Slurm job of each step that ran on a cluster, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slurm_jobs: Vec<String>,
    /// The upstream runs that triggered it (`after:`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<super::AfterLink>,
    /// The fire time a scheduled run was planned for: `started` minus this is the
    /// schedule's lag (`/metrics`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned: Option<Timestamp>,
}

/// The states users see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobStatus {
    Running,
    Paused,
    /// Not running, and not meant to be running: stopped by a user, finished
    /// successfully, or never started.
    Stopped,
    /// Not running though meant to be: its last run failed and its policy does not
    /// run it again, or its supervisor was killed or ended by a signal from outside
    /// mrsm. `up` starts it again (the reason says why it ended).
    Failed,
    /// One of the job's files cannot be read (the reason says which); the job can
    /// still be stopped and deleted, and nothing else is affected.
    Broken,
}

impl JobStatus {
    /// Whether nothing of the job runs any more (stopped or failed).
    pub fn is_over(self) -> bool {
        matches!(self, JobStatus::Stopped | JobStatus::Failed)
    }
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobStatus::Running => "running",
            JobStatus::Paused => "paused",
            JobStatus::Stopped => "stopped",
            JobStatus::Failed => "failed",
            JobStatus::Broken => "broken",
        })
    }
}

/// A job as `show jobs` presents it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    pub name: String,
    pub status: JobStatus,
    /// The running step's process, if any.
    pub pid: Option<i32>,
    pub supervisor_pid: Option<i32>,
    pub began: Option<Timestamp>,
    pub paused: Option<Timestamp>,
    pub ended: Option<Timestamp>,
    /// The steps as shown: a spec file's as written, never with a `${VAR}`'s value.
    pub command: Vec<String>,
    pub schedule: Option<String>,
    pub timezone: Option<String>,
    pub next_fire: Option<Timestamp>,
    pub restart: RestartPolicy,
    pub restarts: u32,
    pub last_result: Option<RunResult>,
    /// Why a stopped job is stopped.
    pub reason: Option<String>,
    /// Stopped because its supervisor died (killed from outside), not by finishing
    /// or by request: the reconciler starts such jobs again.
    pub died: bool,
    /// Something wrong while it runs (its log cannot be written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    pub desired: DesiredState,
    pub executor: String,
    pub project: Option<String>,
    pub spec_hash: Option<String>,
    /// The running step's Slurm job (jobs on a `slurm` executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job: Option<String>,
    /// The job lives only while its creator renews its lease (see `JobFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_ms: Option<u64>,
    /// How long a stop of the job waits before SIGKILL (milliseconds), so a client
    /// knows how long a stop may take without reading the whole definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout_ms: Option<u64>,
    /// The systemd unit that runs the job's supervisor (jobs on the `systemd`
    /// executor), as its manager sees it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<crate::systemd::UnitState>,
    /// What the health probes say of the run going now (jobs with a check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::Health>,
    /// The jobs it depends on (`depends_on`): stopped after it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Output lines its log could not keep (a full disk) and has not reported
    /// yet: `/metrics` shows them without reading the log.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub log_dropped_lines: u64,
    /// Runs started so far: the newest run's number (they count on across
    /// restarts of the job).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub runs: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The status of a job whose supervisor recorded its end, and why.
fn ended(file: &JobFile, s: &SupervisorState) -> (JobStatus, Option<String>) {
    let stopped = |why: String| (JobStatus::Stopped, Some(why));
    let failed = |why: String| (JobStatus::Failed, Some(why));
    match (&s.last_result, file.desired, &s.signalled) {
        (_, DesiredState::Stopped, _) => stopped("stopped by user".to_string()),
        (_, _, Some(signal)) => failed(format!(
            "its supervisor (pid {}) was ended by {signal} from outside mrsm; `up` and the watcher start it again",
            s.supervisor.pid
        )),
        (Some(r), _, _) if r.ok() => stopped(format!("finished: {}", r.message)),
        (Some(r), _, _) if r.stopped() => stopped(format!("stopped: {}", r.message)),
        (Some(r), _, _) => failed(format!("failed: {}", r.message)),
        (None, _, _) => stopped("finished".to_string()),
    }
}

impl JobInfo {
    /// Derives what users see from the definition, the supervisor's last report and
    /// whether that supervisor is still the live process it claims to be.
    pub fn derive(file: &JobFile, state: Option<&SupervisorState>, executor: &str) -> JobInfo {
        let spec = &file.spec;
        // A supervisor that has recorded the end of the job is finishing (draining
        // output, answering last requests): the job is stopped.
        let alive = state.filter(|s| s.phase != Phase::Exited && s.supervisor.is_alive());
        let (status, reason) = match (state, alive) {
            (_, Some(s)) if s.phase == Phase::Paused => (JobStatus::Paused, None),
            (_, Some(_)) => (JobStatus::Running, None),
            (None, None) => (JobStatus::Stopped, Some("never started".to_string())),
            (Some(s), None) if s.phase == Phase::Exited => ended(file, s),
            (Some(s), None) => (
                JobStatus::Failed,
                Some(format!(
                    "supervisor (pid {}) died unexpectedly; `mrsm start jobs {}` starts it again",
                    s.supervisor.pid, spec.name
                )),
            ),
        };
        // Its supervisor is gone without having recorded an end (killed) or was
        // ended by a signal from outside mrsm, or it never ran though it should (a
        // crash between definition and start): the reconciler starts it, whatever
        // its restart policy.
        let meant_to_run = file.desired != DesiredState::Stopped;
        let died = match state {
            Some(s) if alive.is_none() => {
                meant_to_run && (s.phase != Phase::Exited || s.signalled.is_some())
            }
            Some(_) => false,
            None => meant_to_run,
        };
        // Steps are the live supervisor's children: their pids are theirs until it
        // has reaped them and reported it.
        let live_step = alive.and_then(|s| s.steps.iter().find(|p| p.process.pid_exists()));
        JobInfo {
            name: spec.name.clone(),
            status,
            pid: live_step.map(|p| p.process.pid),
            supervisor_pid: alive.map(|s| s.supervisor.pid),
            began: state.map(|s| s.began),
            paused: alive
                .and_then(|s| s.paused)
                .filter(|_| status == JobStatus::Paused),
            ended: match status {
                JobStatus::Stopped | JobStatus::Failed => state.map(|s| s.ended.unwrap_or(s.began)),
                _ => None,
            },
            command: spec.shown_command().to_vec(),
            schedule: spec.schedule.clone(),
            timezone: spec.timezone.clone(),
            next_fire: alive.and_then(|s| s.next_fire),
            restart: spec.restart,
            restarts: state.map_or(0, |s| s.restarts),
            last_result: state.and_then(|s| s.last_result.clone()),
            reason,
            died,
            warning: alive
                .and_then(|s| s.log_trouble.as_ref())
                .map(|t| {
                    format!(
                        "the log cannot be written since {}: {} ({}, {} dropped so far)",
                        t.since.strftime("%Y-%m-%d %H:%M:%S UTC"),
                        t.error,
                        crate::print::count(t.dropped_lines, "line"),
                        crate::print::count(t.dropped_bytes, "byte")
                    )
                })
                .or_else(|| live_step.and_then(|p| p.waiting.clone())),
            desired: file.desired,
            executor: executor.to_string(),
            project: file.project.clone(),
            spec_hash: file.spec_hash.clone(),
            slurm_job: live_step.and_then(|p| p.slurm_job.clone()),
            unit: None,
            health: alive.and_then(|s| s.health.clone()),
            depends_on: spec.depends_on.iter().map(|d| d.name.clone()).collect(),
            log_dropped_lines: alive
                .and_then(|s| s.log_trouble.as_ref())
                .map_or(0, |t| t.dropped_lines),
            runs: state.map_or(0, |s| s.last_run),
            lease_ms: file.lease_ms,
            stop_timeout_ms: Some(spec.stop.timeout.as_millis() as u64),
        }
    }

    /// A job one of whose files cannot be read: what is known is its name, the
    /// reason, and its supervisor if one is alive.
    pub fn broken(
        name: &str,
        reason: String,
        supervisor: Option<ProcessIdentity>,
        executor: &str,
    ) -> JobInfo {
        JobInfo {
            name: name.to_string(),
            status: JobStatus::Broken,
            pid: None,
            supervisor_pid: supervisor.filter(|s| s.is_alive()).map(|s| s.pid),
            began: None,
            paused: None,
            ended: None,
            command: Vec::new(),
            schedule: None,
            timezone: None,
            next_fire: None,
            restart: RestartPolicy::default(),
            restarts: 0,
            last_result: None,
            reason: Some(reason),
            died: false,
            warning: None,
            desired: DesiredState::default(),
            executor: executor.to_string(),
            project: None,
            spec_hash: None,
            slurm_job: None,
            unit: None,
            health: None,
            depends_on: Vec::new(),
            log_dropped_lines: 0,
            runs: 0,
            lease_ms: None,
            stop_timeout_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{JobSpec, RunEnd, StepExit};

    fn file(desired: DesiredState) -> JobFile {
        JobFile {
            spec: JobSpec::new("j", vec!["true".into()]),
            desired,
            created: Timestamp::UNIX_EPOCH,
            project: None,
            spec_hash: None,
            resume: None,
            executor: None,
            lease_ms: None,
        }
    }

    fn state(phase: Phase, alive: bool) -> SupervisorState {
        let me = ProcessIdentity::current().expect("/proc is mounted");
        let supervisor = if alive {
            me
        } else {
            ProcessIdentity {
                start_ticks: me.start_ticks + 1,
                ..me
            }
        };
        SupervisorState {
            supervisor,
            phase,
            began: Timestamp::UNIX_EPOCH,
            paused: None,
            ended: None,
            steps: Vec::new(),
            restarts: 0,
            next_fire: None,
            last_result: Some(RunResult::new(RunEnd::Succeeded, "exited with status 0")),
            last_run: 1,
            schedule: None,
            log_trouble: None,
            signalled: None,
            ending: Vec::new(),
            health: None,
            after: Default::default(),
        }
    }

    /// That the job shows this status, is (or is not) to be started again, and
    /// says why with a reason that starts so.
    fn assert_shows(info: &JobInfo, (status, died, reason): (JobStatus, bool, &str), case: &str) {
        assert_eq!(info.status, status, "{case}");
        assert_eq!(info.died, died, "{case}");
        assert!(
            info.reason.as_deref().unwrap_or("").starts_with(reason),
            "{case}: {:?}",
            info.reason
        );
    }

    #[test]
    fn status_follows_the_live_supervisor() {
        use DesiredState as D;
        use JobStatus as S;
        // (desired, phase, supervisor alive) → (status, died, reason starts with)
        let table = [
            // Never started though it should run: to be started.
            (D::Running, None, false, S::Stopped, true, "never started"),
            (D::Stopped, None, false, S::Stopped, false, "never started"),
            (
                D::Running,
                Some(Phase::Running),
                true,
                S::Running,
                false,
                "",
            ),
            (D::Paused, Some(Phase::Paused), true, S::Paused, false, ""),
            (
                D::Running,
                Some(Phase::Stopping),
                true,
                S::Running,
                false,
                "",
            ),
            // A supervisor that recorded the end is only finishing its exit.
            (
                D::Running,
                Some(Phase::Exited),
                true,
                S::Stopped,
                false,
                "finished: exited",
            ),
            (
                D::Running,
                Some(Phase::Exited),
                false,
                S::Stopped,
                false,
                "finished: exited",
            ),
            (
                D::Stopped,
                Some(Phase::Exited),
                false,
                S::Stopped,
                false,
                "stopped by user",
            ),
            // Dead without recording an end: killed from outside.
            (
                D::Running,
                Some(Phase::Running),
                false,
                S::Failed,
                true,
                "supervisor (pid",
            ),
            (
                D::Paused,
                Some(Phase::Paused),
                false,
                S::Failed,
                true,
                "supervisor (pid",
            ),
        ];
        for (desired, phase, alive, status, died, reason) in table {
            let state = phase.map(|p| state(p, alive));
            let info = JobInfo::derive(&file(desired), state.as_ref(), "local");
            let case = format!("{desired:?} {phase:?} alive={alive}");
            assert_shows(&info, (status, died, reason), &case);
            assert_eq!(info.supervisor_pid.is_some(), !status.is_over(), "{case}");
        }
    }

    #[test]
    fn an_end_that_was_not_asked_for_is_a_failure_to_start_again() {
        use DesiredState as D;
        use JobStatus as S;
        let killed = StepExit::Signal("SIGKILL".into());
        let message = "step 1/1 (\"true\") killed by SIGKILL";
        let failing = RunResult::new(
            RunEnd::Failed {
                step: 1,
                exit: killed.clone(),
            },
            message,
        );
        let by_request = RunResult::new(
            RunEnd::Stopped {
                step: 1,
                exit: killed,
            },
            message,
        );
        // (desired, last result, signalled) → (status, died, reason starts with)
        let table = [
            // A run that failed by itself: failed, left to its restart policy.
            (
                D::Running,
                Some(failing.clone()),
                None,
                S::Failed,
                false,
                "failed: step",
            ),
            (
                D::Stopped,
                Some(failing.clone()),
                None,
                S::Stopped,
                false,
                "stopped by user",
            ),
            // A stop asked for that did not record its wish (a full disk).
            (
                D::Running,
                Some(by_request.clone()),
                None,
                S::Stopped,
                false,
                "stopped: step",
            ),
            // Its supervisor ended by a signal from outside mrsm: started again.
            (
                D::Running,
                Some(by_request.clone()),
                Some("SIGTERM"),
                S::Failed,
                true,
                "its supervisor",
            ),
            (
                D::Paused,
                Some(by_request.clone()),
                Some("SIGHUP"),
                S::Failed,
                true,
                "its supervisor",
            ),
            (
                D::Stopped,
                Some(by_request),
                Some("SIGTERM"),
                S::Stopped,
                false,
                "stopped by user",
            ),
        ];
        for (desired, result, signalled, status, died, reason) in table {
            let mut state = state(Phase::Exited, false);
            state.last_result = result;
            state.signalled = signalled.map(str::to_string);
            let info = JobInfo::derive(&file(desired), Some(&state), "local");
            let case = format!("{desired:?} {signalled:?} {:?}", state.last_result);
            assert_shows(&info, (status, died, reason), &case);
            assert!(info.ended.is_some(), "{case}");
        }
    }

    #[test]
    fn a_broken_job_names_its_reason_and_live_supervisor() {
        let me = ProcessIdentity::current().expect("/proc is mounted");
        let info = JobInfo::broken("j", "job.json is not valid".into(), Some(me), "local");
        assert_eq!(info.status, JobStatus::Broken);
        assert_eq!(info.supervisor_pid, Some(me.pid));
        assert_eq!(info.reason.as_deref(), Some("job.json is not valid"));
        assert_eq!(info.status.to_string(), "broken");
    }
}

/// A job's run history as read: any executor returns it, so it is plain data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunHistory {
    /// The newest runs kept, oldest first.
    pub runs: Vec<RunRecord>,
    /// Lines that are not run records (a damaged file); skipped, not fatal.
    pub unreadable: usize,
}
