//! `mrsm completions SHELL` and `mrsm man`: shell completion scripts and the manual
//! page, generated from the same clap definitions as `--help`, so they never drift.
//! Bash and fish also complete job names, asked of `mrsm` itself when you press Tab.

use clap::CommandFactory;

use super::Cli;

/// Arguments of `completions`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Install, e.g.:\n  \
    mrsm completions bash > ~/.local/share/bash-completion/completions/mrsm\n  \
    mrsm completions fish > ~/.config/fish/completions/mrsm.fish\n  \
    mrsm completions zsh > ~/.zfunc/_mrsm   (with fpath+=(~/.zfunc) before compinit)")]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell (job names are completed in bash and fish).
    shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// A command's own page, e.g. `mrsm man show jobs` (default: the main page).
    #[arg(value_name = "COMMAND")]
    command: Vec<String>,
}

/// This program's name as users call it (a library user's command line has its own).
fn program_name() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "mrsm".into())
}

/// The command line as completions show it: without its hidden commands.
fn visible(command: clap::Command) -> clap::Command {
    let mut shown = clap::Command::new(command.get_name().to_string()).version(
        command
            .get_version()
            .map(str::to_string)
            .unwrap_or_default(),
    );
    for arg in command.get_arguments() {
        shown = shown.arg(arg.clone());
    }
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        shown = shown.subcommand(sub.clone());
    }
    shown
}

/// After a verb that takes job names, Tab offers the jobs there are (bash).
/// (`PROGRAM` stands for the program's name.) Not after an option, which may
/// want a value of its own.
const BASH_JOB_NAMES: &str = r#"
_PROGRAM_with_job_names() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    case " ${COMP_WORDS[*]:1:COMP_CWORD-1} " in
        *" jobs "*|*" job "*|*" logs "*|*" runs "*)
            if [[ "$cur" != -* && "$prev" != -* ]]; then
                COMPREPLY=($(compgen -W "$(PROGRAM __job-names 2>/dev/null)" -- "$cur"))
                [[ ${#COMPREPLY[@]} -gt 0 ]] && return 0
            fi
            ;;
    esac
    _PROGRAM "$@"
}
complete -F _PROGRAM_with_job_names -o bashdefault -o default PROGRAM
"#;

/// The same for fish.
const FISH_JOB_NAMES: &str = r#"
complete -c PROGRAM -n '__fish_seen_subcommand_from jobs job logs runs' -f -a '(PROGRAM __job-names 2>/dev/null)'
"#;

/// `completions SHELL`.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    let program = program_name();
    let mut script = Vec::new();
    let mut command = visible(Cli::command());
    clap_complete::generate(args.shell, &mut command, &program, &mut script);
    out_part!("{}", String::from_utf8_lossy(&script));
    let names = match args.shell {
        clap_complete::Shell::Bash => BASH_JOB_NAMES,
        clap_complete::Shell::Fish => FISH_JOB_NAMES,
        _ => "",
    };
    let function = program.replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    out_part!(
        "{}",
        names
            .replace("_PROGRAM", &format!("_{function}"))
            .replace("PROGRAM", &program)
    );
    Ok(0)
}

/// What the main page says beyond the options: the environment and the files.
const MAIN_PAGE_EXTRA: &str = r#".SH ENVIRONMENT
.TP
\fBMRSM_ROOT_DIR\fR
Where jobs, their logs and run history live (default: \fBroot_dir\fR of the settings file, else $XDG_STATE_HOME/mrsm, else ~/.local/state/mrsm).
.TP
\fBMRSM_CONFIG\fR
The settings file (default: $XDG_CONFIG_HOME/mrsm/config.toml, else ~/.config/mrsm/config.toml); named, it must exist.
.TP
\fBMRSM_EXECUTOR\fR
The executor of the job verbs when \fB\-e\fR is not given (default: local).
.TP
\fBMRSM_READY_TIMEOUT\fR
How long a supervisor may take to start (default: 10s).
.TP
\fBNO_COLOR\fR
No colours in logs.
.TP
\fBSSL_CERT_FILE\fR, \fBSSL_CERT_DIR\fR
Certificates that \fBapi:\fR executors without a \fBca_file\fR trust over HTTPS, in place of the system's.
.SH FILES
.TP
\fBmrsm\-jobs.yaml\fR
The spec file \fBup\fR, \fBdown\fR, \fBps\fR, \fBdiff\fR and \fBlogs\fR read by default.
.TP
\fBconfig.toml\fR
Machine settings: \fBroot_dir\fR, and \fB[executors.NAME]\fR tables (\fBurl\fR, \fBtoken\fR, \fBca_file\fR, \fBtimeout\fR, \fBconnect_timeout\fR) that name the executors \fBapi:NAME\fR.
.TP
\fB$MRSM_ROOT_DIR/jobs/NAME/\fR, \fB$MRSM_ROOT_DIR/logs/NAME.log\fR
A job's definition, state, run history and control socket; its log and rotated logs.
.SH "SEE ALSO"
Each command's own page: \fBmrsm man COMMAND\fR, e.g. \fBmrsm man show jobs\fR.
"#;

/// `man [COMMAND…]`: the manual page (roff) of mrsm or of one of its commands.
pub fn man(args: &ManArgs) -> anyhow::Result<i32> {
    let mut command = Cli::command();
    command.build();
    let mut name = command.get_name().to_string();
    for word in &args.command {
        let Some(sub) = command.find_subcommand(word).cloned() else {
            return Err(super::UsageError(format!(
                "no command {:?} in `{name}`: try `{name} --help`",
                word
            ))
            .into());
        };
        name = format!("{name}-{}", sub.get_name());
        command = sub.name(name.clone());
    }
    let mut page = Vec::new();
    let man = clap_mangen::Man::new(command);
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    if args.command.is_empty() {
        page.extend_from_slice(MAIN_PAGE_EXTRA.as_bytes());
    }
    man.render_extra_section(&mut page)?;
    if args.command.is_empty() {
        man.render_version_section(&mut page)?;
    }
    out_part!("{}", String::from_utf8_lossy(&page));
    Ok(0)
}

/// `__job-names`: every job's name on every executor, one per line (for completion;
/// an executor out of reach is skipped silently).
pub fn job_names() -> anyhow::Result<i32> {
    let executors = super::registry()?.all();
    // All at once: a remote that does not answer delays Tab by its timeout, once.
    let mut names: Vec<String> = crate::executor::list_each(&executors, None)
        .into_iter()
        .flatten()
        .flatten()
        .map(|j| j.name)
        .collect();
    names.sort();
    names.dedup();
    for name in names {
        out!("{name}");
    }
    Ok(0)
}
