//! Puts an `mrsm` binary into the package (`mrsm_jobs/bin/mrsm`): the supervisor of
//! every job the Python package starts is `mrsm supervise NAME`, and a wheel cannot
//! carry a Rust binary beside an extension module any other way (maturin builds one
//! or the other). `MRSM_BUNDLE_BIN` names a binary already built; otherwise the
//! repository's `mrsm` is built here, in a target directory of its own
//! (`target/python-bin` beside the repository's), since the outer build holds the
//! lock of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let here = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let repo = here
        .parent()
        .expect("python/ is inside the repository")
        .to_path_buf();
    println!("cargo:rerun-if-env-changed=MRSM_BUNDLE_BIN");
    for watched in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={}", repo.join(watched).display());
    }
    let built = match std::env::var_os("MRSM_BUNDLE_BIN").filter(|b| !b.is_empty()) {
        Some(given) => PathBuf::from(given),
        None => build(&repo),
    };
    let dest = here.join("mrsm_jobs").join("bin");
    std::fs::create_dir_all(&dest).expect("making mrsm_jobs/bin");
    let target = dest.join("mrsm");
    let partial = dest.join(".mrsm.partial");
    std::fs::copy(&built, &partial)
        .unwrap_or_else(|e| panic!("copying {} into the package: {e}", built.display()));
    std::fs::rename(&partial, &target).expect("putting mrsm_jobs/bin/mrsm in place");
}

/// Builds the repository's `mrsm` binary (release, without the command line's
/// fat LTO, which would double the install time, nor its line tables, which would
/// make it 70 MB) and returns its path.
fn build(repo: &Path) -> PathBuf {
    let target_dir = repo.join("target").join("python-bin");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--bin", "mrsm", "--manifest-path"])
        .arg(repo.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // What the outer build set for this crate must not reach the inner one.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().into_owned();
        if key.starts_with("CARGO_") && key != "CARGO_HOME"
            || key.starts_with("PYO3_")
            || key == "RUSTFLAGS"
        {
            command.env_remove(&key);
        }
    }
    command
        .env("CARGO_PROFILE_RELEASE_LTO", "false")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo");
    let status = command.status().expect("running cargo to build mrsm");
    assert!(
        status.success(),
        "building the mrsm binary failed: {status}"
    );
    target_dir.join("release").join("mrsm")
}
