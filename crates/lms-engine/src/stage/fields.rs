//! Reading one legacy row's decoded COPY fields.

use lms_domain::instant::legacy_instant;
use lms_domain::text::clean_opt;

/// A legacy value the engine cannot read at all (a schema drift, not dirt:
/// dirt is handled by the contract's rules).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {problem}")]
pub struct FieldError {
    pub column: &'static str,
    pub problem: String,
}

/// The decoded fields of one legacy row, in the order of the stage's SELECT.
#[derive(Debug)]
pub struct LegacyFields<'a> {
    pub values: &'a [Option<String>],
    pub columns: &'static [&'static str],
}

impl LegacyFields<'_> {
    fn raw(&self, index: usize) -> Option<&str> {
        self.values.get(index).and_then(Option::as_deref)
    }

    fn column(&self, index: usize) -> &'static str {
        self.columns.get(index).copied().unwrap_or("?")
    }

    /// The value exactly as the legacy database printed it.
    pub fn verbatim(&self, index: usize) -> Option<&str> {
        self.raw(index)
    }

    /// A `timestamp` or `date` column, when the LMS can hold it
    /// (`lms_domain::instant`): the infinities and years outside 1 to 9999
    /// name no usable instant and are unknown (NULL).
    pub fn instant(&self, index: usize) -> Option<&str> {
        legacy_instant(self.raw(index))
    }

    /// The contract's `trim`: absent when blank.
    pub fn text(&self, index: usize) -> Option<&str> {
        clean_opt(self.raw(index))
    }

    /// An integer column (ids, references, small numbers).
    pub fn int(&self, index: usize) -> Result<Option<i64>, FieldError> {
        match self.raw(index) {
            None => Ok(None),
            Some(text) => text.parse::<i64>().map(Some).map_err(|_| FieldError {
                column: self.column(index),
                problem: format!("{text:?} is not an integer"),
            }),
        }
    }

    /// A required integer column (the primary key).
    pub fn id(&self, index: usize) -> Result<i64, FieldError> {
        self.int(index)?.ok_or_else(|| FieldError {
            column: self.column(index),
            problem: "is NULL".to_owned(),
        })
    }

    /// A boolean column (`t`/`f`).
    pub fn bool(&self, index: usize) -> Result<Option<bool>, FieldError> {
        match self.raw(index) {
            None => Ok(None),
            Some("t") => Ok(Some(true)),
            Some("f") => Ok(Some(false)),
            Some(text) => Err(FieldError {
                column: self.column(index),
                problem: format!("{text:?} is not a boolean"),
            }),
        }
    }
}
