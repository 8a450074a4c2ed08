//! The canonical form both sides of a verification are brought to before
//! they are compared: per legacy table, a fixed list of fields, each value
//! text or an explicit NULL. References are the referenced row's legacy id
//! (`lms:<id>` for a row born in the LMS, `provisioned:<table>:<id>` for an
//! account provisioned for a legacy row); instants are UTC with
//! microseconds; numerics have their column's scale; booleans are `t`/`f`;
//! JSON has its object keys sorted and its numbers by value.

use lms_domain::LegacyEntity;
use rust_decimal::Decimal;
use xxhash_rust::xxh3::Xxh3;

/// One value as verification holds it: text of up to 24 bytes (ids, marks,
/// statuses, instants) is kept inline, without an allocation of its own; a
/// million rows of such values are most of what verify holds.
pub type FieldText = compact_str::CompactString;

/// One row's values in canonical form, in its entity's field order.
pub type CanonicalRow = Vec<Option<FieldText>>;

/// The fields compared per legacy table, named after the LMS columns.
pub const fn fields(entity: LegacyEntity) -> &'static [&'static str] {
    match entity {
        LegacyEntity::Organizations => &[
            "parent",
            "name",
            "short_name",
            "org_type",
            "bin",
            "archived",
            "created_at",
        ],
        LegacyEntity::Persons => &[
            "last_name",
            "first_name",
            "middle_name",
            "iin",
            "birth_date",
            "gender",
            "phone",
            "created_at",
        ],
        LegacyEntity::Users => &[
            "person",
            "login",
            "email",
            "password_hash",
            "password_reset_required",
            "role",
            "is_active",
            "created_at",
            "last_login_at",
        ],
        LegacyEntity::Groups => &[
            "organization",
            "name",
            "year_of_study",
            "curator",
            "academic_year",
        ],
        LegacyEntity::Subjects => &["organization", "name", "code", "credits"],
        LegacyEntity::Students => &[
            "person",
            "user",
            "organization",
            "group",
            "admission_year",
            "status",
            "record_book_no",
        ],
        LegacyEntity::Teachers => &[
            "person",
            "user",
            "organization",
            "position",
            "hired_on",
            "left_on",
        ],
        LegacyEntity::Journal => &[
            "student",
            "course_subject",
            "course_group",
            "academic_year",
            "semester",
            "teacher",
            "status",
            "current_mark",
            "grade_raw_mark",
            "grade_scale",
            "grade_value",
            "grade_points",
        ],
        LegacyEntity::Exams => &[
            "subject",
            "group",
            "teacher",
            "title",
            "kind",
            "held_on",
            "max_score",
        ],
        LegacyEntity::ExamResults => &[
            "assessment",
            "student",
            "score",
            "submitted_at",
            "status",
            "answers",
            "answers_raw",
        ],
    }
}

/// A row's hash: every field, NULLs distinct from every text.
pub fn row_hash(row: &[Option<FieldText>]) -> u64 {
    let mut hasher = Xxh3::new();
    for value in row {
        match value {
            None => hasher.update(&[0]),
            Some(text) => {
                hasher.update(&[1]);
                hasher.update(&(text.len() as u64).to_le_bytes());
                hasher.update(text.as_bytes());
            }
        }
    }
    hasher.digest()
}

/// A decimal at a column's scale, as PostgreSQL prints it (no negative zero).
pub fn decimal(value: Decimal, scale: u32) -> FieldText {
    let value = if value.is_zero() {
        Decimal::ZERO
    } else {
        value
    };
    compact_str::format_compact!("{value:.prec$}", prec = scale as usize)
}

/// A boolean as COPY prints it.
pub fn boolean(value: bool) -> FieldText {
    FieldText::const_new(if value { "t" } else { "f" })
}

/// JSON text with every object's keys sorted, numbers by value and no white
/// space; `None` when it is not JSON.
pub fn json(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(sorted(&value).to_string())
}

fn sorted(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(fields) => {
            let mut pairs: Vec<(&String, &serde_json::Value)> = fields.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            serde_json::Value::Object(
                pairs
                    .into_iter()
                    .map(|(key, value)| (key.clone(), sorted(value)))
                    .collect(),
            )
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(sorted).collect())
        }
        serde_json::Value::Number(number) => canonical_number(number),
        other => other.clone(),
    }
}

/// A JSON number by its value, as `jsonb` keeps numbers: `1.0`, `1` and
/// `1e0` are one number, and so are `-0.0` and `0`. (Read as `f64` on both
/// sides alike; numbers beyond its precision compare at that precision.)
fn canonical_number(number: &serde_json::Number) -> serde_json::Value {
    let Some(value) = number.as_f64() else {
        return serde_json::Value::Number(number.clone());
    };
    let value = if value == 0.0 { 0.0 } else { value };
    if value.fract() == 0.0 && value.abs() < 1e15 {
        // Exact: a whole number below 2^53.
        #[allow(clippy::cast_possible_truncation)]
        let whole = value as i64;
        serde_json::Value::from(whole)
    } else {
        serde_json::Value::from(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn decimals_have_the_column_scale_and_no_negative_zero() {
        let value = |text: &str| Decimal::from_str(text).unwrap_or_default();
        assert_eq!(decimal(value("80"), 2), "80.00");
        assert_eq!(decimal(value("3.5"), 1), "3.5");
        assert_eq!(decimal(value("-0.00"), 2), "0.00");
    }

    #[test]
    fn json_keys_are_sorted_whatever_their_order() {
        assert_eq!(
            json(r#"{"q2": "b", "q1": "a"}"#),
            json(r#"{"q1":"a","q2":"b"}"#)
        );
        assert_eq!(json("{q1: a"), None);
        assert_eq!(json("[1, 1.0, 1e0, -0.0, 2.5]"), json("[1,1,1,0,2.5]"));
    }

    #[test]
    fn null_and_empty_text_hash_apart() {
        assert_ne!(row_hash(&[None]), row_hash(&[Some(FieldText::default())]));
        assert_ne!(
            row_hash(&[Some("ab".into()), None]),
            row_hash(&[Some("a".into()), Some("b".into())])
        );
    }
}
