//! Submission answers: JSON when it is JSON, raw text otherwise.

use crate::outcome::{Repaired, WarningCode};
use crate::text::clean_opt;

/// What a legacy `answers` value becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answers {
    /// Valid JSON that PostgreSQL's `jsonb` also accepts.
    Json(String),
    /// Anything else, kept as it was.
    Raw(String),
}

/// Reads a legacy `answers` value. Blank is absent; text that is not JSON is
/// kept raw with `invalid_answers_json`.
///
/// JSON counts only when the LMS can both store it (PostgreSQL's `jsonb`)
/// and read it back (serde_json): `jsonb` refuses the `\u0000` escape and
/// numbers beyond its `numeric` (more than 131,072 digits before the point
/// or 16,383 after it), and serde_json refuses numbers beyond `f64`. Such
/// text is kept raw like any other, so the row still loads
/// (docs/contract.md).
pub fn parse_answers(raw: Option<&str>) -> Option<Repaired<Answers>> {
    let text = clean_opt(raw)?;
    let valid = serde_json::from_str::<serde_json::Value>(text)
        .is_ok_and(|value| !has_nul(&value) && numbers_fit_jsonb(text));
    Some(if valid {
        Repaired::clean(Answers::Json(text.to_owned()))
    } else {
        Repaired::warned(
            Answers::Raw(text.to_owned()),
            WarningCode::InvalidAnswersJson,
        )
    })
}

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(text) => text.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || has_nul(value)),
        _ => false,
    }
}

/// PostgreSQL's `numeric` input limits (PostgreSQL 15, `set_var_from_str`):
/// the exponent within ±`INT_MAX / 2`, at most 16,383 digits after the
/// point once the exponent is applied, and the most significant digit at
/// most at position 131,071 before it.
const MAX_EXPONENT: i64 = 1_073_741_823;
const MAX_DISPLAY_SCALE: i64 = 16_383;
const MAX_DIGIT_POSITION: i64 = 131_071;

/// Whether every number in `json` (text serde_json has already accepted)
/// is one `jsonb` can hold.
fn numbers_fit_jsonb(json: &str) -> bool {
    let bytes = json.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
                index += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = index;
                while index < bytes.len()
                    && matches!(bytes[index], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    index += 1;
                }
                if !number_fits_numeric(&json[start..index]) {
                    return false;
                }
            }
            _ => index += 1,
        }
    }
    true
}

/// One JSON number token against PostgreSQL's `numeric` input limits.
fn number_fits_numeric(token: &str) -> bool {
    let unsigned = token.strip_prefix('-').unwrap_or(token);
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], &unsigned[at + 1..]),
        None => (unsigned, "0"),
    };
    let Ok(exponent) = exponent.parse::<i64>() else {
        return false;
    };
    // `checked_abs`: the exponent may be i64::MIN, and serde_json accepts
    // such a number (as zero).
    if exponent
        .checked_abs()
        .is_none_or(|magnitude| magnitude > MAX_EXPONENT)
    {
        return false;
    }
    let (integer, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let (integer_len, fraction_len) = (len_i64(integer), len_i64(fraction));
    if fraction_len - exponent > MAX_DISPLAY_SCALE {
        return false;
    }
    let first_significant = integer
        .bytes()
        .chain(fraction.bytes())
        .position(|digit| digit != b'0');
    match first_significant {
        None => true,
        Some(position) => integer_len - 1 - len_i64_from(position) + exponent <= MAX_DIGIT_POSITION,
    }
}

fn len_i64(text: &str) -> i64 {
    len_i64_from(text.len())
}

fn len_i64_from(length: usize) -> i64 {
    i64::try_from(length).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_kept_as_json_and_the_rest_raw() {
        assert_eq!(
            parse_answers(Some(r#" {"q1": "a"} "#)),
            Some(Repaired::clean(Answers::Json(r#"{"q1": "a"}"#.into())))
        );
        assert_eq!(
            parse_answers(Some("{q1: a")),
            Some(Repaired::warned(
                Answers::Raw("{q1: a".into()),
                WarningCode::InvalidAnswersJson
            ))
        );
        assert_eq!(
            parse_answers(Some(r#"{"q": "\u0000"}"#)).map(|a| a.warning),
            Some(Some(WarningCode::InvalidAnswersJson))
        );
        assert_eq!(parse_answers(Some("")), None);
    }

    #[test]
    fn json_numbers_beyond_what_jsonb_and_serde_json_hold_are_kept_raw() {
        let json = |text: &str| {
            matches!(
                parse_answers(Some(text)).map(|a| a.value),
                Some(Answers::Json(_))
            )
        };
        assert!(json(r#"{"score": 1e-16383, "n": -0.5E+3}"#));
        assert!(json("[0e99999999]"));
        assert!(!json("[1e-16384]"));
        assert!(!json("[0.0e-16383]"));
        assert!(!json("[0e-2000000000]"));
        assert!(!json("[1e-9223372036854775808]"));
        assert!(!json("[0e-9223372036854775808]"));
        assert!(!json("[1e9223372036854775807]"));
        assert!(!json(&format!("[0.{}]", "1".repeat(16_384))));
        // Beyond f64: PostgreSQL stores it, the LMS could not read it back.
        assert!(!json("[1e400]"));
        // Digits inside strings are text, not numbers.
        assert!(json(&format!(
            r#"["0.{}", "a\\\"1e-99999"]"#,
            "1".repeat(20_000)
        )));
    }
}
