//! Numbers and names as the reports print them, shared by the Markdown and
//! HTML renderings so both read alike.

/// An integer with thousands separators: `510,269`.
pub(crate) fn thousands(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    if value < 0 { format!("-{out}") } else { out }
}

/// `part` as a share of `whole`, one decimal: `18.5%` (`n/a` of nothing).
pub(crate) fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "n/a".to_owned();
    }
    #[allow(clippy::cast_precision_loss)]
    let share = part as f64 * 100.0 / whole as f64;
    format!("{share:.1}%")
}

/// What the target of a legacy table is called, in prose.
pub(crate) fn target_noun(entity: &str) -> &'static str {
    match entity {
        "journal" => "enrollments",
        "exam_results" => "submissions",
        "teachers" => "staff members",
        "exams" => "assessments",
        "groups" => "student groups",
        "organizations" => "organizations",
        "persons" => "persons",
        "users" => "users",
        "subjects" => "subjects",
        "students" => "students",
        _ => "rows",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_the_analysis_report() {
        assert_eq!(thousands(510_269), "510,269");
        assert_eq!(thousands(56), "56");
        assert_eq!(thousands(-1_000), "-1,000");
        assert_eq!(percent(94_558, 510_269), "18.5%");
        assert_eq!(percent(1, 0), "n/a");
    }
}
