//! Every file under the root is opened here, one way: never through a symbolic link
//! (`O_NOFOLLOW`: a link planted at `logs/NAME.log` must not carry a job's output
//! elsewhere), never waiting on something that is not a regular file (`O_NONBLOCK`
//! at open, so a FIFO or a device answers at once, then the file's type is checked
//! and anything but a regular file is refused with its path and what it is), in a
//! directory that passed the ownership check ([`super::owner`]), and, for files that
//! are small by nature, never read past a bound. A refusal is an `io::Error` whose
//! inner error is a [`Refused`], so it travels through the callers' usual error
//! paths (a broken job, a log's trouble) and reads the same wherever it is shown.

use std::fs::{File, FileType, Metadata, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg, OFlag};

use super::owner;
use super::private::{create_dir_all, FILE_MODE};

/// The most bytes read of a file that is small by nature (a definition, a report,
/// the tokens, a lock's holder): a larger one is refused, not read into memory.
pub const SMALL_FILE: u64 = 16 << 20;

/// Why a file or directory under the root was not used.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not a regular file: a FIFO, a socket, a device, a directory, or a symbolic
    /// link (never followed under the root).
    #[error("{} is {what}, not a file{}", path.display(), link_note(what))]
    NotAFile { path: PathBuf, what: &'static str },
    /// Larger than such a file is ever written.
    #[error("{} is {size} bytes, more than the {limit} bytes mrsm reads of it", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    /// A directory of the root that someone else could change.
    #[error("refusing {}{}: {reason}", if *root { "root " } else { "" }, path.display())]
    Directory {
        path: PathBuf,
        root: bool,
        reason: String,
    },
}

fn link_note(what: &str) -> &'static str {
    match what {
        SYMLINK => " (links under the root are never followed)",
        _ => "",
    }
}

const SYMLINK: &str = "a symbolic link";

impl Refused {
    /// The refusal inside `error`, if that is what it carries; else `error` back.
    pub fn take(error: std::io::Error) -> Result<Refused, std::io::Error> {
        if !error.get_ref().is_some_and(|e| e.is::<Refused>()) {
            return Err(error);
        }
        let kind = error.kind();
        match error.into_inner().map(|e| e.downcast::<Refused>()) {
            Some(Ok(refused)) => Ok(*refused),
            Some(Err(other)) => Err(std::io::Error::new(kind, other)),
            None => Err(kind.into()),
        }
    }
}

impl From<Refused> for std::io::Error {
    fn from(refused: Refused) -> std::io::Error {
        std::io::Error::other(refused)
    }
}

/// What a file type is, in words.
fn what(kind: FileType) -> &'static str {
    if kind.is_symlink() {
        SYMLINK
    } else if kind.is_dir() {
        "a directory"
    } else if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else {
        "something else"
    }
}

/// How a file is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// Read only.
    Read,
    /// Read and append, created owner-only when missing.
    Append,
    /// Read and write in place, created owner-only when missing (a lock file).
    Lock,
    /// Write a file that must not exist yet.
    CreateNew,
    /// Write an existing file in place.
    Write,
}

impl How {
    fn creates(self) -> bool {
        matches!(self, How::Append | How::Lock | How::CreateNew)
    }

    fn options(self, follow: bool) -> OpenOptions {
        let mut options = OpenOptions::new();
        let mut flags = nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY | nix::libc::O_CLOEXEC;
        if !follow {
            flags |= nix::libc::O_NOFOLLOW;
        }
        options.mode(FILE_MODE).custom_flags(flags);
        match self {
            How::Read => options.read(true),
            How::Append => options.read(true).append(true).create(true),
            How::Lock => options.read(true).write(true).create(true).truncate(false),
            How::CreateNew => options.write(true).create_new(true),
            How::Write => options.write(true),
        };
        options
    }
}

/// Opens `path` as `how` says: the one way files are opened (see the module).
/// Files under the root are never reached through a link (`follow` is for the
/// user's own files, such as the settings file, which are not in a checked
/// directory either).
fn open(path: &Path, how: How, follow: bool) -> std::io::Result<File> {
    open_file(path, how, follow).map(|(file, _)| file)
}

/// [`open`], and what the file's metadata said when it was found to be a regular
/// file (its size is what a reader sizes its buffer by).
fn open_file(path: &Path, how: How, follow: bool) -> std::io::Result<(File, Metadata)> {
    if !follow {
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        if how.creates() {
            create_dir_all(dir)?;
        }
        owner::check_dir(dir)?;
    }
    let file = match how.options(follow).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(e),
        // ELOOP for a link, ENXIO for a FIFO opened to write, EISDIR …: say what
        // is there when it is not a file.
        Err(e) => {
            return Err(match std::fs::symlink_metadata(path) {
                Ok(meta) if !meta.is_file() => Refused::NotAFile {
                    path: path.to_path_buf(),
                    what: what(meta.file_type()),
                }
                .into(),
                _ => e,
            })
        }
    };
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(Refused::NotAFile {
            path: path.to_path_buf(),
            what: what(kind),
        }
        .into());
    }
    // A regular file: back to ordinary blocking I/O (only O_APPEND of the flags
    // F_SETFL changes is meant to stay). Reads of a regular file never wait
    // whatever the flag says, so a file opened only to read keeps it (one system
    // call less for each of the thousands of small files a listing reads).
    let keep = match how {
        How::Read => return Ok((file, meta)),
        How::Append => OFlag::O_APPEND,
        _ => OFlag::empty(),
    };
    fcntl(&file, FcntlArg::F_SETFL(keep))?;
    Ok((file, meta))
}

