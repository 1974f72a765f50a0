//! Unix socket addresses are limited to about 107 bytes, and a job's control socket
//! lives at `$ROOT/jobs/NAME/control.sock`: a long root and a long job name exceed
//! that. Such a socket is reached through a short alias of its directory,
//! `/proc/self/fd/N/control.sock`, with N a handle on the directory held meanwhile.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;

/// Longest socket path used as it is (the limit is 108 bytes with the final NUL).
const SHORT_ENOUGH: usize = 100;

/// Calls `use_path` with a path to `socket` that fits in a socket address.
pub fn with_socket_path<T>(
    socket: &Path,
    use_path: impl FnOnce(&Path) -> std::io::Result<T>,
) -> std::io::Result<T> {
    if socket.as_os_str().len() <= SHORT_ENOUGH {
        return use_path(socket);
    }
    let (Some(dir), Some(file)) = (socket.parent(), socket.file_name()) else {
        return use_path(socket);
    };
    let handle: OwnedFd = open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(std::io::Error::from)?;
    let alias = PathBuf::from(format!("/proc/self/fd/{}", handle.as_raw_fd())).join(file);
    let result = use_path(&alias);
    drop(handle);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_path_is_reached_through_a_short_alias() {
        let dir = tempfile::tempdir().expect("temp dir");
        let deep = dir.path().join("d".repeat(60)).join("e".repeat(60));
        std::fs::create_dir_all(&deep).expect("dirs");
        let socket = deep.join("control.sock");
        assert!(socket.as_os_str().len() > 108);
        let listener = with_socket_path(&socket, |p| std::os::unix::net::UnixListener::bind(p))
            .expect("binds");
        assert!(socket.exists(), "bound where asked");
        let client = with_socket_path(&socket, |p| std::os::unix::net::UnixStream::connect(p));
        assert!(client.is_ok(), "{client:?}");
        drop(listener);
    }
}
