//! Health probes of a job's running run, as its supervisor runs them: when the
//! next probe is due, starting it (a side process, or an HTTP GET), and what its
//! outcome does to the run's health ([`HealthTracker`]). A new run starts over at
//! `starting`; probes stop while the job is paused or stopping, and one in flight
//! is killed then.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::machine::Exit;
use super::side::{spawn_side, GroupGuard, SideEnd, SideExits};
use crate::job::{Health, HealthCheck, HealthStatus, HealthTracker, HttpGet, JobSpec, Probe};

/// A probe's outcome, for run `run`.
#[derive(Debug)]
pub(super) struct ProbeDone {
    pub run: u64,
    pub ok: bool,
    /// Its output's last line, or why it failed.
    pub said: Option<String>,
}

/// A change of a run's health.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Transition {
    pub run: u64,
    pub from: HealthStatus,
    pub to: HealthStatus,
    pub said: Option<String>,
}

/// The probing of one job.
pub(super) struct Probing {
    check: HealthCheck,
    /// The run being probed, and when it was first seen.
    run: Option<(u64, Instant)>,
    tracker: HealthTracker,
    next: Option<Instant>,
    /// The probe going now (its process group, for a command).
    in_flight: Option<Option<GroupGuard>>,
    last: Option<String>,
    done_tx: mpsc::Sender<ProbeDone>,
}

impl Probing {
    /// Probing for `check`; outcomes arrive on the receiver returned.
    pub fn new(check: HealthCheck) -> (Probing, mpsc::Receiver<ProbeDone>) {
        let (done_tx, done_rx) = mpsc::channel(4);
        let probing = Probing {
            check,
            run: None,
            tracker: HealthTracker::default(),
            next: None,
            in_flight: None,
            last: None,
            done_tx,
        };
        (probing, done_rx)
    }

    /// Follows the run to probe (none while no run goes, or the job is paused or
    /// stopping); true when the health reported changed.
    pub fn follow(&mut self, run: Option<u64>, now: Instant) -> bool {
        if run == self.run.map(|(r, _)| r) {
            return false;
        }
        // A probe of the run before is of no use: killed with what it started.
        self.in_flight = None;
        self.tracker = HealthTracker::default();
        self.last = None;
        self.run = run.map(|r| (r, now));
        self.next = run.map(|_| now + self.tracker.next_delay(&self.check, Duration::ZERO));
        true
    }

    /// What to report of the run probed now.
    pub fn health(&self) -> Option<Health> {
        self.run.map(|(run, _)| Health {
            status: self.tracker.status,
            run,
            failures: self.tracker.failures,
            last: self.last.clone(),
        })
    }

    /// When the next probe is due (none while one is going).
    pub fn due(&self) -> Option<Instant> {
        self.next.filter(|_| self.in_flight.is_none())
    }

    /// Starts the probe if it is due.
    pub fn start_if_due(&mut self, now: Instant, spec: &JobSpec, exits: &mut SideExits) {
        let (Some((run, _)), Some(due)) = (self.run, self.due()) else {
            return;
        };
        if now < due {
            return;
        }
        self.next = None;
        let done = self.done_tx.clone();
        let timeout = self.check.timeout;
        match &self.check.probe {
            Probe::Http(get) => {
                let get = get.clone();
                tokio::spawn(async move {
                    let (ok, said) = http_probe(get, timeout).await;
                    let _ = done.send(ProbeDone { run, ok, said }).await;
                });
                self.in_flight = Some(None);
            }
            Probe::Exec(args) => {
                let mut cmd = std::process::Command::new(&args[0]);
                cmd.args(&args[1..]);
                self.start_command(cmd, run, spec, exits);
            }
            Probe::Shell(text) => {
                let mut cmd = std::process::Command::new("sh");
                cmd.arg("-c").arg(text);
                self.start_command(cmd, run, spec, exits);
            }
        }
    }

    fn start_command(
        &mut self,
        cmd: std::process::Command,
        run: u64,
        spec: &JobSpec,
        exits: &mut SideExits,
    ) {
        let done = self.done_tx.clone();
        let timeout = self.check.timeout;
        match spawn_side(cmd, spec, None, exits) {
            Ok(mut side) => {
                self.in_flight = Some(Some(GroupGuard(side.group())));
                tokio::spawn(async move {
                    // Its lines as they come (a probe that prints a lot must not
                    // block on a full pipe): the last one is kept.
                    let mut lines = std::mem::replace(&mut side.lines, mpsc::channel(1).1);
                    let reader = tokio::spawn(async move {
                        let mut last = None;
                        while let Some(line) = lines.recv().await {
                            if !line.is_empty() {
                                last = Some(line);
                            }
                        }
                        last
                    });
                    let end = side.finish(timeout).await;
                    let last = tokio::time::timeout(Duration::from_millis(200), reader)
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .flatten();
                    let (ok, said) = match end {
                        SideEnd::Exited(Exit::Code(0)) => (true, last),
                        SideEnd::Exited(Exit::Code(c)) => (
                            false,
                            Some(last.unwrap_or_else(|| format!("exit status {c}"))),
                        ),
                        SideEnd::Exited(Exit::Signal(s)) => (false, Some(format!("killed by {s}"))),
                        SideEnd::TimedOut => (
                            false,
                            Some(format!(
                                "timed out after {}",
                                humantime::format_duration(timeout)
                            )),
                        ),
                    };
                    let _ = done.send(ProbeDone { run, ok, said }).await;
                });
            }
            Err(e) => {
                let said = Some(format!("cannot start the probe: {e}"));
                self.in_flight = Some(None);
                tokio::spawn(async move {
                    let _ = done
                        .send(ProbeDone {
                            run,
                            ok: false,
                            said,
                        })
                        .await;
                });
            }
        }
    }

    /// A probe's outcome: the health's change, if any; the next probe armed.
    pub fn done(&mut self, done: ProbeDone, now: Instant) -> Option<Transition> {
        let (run, began) = self.run?;
        if done.run != run || self.in_flight.is_none() {
            return None;
        }
        self.in_flight = None;
        let since = now.saturating_duration_since(began);
        let from = self.tracker.status;
        let changed = self.tracker.observe(&self.check, done.ok, since);
        self.last = done.said.clone();
        self.next = Some(now + self.tracker.next_delay(&self.check, since));
        changed.map(|to| Transition {
            run,
            from,
            to,
            said: done.said,
        })
    }

    /// The check's settings.
    pub fn check(&self) -> &HealthCheck {
        &self.check
    }
}

/// An HTTP GET with its deadline: whether the answer's status is a healthy one,
/// and what was said.
async fn http_probe(get: HttpGet, timeout: Duration) -> (bool, Option<String>) {
    let url = get.url();
    let call = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        agent.get(&url).call().map(|r| r.status().as_u16())
    });
    match tokio::time::timeout(timeout + Duration::from_millis(500), call).await {
        Ok(Ok(Ok(status))) => (get.healthy(status), Some(format!("HTTP {status}"))),
        Ok(Ok(Err(ureq::Error::Timeout(_)))) | Err(_) => (
            false,
            Some(format!(
                "no answer within {}",
                humantime::format_duration(timeout)
            )),
        ),
        Ok(Ok(Err(e))) => (false, Some(e.to_string())),
        Ok(Err(e)) => (false, Some(e.to_string())),
    }
}
