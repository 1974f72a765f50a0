//! One reader per followed job, however many clients follow it: the reader reads
//! the job's log by cursor when the logs directory changes and hands each batch of
//! lines, with its cursors, to every follower. A follower catches up from its own
//! cursor first, then takes the batches, skipping what it has; if it falls too far
//! behind it catches up from the log again. Nothing is repeated or lost, and 200
//! followers cost one reader.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::broadcast;

use crate::executor::{Executor, ExecutorError};
use crate::logs::{Activity, Cursor, LogLine, PageReader, Stream};
use crate::store::Root;

/// Lines read together, and where they are in the log.
#[derive(Clone, Debug)]
pub struct Batch {
    pub start: Cursor,
    pub lines: Arc<Vec<LogLine>>,
    pub end: Cursor,
    /// The job has stopped and its log was read to the end.
    pub ended: bool,
}

/// How many records a line stands for (a gap line for the ones it replaces).
pub fn records_in(line: &LogLine) -> u64 {
    match line.stream {
        Stream::Gap => line.dropped().unwrap_or(1),
        _ => 1,
    }
}

/// The lines of `batch` from `cursor` on.
pub fn unseen(batch: &Batch, cursor: Cursor) -> Vec<LogLine> {
    unseen_at(batch, cursor)
        .into_iter()
        .map(|(line, _)| line)
        .collect()
}

/// [`unseen`], each line with the cursor just after it.
pub fn unseen_at(batch: &Batch, cursor: Cursor) -> Vec<(LogLine, Cursor)> {
    let mut at = batch.start;
    let mut out = Vec::new();
    for line in batch.lines.iter() {
        let next = at + records_in(line);
        if at >= cursor {
            out.push((line.clone(), next));
        }
        at = next;
    }
    out
}

/// Lines read from `from` up to `to`, each with the cursor just after it (the
/// last one's is `to`).
pub fn cursors_from(lines: Vec<LogLine>, from: Cursor, to: Cursor) -> Vec<(LogLine, Cursor)> {
    let count = lines.len();
    let mut at = from;
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            at += records_in(&line);
            let after = if i + 1 == count { to } else { at.min(to) };
            (line, after)
        })
        .collect()
}

struct Hub {
    sender: broadcast::Sender<Batch>,
}

/// The readers of the server, by job.
pub struct Hubs {
    executor: Arc<dyn Executor>,
    root: Root,
    hubs: Mutex<HashMap<String, Weak<Hub>>>,
}

/// A follower's place: keep it to keep receiving.
pub struct Subscription {
    _hub: Arc<Hub>,
    pub receiver: broadcast::Receiver<Batch>,
}

/// How long the reader waits for a change before it looks anyway (a job's end is
/// in its own directory, which is not watched).
const LOOK_EVERY: Duration = Duration::from_millis(200);

impl Hubs {
    /// Readers of `executor`'s logs, kept under `root`.
    pub fn new(executor: Arc<dyn Executor>, root: Root) -> Arc<Hubs> {
        Arc::new(Hubs {
            executor,
            root,
            hubs: Mutex::new(HashMap::new()),
        })
    }

    /// Follows job `name` (which must exist), from the end of its log as it is now:
    /// catch up from your own cursor after subscribing.
    pub fn subscribe(self: &Arc<Hubs>, name: &str) -> Result<Subscription, ExecutorError> {
        self.executor.get(name)?;
        let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hub) = hubs.get(name).and_then(Weak::upgrade) {
            let receiver = hub.sender.subscribe();
            return Ok(Subscription {
                _hub: hub,
                receiver,
            });
        }
        // A follower further behind than this catches up from the log instead.
        let (sender, receiver) = broadcast::channel(64);
        let hub = Arc::new(Hub {
            sender: sender.clone(),
        });
        hubs.insert(name.to_string(), Arc::downgrade(&hub));
        // Where the reader starts is settled before the subscriber catches up:
        // what it reads then reaches at least this far, so nothing falls between.
        let mut reader = PageReader::new(name, &self.root.log_file(name));
        let (_, cursor) = reader.read(Cursor::MAX, 0);
        let this = self.clone();
        let job = name.to_string();
        let weak = Arc::downgrade(&hub);
        std::thread::Builder::new()
            .name(format!("hub {name}"))
            .spawn(move || this.read(&job, reader, cursor, &sender, &weak))
            .map_err(|e| ExecutorError::Unavailable {
                executor: "local".into(),
                message: format!("no thread to follow the log: {e}"),
            })?;
        Ok(Subscription {
            _hub: hub,
            receiver,
        })
    }

    /// The reader's loop: while anyone follows, read what is new and hand it out.
    fn read(
        &self,
        name: &str,
        mut reader: PageReader,
        mut cursor: Cursor,
        sender: &broadcast::Sender<Batch>,
        hub: &Weak<Hub>,
    ) {
        let root = &self.root;
        let path = root.log_file(name);
        let activity = Activity::watch(&[root.logs_dir()]);
        let mut last_seen_file = None;
        let mut seen = activity.seen();
        while hub.strong_count() > 0 {
            let running = self
                .executor
                .get(name)
                .is_ok_and(|info| !info.status.is_over());
            let file = std::fs::metadata(&path).ok().map(|m| (m.ino(), m.len()));
            if file != last_seen_file || !running {
                let (lines, next) = reader.read(cursor, 1000);
                if !lines.is_empty() {
                    let _ = sender.send(Batch {
                        start: cursor,
                        lines: Arc::new(lines),
                        end: next,
                        ended: false,
                    });
                    cursor = next;
                    continue;
                }
                last_seen_file = file;
            }
            if !running {
                let _ = sender.send(Batch {
                    start: cursor,
                    lines: Arc::new(Vec::new()),
                    end: cursor,
                    ended: true,
                });
                break;
            }
            seen = activity.wait(seen, LOOK_EVERY);
        }
        let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
        if hubs.get(name).is_some_and(|w| w.ptr_eq(hub)) {
            hubs.remove(name);
        }
    }
}
