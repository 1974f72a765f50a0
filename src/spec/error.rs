//! Spec errors that point into the file: `file:line:col: what is wrong`, the line
//! itself with a caret, and a "did you mean" when a word is close to a known one.

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a spec file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no place in the file (e.g. a missing file).
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// The offending source line, for the caret display.
    pub source_line: Option<String>,
    /// Other places where the same is said (`file:line:col`), shown after the
    /// first instead of repeating it: a warning about one unset `${VAR}` used by
    /// many jobs is one warning.
    pub also: Vec<String>,
}

impl SpecError {
    /// An error at a place in `source` (the file's text).
    pub fn at(
        file: &Path,
        source: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        SpecError {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            source_line: source
                .lines()
                .nth(line.saturating_sub(1))
                .map(str::to_string),
            also: Vec::new(),
        }
    }

    /// An error at a place whose line is not shown: a line of an env file may hold
    /// a secret, which errors never print.
    pub fn at_hidden(file: &Path, line: usize, column: usize, message: impl Into<String>) -> Self {
        SpecError {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            source_line: None,
            also: Vec::new(),
        }
    }

    /// `file:line:col` (or the file alone when the problem has no place).
    pub fn place(&self) -> String {
        match self.line {
            0 => self.file.display().to_string(),
            _ => format!("{}:{}:{}", self.file.display(), self.line, self.column),
        }
    }

    /// Its first line, `file:line:col: message`: what tells one problem from
    /// another (the places a folded problem lists beside it do not).
    pub fn headline(&self) -> String {
        format!("{}: {}", self.place(), self.message)
    }

    /// The same problem said once: each message once, at its first place, with the
    /// other places it was found at listed after it.
    pub fn fold(problems: Vec<SpecError>) -> Vec<SpecError> {
        let mut folded: Vec<SpecError> = Vec::new();
        for problem in problems {
            match folded.iter_mut().find(|p| p.message == problem.message) {
                Some(first) => first.also.push(problem.place()),
                None => folded.push(problem),
            }
        }
        folded
    }

    /// An error about the file as a whole.
    pub fn file(file: &Path, message: impl Into<String>) -> Self {
        SpecError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            source_line: None,
            also: Vec::new(),
        }
    }
}

/// A [`SpecError`] shown as a warning: `warning: file:line:col: …` and the line.
pub struct AsWarning<'a>(pub &'a SpecError);

impl fmt::Display for AsWarning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}", self.0)
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place(), self.message)?;
        let number = self.line.to_string();
        let pad = " ".repeat(number.len());
        if let (Some(line), true) = (&self.source_line, self.line > 0) {
            let caret = " ".repeat(self.column.saturating_sub(1));
            write!(f, "\n{pad} |\n{number} | {line}\n{pad} | {caret}^")?;
        }
        if !self.also.is_empty() {
            write!(f, "\n{pad} = also at {}", self.also.join(", "))?;
        }
        Ok(())
    }
}

/// Every problem found while loading, in file order; shown one after another,
/// then how many there are when there is more than one (`3 errors`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecErrors(pub Vec<SpecError>);

impl fmt::Display for SpecErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        if self.0.len() > 1 {
            write!(f, "\n{}", crate::print::count(self.0.len(), "error"))?;
        }
        Ok(())
    }
}

impl std::error::Error for SpecErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_points_at_the_column() {
        let e = SpecError::at(
            Path::new("a.yaml"),
            "x: 1\njobs: [\n",
            2,
            7,
            "expected a mapping",
        );
        assert_eq!(
            e.to_string(),
            "a.yaml:2:7: expected a mapping\n  |\n2 | jobs: [\n  |       ^"
        );
    }
}
