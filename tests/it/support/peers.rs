//! Servers that do not behave, on 127.0.0.1, for the client's deadlines: one that
//! takes connections and never says a word, one that sends an answer's head and
//! never its body, and one whose connections never open (its backlog is full, so
//! the kernel drops the client's SYN and `connect` hangs). Each stops, and closes
//! what it holds, when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a peer does with each connection it takes.
#[derive(Clone, Copy)]
enum Manner {
    /// Nothing: no read, no write.
    Silent,
    /// Reads the request's head, sends an answer's head and one byte of a body
    /// it says is longer, then nothing.
    Halfway,
    /// Reads the request's head, sends an answer's head, then its body one byte
    /// every 200 ms, for ever.
    Trickle,
}

/// How often a trickling peer sends its next byte.
const TRICKLE_EVERY: Duration = Duration::from_millis(200);

/// Set when a peer is dropped; its threads wait on it, so they end at once.
#[derive(Clone, Default)]
struct Stop(Arc<(Mutex<bool>, Condvar)>);

impl Stop {
    fn set(&self) {
        let (flag, changed) = &*self.0;
        if let Ok(mut stopped) = flag.lock() {
            *stopped = true;
        }
        changed.notify_all();
    }

    fn is_set(&self) -> bool {
        self.0 .0.lock().map_or(true, |stopped| *stopped)
    }

    /// Waits up to `timeout` for the stop; whether it came.
    fn wait(&self, timeout: Duration) -> bool {
        let (flag, changed) = &*self.0;
        let Ok(stopped) = flag.lock() else {
            return true;
        };
        changed
            .wait_timeout_while(stopped, timeout, |stopped| !*stopped)
            .map_or(true, |(stopped, _)| *stopped)
    }
}

/// A peer on a thread of its own that holds every connection it takes.
pub struct Peer {
    addr: SocketAddr,
    done: Stop,
    thread: Option<JoinHandle<()>>,
}

impl Peer {
    /// Takes connections and never answers.
    pub fn silent() -> Peer {
        Peer::start(Manner::Silent)
    }

    /// Answers with headers only: the body never comes.
    pub fn halfway() -> Peer {
        Peer::start(Manner::Halfway)
    }

    /// Answers with a body that keeps coming, a byte at a time, never ending.
    pub fn trickle() -> Peer {
        Peer::start(Manner::Trickle)
    }

    fn start(manner: Manner) -> Peer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("its address");
        let done = Stop::default();
        let stop = done.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming() {
                if stop.is_set() {
                    break;
                }
                let Ok(mut stream) = stream else { continue };
                match manner {
                    Manner::Silent => {}
                    Manner::Halfway => {
                        read_head(&mut stream);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[",
                        );
                    }
                    Manner::Trickle => {
                        read_head(&mut stream);
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n[",
                        );
                        let stop = stop.clone();
                        std::thread::spawn(move || {
                            while stream.write_all(b" ").is_ok() && !stop.wait(TRICKLE_EVERY) {}
                        });
                        continue;
                    }
                }
                held.push(stream);
            }
        });
        Peer {
            addr,
            done,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.done.set();
        // Wakes the accept loop, which then ends and closes what it held.
        let _ = TcpStream::connect(self.addr);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads up to the blank line that ends a request's head.
fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
}

/// A listening socket whose backlog is full: a connection to it never opens.
pub struct Blackhole {
    listener: std::net::TcpListener,
    /// The one connection the backlog holds (never accepted).
    _filler: TcpStream,
}

impl Blackhole {
    /// A listener with a backlog of one, filled.
    pub fn new() -> Blackhole {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("a runtime to make the socket");
        let _inside = runtime.enter();
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind("127.0.0.1:0".parse().expect("an address"))
            .expect("bound");
        let listener = socket
            .listen(0)
            .and_then(|l| l.into_std())
            .expect("listening");
        let addr = listener.local_addr().expect("its address");
        let filler = TcpStream::connect(addr).expect("the backlog's one connection");
        Blackhole {
            listener,
            _filler: filler,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!(
            "http://{}",
            self.listener.local_addr().expect("its address")
        )
    }
}
