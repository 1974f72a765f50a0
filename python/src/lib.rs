//! `mrsm_jobs._native`: the executor layer and the schedule engine of mrsm, for the
//! Python package's `Job` and `parse_schedule` (`mrsm_jobs/__init__.py`), which give
//! them Meerschaum's shapes. Everything here that waits (a start, a stop, a read of
//! the log) lets go of the GIL; every error is a Python exception of
//! `mrsm_jobs._errors` carrying mrsm's own message, never a panic.

mod schedule;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mrsm::executor::{
    CreateOptions, DeleteOptions, ErrorKind, ExecutorError, Registry, StopOptions,
};
use mrsm::store::{Root, Settings};
use pyo3::prelude::*;

/// A Python exception of `mrsm_jobs._errors` named `class`, with `message`.
pub(crate) fn error(py: Python<'_>, class: &str, message: String) -> PyErr {
    let made = py
        .import("mrsm_jobs._errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((message.clone(),)));
    match made {
        Ok(value) => PyErr::from_value(value),
        Err(e) => e,
    }
}

/// The exception class for an executor's failure, by its kind.
fn executor_error(py: Python<'_>, e: ExecutorError) -> PyErr {
    let class = match e.kind() {
        ErrorKind::NotFound => "JobNotFound",
        ErrorKind::Invalid => "InvalidJob",
        ErrorKind::Unavailable => "ExecutorUnavailable",
        ErrorKind::Conflict => "JobConflict",
        ErrorKind::Busy => "JobBusy",
        ErrorKind::Unsupported => "Unsupported",
        ErrorKind::Refused => "MrsmError",
    };
    let message = match &e {
        ExecutorError::Store(_) => format!("{e:#}"),
        _ => e.to_string(),
    };
    error(py, class, message)
}

/// One executor (`local`, `systemd`, `slurm`, `api:LABEL`) of the root and settings
/// that the environment names, as the `mrsm` command line would use it.
#[pyclass(frozen, module = "mrsm_jobs._native")]
struct Executor {
    label: String,
    inner: Arc<dyn mrsm::executor::Executor>,
}

/// The executor `keys` names (None: the settings' `default_executor`, else
/// `local`); a local root that cannot be written is refused here, before any job.
#[pyfunction]
#[pyo3(signature = (keys=None))]
fn executor(py: Python<'_>, keys: Option<&str>) -> PyResult<Executor> {
    let root = Root::from_env().map_err(|e| error(py, "RootError", e.to_string()))?;
    let settings = Settings::load().map_err(|e| error(py, "MrsmError", e.to_string()))?;
    let registry = Registry::standard(root.clone(), &settings);
    let written = keys
        .map(str::to_string)
        .or_else(|| settings.default_executor.clone())
        .unwrap_or_else(|| mrsm::executor::DEFAULT_LABEL.to_string());
    let label = registry.resolve(&written).unwrap_or(written);
    let inner = registry.get(&label).map_err(|e| executor_error(py, e))?;
    if registry.local_root().is_some() && !label.starts_with("api:") {
        writable(root.dir()).map_err(|m| error(py, "RootError", m))?;
    }
    Ok(Executor { label, inner })
}

/// The root exists (made if missing) and this user can write to it.
fn writable(dir: &std::path::Path) -> Result<(), String> {
    let what = |e: std::io::Error| {
        format!(
            "the root directory {} (MRSM_ROOT_DIR) cannot be used: {e}",
            dir.display()
        )
    };
    std::fs::create_dir_all(dir).map_err(what)?;
    nix::unistd::access(
        dir,
        nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK,
    )
    .map_err(|e| what(e.into()))
}

#[pymethods]
impl Executor {
    /// The executor's label (`local`, `api:prod` …).
    #[getter]
    fn label(&self) -> &str {
        &self.label
    }

    /// Creates and starts a job from Meerschaum-style `sysargs`: `(True, sentence)`,
    /// or `(False, why)` when its first step could not start (a program not found:
    /// the job stays, failed, as after `run -d`).
    #[pyo3(signature = (name, sysargs, env=None, restart=false, rm=false))]
    fn create(
        &self,
        py: Python<'_>,
        name: &str,
        sysargs: Vec<String>,
        env: Option<BTreeMap<String, String>>,
        restart: bool,
        rm: bool,
    ) -> PyResult<(bool, String)> {
        let mut spec = mrsm::serve::spec_from_sysargs(name, &sysargs, restart)
            .map_err(|m| error(py, "InvalidJob", format!("job {name:?}: {m}")))?;
        spec.env.extend(env.unwrap_or_default());
        spec.rm = rm;
        spec.validate()
            .map_err(|e| error(py, "InvalidJob", e.to_string()))?;
        let inner = self.inner.clone();
        let info = py
            .detach(move || inner.create(&spec, &CreateOptions::default()))
            .map_err(|e| executor_error(py, e))?;
        let not_started = |r: &&mrsm::job::RunResult| r.first_step_not_started();
        Ok(match info.last_result.as_ref().filter(not_started) {
            Some(result) => (
                false,
                format!(
                    "job {:?}: {} (the job stays, failed; delete() removes it)",
                    info.name, result.message
                ),
            ),
            None => (true, format!("Started job '{}'.", info.name)),
        })
    }

    /// Starts (or resumes) an existing job.
    fn start(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        self.verb(py, name, |ex, n| ex.start(n))
    }

    /// Suspends a running job.
    fn pause(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        self.verb(py, name, |ex, n| ex.pause(n))
    }

    /// Stops a job, waiting `timeout` seconds before SIGKILL (the job's own setting
    /// when None).
    #[pyo3(signature = (name, timeout=None))]
    fn stop(&self, py: Python<'_>, name: &str, timeout: Option<f64>) -> PyResult<String> {
        let timeout = match timeout.map(Duration::try_from_secs_f64) {
            Some(Err(_)) => {
                return Err(error(
                    py,
                    "InvalidJob",
                    format!(
                        "timeout_seconds must be a number of seconds ≥ 0 (and below 2^64), not {}",
                        timeout.unwrap_or_default()
                    ),
                ))
            }
            Some(Ok(t)) => Some(t),
            None => None,
        };
        let options = StopOptions {
            timeout,
            ..StopOptions::default()
        };
        self.verb(py, name, move |ex, n| ex.stop(n, &options))
    }

    /// Stops and removes a job with its logs.
    fn delete(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        self.verb(py, name, |ex, n| ex.delete(n, &DeleteOptions::purge()))
    }

    /// The job as `show jobs --json` gives it (a JSON text), None when there is none.
    fn info(&self, py: Python<'_>, name: &str) -> PyResult<Option<String>> {
        let inner = self.inner.clone();
        let owned = name.to_string();
        match py.detach(move || inner.get(&owned)) {
            Ok(info) => serde_json::to_string(&info)
                .map(Some)
                .map_err(|e| error(py, "MrsmError", e.to_string())),
            Err(ExecutorError::NotFound(_)) => Ok(None),
            Err(e) => Err(executor_error(py, e)),
        }
    }

    /// Every job of the executor as a JSON list.
    fn list(&self, py: Python<'_>) -> PyResult<String> {
        let inner = self.inner.clone();
        let jobs = py
            .detach(move || inner.list(None))
            .map_err(|e| executor_error(py, e))?;
        serde_json::to_string(&jobs).map_err(|e| error(py, "MrsmError", e.to_string()))
    }

    /// The job's log as text, a line per line.
    fn logs(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        let inner = self.inner.clone();
        let owned = name.to_string();
        let lines = py
            .detach(move || inner.logs(&owned, &mrsm::logs::Selection::default()))
            .map_err(|e| executor_error(py, e))?;
        let mut text = String::new();
        for line in &lines {
            text.push_str(&mrsm::serve::line_text(line));
            if !line.continues {
                text.push('\n');
            }
        }
        Ok(text)
    }

    /// Up to `max` lines of the job's log from record `cursor` on, and the cursor
    /// after them: `monitor_logs` polls with it (no thread of its own to leak, no
    /// more held in memory than a page). A line ends with a newline unless the next
    /// one continues it (a line longer than the log's record size).
    #[pyo3(signature = (name, cursor=0, max=1000))]
    fn read(
        &self,
        py: Python<'_>,
        name: &str,
        cursor: u64,
        max: usize,
    ) -> PyResult<(Vec<String>, u64)> {
        let inner = self.inner.clone();
        let owned = name.to_string();
        let (lines, next) = py
            .detach(move || inner.read_logs(&owned, cursor, max.max(1)))
            .map_err(|e| executor_error(py, e))?;
        let texts = lines
            .iter()
            .map(|line| {
                let mut text = mrsm::serve::line_text(line);
                if !line.continues {
                    text.push('\n');
                }
                text
            })
            .collect();
        Ok((texts, next))
    }

    /// Writes `data` to the running step's standard input.
    fn write_stdin(&self, py: Python<'_>, name: &str, data: Vec<u8>) -> PyResult<()> {
        let inner = self.inner.clone();
        let owned = name.to_string();
        py.detach(move || inner.send_input(&owned, &data, false))
            .map_err(|e| executor_error(py, e))
    }
}

impl Executor {
    fn verb(
        &self,
        py: Python<'_>,
        name: &str,
        work: impl FnOnce(
                &dyn mrsm::executor::Executor,
                &str,
            ) -> Result<mrsm::executor::Outcome, ExecutorError>
            + Send,
    ) -> PyResult<String> {
        let inner = self.inner.clone();
        let owned = name.to_string();
        py.detach(move || work(inner.as_ref(), &owned))
            .map(|outcome| outcome.to_string())
            .map_err(|e| executor_error(py, e))
    }
}

/// Raises `InvalidJob` when `name` is not a valid job name (mrsm's rule).
#[pyfunction]
fn check_name(py: Python<'_>, name: &str) -> PyResult<()> {
    mrsm::job::validate_name(name).map_err(|e| error(py, "InvalidJob", e.to_string()))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Executor>()?;
    m.add_class::<schedule::Schedule>()?;
    m.add_function(wrap_pyfunction!(executor, m)?)?;
    m.add_function(wrap_pyfunction!(check_name, m)?)?;
    m.add_function(wrap_pyfunction!(schedule::parse_schedule, m)?)?;
    m.add("MRSM_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
