//! A job's command as it is shown, beside the command that runs: a spec file's
//! steps before `${VAR}` interpolation, so that a value from `.env` or the
//! environment (a token, a password) reaches the job's processes but never a
//! listing, an API answer, a log line or a run record. `$$` is shown as written
//! too: the shown text reads by the spec file's rules, so `${TOKEN}` in it is always
//! a variable whose value is not shown.

use std::borrow::Cow;

use super::chain::split_chain;
use super::spec::JobSpec;

impl JobSpec {
    /// The spec, shown as `written` (its steps as the spec file has them) where
    /// that differs from what runs.
    pub fn written_as(mut self, written: Vec<String>) -> JobSpec {
        self.written_command = (written != self.command).then_some(written);
        self
    }

    /// The steps as everything that shows a job shows them: as written when the
    /// spec file's text differs from what runs, else what runs.
    pub fn shown_command(&self) -> &[String] {
        self.written_command.as_deref().unwrap_or(&self.command)
    }

    /// Step `index` (0-based, a step of `command`) as messages about it quote it.
    /// When the written steps do not pair with those that run (a variable's value
    /// held a lone `+`, making more steps), it is the whole command as written.
    pub fn shown_step(&self, index: usize) -> Cow<'_, str> {
        match &self.written_command {
            Some(written) if written.len() == self.command.len() => {
                Cow::Borrowed(written[index].as_str())
            }
            Some(written) => Cow::Owned(written.join(" + ")),
            None => Cow::Borrowed(self.command.get(index).map_or("", String::as_str)),
        }
    }
}

/// The steps of a command string as written, split on a lone `+` as the text that
/// runs is; a text that does not split so (an empty step that only a variable's
/// value fills) is one step.
pub fn written_steps(text: &str) -> Vec<String> {
    split_chain(text).unwrap_or_else(|_| vec![text.trim().to_string()])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(run: &[&str], written: &[&str]) -> JobSpec {
        JobSpec::new("j", run.iter().map(|s| s.to_string()).collect())
            .written_as(written.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn the_written_steps_are_kept_only_when_they_differ() {
        let same = spec(&["echo a", "echo b"], &["echo a", "echo b"]);
        assert_eq!(same.written_command, None);
        assert_eq!(same.shown_command(), ["echo a", "echo b"]);
        assert_eq!(same.shown_step(1), "echo b");

        let secret = spec(
            &["echo a", "curl -H s3cr3t"],
            &["echo a", "curl -H ${TOKEN}"],
        );
        assert_eq!(secret.shown_command(), ["echo a", "curl -H ${TOKEN}"]);
        assert_eq!(secret.shown_step(0), "echo a");
        assert_eq!(secret.shown_step(1), "curl -H ${TOKEN}");
        assert_eq!(
            secret.command[1], "curl -H s3cr3t",
            "what runs is unchanged"
        );
    }

    #[test]
    fn what_users_see_of_a_job_is_its_command_as_written() {
        let file = crate::job::JobFile {
            spec: spec(&["curl -H s3cr3t"], &["curl -H ${TOKEN}"]),
            desired: crate::job::DesiredState::Running,
            created: jiff::Timestamp::UNIX_EPOCH,
            project: None,
            spec_hash: None,
            resume: None,
            executor: None,
            lease_ms: None,
        };
        let info = crate::job::JobInfo::derive(&file, None, "local");
        assert_eq!(info.command, ["curl -H ${TOKEN}"]);
    }

    #[test]
    fn steps_a_value_made_are_shown_as_the_whole_command() {
        // `${CHAIN}` was `a + b`: two steps run, one was written.
        let chain = spec(&["x", "a", "b"], &["x", "${CHAIN}"]);
        assert_eq!(chain.shown_step(0), "x + ${CHAIN}");
        assert_eq!(chain.shown_step(2), "x + ${CHAIN}");
    }

    #[test]
    fn a_command_string_splits_as_the_text_that_runs() {
        assert_eq!(written_steps("a ${X} + b ++ c"), ["a ${X}", "b + c"]);
        assert_eq!(written_steps(" ${ONE} "), ["${ONE}"]);
        assert_eq!(written_steps("a + ${EMPTY} +"), ["a + ${EMPTY} +"]);
    }

    #[test]
    fn old_definitions_read_without_it_and_new_ones_round_trip() {
        let old: JobSpec =
            serde_json::from_str(r#"{"name": "j", "command": ["true"]}"#).expect("parses");
        assert_eq!(old.written_command, None);
        let new = spec(&["echo s3cr3t"], &["echo ${TOKEN}"]);
        let json = serde_json::to_string(&new).expect("serialises");
        let back: JobSpec = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, new);
        let plain =
            serde_json::to_string(&JobSpec::new("j", vec!["true".into()])).expect("serialises");
        assert!(!plain.contains("written"), "{plain}");
    }
}
