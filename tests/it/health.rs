//! Health checks run by a job's supervisor: a command probe and an HTTP probe
//! against a real server the job starts, `starting → healthy → unhealthy` in `show
//! jobs` and the log, a liveness check that restarts the run, and probes whose
//! processes die when they run out of time and with the job.

use crate::support;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use support::{processes, wait_for, Env};

/// A port nothing listens on now (the OS's choice, let go at once).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

fn health(env: &Env, name: &str) -> Value {
    env.info(name)["health"].clone()
}

fn wait_health(env: &Env, name: &str, status: &str, run: u64) -> Value {
    wait_for(
        Duration::from_secs(30),
        &format!("{name} {status} in run {run}"),
        || {
            let h = env.try_info(name)?["health"].clone();
            (h["status"] == status && h["run"] == run).then_some(h)
        },
    )
}

fn pid_in(path: &Path) -> i32 {
    wait_for(Duration::from_secs(10), "the server's pid", || {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    })
}

/// A job that serves HTTP on `port` in the background and keeps running when the
/// server dies (its pid in `NAME.pid`).
fn server_job(name: &str, port: u16, liveness: bool) -> String {
    format!(
        r#"  {name}:
    command: "python3 -m http.server {port} --bind 127.0.0.1 & echo $! > {name}.pid; exec sleep 300"
    restart: on-failure
    healthcheck:
      http_get: {{ port: {port}, path: / }}
      interval: 300ms
      timeout: 1s
      retries: 2
      liveness: {liveness}
"#
    )
}

#[test]
fn an_http_check_sees_a_real_server_die_and_liveness_restarts_its_run() {
    let env = Env::new();
    let (plain, live) = (free_port(), free_port());
    let spec = format!(
        "project: health\njobs:\n{}{}",
        server_job("plain", plain, false),
        server_job("live", live, true)
    );
    let file = env.spec_file(&spec);
    env.ok(&["up", "-d", "-f", file.to_str().expect("utf-8")]);
    for name in ["plain", "live"] {
        let h = wait_health(&env, name, "healthy", 1);
        assert_eq!(h["last"], "HTTP 200", "{h}");
        let log = env.log_text(name);
        assert!(log.contains("run 1 health: starting -> healthy"), "{log}");
    }
    let table = env.mrsm().args(["ps"]).output().expect("ps");
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("running (healthy)"), "{table}");
    let plain_step = env.info("plain")["pid"].clone();
    // The servers die inside their jobs; the jobs' steps go on.
    for name in ["plain", "live"] {
        let pid = pid_in(&env.work().join(format!("{name}.pid")));
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill the server");
    }
    // Without liveness: unhealthy, the same run and step going on.
    let h = wait_health(&env, "plain", "unhealthy", 1);
    assert_eq!(h["failures"], 2, "{h}");
    let info = env.info("plain");
    assert_eq!(info["status"], "running");
    assert_eq!(info["pid"], plain_step, "the run is left alone");
    assert!(env
        .log_text("plain")
        .contains("run 1 health: healthy -> unhealthy"));
    // With liveness: the run is stopped as a failure and run 2 is healthy again.
    wait_health(&env, "live", "healthy", 2);
    let runs = env.runs("live");
    assert_eq!(runs[0]["ok"], false, "{runs:?}");
    let message = runs[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("unhealthy by its liveness probe"),
        "{message}"
    );
    let log = env.log_text("live");
    assert!(
        log.contains("run 1 is unhealthy: stopping it (liveness probe)"),
        "{log}"
    );
    env.ok(&["down", "-f", file.to_str().expect("utf-8")]);
}

#[test]
fn a_command_check_waits_out_its_start_period_and_a_hung_probe_is_killed() {
    let env = Env::new();
    let spec = r#"project: health
jobs:
  db:
    command: sleep 300
    healthcheck:
      test: ["CMD", "test", "-f", "ready"]
      interval: 200ms
      start_interval: 100ms
      start_period: 1h
      retries: 1
  hung:
    command: sleep 300
    healthcheck:
      test: "sleep 301 & wait"
      interval: 200ms
      timeout: 300ms
      retries: 1
"#;
    let file = env.spec_file(spec);
    env.ok(&["up", "-d", "-f", file.to_str().expect("utf-8")]);
    // Failures in the start period do not count: starting, however many.
    wait_for(Duration::from_secs(10), "probes", || {
        std::fs::read_to_string(env.job_dir("db").join("state.json"))
            .ok()
            .filter(|s| s.contains("\"last\""))
    });
    assert_eq!(health(&env, "db")["status"], "starting");
    std::fs::write(env.work().join("ready"), "").expect("ready");
    wait_health(&env, "db", "healthy", 1);
    // A probe past its timeout fails, and what it started is killed with it.
    let h = wait_health(&env, "hung", "unhealthy", 1);
    assert!(
        h["last"].as_str().unwrap_or_default().contains("timed out"),
        "{h}"
    );
    wait_for(Duration::from_secs(20), "three timed-out probes", || {
        (env.try_info("hung")?["health"]["failures"].as_u64()? >= 3).then_some(())
    });
    let supervisor = env.supervisor("hung").expect("supervisor");
    let probes: Vec<_> = processes(supervisor)
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{}/cmdline", p.pid))
                .is_ok_and(|c| c.contains("301"))
        })
        .collect();
    // The probe going now (its shell and its sleep) at most: those before were
    // killed with what they started.
    assert!(probes.len() <= 2, "{probes:?}");
    env.ok(&["stop", "jobs", "hung", "db", "-y"]);
    assert!(
        processes(supervisor).is_empty(),
        "nothing of the job is left"
    );
    assert!(
        env.info("hung")["health"].is_null(),
        "no health once stopped"
    );
}

#[test]
fn probes_that_print_much_or_leave_daemons_cost_nothing_later() {
    let env = Env::new();
    let spec = r#"project: health
jobs:
  chatty:
    command: exec sleep 300
    healthcheck:
      test: seq 1 30000; head -c 300000 /dev/zero
      interval: 200ms
      timeout: 5s
  leaky:
    command: exec sleep 300
    healthcheck:
      test: setsid -f sleep 3006 >/dev/null 2>&1
      interval: 200ms
"#;
    let file = env.spec_file(spec);
    env.ok(&["up", "-d", "-f", file.to_str().expect("utf-8")]);
    // Much output (and a line of 300 kB without a newline) is no timeout, and
    // what is kept of it is one short line.
    let h = wait_health(&env, "chatty", "healthy", 1);
    let last = h["last"].as_str().unwrap_or_default();
    assert!(last.len() <= 4096 && !last.contains('\0'), "{}", last.len());
    wait_health(&env, "leaky", "healthy", 1);
    let supervisor = env.supervisor("leaky").expect("supervisor");
    let daemons = || {
        processes(supervisor)
            .into_iter()
            .filter(|p| {
                // The daemons themselves, not the probe's shell that names them.
                std::fs::read(format!("/proc/{}/cmdline", p.pid))
                    .is_ok_and(|c| c == b"sleep\x003006\x00")
            })
            .count()
    };
    // Probe after probe (five a second), what each left is gone with it.
    support::assert_holds_for(
        Duration::from_secs(2),
        "no daemon of an earlier probe",
        || daemons() <= 1,
    );
}