/// Opens a file under the root to read it.
pub fn open_read(path: &Path) -> std::io::Result<File> {
    open(path, How::Read, false)
}

/// Opens a file under the root to append to it (and read it), creating it and its
/// directory owner-only when missing.
pub fn open_append(path: &Path) -> std::io::Result<File> {
    open(path, How::Append, false)
}

/// Opens a lock file under the root to read and write it in place, creating it and
/// its directory owner-only when missing.
pub fn open_lock(path: &Path) -> std::io::Result<File> {
    open(path, How::Lock, false)
}

/// Creates a file under the root that must not exist yet (a temporary copy).
pub fn create_new(path: &Path) -> std::io::Result<File> {
    open(path, How::CreateNew, false)
}

/// Opens an existing file under the root to overwrite it in place.
pub fn open_write(path: &Path) -> std::io::Result<File> {
    open(path, How::Write, false)
}

/// Reads all of `file` (opened from `path`, of the size `meta` says), refusing
/// more than `limit` bytes. A read of a regular file returns less than asked only
/// at its end, so a file that has not grown since its size was taken is read in one
/// system call.
fn read_bounded(
    (mut file, meta): (File, Metadata),
    path: &Path,
    limit: u64,
) -> std::io::Result<Vec<u8>> {
    let too_large = |size| Refused::TooLarge {
        path: path.to_path_buf(),
        size,
        limit,
    };
    if meta.len() > limit {
        return Err(too_large(meta.len()).into());
    }
    // Room for what is there now and one byte more, which tells a file that grew
    // meanwhile (still bounded) from one read whole.
    let room = usize::try_from(meta.len().saturating_add(1)).unwrap_or(usize::MAX);
    let mut bytes = vec![0u8; room];
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            if filled as u64 > limit {
                return Err(too_large(filled as u64).into());
            }
            let more = (bytes.len() * 2)
                .min(usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX));
            bytes.resize(more.max(filled + 1), 0);
        }
        let asked = bytes.len() - filled;
        let got = match file.read(&mut bytes[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += got;
        if got < asked {
            break;
        }
    }
    if filled as u64 > limit {
        return Err(too_large(filled as u64).into());
    }
    bytes.truncate(filled);
    Ok(bytes)
}

/// Reads a whole file under the root, refusing more than `limit` bytes (a missing
/// file is an error of kind `NotFound`).
pub fn read_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    read_bounded(open_file(path, How::Read, false)?, path, limit)
}

/// Reads a small file under the root as text (bytes that are not UTF-8 are
/// replaced), refusing more than [`SMALL_FILE`] bytes.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    let bytes = read_file(path, SMALL_FILE)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Reads one of the user's own files (the settings file): links are followed, but
/// what is not a regular file is refused at once and more than `limit` bytes is
/// not read.
pub fn read_user_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    read_bounded(open_file(path, How::Read, true)?, path, limit)
}

/// Checks that `path` is a socket in a checked directory, not a link to one
/// elsewhere, before it is connected to (connecting follows links).
pub fn check_socket(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        owner::check_dir(dir)?;
    }
    let kind = std::fs::symlink_metadata(path)?.file_type();
    if kind.is_socket() {
        return Ok(());
    }
    Err(Refused::NotAFile {
        path: path.to_path_buf(),
        what: what(kind),
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(result: std::io::Result<impl std::fmt::Debug>) -> String {
        let error = result.expect_err("refused");
        match Refused::take(error) {
            Ok(refused) => refused.to_string(),
            Err(other) => panic!("not a refusal: {other}"),
        }
    }

    #[test]
    fn a_fifo_is_refused_at_once_for_reading_and_writing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("job.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))
            .expect("mkfifo");
        let said = refusal(read_file(&fifo, SMALL_FILE));
        assert!(said.ends_with("job.json is a FIFO, not a file"), "{said}");
        assert!(refusal(open_append(&fifo)).contains("is a FIFO"));
        assert!(refusal(open_write(&fifo)).contains("is a FIFO"));
        assert!(refusal(open_lock(&fifo)).contains("is a FIFO"));
    }

    #[test]
    fn links_directories_and_large_files_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("target");
        std::fs::write(&target, "secret").expect("written");
        let link = dir.path().join("NAME.log");
        std::os::unix::fs::symlink(&target, &link).expect("linked");
        assert!(refusal(open_append(&link)).contains("is a symbolic link"));
        assert!(refusal(read_file(&link, SMALL_FILE)).contains("never followed"));
        assert_eq!(std::fs::read(&target).expect("target"), b"secret");
        // The user's own files may be links.
        assert_eq!(read_user_file(&link, 100).expect("followed"), b"secret");
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).expect("dir");
        assert!(refusal(read_file(&sub, SMALL_FILE)).contains("is a directory"));
        assert!(refusal(read_file(&target, 3)).contains("is 6 bytes, more than the 3"));
        assert_eq!(read_file(&target, 6).expect("read"), b"secret");
        let missing = read_file(&dir.path().join("missing"), 10).expect_err("missing");
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }
}
