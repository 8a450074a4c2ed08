//! The list of findings every checker fills in.

use std::fmt;

use anyhow::Result;

/// What a checker found wrong. Checkers keep going after a problem, so one
/// run lists every broken thing at once.
#[derive(Debug, Default)]
pub(crate) struct Problems(Vec<String>);

impl Problems {
    pub(crate) fn require(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            self.0.push(message());
        }
    }

    pub(crate) fn push(&mut self, message: String) {
        self.0.push(message);
    }

    /// Records an error from a step that could not be completed.
    pub(crate) fn record<T>(&mut self, context: &str, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(format!("{context}: {error:#}"));
                None
            }
        }
    }

    pub(crate) fn mentions(&self, needle: &str) -> bool {
        self.0.iter().any(|problem| problem.contains(needle))
    }

    pub(crate) fn assert_none(&self) {
        assert!(self.0.is_empty(), "problems in deploy/:\n{self}");
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.0 {
            writeln!(f, "- {problem}")?;
        }
        Ok(())
    }
}
