//! Journal marks and the grade they become.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::outcome::{Repaired, WarningCode};
use crate::text::{clean_opt, lower, static_regex};

static INTEGER: LazyLock<Regex> = LazyLock::new(|| static_regex(r"^[0-9]+$"));
static LETTER: LazyLock<Regex> = LazyLock::new(|| static_regex(r"^[A-Fa-f][+-]?$"));

/// The scale a grade's normalised value is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GradeScale {
    /// Integers 2 to 5.
    FivePoint,
    /// Other integers 0 to 100.
    Percent,
    /// `зачет` / `незачет`.
    PassFail,
    /// A to F with + or -.
    Letter,
}

impl GradeScale {
    pub const fn as_str(self) -> &'static str {
        match self {
            GradeScale::FivePoint => "five_point",
            GradeScale::Percent => "percent",
            GradeScale::PassFail => "pass_fail",
            GradeScale::Letter => "letter",
        }
    }

    pub fn parse(text: &str) -> Option<GradeScale> {
        [
            GradeScale::FivePoint,
            GradeScale::Percent,
            GradeScale::PassFail,
            GradeScale::Letter,
        ]
        .into_iter()
        .find(|scale| scale.as_str() == text)
    }
}

/// A grade: the raw mark always, and its normalised reading when it has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// The mark as the journal had it, trimmed.
    pub raw: String,
    /// The normalised reading; `None` for an unparseable mark.
    pub normalized: Option<NormalizedMark>,
}

/// A mark read on a known scale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NormalizedMark {
    pub scale: GradeScale,
    /// The canonical text: `5`, `87`, `pass`, `fail`, `B+`.
    pub value: String,
    /// The numeric value on five-point and percent scales.
    pub points: Option<i16>,
}

/// Reads a journal `mark_final`. Blank means no grade at all. A mark on no
/// known scale is kept raw with `unparseable_mark`.
pub fn parse_mark(raw: Option<&str>) -> Option<Repaired<Grade>> {
    let text = clean_opt(raw)?;
    let normalized = read_scale(text);
    let grade = Grade {
        raw: text.to_owned(),
        normalized: normalized.clone(),
    };
    Some(match normalized {
        Some(_) => Repaired::clean(grade),
        None => Repaired::warned(grade, WarningCode::UnparseableMark),
    })
}

fn read_scale(text: &str) -> Option<NormalizedMark> {
    if INTEGER.is_match(text) {
        // Leading zeros say nothing (`05` is 5, however many there are);
        // more than three digits after them is more than 100.
        let significant = text.trim_start_matches('0');
        if significant.len() > 3 {
            return None;
        }
        let number: i64 = if significant.is_empty() {
            0
        } else {
            significant.parse().ok()?
        };
        let scale = match number {
            2..=5 => GradeScale::FivePoint,
            0..=100 => GradeScale::Percent,
            _ => return None,
        };
        let points = i16::try_from(number).ok()?;
        return Some(NormalizedMark {
            scale,
            value: points.to_string(),
            points: Some(points),
        });
    }
    match lower(text).as_str() {
        "зачет" => return Some(pass_fail("pass")),
        "незачет" => return Some(pass_fail("fail")),
        _ => {}
    }
    LETTER.is_match(text).then(|| NormalizedMark {
        scale: GradeScale::Letter,
        value: text.to_uppercase(),
        points: None,
    })
}

fn pass_fail(value: &str) -> NormalizedMark {
    NormalizedMark {
        scale: GradeScale::PassFail,
        value: value.to_owned(),
        points: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scale_of(raw: &str) -> Option<(GradeScale, String)> {
        parse_mark(Some(raw))
            .and_then(|grade| grade.value.normalized)
            .map(|mark| (mark.scale, mark.value))
    }

    #[test]
    fn scales_are_read_as_the_contract_says() {
        assert_eq!(scale_of("5"), Some((GradeScale::FivePoint, "5".into())));
        assert_eq!(scale_of(" 2 "), Some((GradeScale::FivePoint, "2".into())));
        assert_eq!(scale_of("1"), Some((GradeScale::Percent, "1".into())));
        assert_eq!(scale_of("0"), Some((GradeScale::Percent, "0".into())));
        assert_eq!(scale_of("100"), Some((GradeScale::Percent, "100".into())));
        assert_eq!(scale_of("05"), Some((GradeScale::FivePoint, "5".into())));
        assert_eq!(
            scale_of("0000000005"),
            Some((GradeScale::FivePoint, "5".into()))
        );
        assert_eq!(scale_of("0000"), Some((GradeScale::Percent, "0".into())));
        assert_eq!(
            scale_of("00000000000000000000100"),
            Some((GradeScale::Percent, "100".into()))
        );
        assert_eq!(scale_of("0101"), None);
        assert_eq!(scale_of("99999999999999999999999"), None);
        assert_eq!(
            scale_of("зачет"),
            Some((GradeScale::PassFail, "pass".into()))
        );
        assert_eq!(
            scale_of("Незачет"),
            Some((GradeScale::PassFail, "fail".into()))
        );
        assert_eq!(scale_of("B+"), Some((GradeScale::Letter, "B+".into())));
        assert_eq!(scale_of("f"), Some((GradeScale::Letter, "F".into())));
    }

    #[test]
    fn every_integer_to_999_reads_by_its_value_whatever_its_leading_zeros() {
        for number in 0..=999_u32 {
            let expected = match number {
                2..=5 => Some(GradeScale::FivePoint),
                0..=100 => Some(GradeScale::Percent),
                _ => None,
            };
            for zeros in 0..=3 {
                let raw = format!("{}{number}", "0".repeat(zeros));
                assert_eq!(
                    scale_of(&raw),
                    expected.map(|scale| (scale, number.to_string())),
                    "{raw}"
                );
            }
        }
    }

    #[test]
    fn a_letter_mark_is_a_to_f_in_either_case_with_at_most_one_sign() {
        let letters = ('A'..='Z').chain('a'..='z');
        for letter in letters {
            for sign in ["", "+", "-", "++", "+-", "*"] {
                let raw = format!("{letter}{sign}");
                let expected =
                    (letter.to_ascii_uppercase() <= 'F' && sign.len() <= 1 && sign != "*")
                        .then(|| (GradeScale::Letter, raw.to_uppercase()));
                assert_eq!(scale_of(&raw), expected, "{raw}");
            }
        }
    }

    #[test]
    fn blank_marks_make_no_grade() {
        assert_eq!(parse_mark(None), None);
        assert_eq!(parse_mark(Some(" \t")), None);
    }

    #[test]
    fn other_marks_are_kept_raw_with_a_warning() {
        for raw in ["101", "-1", "4.5", "G", "A++", "отл", "н/я", "99999999999"] {
            let grade = parse_mark(Some(raw)).unwrap();
            assert_eq!(grade.warning, Some(WarningCode::UnparseableMark), "{raw}");
            assert_eq!(grade.value.raw, raw);
            assert_eq!(grade.value.normalized, None);
        }
    }
}
