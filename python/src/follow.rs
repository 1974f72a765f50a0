//! A job's log followed in a thread of its own, handed to Python a line at a time
//! with a deadline, so that Python's callbacks, its `stop_event` and Ctrl-C are seen
//! between lines, and the GIL is never held while nothing comes.

use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::prelude::*;

/// What the follow thread sends.
enum Event {
    Line(String),
    /// The follow ended: the job stopped (Ok) or the executor failed (the message).
    End(Result<(), String>),
}

/// A running follow of one job's log; dropping it (or `close`) ends the thread at
/// its next line.
#[pyclass(module = "mrsm_jobs._native")]
pub struct Follower {
    events: Mutex<Option<Receiver<Event>>>,
}

impl Follower {
    /// Starts following `name`'s log (from its first line when `from_start`).
    pub fn start(
        executor: Arc<dyn mrsm::executor::Executor>,
        name: String,
        from_start: bool,
    ) -> Follower {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut on_line = |line: mrsm::logs::LogLine| {
                let mut text = mrsm::serve::line_text(&line);
                if !line.continues {
                    text.push('\n');
                }
                tx.send(Event::Line(text)).is_ok()
            };
            let ended = executor
                .follow_logs(&name, from_start, &mut on_line)
                .map_err(|e| e.to_string());
            let _ = tx.send(Event::End(ended));
        });
        Follower {
            events: Mutex::new(Some(rx)),
        }
    }
}

#[pymethods]
impl Follower {
    /// The next event within `timeout` seconds: `("line", text)`, `("end", None)`
    /// when the job stopped, `("error", message)`, or None when nothing came.
    fn next(&self, py: Python<'_>, timeout: f64) -> (Option<&'static str>, Option<String>) {
        let wait = Duration::from_secs_f64(timeout.clamp(0.0, 3600.0));
        py.detach(|| {
            let Ok(guard) = self.events.lock() else {
                return (Some("end"), None);
            };
            let Some(events) = guard.as_ref() else {
                return (Some("end"), None);
            };
            match events.recv_timeout(wait) {
                Ok(Event::Line(text)) => (Some("line"), Some(text)),
                Ok(Event::End(Ok(()))) | Err(RecvTimeoutError::Disconnected) => (Some("end"), None),
                Ok(Event::End(Err(message))) => (Some("error"), Some(message)),
                Err(RecvTimeoutError::Timeout) => (None, None),
            }
        })
    }

    /// Stops following: the thread ends at the next line it reads.
    fn close(&self) {
        if let Ok(mut guard) = self.events.lock() {
            guard.take();
        }
    }
}
