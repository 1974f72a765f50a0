//! Starting one step of a chain as its own process group, and carrying its output
//! into the job's log line by line for as long as anything holds the pipes open.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::unix::pipe;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use super::machine::{Placed, StepAt};
pub use super::pipes::STDIN_LIMIT;
use super::pipes::{feed_stdin, pump};
use crate::job::{split_words, JobSpec};
use crate::logs::Stream;
use crate::store::ProcessIdentity;

/// The environment variable that carries a step's run number; every process the
/// run starts inherits it, which is how what a run left behind is found.
pub const RUN_VARIABLE: &str = "MRSM_RUN";

/// The variables by which a job's processes are recognised as its own (its name,
/// the run, the Slurm step shield): a supervisor launched from inside a job starts
/// without them, so it is not taken for one of that job's processes.
pub const JOB_TAGS: [&str; 3] = [
    crate::store::proc::JOB_VARIABLE,
    RUN_VARIABLE,
    crate::slurm::SHIELD_VARIABLE,
];

pub use super::pipes::{JobLog, SharedLog};

/// A started step.
pub struct StepChild {
    pub process: ProcessIdentity,
    /// Feeds the step's standard input. The pipe stays open while this is held, so a
    /// step reading its input waits for it (from `attach job`) rather than seeing
    /// end-of-file; dropping it closes the pipe.
    pub stdin: Option<mpsc::UnboundedSender<Vec<u8>>>,
    /// Input bytes handed over and not yet taken by the step.
    pub stdin_pending: Arc<AtomicUsize>,
    /// Second handles on the read ends of the step's output pipes, to tell when its
    /// pumps have read everything the step wrote ([`StepChild::output_drained`]).
    pub outputs: Vec<OwnedFd>,
    /// The step's output pumps, to tell when they have reached end-of-file.
    pub pumps: Vec<tokio::task::AbortHandle>,
}

impl StepChild {
    /// Whether the step's pumps have logged everything and ended (every writer of its
    /// pipes is gone).
    pub fn output_ended(&self) -> bool {
        self.pumps.iter().all(|p| p.is_finished())
    }

    /// Whether nothing the step wrote is waiting in its pipes any more. The pumps run
    /// on the supervisor's own thread and log what they read before they wait again,
    /// so once this holds, everything the step wrote is in the log.
    pub fn output_drained(&self) -> bool {
        self.outputs.iter().all(|fd| unread_bytes(fd) == 0)
    }
}

/// Bytes waiting in a pipe (0 when it cannot be asked).
fn unread_bytes(fd: &OwnedFd) -> usize {
    use std::os::fd::AsRawFd;
    let mut n: nix::libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer, which is valid.
    let rc = unsafe { nix::libc::ioctl(fd.as_raw_fd(), nix::libc::FIONREAD, &mut n) };
    if rc < 0 {
        0
    } else {
        usize::try_from(n).unwrap_or(0)
    }
}

/// Where a step's process comes from: the seam between what the supervisor keeps
/// (schedules, chains, overlap, restarts, logs, run records, signals to the step's
/// process group, its exit) and what runs the step's command. The direct runner
/// runs it here; the Slurm runner starts a local process that stands for the step
/// on the cluster (it forwards the signals and reports the exit) and holds and
/// releases the cluster's side when the job is paused and resumed.
pub trait StepRunner: Send + Sync {
    /// The command that runs step `text` of `spec`; with `paused`, one that stops
    /// itself (SIGSTOP) before running anything, to go on when sent SIGCONT.
    fn command(
        &self,
        spec: &JobSpec,
        at: StepAt,
        text: &str,
        paused: bool,
    ) -> std::io::Result<Command>;
    /// Where the running step runs beyond this machine, once known, and why it
    /// has not started there yet while it waits in a queue.
    fn placed(&self, at: StepAt) -> Option<Placed> {
        let _ = at;
        None
    }
    /// Holds the live steps' work elsewhere, before their processes here are
    /// stopped; an error refuses the pause (nothing is held then).
    fn suspend(&self, live: &[StepAt]) -> Result<(), String> {
        let _ = live;
        Ok(())
    }
    /// Lets the held work go on again; what could not be resumed is the error.
    fn resume(&self, live: &[StepAt]) -> Result<(), String> {
        let _ = live;
        Ok(())
    }
    /// How long beyond the job's grace period a step may take to end before its
    /// processes here are killed (the cluster's side ends first).
    fn kill_slack(&self) -> Duration {
        Duration::ZERO
    }
    /// The step has exited: where it ran and how it ended there, if elsewhere.
    fn ended(&self, at: StepAt) -> Option<Placed> {
        let _ = at;
        None
    }
}

