//! A `mrsm logs -f …` child whose output lines the test receives with a timeout,
//! optionally held back (its output not read, as by a slow consumer) until released.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::Env;

/// A `mrsm logs -f` child, killed when dropped.
pub struct Following {
    child: Child,
    lines: mpsc::Receiver<String>,
    release: Option<mpsc::Sender<()>>,
}

impl Following {
    /// Starts `mrsm logs -f ARGS…`, its output read as it comes.
    pub fn start(env: &Env, args: &[&str]) -> Following {
        Following::spawn(env, args, None)
    }

    /// Starts `mrsm logs -f ARGS…`, reading only its first `first` lines until
    /// [`Following::release`]: meanwhile its output pipe fills up and it blocks.
    pub fn start_held(env: &Env, args: &[&str], first: usize) -> Following {
        Following::spawn(env, args, Some(first))
    }

    fn spawn(env: &Env, args: &[&str], hold_after: Option<usize>) -> Following {
        let mut child = crate::support::mrsm_process()
            .args(["logs", "-f"])
            .args(args)
            .env("MRSM_ROOT_DIR", env.root())
            .current_dir(env.work())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("follower starts");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        let (release, gate) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            for (n, line) in BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .enumerate()
            {
                if tx.send(line).is_err() {
                    return;
                }
                if hold_after == Some(n + 1) && gate.recv().is_err() {
                    return;
                }
            }
        });
        Following {
            child,
            lines,
            release: Some(release),
        }
    }

    /// Lets a held follower's output be read again.
    pub fn release(&mut self) {
        if let Some(release) = self.release.take() {
            let _ = release.send(());
        }
    }

    /// The next line, or `None` after `timeout` of silence.
    pub fn next(&self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
