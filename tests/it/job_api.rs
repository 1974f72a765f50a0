//! The `Job` library API, and its example program, against a temporary root.

use crate::support;

use std::path::PathBuf;
use std::sync::Arc;

use mrsm::executor::LocalExecutor;
use mrsm::job::{JobSpec, JobStatus};
use mrsm::store::Root;
use mrsm::Job;
use support::Env;

fn mrsm_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_mrsm"))
}

#[test]
fn job_handle_mirrors_the_python_class() {
    let env = Env::new();
    let executor = LocalExecutor::new(Root::at(env.root())).with_supervisor_binary(mrsm_binary());
    let spec = JobSpec::new("api", vec!["sleep 300".into()]);
    let job = Job::with_spec(spec, Arc::new(executor));

    job.start().expect("starts");
    assert_eq!(job.status().expect("status"), JobStatus::Running);
    let pid = job.pid().expect("pid").expect("a running job has a pid");
    assert!(PathBuf::from(format!("/proc/{pid}")).exists());
    assert!(job.began().expect("began").is_some());
    assert!(job.ended().expect("ended").is_none());

    job.pause().expect("pauses");
    assert_eq!(job.status().expect("status"), JobStatus::Paused);
    assert!(job.paused().expect("paused").is_some());

    job.start().expect("resumes");
    assert_eq!(job.status().expect("status"), JobStatus::Running);

    job.stop().expect("stops");
    assert_eq!(job.status().expect("status"), JobStatus::Stopped);
    assert!(job.ended().expect("ended").is_some());
    assert!(
        !PathBuf::from(format!("/proc/{pid}/stat")).exists() || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.contains(") Z")
        }
    );

    job.delete().expect("deletes");
    assert!(job.info().is_err());
}

#[test]
fn the_example_runs() {
    let env = Env::new();
    let example = mrsm_binary()
        .parent()
        .expect("target dir")
        .join("examples/job_api");
    assert!(
        example.exists(),
        "cargo test builds examples: {}",
        example.display()
    );
    let out = std::process::Command::new(&example)
        .env("MRSM_ROOT_DIR", env.root())
        .env("MRSM_BIN", mrsm_binary())
        .output()
        .expect("runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("status: running") && stdout.contains("deleted"),
        "{stdout}"
    );
}

#[test]
fn monitor_logs_follows_until_the_job_stops() {
    let env = Env::new();
    let executor = LocalExecutor::new(Root::at(env.root())).with_supervisor_binary(mrsm_binary());
    let spec = JobSpec::new(
        "monitored",
        vec!["for i in 1 2 3; do echo line $i; sleep 0.1; done".into()],
    );
    let job = Job::with_spec(spec, Arc::new(executor));
    job.start().expect("starts");
    let mut seen = Vec::new();
    job.monitor_logs(|line| {
        if line.stream == mrsm::logs::Stream::Out {
            seen.push(line.text().into_owned());
        }
        true
    })
    .expect("follows");
    assert_eq!(seen, ["line 1", "line 2", "line 3"]);
    assert_eq!(job.status().expect("status"), JobStatus::Stopped);
    let last: Vec<String> = job
        .logs(None)
        .expect("reads")
        .into_iter()
        .filter(|l| l.stream == mrsm::logs::Stream::Out)
        .map(|l| l.text().into_owned())
        .collect();
    assert_eq!(last, seen);
    assert_eq!(job.logs(Some(1)).expect("reads").len(), 1);
    job.delete().expect("deletes");
}
