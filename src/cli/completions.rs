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
    /// bash, zsh or fish.
    shell: clap_complete::Shell,
}

/// After a verb that takes job names, Tab offers the jobs there are (bash).
const BASH_JOB_NAMES: &str = r#"
_mrsm_with_job_names() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    case " ${COMP_WORDS[*]:1:COMP_CWORD-1} " in
        *" jobs "*|*" job "*|*" logs "*|*" runs "*)
            if [[ "$cur" != -* ]]; then
                COMPREPLY=($(compgen -W "$(mrsm __job-names 2>/dev/null)" -- "$cur"))
                [[ ${#COMPREPLY[@]} -gt 0 ]] && return 0
            fi
            ;;
    esac
    _mrsm "$@"
}
complete -F _mrsm_with_job_names -o bashdefault -o default mrsm
"#;

/// The same for fish.
const FISH_JOB_NAMES: &str = r#"
complete -c mrsm -n '__fish_seen_subcommand_from jobs job logs runs' -f -a '(mrsm __job-names 2>/dev/null)'
"#;

/// `completions SHELL`.
pub fn run(args: &Args) -> anyhow::Result<i32> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "mrsm", &mut script);
    out_part!("{}", String::from_utf8_lossy(&script));
    match args.shell {
        clap_complete::Shell::Bash => out_part!("{BASH_JOB_NAMES}"),
        clap_complete::Shell::Fish => out_part!("{FISH_JOB_NAMES}"),
        _ => {}
    }
    Ok(0)
}

/// `man`: the manual page (roff) on standard output.
pub fn man() -> anyhow::Result<i32> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    out_part!("{}", String::from_utf8_lossy(&page));
    Ok(0)
}

/// `__job-names`: every job's name on every executor, one per line (for completion;
/// an executor out of reach is skipped silently).
pub fn job_names() -> anyhow::Result<i32> {
    let mut names = Vec::new();
    for (_, executor) in super::registry()?.all() {
        if let Ok(jobs) = executor.list(None) {
            names.extend(jobs.into_iter().map(|j| j.name));
        }
    }
    names.sort();
    names.dedup();
    for name in names {
        out!("{name}");
    }
    Ok(0)
}
