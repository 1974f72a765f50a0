//! A step's pipes: its output carried into the job's log line by line for as long
//! as anything holds them open, and its input fed without ever blocking the
//! supervisor.

use std::os::fd::OwnedFd;
use std::process::ChildStdin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::logs::{LogWriter, Stream, DEFAULT_MAX_LINE};

/// A job's log as its supervisor and its steps' output pumps share it. A pump that
/// finds the log's trouble came or went (a full disk, or room again) says so, so
/// that the supervisor records it in the report at once without waking on a timer
/// while the job is idle.
pub struct JobLog {
    writer: std::sync::Mutex<LogWriter>,
    changed: tokio::sync::Notify,
}

/// The shared log of a job.
pub type SharedLog = Arc<JobLog>;

impl JobLog {
    /// Shares `writer`.
    pub fn shared(writer: LogWriter) -> SharedLog {
        Arc::new(JobLog {
            writer: std::sync::Mutex::new(writer),
            changed: tokio::sync::Notify::new(),
        })
    }

    /// The writer, for one batch of records.
    pub fn lock(&self) -> std::sync::LockResult<std::sync::MutexGuard<'_, LogWriter>> {
        self.writer.lock()
    }

    /// Flushes `writer` (this log's, locked), and tells the supervisor if its
    /// trouble came or went since `had` (whether it had trouble before the batch).
    fn flush(&self, writer: &mut LogWriter, had: bool) {
        writer.flush();
        if writer.health().is_some() != had {
            self.changed.notify_one();
        }
    }

    /// Waits until a pump finds the log's trouble came or went.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A task that writes what it is sent to the step's input without ever blocking the
/// supervisor, and closes the pipe when the sender is dropped.
pub(super) fn feed_stdin(
    pipe: ChildStdin,
    pending: Arc<AtomicUsize>,
) -> std::io::Result<mpsc::UnboundedSender<Vec<u8>>> {
    let mut sender = pipe::Sender::from_owned_fd(OwnedFd::from(pipe))?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(async move {
        while let Some(data) = rx.recv().await {
            let written = sender.write_all(&data).await;
            pending.fetch_sub(data.len(), Ordering::SeqCst);
            if written.is_err() {
                break;
            }
        }
    });
    Ok(tx)
}

/// The most input bytes held for a step that has not read them yet: beyond it,
/// writes are refused (and `attach job` waits), rather than the supervisor's memory
/// growing without limit.
pub const STDIN_LIMIT: usize = 1 << 20;

/// The most a pump reads at once: a pipe's whole default capacity.
const READ_BUFFER: usize = 64 * 1024;

/// How long a partial line waits for its newline before it is written as it stands
/// (marked as continued), so that prompts and `\r` progress output show up in the log
/// as they are written.
const PARTIAL_WAIT: Duration = Duration::from_millis(100);

