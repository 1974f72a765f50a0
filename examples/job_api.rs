//! The Rust `Job` API, shaped like Meerschaum's Python `Job` class.
//!
//! Run with `cargo run --example job_api` (jobs go under `$MRSM_ROOT_DIR`, default
//! `~/.local/state/mrsm`).

use mrsm::job::JobStatus;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let job = mrsm::Job::new(
        "job-api-example",
        "sh -c 'while true; do date; sleep 1; done'",
    )?;
    job.start()?;
    println!("status: {}", job.status()?);
    println!("pid:    {:?}", job.pid()?);
    println!("began:  {:?}", job.began()?);

    job.pause()?;
    assert_eq!(job.status()?, JobStatus::Paused);
    println!("paused: {:?}", job.paused()?);

    job.start()?; // resumes
    job.stop()?;
    assert_eq!(job.status()?, JobStatus::Stopped);
    println!("ended:  {:?}", job.ended()?);
    println!("result: {:?}", job.result()?.map(|r| r.message));

    job.delete()?;
    println!("deleted");
    Ok(())
}
