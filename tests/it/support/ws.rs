//! Just enough of a WebSocket client (RFC 6455) for the tests of `mrsm serve`'s
//! logs socket: the handshake, with or without a token in its header, masked text
//! frames out, and text and close frames in.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An open socket.
pub struct Socket {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

/// What the server sent.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    Text(String),
    /// The close frame's code and reason.
    Close(u16, String),
    /// The connection ended, or nothing came in time.
    Gone,
}

/// A refused handshake: the status and the body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: String,
}

/// Opens `ws://127.0.0.1:PORT{path}`, sending `Authorization: Bearer TOKEN` when
/// `token` is given.
pub fn connect(port: u16, path: &str, token: Option<&str>) -> Result<Socket, Refused> {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("a second handle");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        writer,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{auth}\r\n"
    )
    .expect("handshake sent");
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("a status line");
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"));
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header");
        if line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    if status != 101 {
        let mut body = vec![0; length];
        let _ = reader.read_exact(&mut body);
        return Err(Refused {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Ok(Socket { reader, writer })
}

impl Socket {
    /// Sends one text frame (masked, as a client must).
    pub fn send(&mut self, text: &str) {
        let mask = [0x5a, 0x13, 0xc7, 0x08];
        let payload = text.as_bytes();
        let mut frame = vec![0x81];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.writer.write_all(&frame).expect("frame sent");
    }

    /// The next text or close frame (pings and the like are skipped).
    pub fn recv(&mut self) -> Frame {
        loop {
            let mut head = [0u8; 2];
            if self.reader.read_exact(&mut head).is_err() {
                return Frame::Gone;
            }
            let length = match head[1] & 0x7f {
                126 => {
                    let mut n = [0u8; 2];
                    if self.reader.read_exact(&mut n).is_err() {
                        return Frame::Gone;
                    }
                    u64::from(u16::from_be_bytes(n))
                }
                127 => {
                    let mut n = [0u8; 8];
                    if self.reader.read_exact(&mut n).is_err() {
                        return Frame::Gone;
                    }
                    u64::from_be_bytes(n)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0; usize::try_from(length).expect("a frame that fits")];
            if self.reader.read_exact(&mut payload).is_err() {
                return Frame::Gone;
            }
            match head[0] & 0x0f {
                1 => return Frame::Text(String::from_utf8_lossy(&payload).into_owned()),
                8 => {
                    let code = payload
                        .get(..2)
                        .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]));
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default());
                    return Frame::Close(code, reason.into_owned());
                }
                _ => {}
            }
        }
    }

    /// Text frames until one satisfies `wanted` (which it returns), or the socket
    /// closes (`None`): every frame seen is kept in `seen`.
    pub fn until(
        &mut self,
        seen: &mut Vec<String>,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        loop {
            match self.recv() {
                Frame::Text(text) => {
                    seen.push(text.clone());
                    if wanted(&text) {
                        return Some(text);
                    }
                }
                Frame::Close(..) | Frame::Gone => return None,
            }
        }
    }
}