/// Reads a pipe until every writer has closed it, writing each completed line as a
/// record stamped when it was written; a partial line is written marked as continued
/// once it reaches the record cap or has waited [`PARTIAL_WAIT`], and at end-of-file.
/// Memory stays bounded by the read buffer and the record cap, whatever the output.
/// When the task ends, everything read has been handed to the log and flushed.
pub(super) async fn pump(mut receiver: pipe::Receiver, stream: Stream, log: SharedLog) {
    // The read buffer is made once there is something to read: a job that never
    // writes (a server that logs elsewhere, a `sleep`) costs its supervisor no
    // buffer pages.
    if receiver.readable().await.is_err() {
        return;
    }
    let mut buf = vec![0u8; READ_BUFFER];
    let max_line = log
        .lock()
        .map_or(DEFAULT_MAX_LINE as usize, |w| w.max_line());
    let mut partial: Vec<u8> = Vec::new();
    // When the oldest byte of `partial` arrived.
    let mut waiting_since: Option<Instant> = None;
    loop {
        let read = match waiting_since {
            Some(since) => tokio::select! {
                r = receiver.read(&mut buf) => Some(r),
                () = tokio::time::sleep_until(since + PARTIAL_WAIT) => None,
            },
            None => Some(receiver.read(&mut buf).await),
        };
        let Ok(mut writer) = log.lock() else { return };
        let had = writer.health().is_some();
        let now = Timestamp::now();
        let n = match read {
            Some(Ok(0)) | Some(Err(_)) => break,
            Some(Ok(n)) => n,
            None => {
                // Waited long enough: the line so far goes out as it stands.
                writer.append_part(now, stream, &partial, false);
                log.flush(&mut writer, had);
                partial.clear();
                waiting_since = None;
                continue;
            }
        };
        let mut rest = &buf[..n];
        while let Some(i) = memchr::memchr(b'\n', rest) {
            if partial.is_empty() {
                writer.append(now, stream, &rest[..i]);
            } else {
                partial.extend_from_slice(&rest[..i]);
                writer.append(now, stream, &partial);
                partial.clear();
            }
            rest = &rest[i + 1..];
        }
        if partial.is_empty() {
            waiting_since = None;
        }
        if !rest.is_empty() {
            waiting_since.get_or_insert_with(Instant::now);
            partial.extend_from_slice(rest);
            if partial.len() >= max_line {
                // Whole records' worth goes out now; the rest waits for more.
                let cut = partial.len() - partial.len() % max_line;
                writer.append_part(now, stream, &partial[..cut], false);
                partial.drain(..cut);
                waiting_since = (!partial.is_empty()).then(Instant::now);
            }
        }
        log.flush(&mut writer, had);
    }
    // End of file: the last bytes, even without a newline, are written before the
    // task ends.
    if let Ok(mut writer) = log.lock() {
        let had = writer.health().is_some();
        if !partial.is_empty() {
            writer.append_part(Timestamp::now(), stream, &partial, false);
        }
        log.flush(&mut writer, had);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::logs::Record;
    use std::path::Path;
    use tokio::task::JoinHandle;

    /// The records of a log file: stream tag, continued or not, and the line.
    pub(in crate::supervisor) fn records(path: &Path) -> Vec<(Stream, bool, Vec<u8>)> {
        let bytes = std::fs::read(path).unwrap_or_default();
        bytes
            .split(|&b| b == b'\n')
            .filter_map(Record::parse)
            .map(|r| (r.stream, r.continues, r.line.to_vec()))
            .collect()
    }

    /// Runs `body` with a pump reading a fresh pipe into a log with a record cap of
    /// `max_line`; `body` gets the pipe's write end and the log's path.
    fn with_pump<F, Fut>(max_line: u64, body: F)
    where
        F: FnOnce(pipe::Sender, JoinHandle<()>, std::path::PathBuf) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let writer = LogWriter::open(&path, 1 << 30, 2)
            .expect("opens")
            .with_max_line(max_line);
        let log = JobLog::shared(writer);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let (sender, receiver) = pipe::pipe().expect("a pipe");
            let handle = tokio::spawn(pump(receiver, Stream::Out, log.clone()));
            body(sender, handle, path.clone()).await;
        });
    }

    /// Polls the log until `holds` says yes, failing after ten seconds.
    async fn wait_until(
        path: &Path,
        what: &str,
        holds: impl Fn(&[(Stream, bool, Vec<u8>)]) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !holds(&records(path)) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[test]
    fn at_end_of_file_everything_is_written_before_the_pump_ends() {
        with_pump(DEFAULT_MAX_LINE, |mut sender, handle, path| async move {
            sender
                .write_all(b"one\ntwo\nno newline")
                .await
                .expect("writes");
            drop(sender);
            handle.await.expect("the pump ends");
            assert_eq!(
                records(&path),
                [
                    (Stream::Out, false, b"one".to_vec()),
                    (Stream::Out, false, b"two".to_vec()),
                    (Stream::Out, true, b"no newline".to_vec()),
                ]
            );
        });
    }

    #[test]
    fn a_partial_line_shows_up_while_the_job_waits() {
        with_pump(DEFAULT_MAX_LINE, |mut sender, handle, path| async move {
            sender.write_all(b"Name: ").await.expect("writes");
            // The pipe stays open: the line is written as it stands.
            wait_until(&path, "the prompt", |r| {
                r == [(Stream::Out, true, b"Name: ".to_vec())]
            })
            .await;
            sender.write_all(b"Ada\n10%\r20%\r").await.expect("writes");
            wait_until(&path, "the progress", |r| r.len() == 3).await;
            drop(sender);
            handle.await.expect("the pump ends");
            assert_eq!(
                records(&path),
                [
                    (Stream::Out, true, b"Name: ".to_vec()),
                    (Stream::Out, false, b"Ada".to_vec()),
                    (Stream::Out, true, b"10%\r20%\r".to_vec()),
                ]
            );
        });
    }
}
