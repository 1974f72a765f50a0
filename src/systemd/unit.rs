//! The unit files mrsm writes, and the quoting systemd needs for what goes in them.

use std::path::Path;
use std::time::Duration;

/// The variable that tells a supervisor the unit file it runs from (it disables
/// the unit once its job finished on its own, so a finished job is not run again
/// at boot, and removes it with a job that deletes itself).
pub const UNIT_VARIABLE: &str = "MRSM_SYSTEMD_UNIT";

/// The root as units name it: the same directory however it was spelled (a
/// trailing `/`, `..`, a symbolic link), so two spellings never make two units of
/// one job. A root that cannot be resolved is taken as given.
pub fn canonical_root(root: &Path) -> std::path::PathBuf {
    std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf())
}

/// A short, stable tag of a (canonical) root directory: unit names of two roots
/// never clash.
fn root_tag(root: &Path) -> String {
    let mut hash = crate::fnv::Fnv::new();
    hash.write(root.as_os_str().as_encoded_bytes());
    format!("{:016x}", hash.finish())
}

/// The unit of job `name` of `root`: `mrsm-HASH-NAME.service`. Job names are
/// letters, digits, `_`, `.` and `-`, all valid in a unit name as they are.
pub fn job_unit_name(root: &Path, name: &str) -> String {
    format!("mrsm-{}-{name}.service", root_tag(root))
}

/// Where `systemctl enable` links the unit file at `unit` for
/// `WantedBy=default.target`: `DIR/default.target.wants/NAME`. Removing the link is
/// what `disable` does (the manager reads these links from disk when asked), with
/// no call to the manager.
pub fn wants_link(unit: &Path) -> Option<std::path::PathBuf> {
    let name = unit.file_name()?;
    Some(unit.parent()?.join("default.target.wants").join(name))
}

/// Makes the link at [`wants_link`] of `unit` (what `systemctl enable` does for
/// it, with no call to the manager); one that is there already is kept.
pub fn link_wants(unit: &Path) -> std::io::Result<()> {
    let Some(link) = wants_link(unit) else {
        return Ok(());
    };
    if std::fs::read_link(&link).is_ok_and(|to| to == unit) {
        return Ok(());
    }
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(unit, &link)
}

/// Removes the link at [`wants_link`] of `unit`; no link is no error.
pub fn unlink_wants(unit: &Path) -> std::io::Result<()> {
    let Some(link) = wants_link(unit) else {
        return Ok(());
    };
    match std::fs::remove_file(link) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Whether `segment` (the last part of a cgroup path) is a job's unit:
/// `mrsm-` + 16 hex digits + `-NAME.service`.
fn is_job_unit(segment: &str) -> bool {
    let Some(rest) = segment.strip_prefix("mrsm-") else {
        return false;
    };
    let hex = rest
        .get(..16)
        .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    hex && rest[16..].starts_with('-') && rest.ends_with(".service")
}

/// Whether this process runs inside a job's unit (a step of a job on the
/// `systemd` executor, or something it started): what it launches to outlive it
/// must leave the unit's cgroup, or it dies when the unit stops.
pub fn inside_job_unit() -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/self/cgroup") else {
        return false;
    };
    text.lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .any(|path| path.rsplit('/').next().is_some_and(is_job_unit))
}

/// The unit that runs `mrsm resurrect` for `root` at boot (`mrsm startup`).
pub fn resurrect_unit_name(root: &Path) -> String {
    format!("mrsm-resurrect-{}.service", root_tag(root))
}

/// A value quoted for a unit file: inside double quotes, `\` and `"` escaped, `%`
/// doubled (specifiers), control characters as C escapes, and in a command line
/// (`exec`) `$` doubled (variables are expanded there, not in `Environment=`).
pub fn quoted(text: &str, exec: bool) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    out.push_str(&escaped(text, exec));
    out.push('"');
    out
}

/// `text` escaped as [`quoted`] does, without the quotes.
fn escaped(text: &str, exec: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '%' => out.push_str("%%"),
            '$' if exec => out.push_str("$$"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32 & 0xff)),
            c => out.push(c),
        }
    }
    out
}

/// Free text on one line of a unit file (a description, a comment), which systemd
/// takes as it is but for specifiers: those doubled, control characters (a line
/// break would end the line) shown as `?`.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%%"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A path for a setting that systemd takes literally to the end of the line
/// (`WorkingDirectory=`, `StandardError=append:`): specifiers doubled; `None` when
/// it cannot be written so (a control character, or space at either end).
fn literal_path(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    let plain = !text.chars().any(char::is_control) && text.trim() == text;
    plain.then(|| text.replace('%', "%%"))
}

