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
/// `jsonb` refuses the `\u0000` escape that JSON itself allows, so such text
/// counts as invalid too: the row must still load.
pub fn parse_answers(raw: Option<&str>) -> Option<Repaired<Answers>> {
    let text = clean_opt(raw)?;
    let valid = serde_json::from_str::<serde_json::Value>(text).is_ok_and(|value| !has_nul(&value));
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
}
