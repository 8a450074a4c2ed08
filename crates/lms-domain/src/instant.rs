//! Legacy dates and timestamps the LMS can hold.
//!
//! A legacy `date` or `timestamp` can be `infinity`, `-infinity`, or lie
//! anywhere from 4713 BC to 294276 AD (5874897 AD for dates). The LMS reads
//! its rows with chrono, which has no infinities, and converting an instant
//! near the end of the type into another zone overflows. The contract is
//! silent; the choice (docs/contract.md) is that an instant outside the
//! years 1 to 9999, like the infinities, names no usable instant and
//! migrates as NULL: the same years the birth-date rule accepts.

use std::ops::RangeInclusive;

use chrono::{DateTime, Datelike, Utc};

/// The years an LMS date or instant may have.
pub const LMS_YEARS: RangeInclusive<i32> = 1..=9999;

/// A legacy `date` or `timestamp` as PostgreSQL prints it in the ISO
/// style (`2024-01-10 10:00:00`, `0044-03-15 BC`, `12345-01-01`,
/// `infinity`): the same text when its year is within [`LMS_YEARS`],
/// else `None`.
pub fn legacy_instant(raw: Option<&str>) -> Option<&str> {
    let text = raw?;
    let bytes = text.as_bytes();
    let four_digit_year = bytes.len() >= 5
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && &bytes[..4] != b"0000";
    (four_digit_year && !text.ends_with(" BC")).then_some(text)
}

/// Whether an instant in UTC is one a protobuf `Timestamp` holds (years 1
/// to 9999 UTC): what the API leaves out of its answers otherwise. (Legacy
/// values are judged by [`legacy_instant`], on their wall clock.)
pub fn lms_can_hold(instant: DateTime<Utc>) -> bool {
    LMS_YEARS.contains(&instant.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn years_one_to_9999_are_kept_and_the_rest_are_unknown() {
        for kept in [
            "2024-01-10 10:00:00",
            "0001-01-01",
            "9999-12-31 23:59:59.999999",
            "2024-02-29",
        ] {
            assert_eq!(legacy_instant(Some(kept)), Some(kept));
        }
        for dropped in [
            "infinity",
            "-infinity",
            "0044-03-15 BC",
            "4713-01-01 00:00:00 BC",
            "12345-01-01",
            "294276-12-31 23:59:59",
            "5874897-12-31",
            "",
        ] {
            assert_eq!(legacy_instant(Some(dropped)), None, "{dropped}");
        }
        assert_eq!(legacy_instant(None), None);
    }

    proptest! {
        /// Whatever year PostgreSQL prints, the rule keeps exactly the years 1..=9999.
        #[test]
        fn the_rule_keeps_exactly_the_lms_years(year in 1_i64..=5_874_897, bc in any::<bool>()) {
            let text = if bc {
                format!("{year:04}-06-15 12:00:00 BC")
            } else {
                format!("{year:04}-06-15 12:00:00")
            };
            let expected = !bc && (1..=9999).contains(&year);
            prop_assert_eq!(legacy_instant(Some(&text)).is_some(), expected);
        }
    }
}
