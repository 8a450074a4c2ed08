//! The contract's `trim` and `lower`.

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
    fn lower_is_unicode_aware() {
        assert_eq!(lower("ӘЛИЯ Ivanova"), "әлия ivanova");
        assert_eq!(lower("ҚАЗАҚ"), "қазақ");
    }
}
