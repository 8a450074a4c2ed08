//! Numbers from legacy `numeric` columns into the LMS's typed columns.
//!
//! A legacy `numeric(p,s)` can hold `NaN`, which no LMS client reads (and
//! which compares above every number in PostgreSQL, so a CHECK such as
//! `max_score >= 0` lets it through). The contract is silent; the choice
//! (docs/contract.md) is that a number the target column cannot hold, or
//! that its CHECK refuses, becomes NULL with `invalid_number`, or the
//! contract's default where the contract gives one.

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use crate::outcome::{Repaired, WarningCode};

/// A typed `numeric(precision, scale)` column of the LMS schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumericColumn {
    pub precision: u32,
    pub scale: u32,
}

impl NumericColumn {
    /// What the column stores for a legacy value: the value rounded to the
    /// column's scale as PostgreSQL rounds it (half away from zero), or
    /// `None` with `invalid_number` when it is `NaN`, an infinity, not a
    /// number at all, or too large for the column.
    pub fn accept(self, raw: Option<&str>) -> Repaired<Option<Decimal>> {
        let Some(text) = raw else {
            return Repaired::clean(None);
        };
        match self.fit(text) {
            Some(value) => Repaired::clean(Some(value)),
            None => Repaired::warned(None, WarningCode::InvalidNumber),
        }
    }

    fn fit(self, text: &str) -> Option<Decimal> {
        // `Decimal` has no NaN or infinity, so those fail to parse here.
        let value = Decimal::from_str(text.trim())
            .or_else(|_| Decimal::from_scientific(text.trim()))
            .ok()?
            .round_dp_with_strategy(self.scale, RoundingStrategy::MidpointAwayFromZero);
        let integer_digits = self.precision.checked_sub(self.scale)?;
        let limit = Decimal::from_i128_with_scale(10_i128.checked_pow(integer_digits)?, 0);
        (value.abs() < limit).then_some(value)
    }
}

/// `assessments.max_score` and `assessment_submissions.score`.
pub const SCORE_COLUMN: NumericColumn = NumericColumn {
    precision: 6,
    scale: 2,
};

/// `subjects.credits`.
pub const CREDITS_COLUMN: NumericColumn = NumericColumn {
    precision: 4,
    scale: 1,
};

/// The contract's default maximum score.
pub const DEFAULT_MAX_SCORE: Decimal = Decimal::from_parts(100, 0, 0, false, 0);

/// The contract: NULL `max_score` means 100. A maximum the LMS cannot hold
/// (`NaN`) or that its CHECK refuses (below zero) is 100 too, with
/// `invalid_number` (docs/contract.md).
pub fn max_score(raw: Option<&str>) -> Repaired<Decimal> {
    if raw.is_none() {
        return Repaired::clean(DEFAULT_MAX_SCORE);
    }
    match SCORE_COLUMN.accept(raw).value {
        Some(value) if value >= Decimal::ZERO => Repaired::clean(value),
        _ => Repaired::warned(DEFAULT_MAX_SCORE, WarningCode::InvalidNumber),
    }
}

/// The contract: a score below 0 or above the exam's maximum becomes NULL
/// with `score_out_of_range`. A `NaN` score is above it: PostgreSQL orders
/// `NaN` above every number, so the contract's rule, read in the legacy
/// database's terms, takes it. (Nothing else in a legacy `numeric(6,2)`
/// is a number the LMS cannot hold; any other text is `invalid_number`.)
pub fn score(raw: Option<&str>, max: Decimal) -> Repaired<Option<Decimal>> {
    let accepted = SCORE_COLUMN.accept(raw);
    match accepted.value {
        Some(value) if value < Decimal::ZERO || value > max => {
            Repaired::warned(None, WarningCode::ScoreOutOfRange)
        }
        None if raw.is_some_and(is_nan) => Repaired::warned(None, WarningCode::ScoreOutOfRange),
        _ => accepted,
    }
}

