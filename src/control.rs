//! The messages between a client (the local executor, the CLI, the `Job` API) and a
//! job's supervisor, defined once: one JSON request line, one JSON response line,
//! over the job's Unix control socket. A leaf beside `supervisor`, so that its
//! clients need nothing else of it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::job::{SignalName, SupervisorState};

/// The supervisor's first line on its standard output, to the command that
/// launched it: it answers on its socket and the job has begun.
pub const READY: &str = "ready";
/// Its first line instead when another supervisor of the job is alive: it exits and
/// the job is left to that one.
pub const BUSY: &str = "busy";

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Request {
    /// The supervisor's current state.
    Status,
    /// Stop every process of the job (SIGSTOP) and hold schedule fires.
    Pause,
    /// Continue after a pause.
    Resume,
    /// Stop the job and exit once no process of it is left. Overrides the job's own
    /// stop signal and grace period when given.
    Stop {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<SignalName>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<u64>,
        /// Once stopped, the supervisor removes the job's files itself: a delete
        /// asked from inside the job, which the stop ends before it could.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        then_remove: Option<Removal>,
    },
    /// Write to the standard input of the newest run's current step; `eof` closes it
    /// afterwards.
    Stdin {
        /// The bytes as they are: input need not be text.
        data: Vec<u8>,
        #[serde(default)]
        eof: bool,
    },
}

/// What of a job is removed once it is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Removal {
    /// Its definition: its logs and run history are kept (`delete`, `down`).
    Definition,
    /// Everything, logs and history too (`delete --purge`, `down -v`, `--rm`).
    All,
}

/// What the supervisor answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "kebab-case")]
pub enum Response {
    Done {
        message: String,
    },
    State {
        state: Box<SupervisorState>,
    },
    Refused {
        /// Why, for programs (no client reads the message to decide).
        #[serde(default)]
        code: Refusal,
        message: String,
    },
    /// Not now: the step has not read the input it was given yet; the same request
    /// may be sent again a little later.
    Busy {
        message: String,
    },
}

/// Why a supervisor refused a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Refusal {
    /// Anything else (and what an older supervisor, which sent no code, meant).
    #[default]
    Other,
    /// The job is stopping or over.
    Stopping,
    /// No step is running to take input.
    NoStep,
    /// The running step's input is closed.
    InputClosed,
    /// The steps' work elsewhere (a cluster) could not be held.
    NotPaused,
    /// The peer may not control the job (another user).
    NotOwner,
    /// The request could not be read.
    BadRequest,
}

/// Sends one request and waits up to `timeout` for its answer.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> std::io::Result<Response> {
    // A link at the socket's place is not followed (connecting would).
    crate::store::check_socket(socket)?;
    let mut stream = crate::store::with_socket_path(socket, |path| UnixStream::connect(path))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut line = serde_json::to_vec(request)?;
    line.push(b'\n');
    stream.write_all(&line)?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    if answer.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the supervisor closed the connection without answering",
        ));
    }
    Ok(serde_json::from_str(&answer)?)
}
