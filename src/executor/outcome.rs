//! What a verb did, as a value: a script, an HTTP client or the reconciler can act
//! on it without reading a sentence; `Display` gives the sentence people read.

use serde::{Deserialize, Serialize};

/// The result of `start`, `pause`, `stop` or `delete`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Started {
        name: String,
    },
    Resumed {
        name: String,
    },
    AlreadyRunning {
        name: String,
    },
    Paused {
        name: String,
    },
    Stopped {
        name: String,
    },
    /// Nothing of it ran; `leftovers` processes a dead supervisor (pid) left
    /// behind were stopped.
    WasNotRunning {
        name: String,
        leftovers: usize,
        supervisor: Option<i32>,
    },
    /// Removed; `kept` says its logs and run history stay.
    Deleted {
        name: String,
        kept: bool,
    },
    /// Only the logs and run history kept from an earlier delete were removed.
    KeptDataDeleted {
        name: String,
    },
}

impl Outcome {
    /// The job it is about.
    pub fn name(&self) -> &str {
        match self {
            Outcome::Started { name }
            | Outcome::Resumed { name }
            | Outcome::AlreadyRunning { name }
            | Outcome::Paused { name }
            | Outcome::Stopped { name }
            | Outcome::WasNotRunning { name, .. }
            | Outcome::Deleted { name, .. }
            | Outcome::KeptDataDeleted { name } => name,
        }
    }
}

impl Outcome {
    /// The sentence, saying where when it is not the `local` executor.
    pub fn on(&self, label: &str) -> String {
        match label {
            super::DEFAULT_LABEL => self.to_string(),
            other => format!("{self} on {other}"),
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Started { name } => write!(f, "started job {name:?}"),
            Outcome::Resumed { name } => write!(f, "resumed job {name:?}"),
            Outcome::AlreadyRunning { name } => write!(f, "job {name:?} is already running"),
            Outcome::Paused { name } => write!(f, "paused job {name:?}"),
            Outcome::Stopped { name } => write!(f, "stopped job {name:?}"),
            Outcome::WasNotRunning {
                name, leftovers: 0, ..
            } => write!(f, "job {name:?} was not running"),
            Outcome::WasNotRunning {
                name,
                leftovers,
                supervisor,
            } => {
                write!(
                    f,
                    "job {name:?} was not running; stopped {leftovers} process(es) its supervisor"
                )?;
                if let Some(pid) = supervisor {
                    write!(f, " (pid {pid})")?;
                }
                write!(f, " left behind")
            }
            Outcome::Deleted { name, kept: false } => write!(f, "deleted job {name:?}"),
            Outcome::Deleted { name, kept: true } => write!(
                f,
                "deleted job {name:?} (its logs and run history are kept)"
            ),
            Outcome::KeptDataDeleted { name } => {
                write!(f, "deleted the logs and run history kept for job {name:?}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_read_as_sentences_and_travel_as_json() {
        let stopped = Outcome::WasNotRunning {
            name: "a".into(),
            leftovers: 2,
            supervisor: Some(7),
        };
        assert_eq!(
            stopped.to_string(),
            "job \"a\" was not running; stopped 2 process(es) its supervisor (pid 7) left behind"
        );
        let json = serde_json::to_string(&stopped).expect("serialises");
        assert!(json.contains("\"outcome\":\"was_not_running\""), "{json}");
        let back: Outcome = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, stopped);
        assert_eq!(
            Outcome::Deleted {
                name: "b".into(),
                kept: true
            }
            .to_string(),
            "deleted job \"b\" (its logs and run history are kept)"
        );
    }
}
