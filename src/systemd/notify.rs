//! The readiness message of a service started with `Type=notify`: `systemctl start`
//! returns once the supervisor sends `READY=1` to the socket systemd names in
//! `NOTIFY_SOCKET`.

use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;

/// The socket systemd gave this process, taken out of its environment once.
static SOCKET: OnceLock<Option<std::ffi::OsString>> = OnceLock::new();

/// Takes `NOTIFY_SOCKET` out of the environment (the job's steps must not talk to
/// systemd in the supervisor's name) and keeps it for [`notify`]; whether there is
/// one. Called while the process has one thread.
pub fn take_notify_socket() -> bool {
    SOCKET
        .get_or_init(|| {
            let socket = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty());
            std::env::remove_var("NOTIFY_SOCKET");
            socket
        })
        .is_some()
}

/// Sends `message` (e.g. `READY=1`) to systemd, when it asked for one; errors are
/// systemd's to see (a start that times out), not the job's.
pub fn notify(message: &str) {
    let Some(Some(path)) = SOCKET.get() else {
        return;
    };
    let Ok(socket) = UnixDatagram::unbound() else {
        return;
    };
    let bytes = path.as_encoded_bytes();
    let _ = match bytes.strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(name)
                .and_then(|addr| socket.send_to_addr(message.as_bytes(), &addr))
        }
        None => socket.send_to(message.as_bytes(), path),
    };
}