/// Runs steps on this machine: `sh -c STEP`, or the words themselves without a
/// shell (`shell: false`).
pub struct Direct;

impl StepRunner for Direct {
    fn command(
        &self,
        spec: &JobSpec,
        _at: StepAt,
        text: &str,
        paused: bool,
    ) -> std::io::Result<Command> {
        direct_command(spec, text, paused)
    }
}

/// Shell words that are not programs, or whose shell builtin differs from the
/// program of that name (`echo -e`, `pwd`, `type`): these steps stay the shell's.
const NOT_PROGRAMS: [&str; 59] = [
    "!", "{", "}", ".", ":", "[", "alias", "bg", "break", "case", "cd", "chdir", "command",
    "continue", "do", "done", "echo", "elif", "else", "esac", "eval", "exec", "exit", "export",
    "false", "fg", "fi", "for", "function", "getopts", "hash", "if", "in", "jobs", "kill", "local",
    "printf", "pwd", "read", "readonly", "return", "select", "set", "shift", "source", "test",
    "then", "time", "times", "trap", "true", "type", "ulimit", "umask", "unalias", "unset",
    "until", "wait", "while",
];

/// The words of `text` when it is a single simple command that runs the same without
/// a shell: plain words, quoted strings and backslash-escaped characters (as `mrsm
/// run -- ARGS…` writes its arguments), with no pipes, lists, redirections,
/// expansions (no `$`, backquote or backslash in double quotes), globs,
/// assignments or builtins. Such a step is exec'd directly, so the job is its
/// supervisor and its own processes (no shell in between) and the command gets the
/// job's signals: `sh -c 'trap … TERM; …'` is that `sh`, whose trap decides.
pub(super) fn plain_command(text: &str) -> Option<Vec<String>> {
    #[derive(PartialEq)]
    enum In {
        Words,
        /// After an unquoted backslash: the next character is taken literally.
        Escaped,
        Single,
        Double,
    }
    let plain = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                ' ' | '\t' | '-' | '_' | '.' | '/' | ',' | ':' | '+' | '@'
            )
    };
    let mut within = In::Words;
    for c in text.chars() {
        within = match within {
            In::Words => match c {
                '\'' => In::Single,
                '"' => In::Double,
                '\\' => In::Escaped,
                c if plain(c) => In::Words,
                _ => return None,
            },
            // A backslash before a newline joins lines: the shell's business.
            In::Escaped if c == '\n' => return None,
            In::Escaped => In::Words,
            In::Single if c == '\'' => In::Words,
            In::Single => In::Single,
            In::Double => match c {
                '"' => In::Words,
                '$' | '`' | '\\' => return None,
                _ => In::Double,
            },
        };
    }
    if within != In::Words {
        return None;
    }
    let words = split_words(text).ok()?;
    let first = words.first()?;
    let builtin = NOT_PROGRAMS.contains(&first.as_str());
    (!builtin && !first.contains('=') && !first.is_empty()).then_some(words)
}

/// `text` as the shell runs it: a single plain command replaces the shell
/// (`exec`); anything the shell must do first is left as written.
fn shell_text(text: &str) -> String {
    match plain_command(text) {
        Some(_) => format!("exec {text}"),
        None => text.to_string(),
    }
}

/// A step run without a shell (`shell: false`): its program and arguments, split
/// as the shell would split plain words.
pub(super) fn program_and_args(text: &str) -> std::io::Result<(String, Vec<String>)> {
    let mut words = split_words(text)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?
        .into_iter();
    let program = words.next().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the step is empty")
    })?;
    Ok((program, words.collect()))
}

/// The command that runs step `text` of `spec` on this machine (see [`Direct`]).
pub(super) fn direct_command(spec: &JobSpec, text: &str, paused: bool) -> std::io::Result<Command> {
    Ok(match (spec.shell, paused) {
        (true, false) => match plain_command(text) {
            // What the shell would do (search PATH, exec) without starting one.
            Some(words) => {
                let mut c = Command::new(&words[0]);
                c.args(&words[1..]);
                c
            }
            None => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c").arg(text);
                c
            }
        },
        // A step of a paused job stops itself before it runs anything, and goes on
        // when resumed (SIGCONT to its group).
        (true, true) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(format!("kill -STOP $$\n{}", shell_text(text)));
            c
        }
        (false, _) => {
            let (program, args) = program_and_args(text)?;
            let mut c = if paused {
                let mut c = Command::new("/bin/sh");
                c.arg("-c")
                    .arg("kill -STOP $$; exec \"$0\" \"$@\"")
                    .arg(program);
                c
            } else {
                Command::new(program)
            };
            c.args(args);
            c
        }
    })
}

