//! Person fields: birth date and gender.

use std::sync::LazyLock;

use chrono::NaiveDate;
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::outcome::{Repaired, WarningCode};
use crate::text::{clean_opt, static_regex};

static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| static_regex(r"^(\d{4})-(\d{2})-(\d{2})$"));
static DOTTED_DATE: LazyLock<Regex> =
    LazyLock::new(|| static_regex(r"^(\d{2})\.(\d{2})\.(\d{4})$"));

/// Parses a legacy free-text birth date.
///
/// `YYYY-MM-DD` and `DD.MM.YYYY` are accepted when they name a real calendar
/// date (years 1 to 9999; PostgreSQL has no year 0). Blank is `None` without
/// a warning; any other text is `None` with `unparseable_birth_date`.
pub fn parse_birth_date(raw: Option<&str>) -> Repaired<Option<NaiveDate>> {
    let Some(text) = clean_opt(raw) else {
        return Repaired::clean(None);
    };
    let parts = if let Some(caps) = ISO_DATE.captures(text) {
        (caps[1].parse(), caps[2].parse(), caps[3].parse())
    } else if let Some(caps) = DOTTED_DATE.captures(text) {
        (caps[3].parse(), caps[2].parse(), caps[1].parse())
    } else {
        return Repaired::warned(None, WarningCode::UnparseableBirthDate);
    };
    let date = match parts {
        (Ok(year), Ok(month), Ok(day)) if year >= 1 => NaiveDate::from_ymd_opt(year, month, day),
        _ => None,
    };
    match date {
        Some(date) => Repaired::clean(Some(date)),
        None => Repaired::warned(None, WarningCode::UnparseableBirthDate),
    }
}

/// A person's gender as the LMS stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub const fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
        }
    }

    /// The contract's mapping: `M m м` male, `F f ж` female, anything else
    /// absent (no warning: the contract gives none).
    pub fn parse_legacy(raw: Option<&str>) -> Option<Gender> {
        match clean_opt(raw)? {
            "M" | "m" | "м" => Some(Gender::Male),
            "F" | "f" | "ж" => Some(Gender::Female),
            _ => None,
        }
    }

    /// Parses the LMS's own spelling (`male`, `female`).
    pub fn parse(text: &str) -> Option<Gender> {
        match text {
            "male" => Some(Gender::Male),
            "female" => Some(Gender::Female),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(y, m, d)
    }

    /// The Gregorian calendar, written out here rather than asked of chrono.
    fn days_in_month(year: i32, month: u32) -> u32 {
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        match month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => 0,
        }
    }

    /// Both formats of (year, month, day), read: the day when the calendar
    /// has it, else `unparseable_birth_date`.
    fn assert_read_as_the_calendar_says(year: i32, month: u32, day: u32) {
        let real = (1..=days_in_month(year, month)).contains(&day);
        for text in [
            format!("{year:04}-{month:02}-{day:02}"),
            format!("{day:02}.{month:02}.{year:04}"),
        ] {
            let read = parse_birth_date(Some(&text));
            if real {
                let got = read.value.map(|d| (d.year(), d.month(), d.day()));
                assert_eq!(got, Some((year, month, day)), "{text}");
                assert_eq!(read.warning, None, "{text}");
            } else {
                assert_eq!(
                    read,
                    Repaired::warned(None, WarningCode::UnparseableBirthDate),
                    "{text}"
                );
            }
        }
    }

    #[test]
    fn every_month_and_day_is_a_date_exactly_when_the_calendar_has_it() {
        for year in [1, 2, 4, 100, 200, 400, 1900, 2000, 2023, 2024, 9996, 9999] {
            for month in 0..=13 {
                for day in 0..=32 {
                    assert_read_as_the_calendar_says(year, month, day);
                }
            }
        }
    }

    #[test]
    fn every_year_from_1_to_9999_has_its_leap_day_or_not() {
        for year in 1..=9999 {
            assert_read_as_the_calendar_says(year, 2, 28);
            assert_read_as_the_calendar_says(year, 2, 29);
        }
    }

    #[test]
    fn years_zero_and_past_9999_are_no_birth_date() {
        for text in ["0000-01-01", "01.01.0000", "10000-01-01", "01.01.10000"] {
            assert_eq!(
                parse_birth_date(Some(text)),
                Repaired::warned(None, WarningCode::UnparseableBirthDate),
                "{text}"
            );
        }
    }

    #[test]
    fn both_formats_parse_real_dates() {
        assert_eq!(
            parse_birth_date(Some("2004-02-29")),
            Repaired::clean(date(2004, 2, 29))
        );
        assert_eq!(
            parse_birth_date(Some(" 29.02.2004\n")),
            Repaired::clean(date(2004, 2, 29))
        );
    }

    #[test]
    fn blank_is_absent_without_warning() {
        assert_eq!(parse_birth_date(None), Repaired::clean(None));
        assert_eq!(parse_birth_date(Some("  ")), Repaired::clean(None));
    }

    #[test]
    fn impossible_or_garbled_dates_warn() {
        for raw in [
            "2003-02-29",
            "31.04.2001",
            "0000-01-01",
            "2001-1-5",
            "1.5.2001",
            "unknown",
            "2001/05/01",
            "99999-01-01",
        ] {
            assert_eq!(
                parse_birth_date(Some(raw)),
                Repaired::warned(None, WarningCode::UnparseableBirthDate),
                "{raw}"
            );
        }
    }

    #[test]
    fn gender_follows_the_contract_list() {
        assert_eq!(Gender::parse_legacy(Some("м")), Some(Gender::Male));
        assert_eq!(Gender::parse_legacy(Some("f")), Some(Gender::Female));
        assert_eq!(Gender::parse_legacy(Some("ж")), Some(Gender::Female));
        assert_eq!(Gender::parse_legacy(Some("X")), None);
        assert_eq!(Gender::parse_legacy(None), None);
    }
}
