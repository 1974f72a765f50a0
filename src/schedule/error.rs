//! The one error type of the schedule language: what is wrong, and where.

use std::fmt;

/// A schedule string that cannot be used, with the 1-based character column of the word
/// or field at fault so that a user (or a spec file loader) can point at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    message: String,
    hint: Option<String>,
    column: Option<usize>,
    input: String,
}

impl ScheduleError {
    /// A message of the form `what is wrong: expected …` keeps the `expected …` part
    /// as a hint printed after the location.
    pub(crate) fn new(message: impl Into<String>, column: Option<usize>, input: &str) -> Self {
        let message = message.into();
        let (message, hint) = match message.split_once(": expected ") {
            Some((head, tail)) => (head.to_string(), Some(format!("expected {tail}"))),
            None => (message, None),
        };
        ScheduleError {
            message,
            hint,
            column,
            input: input.to_string(),
        }
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What would have been accepted, when there is something useful to say.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The 1-based character column in the schedule string where the fault starts.
    pub fn column(&self) -> Option<usize> {
        self.column
    }

    /// The schedule string as given.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(
                f,
                "{} at column {} in {:?}",
                self.message, column, self.input
            )?,
            None => write!(f, "{} in {:?}", self.message, self.input)?,
        }
        match &self.hint {
            Some(hint) => write!(f, ": {hint}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ScheduleError {}
