//! Numbers stored in the LMS, read back.
//!
//! A `numeric(p, s)` column refuses the infinities and values too large for
//! its precision, but takes `NaN` (and `NaN` passes `CHECK (max_score >= 0)`,
//! since PostgreSQL sorts it above every number). No Rust decimal holds
//! `NaN`, so these columns are read as text (the entities' `select_as`) and
//! judged here, by the contract's own number rules (`lms_domain::number`):
//! a value the LMS cannot serve reads as what the contract makes of it,
//! with a warning that names the row, never as an INTERNAL error
//! (docs/contract.md, "Numbers read back").

use lms_domain::number;
use rust_decimal::Decimal;

/// `assessments.max_score`: `NaN` (or anything the column's rules refuse)
/// reads as the contract's default maximum, 100, as the migration now
/// writes it for such a legacy value.
pub(super) fn max_score(assessment_id: i64, stored: &str) -> Decimal {
    let read = number::max_score(Some(stored));
    if read.warning.is_some() {
        tracing::warn!(
            table = "assessments",
            id = assessment_id,
            column = "max_score",
            stored,
            "a stored maximum score the LMS cannot serve reads as the contract's default, {}",
            number::DEFAULT_MAX_SCORE
        );
    }
    read.value
}

/// `assessment_submissions.score`: `NaN` (or anything the column cannot
/// hold) reads as unset, as the migration now writes it. A score outside
/// 0..max_score reads as stored: the column holds it, and the range is the
/// migration's rule for legacy values, not a reason to hide a stored one.
pub(super) fn score(submission_id: i64, stored: Option<&str>) -> Option<Decimal> {
    let read = number::SCORE_COLUMN.accept(stored);
    if read.warning.is_some() {
        tracing::warn!(
            table = "assessment_submissions",
            id = submission_id,
            column = "score",
            stored,
            "a stored score the LMS cannot serve reads as unset"
        );
    }
    read.value
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn nan_reads_as_the_default_maximum_and_as_no_score() {
        assert_eq!(max_score(1, "NaN"), number::DEFAULT_MAX_SCORE);
        assert_eq!(score(1, Some("NaN")), None);
    }

    #[test]
    fn stored_numbers_read_as_stored() {
        let five = Decimal::from_str("5.50").ok();
        assert_eq!(Some(max_score(1, "5.50")), five);
        assert_eq!(score(1, Some("5.50")), five);
        assert_eq!(score(1, Some("-3.00")), Decimal::from_str("-3.00").ok());
        assert_eq!(score(1, None), None);
    }
}
