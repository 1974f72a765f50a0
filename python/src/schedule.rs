//! `parse_schedule`: mrsm's schedule engine for Python, fire times as milliseconds
//! since the epoch (the package makes them timezone-aware datetimes).

use std::sync::Mutex;

use jiff::Timestamp;
use pyo3::prelude::*;

/// A parsed schedule and where its fire times have got to.
#[pyclass(module = "mrsm_jobs._native")]
pub struct Schedule {
    text: String,
    times: Mutex<mrsm::FireTimes>,
}

/// Parses `text`; its fire times start at `now_ms` (now when None). A schedule
/// mrsm cannot read raises `ScheduleError` with the column and what was expected.
#[pyfunction]
#[pyo3(signature = (text, now_ms=None))]
pub fn parse_schedule(py: Python<'_>, text: &str, now_ms: Option<i64>) -> PyResult<Schedule> {
    let now = match now_ms {
        Some(ms) => Timestamp::from_millisecond(ms)
            .map_err(|e| crate::error(py, "ScheduleError", format!("now: {e}")))?,
        None => Timestamp::now(),
    };
    let times = mrsm::parse_schedule(text)
        .and_then(|s| s.fire_times(now))
        .map_err(|e| crate::error(py, "ScheduleError", e.to_string()))?;
    Ok(Schedule {
        text: text.to_string(),
        times: Mutex::new(times),
    })
}

#[pymethods]
impl Schedule {
    /// The schedule as written.
    #[getter]
    fn text(&self) -> &str {
        &self.text
    }

    /// The next fire time in milliseconds since the epoch, None when it never fires
    /// again.
    fn next_ms(&self) -> Option<i64> {
        let mut times = self.times.lock().ok()?;
        times.next().map(|t| t.as_millisecond())
    }
}