/// What a job's unit says; [`JobUnit::text`] writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobUnit<'a> {
    /// The root directory the job lives in.
    pub root: &'a Path,
    /// The job's name.
    pub name: &'a str,
    /// The `mrsm` executable (absolute).
    pub mrsm: &'a Path,
    /// The job's command as users see it (for the description only).
    pub command: &'a str,
    /// Where the job's steps run.
    pub cwd: Option<&'a Path>,
    /// How long a stop may take before systemd kills what is left: the job's own
    /// grace period and the supervisor's slack.
    pub stop_timeout: Duration,
    /// How long the supervisor may take to say it is up.
    pub start_timeout: Duration,
    /// Where the supervisor's own errors go.
    pub errors: &'a Path,
    /// The directory the unit file is written to.
    pub dir: &'a Path,
}

/// The longest description written: `systemctl status` shows one line.
const DESCRIPTION_MAX: usize = 200;

impl JobUnit<'_> {
    /// The unit's name.
    pub fn unit_name(&self) -> String {
        job_unit_name(self.root, self.name)
    }

    /// The unit file's text. The job's environment is not in it (the supervisor
    /// gives it to the steps, from the job's definition): a unit file is readable by
    /// tools that should not see secrets.
    pub fn text(&self) -> String {
        let root = self.root.to_string_lossy();
        let mut command: String = self.command.chars().take(DESCRIPTION_MAX).collect();
        if command.len() < self.command.len() {
            command.push('…');
        }
        let mut text =
            format!(
            "# Written by mrsm for job {name} of {root}; `mrsm delete jobs {name}` removes it.\n\
             [Unit]\n\
             Description=mrsm job {name}: {command}\n\
             \n\
             [Service]\n\
             Type=notify\n\
             NotifyAccess=main\n\
             ExecStart={mrsm} supervise {name}\n\
             Environment={root_var} {supervisor_var} {unit_var}\n",
            name = self.name,
            root = one_line(&root),
            command = one_line(&command),
            mrsm = quoted(&self.mrsm.to_string_lossy(), true),
            root_var = quoted(&format!("MRSM_ROOT_DIR={root}"), false),
            supervisor_var = quoted(&format!("MRSM_SUPERVISOR={}", self.name), false),
            unit_var = quoted(
                &format!("{UNIT_VARIABLE}={}", self.dir.join(self.unit_name()).display()),
                false
            ),
        );
        // `-`: a directory gone missing is the supervisor's to report, in the log.
        if let Some(cwd) = self.cwd.and_then(literal_path) {
            text.push_str(&format!("WorkingDirectory=-{cwd}\n"));
        }
        text.push_str(&format!(
            "KillMode=mixed\n\
             TimeoutStartSec={start}\n\
             TimeoutStopSec={stop}\n\
             Restart=on-failure\n\
             RestartSec=1\n\
             StandardOutput=null\n\
             StandardError={errors}\n\
             \n\
             [Install]\n\
             WantedBy=default.target\n",
            start = seconds(self.start_timeout),
            stop = seconds(self.stop_timeout),
            errors =
                literal_path(self.errors).map_or("journal".to_string(), |p| format!("append:{p}")),
        ));
        text
    }
}

/// A duration in whole seconds (rounded up) as systemd reads one.
fn seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_what_systemd_would_read_otherwise() {
        assert_eq!(quoted("50% \"a\"\\$x", false), r#""50%% \"a\"\\$x""#);
        assert_eq!(quoted("$x", true), r#""$$x""#);
        assert_eq!(quoted("a\nb\tc", false), r#""a\nb\x09c""#);
        assert_ne!(
            job_unit_name(Path::new("/a"), "j"),
            job_unit_name(Path::new("/b"), "j")
        );
        assert!(job_unit_name(Path::new("/a"), "j.1").ends_with("-j.1.service"));
        let unit = job_unit_name(Path::new("/a"), "j.1");
        assert!(is_job_unit(&unit));
        assert!(!is_job_unit(&resurrect_unit_name(Path::new("/a"))));
        assert!(!is_job_unit("mrsm-web.service"));
        assert!(!is_job_unit(&unit.replace(".service", ".scope")));
    }
}
