//! The one owner of the terminal in foreground `up`: the log printer writes the
//! jobs' lines, and the watcher's messages reach it through a bounded channel, so
//! the watcher never writes (and never blocks on) stdout or stderr itself. When
//! nobody reads the output the printer blocks, the watcher keeps converging, and
//! messages beyond the channel's capacity are counted and reported as dropped.

use std::cell::RefCell;
use std::io::{BufWriter, Stdout, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use crate::reconcile::watch::Message;

/// Messages that wait for the printer before some are dropped.
const CAPACITY: usize = 1024;

/// The watcher's side: hands messages to the printer without ever blocking.
#[derive(Clone)]
pub struct Notices {
    tx: SyncSender<Message>,
    dropped: Arc<AtomicUsize>,
}

impl Notices {
    /// Queues a job's log line (formatted, newline included), waiting while the
    /// printer is that far behind: log lines are never dropped. False once the
    /// printer is gone.
    pub fn line(&self, bytes: &[u8]) -> bool {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\n').unwrap_or(&text).to_string();
        self.tx.send(Message { error: false, text }).is_ok()
    }

    /// Queues a message; when the printer is that far behind it is counted instead.
    pub fn send(&self, message: Message) {
        match self.tx.try_send(message) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// The printer's side: stdout (buffered), written by the log follower and by
/// [`Console::pump`] between its turns.
pub struct Console {
    out: RefCell<BufWriter<Stdout>>,
    rx: Receiver<Message>,
    dropped: Arc<AtomicUsize>,
}

impl Console {
    /// A console over this process's stdout, and the handle the watcher sends on.
    pub fn new() -> (Console, Notices) {
        let (tx, rx) = mpsc::sync_channel(CAPACITY);
        let dropped = Arc::new(AtomicUsize::new(0));
        let console = Console {
            out: RefCell::new(BufWriter::new(std::io::stdout())),
            rx,
            dropped: Arc::clone(&dropped),
        };
        (console, Notices { tx, dropped })
    }

    /// Prints the messages that arrived: results on stdout, problems on stderr.
    pub fn pump(&self) -> std::io::Result<()> {
        let mut out = self.out.borrow_mut();
        let mut wrote = false;
        for message in self.rx.try_iter() {
            if message.error {
                out.flush()?;
                writeln!(std::io::stderr(), "{}", message.text)?;
            } else {
                writeln!(out, "{}", message.text)?;
                wrote = true;
            }
        }
        let dropped = self.dropped.swap(0, Ordering::SeqCst);
        if dropped > 0 {
            out.flush()?;
            writeln!(
                std::io::stderr(),
                "({dropped} messages of the watcher were dropped: the output was not being read)"
            )?;
        }
        if wrote {
            out.flush()?;
        }
        Ok(())
    }
}

impl Write for &Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.out.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.borrow_mut().flush()
    }
}