/// Runs `cmd` in the job's directory, with `$PWD` saying so as a shell would have
/// (a step run without one would otherwise see its launcher's).
pub(super) fn in_job_dir(cmd: &mut Command, spec: &JobSpec) {
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
        if !spec.env.contains_key("PWD") {
            cmd.env("PWD", dir);
        }
    }
}

/// Starts step `text` of `spec` through `runner` in a new process group, pumping its
/// output to `log`; returns the step and its output pumps.
pub fn spawn_step(
    runner: &dyn StepRunner,
    spec: &JobSpec,
    text: &str,
    at: StepAt,
    log: &SharedLog,
    paused: bool,
) -> std::io::Result<(StepChild, Vec<JoinHandle<()>>)> {
    let run = at.run;
    let mut cmd = runner.command(spec, at, text, paused)?;
    // SAFETY: prctl and getppid are async-signal-safe and touch no memory of the
    // parent. The step dies with the supervisor (if the supervisor died before this
    // ran, the parent is already someone else and the step gives up).
    let supervisor = std::process::id() as i32;
    let step_umask = crate::store::private::step_umask();
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)?;
            if let Some(mask) = step_umask {
                nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
            }
            if nix::unistd::getppid().as_raw() != supervisor {
                return Err(std::io::Error::other("the supervisor is gone"));
            }
            Ok(())
        });
    }
    crate::spawn::unblock_signals(&mut cmd);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .env_remove(crate::store::proc::SUPERVISOR_VARIABLE)
        .envs(&spec.env)
        .env(crate::store::proc::JOB_VARIABLE, &spec.name)
        .env(RUN_VARIABLE, run.to_string());
    in_job_dir(&mut cmd, spec);
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    let process = ProcessIdentity::of(pid).unwrap_or(ProcessIdentity {
        pid,
        start_ticks: 0,
    });
    let mut pumps = Vec::with_capacity(2);
    let mut outputs = Vec::with_capacity(2);
    for (stream, fd) in [
        (Stream::Out, child.stdout.take().map(OwnedFd::from)),
        (Stream::Err, child.stderr.take().map(OwnedFd::from)),
    ] {
        if let Some(fd) = fd {
            outputs.push(fd.try_clone()?);
            let receiver = pipe::Receiver::from_owned_fd(fd)?;
            pumps.push(tokio::spawn(pump(receiver, stream, log.clone())));
        }
    }
    // The exit status is collected by the supervisor's reaper (waitpid on any child),
    // so the `Child` handle is dropped without waiting.
    let stdin_pending = Arc::new(AtomicUsize::new(0));
    let stdin = match child.stdin.take() {
        Some(pipe) => Some(feed_stdin(pipe, stdin_pending.clone())?),
        None => None,
    };
    Ok((
        StepChild {
            process,
            stdin,
            stdin_pending,
            outputs,
            pumps: pumps.iter().map(JoinHandle::abort_handle).collect(),
        },
        pumps,
    ))
}