/// PostgreSQL's `NaN`, as `numeric` prints it (and as its input takes it:
/// in any case, padded).
fn is_nan(text: &str) -> bool {
    text.trim().eq_ignore_ascii_case("nan")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap_or_default()
    }

    #[test]
    fn nan_and_values_too_large_for_the_column_are_invalid_numbers() {
        for raw in ["NaN", "Infinity", "-Infinity", "abc", "10000.00", "1e9"] {
            assert_eq!(
                SCORE_COLUMN.accept(Some(raw)),
                Repaired::warned(None, WarningCode::InvalidNumber),
                "{raw}"
            );
        }
        assert_eq!(
            SCORE_COLUMN.accept(Some("9999.99")).value,
            Some(dec("9999.99"))
        );
        assert_eq!(SCORE_COLUMN.accept(Some("-9999.99")).warning, None);
        assert_eq!(SCORE_COLUMN.accept(None), Repaired::clean(None));
    }

    #[test]
    fn values_round_to_the_columns_scale_as_postgresql_does() {
        assert_eq!(CREDITS_COLUMN.accept(Some("2.25")).value, Some(dec("2.3")));
        assert_eq!(
            CREDITS_COLUMN.accept(Some("-2.25")).value,
            Some(dec("-2.3"))
        );
        // 999.95 rounds to 1000.0, which numeric(4,1) cannot hold.
        assert_eq!(
            CREDITS_COLUMN.accept(Some("999.95")).warning,
            Some(WarningCode::InvalidNumber)
        );
    }

    #[test]
    fn a_missing_max_score_is_100_and_an_unusable_one_too_with_a_warning() {
        assert_eq!(max_score(None), Repaired::clean(dec("100")));
        assert_eq!(max_score(Some("5.00")), Repaired::clean(dec("5.00")));
        assert_eq!(max_score(Some("0")), Repaired::clean(dec("0")));
        for raw in ["NaN", "-1.00", "-0.01"] {
            assert_eq!(
                max_score(Some(raw)),
                Repaired::warned(dec("100"), WarningCode::InvalidNumber),
                "{raw}"
            );
        }
    }

    #[test]
    fn scores_outside_zero_to_max_are_dropped_nan_too() {
        let max = dec("5");
        assert_eq!(score(Some("5.00"), max), Repaired::clean(Some(dec("5.00"))));
        assert_eq!(score(Some("0"), max), Repaired::clean(Some(dec("0"))));
        assert_eq!(
            score(Some("5.01"), max),
            Repaired::warned(None, WarningCode::ScoreOutOfRange)
        );
        assert_eq!(
            score(Some("-0.01"), max),
            Repaired::warned(None, WarningCode::ScoreOutOfRange)
        );
        for nan in ["NaN", "nan", " NAN "] {
            assert_eq!(
                score(Some(nan), max),
                Repaired::warned(None, WarningCode::ScoreOutOfRange),
                "{nan}"
            );
        }
        assert_eq!(
            score(Some("abc"), max),
            Repaired::warned(None, WarningCode::InvalidNumber)
        );
        assert_eq!(score(None, max), Repaired::clean(None));
    }

    proptest! {
        /// Over the whole of numeric(6,2): a value is kept exactly, or
        /// dropped with a reason; never kept outside the column's range.
        #[test]
        fn every_numeric_6_2_value_is_kept_or_explained(cents in -999_999_i64..=999_999, max_cents in 0_i64..=999_999) {
            let raw = Decimal::new(cents, 2).to_string();
            let max = Decimal::new(max_cents, 2);
            let kept = score(Some(&raw), max);
            match kept.value {
                Some(value) => {
                    prop_assert_eq!(value, Decimal::new(cents, 2));
                    prop_assert!(value >= Decimal::ZERO && value <= max);
                    prop_assert_eq!(kept.warning, None);
                }
                None => prop_assert_eq!(kept.warning, Some(WarningCode::ScoreOutOfRange)),
            }
            let maximum = max_score(Some(&raw));
            prop_assert!(maximum.value >= Decimal::ZERO && maximum.value < dec("10000"));
            prop_assert_eq!(maximum.warning.is_some(), cents < 0);
        }

        #[test]
        fn any_text_is_a_number_of_the_column_or_an_invalid_number(raw in "\\PC{0,24}") {
            let accepted = CREDITS_COLUMN.accept(Some(&raw));
            match accepted.value {
                Some(value) => prop_assert!(value.abs() < dec("1000") && value.scale() <= 1),
                None => prop_assert_eq!(accepted.warning, Some(WarningCode::InvalidNumber)),
            }
        }
    }
}
