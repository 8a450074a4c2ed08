//! The contract's `trim` and `lower`, and names that must not be blank.

use crate::outcome::{Repaired, WarningCode};

/// Trims leading and trailing whitespace (spaces, tabs, line breaks and the
/// other Unicode white space) and treats what is left empty as absent.
pub fn clean(raw: &str) -> Option<&str> {
    let trimmed = raw.trim();
    (!trimmed.is_empty()).then_some(trimmed)
}

/// [`clean`] for an optional value.
pub fn clean_opt(raw: Option<&str>) -> Option<&str> {
    raw.and_then(clean)
}

/// Unicode-aware lower case (`Ә` becomes `ә`), as the contract's `lower`.
pub fn lower(value: &str) -> String {
    value.to_lowercase()
}

/// A required name (organization, group, subject, exam title): trimmed, or,
/// when blank, the placeholder `"{kind} {legacy_id}"` with `name_missing`
/// (docs/contract.md: these rows must all migrate, and an operator must be
/// able to find the placeholders).
pub fn required_name(raw: Option<&str>, kind: &str, legacy_id: i64) -> Repaired<String> {
    match clean_opt(raw) {
        Some(name) => Repaired::clean(name.to_owned()),
        None => Repaired::warned(format!("{kind} {legacy_id}"), WarningCode::NameMissing),
    }
}

/// Compiles a regular expression written in this crate's source.
///
/// The patterns are literals covered by unit tests, so a failure here is a
/// programming error caught by `cargo test`, never a reaction to input.
#[allow(clippy::expect_used)]
pub(crate) fn static_regex(pattern: &'static str) -> regex::Regex {
    regex::Regex::new(pattern).expect("a literal pattern in lms-domain compiles")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_all_whitespace_and_blanks_become_none() {
        assert_eq!(clean("  a b \t\r\n"), Some("a b"));
        assert_eq!(clean(" \t\n "), None);
        assert_eq!(clean(""), None);
        assert_eq!(clean("\u{a0}x\u{3000}"), Some("x"));
        assert_eq!(clean_opt(None), None);
    }

    #[test]
    fn a_blank_required_name_gets_a_placeholder_and_a_warning() {
        let blank = required_name(Some(" \t"), "Subject", 7);
        assert_eq!(blank.value, "Subject 7");
        assert_eq!(blank.warning, Some(WarningCode::NameMissing));
        assert_eq!(required_name(Some(" Math "), "Subject", 7).value, "Math");
        assert_eq!(required_name(None, "Exam", 3).value, "Exam 3");
    }

    #[test]
    fn lower_is_unicode_aware() {
        assert_eq!(lower("ӘЛИЯ Ivanova"), "әлия ivanova");
        assert_eq!(lower("ҚАЗАҚ"), "қазақ");
    }
}