/// Why step `step` (0-based) of `spec` could not start, naming what is missing when
/// that is the reason (never a `${VAR}`'s value: see `JobSpec::shown_step`).
pub fn why_not_started(spec: &JobSpec, step: usize, error: &std::io::Error) -> String {
    let text = spec.command.get(step).map_or("", String::as_str);
    if let Some(dir) = spec.cwd.as_ref().filter(|d| !d.is_dir()) {
        return match dir.exists() {
            true => format!("its working directory {} is not a directory", dir.display()),
            false => format!("its working directory {} does not exist", dir.display()),
        };
    }
    let without_shell = !spec.shell || plain_command(text).is_some();
    if without_shell && error.kind() == std::io::ErrorKind::NotFound {
        let program = split_words(text)
            .ok()
            .and_then(|w| w.into_iter().next())
            .unwrap_or_default();
        let as_path = spec
            .cwd
            .as_deref()
            .unwrap_or(std::path::Path::new("/"))
            .join(&program);
        // Named only when the step as shown starts with it: else a variable did.
        let shown = split_words(&spec.shown_step(step)).ok();
        let named = match shown.and_then(|w| w.into_iter().next()).as_ref() == Some(&program) {
            true => format!("program {program:?}"),
            false => "the program (named by a variable, whose value is not shown)".to_string(),
        };
        if program.contains('/') && as_path.is_file() {
            // The file is there: what is missing is what its first line names.
            return format!("{named} exists, but the interpreter its #! line names was not found");
        }
        return format!("{named} not found (not a path, and not on PATH)");
    }
    error.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::LogWriter;
    use crate::supervisor::pipes::tests::records;

    /// A runner that changes how a step runs: here, by what it finds in its
    /// environment.
    struct Wrapping;

    impl StepRunner for Wrapping {
        fn command(
            &self,
            spec: &JobSpec,
            _at: StepAt,
            text: &str,
            paused: bool,
        ) -> std::io::Result<Command> {
            let mut c = direct_command(spec, text, paused)?;
            c.env("RUNNER", "wrapped");
            Ok(c)
        }
    }

    #[test]
    fn a_step_runs_through_its_runner_and_the_supervisor_keeps_the_rest() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("job.log");
        let log = JobLog::shared(LogWriter::open(&path, 1 << 30, 2).expect("opens"));
        let text = "echo via ${RUNNER:-nothing} run $MRSM_RUN";
        let spec = JobSpec::new("j", vec![text.into()]);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        for (runner, expected) in [
            (&Wrapping as &dyn StepRunner, "via wrapped run 7"),
            (&Direct, "via nothing run 7"),
        ] {
            runtime.block_on(async {
                let (child, pumps) =
                    spawn_step(runner, &spec, text, StepAt { run: 7, step: 1 }, &log, false)
                        .expect("starts");
                for pump in pumps {
                    pump.await.expect("the pump ends");
                }
                let _ =
                    nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(child.process.pid), None);
            });
            let last = records(&path).pop().expect("a record");
            assert_eq!(last, (Stream::Out, false, expected.as_bytes().to_vec()));
        }
    }

    #[test]
    fn direct_steps_are_shell_commands_or_plain_words() {
        let mut spec = JobSpec::new("j", vec!["a b".into()]);
        let shown = |c: &Command| {
            std::iter::once(c.get_program())
                .chain(c.get_args())
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        let c = direct_command(&spec, "echo 'x y' | cat", false).expect("a command");
        assert_eq!(shown(&c), ["/bin/sh", "-c", "echo 'x y' | cat"]);
        let c = direct_command(&spec, "/bin/echo hi", true).expect("a command");
        assert_eq!(
            shown(&c),
            ["/bin/sh", "-c", "kill -STOP $$\nexec /bin/echo hi"]
        );
        // One plain command runs without a shell (and replaces the shell of a paused
        // step once it goes on); anything else is the shell's.
        let c = direct_command(&spec, "sleep  300", false).expect("a command");
        assert_eq!(shown(&c), ["sleep", "300"]);
        let c = direct_command(&spec, "sleep 1; echo", false).expect("a command");
        assert_eq!(shown(&c), ["/bin/sh", "-c", "sleep 1; echo"]);
        // Quoted words are still one simple command: the shell it would start is the
        // job's own (its trap decides how a stop ends).
        let c = direct_command(&spec, r#"sh -c 'trap "exit 0" TERM; sleep 9'"#, false)
            .expect("a command");
        assert_eq!(shown(&c), ["sh", "-c", r#"trap "exit 0" TERM; sleep 9"#]);
        for (text, direct) in [
            (r#"/bin/echo "a b" 'c d'"#, true),
            (r#"echo "$HOME""#, false),
            (r#"echo "`id`""#, false),
            (r#"echo "a\"b""#, false),
            ("echo 'unterminated", false),
            ("ls *.txt", false),
            ("'cd' /tmp", false),
            ("echo a > f", false),
            ("echo ~", false),
            ("echo -e hi", false),
            ("pwd", false),
            (r"/bin/echo it\'s", true),
            ("echo a\\\nb", false),
            ("echo a\\", false),
        ] {
            assert_eq!(plain_command(text).is_some(), direct, "{text}");
        }
        for (text, run) in [
            ("sleep 300", "exec sleep 300"),
            ("./sync.sh --loop", "exec ./sync.sh --loop"),
            ("a | b", "a | b"),
            ("sleep 1; echo", "sleep 1; echo"),
            ("echo $HOME", "echo $HOME"),
            ("cd /tmp", "cd /tmp"),
            ("X=1 env", "X=1 env"),
            ("sleep 300 &", "sleep 300 &"),
            ("while true", "while true"),
        ] {
            assert_eq!(super::shell_text(text), run, "{text}");
        }
        spec.shell = false;
        let c = direct_command(&spec, "echo 'x y'", false).expect("a command");
        assert_eq!(shown(&c), ["echo", "x y"]);
        assert!(direct_command(&spec, "  ", false).is_err());
    }
}
