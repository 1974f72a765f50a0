//! Links the `mrsm` binary at a fixed address on Linux (not position-independent).
//! Every job runs one supervisor from this binary: a position-independent one is
//! relocated at each start (thousands of pointers rewritten, ~90 KiB of its pages
//! made private to that process), which costs every job start time and memory.
//! Measured with `bench/jobs.sh` (USS per supervisor) and `bench/start.py`.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
}
