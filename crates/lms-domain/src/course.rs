//! The course offering a journal row belongs to.

use std::fmt;

use crate::text::clean_opt;

/// The part of a course offering key that comes from the journal row
/// itself: the academic year (trimmed) and the semester (1 or 2). The
/// subject and group complete the key (`courses_offering_key`); a group
/// that points nowhere counts as NULL (docs/contract.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CourseTerm {
    pub academic_year: String,
    pub semester: i16,
}

/// The longest academic year a course offering keeps. Legacy writes
/// `2023-2024`; a longer value is not a year, and the longest could not be
/// indexed (`courses_offering_key`), which would fail the run.
pub const ACADEMIC_YEAR_MAX_CHARS: usize = 256;

/// Why a journal row has no usable term: the row is rejected as
/// `invalid_value` (docs/contract.md), and this is its detail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTerm {
    #[error("academic_year is blank")]
    BlankYear,
    #[error("academic_year is {0} characters long, more than {ACADEMIC_YEAR_MAX_CHARS}")]
    LongYear(usize),
    #[error("semester is NULL")]
    NoSemester,
    #[error("semester {0} is neither 1 nor 2")]
    BadSemester(i64),
}

impl CourseTerm {
    /// The contract's rule for a journal row's `academic_year` and
    /// `semester`.
    pub fn from_legacy(
        academic_year: Option<&str>,
        semester: Option<i64>,
    ) -> Result<CourseTerm, InvalidTerm> {
        let academic_year = academic_year_of(academic_year)?;
        let semester = match semester {
            None => return Err(InvalidTerm::NoSemester),
            Some(1) => 1,
            Some(2) => 2,
            Some(other) => return Err(InvalidTerm::BadSemester(other)),
        };
        Ok(CourseTerm {
            academic_year: academic_year.to_owned(),
            semester,
        })
    }
}

/// The academic year a course offering can hold, from legacy's text or a
/// client's filter: trimmed, not blank, at most
/// [`ACADEMIC_YEAR_MAX_CHARS`] long.
pub fn academic_year_of(text: Option<&str>) -> Result<&str, InvalidTerm> {
    let academic_year = clean_opt(text).ok_or(InvalidTerm::BlankYear)?;
    let length = academic_year.chars().count();
    if length > ACADEMIC_YEAR_MAX_CHARS {
        return Err(InvalidTerm::LongYear(length));
    }
    Ok(academic_year)
}

impl fmt::Display for CourseTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} semester {}", self.academic_year, self.semester)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_term_needs_a_year_and_semester_one_or_two() {
        assert_eq!(
            CourseTerm::from_legacy(Some(" 2023-2024 "), Some(2)),
            Ok(CourseTerm {
                academic_year: "2023-2024".into(),
                semester: 2
            })
        );
        assert_eq!(
            CourseTerm::from_legacy(Some(" \t"), Some(1)),
            Err(InvalidTerm::BlankYear)
        );
        assert_eq!(
            CourseTerm::from_legacy(Some("2023-2024"), None),
            Err(InvalidTerm::NoSemester)
        );
        assert_eq!(
            CourseTerm::from_legacy(Some("2023-2024"), Some(i64::from(i16::MIN))),
            Err(InvalidTerm::BadSemester(-32768))
        );
        assert_eq!(
            InvalidTerm::BadSemester(3).to_string(),
            "semester 3 is neither 1 nor 2"
        );
    }

    #[test]
    fn an_academic_year_longer_than_an_offering_keeps_is_invalid() {
        let longest = "ә".repeat(ACADEMIC_YEAR_MAX_CHARS);
        assert!(CourseTerm::from_legacy(Some(&longest), Some(1)).is_ok());
        assert_eq!(
            CourseTerm::from_legacy(Some(&format!("{longest}x")), Some(1)),
            Err(InvalidTerm::LongYear(ACADEMIC_YEAR_MAX_CHARS + 1))
        );
    }
}
