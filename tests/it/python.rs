//! The Python package (`python/`, `mrsm_jobs`): its pytest suite, run in the
//! virtualenv that holds Meerschaum 4.1.7 too, so that every scenario runs once
//! against Meerschaum's own `Job` and once against mrsm's, and the command line
//! test drives both `mrsm` programs. `.ci/run` installs the package there
//! (`pip install ./python`); without it this test says how and passes, unless
//! `MRSM_REQUIRE_PYTHON=1` (CI) makes that a failure.
//!
//! Supervisors are this build's `mrsm` (`MRSM_BIN`), so the jobs run the code
//! under test; the extension module is the one installed.

use std::path::Path;
use std::process::Command;

#[test]
fn the_python_package_s_differential_suite_passes() {
    run_suite(
        &crate::serve_meerschaum::meerschaum_python(),
        "MRSM_REQUIRE_PYTHON",
    );
}

/// The same suite under CPython 3.9 (`target/py39`, made by `.ci/run` where the
/// machine has a 3.9), the oldest the abi3 wheel claims: without Meerschaum there,
/// only mrsm's half runs.
#[test]
fn the_abi3_wheel_passes_the_suite_on_cpython_3_9() {
    let python = crate::serve_meerschaum::target_dir().join("py39/bin/python");
    if !python.exists() {
        assert!(
            std::env::var_os("MRSM_REQUIRE_PY39").is_none(),
            "{} is missing",
            python.display()
        );
        eprintln!("skipped: no {}", python.display());
        return;
    }
    run_suite(&python, "MRSM_REQUIRE_PY39");
}

/// Runs `python/tests` with `python`, which must have `mrsm_jobs` and pytest unless
/// `required` (an environment variable) is unset.
fn run_suite(python: &Path, required: &str) {
    let meerschaum =
        python.starts_with(crate::serve_meerschaum::target_dir().join("meerschaum-venv"));
    let installed = Command::new(python)
        .args(["-c", "import mrsm_jobs, pytest"])
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .output()
        .expect("python runs");
    if !installed.status.success() {
        let how = format!(
            "mrsm_jobs is not installed in {}: `{} -m pip install ./python` installs it",
            python.display(),
            python.display()
        );
        assert!(std::env::var_os(required).is_none(), "{how}");
        eprintln!("skipped: {how}");
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let home = tempfile::tempdir().expect("temp dir");
    let venv_bin = python.parent().expect("the venv's bin");
    let out = Command::new(python)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-rsx"])
        .arg(repo.join("python/tests"))
        // Not the checkout's python/: the installed package is the one under test.
        .current_dir(home.path())
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/local/bin:/usr/bin:/bin", venv_bin.display()),
        )
        .env("HOME", home.path())
        .env("MRSM_BIN", env!("CARGO_BIN_EXE_mrsm"))
        .env("MRSM_NO_AUTO_INSTALL", "1")
        .env(
            "MRSM_REQUIRE_MEERSCHAUM",
            if meerschaum { "1" } else { "0" },
        )
        .env("TMPDIR", home.path())
        .env(
            "MRSM_SCHEDULE_CORPUS",
            repo.join("../shared/reference/schedules.json"),
        )
        .output()
        .expect("pytest runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Kept whole, for a failure whose report the test harness cut.
    let kept = crate::serve_meerschaum::target_dir().join(format!("pytest-{required}.log"));
    let _ = std::fs::write(&kept, format!("{stdout}\n{stderr}"));
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\n(all of it: {})",
        kept.display()
    );
    // With MRSM_REQUIRE_MEERSCHAUM=1 the suite fails outright if Meerschaum is missing.
    assert!(stdout.contains(" passed"), "{stdout}");
}
