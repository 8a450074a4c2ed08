//! A verification as text for a terminal: the per-table counts, the sample
//! differences, the academic sheet and the verdict.

use std::fmt::Write as _;

use super::academic::{AcademicSheet, TermTally};
use super::{Difference, UNEXPLAINED_EXIT_CODE, VerifyReport};
use crate::report::format::thousands;

fn count(value: u64) -> String {
    thousands(i64::try_from(value).unwrap_or(i64::MAX))
}

/// A canonical value as shown: quoted text or NULL.
pub fn shown(value: Option<&str>) -> String {
    match value {
        Some(text) => format!("{text:?}"),
        None => "NULL".to_owned(),
    }
}

/// One difference on one line.
pub fn difference_line(difference: &Difference) -> String {
    let verdict = match difference.explanation {
        Some(explanation) => format!("explained: {}", explanation.label()),
        None => "UNEXPLAINED".to_owned(),
    };
    let values: Vec<String> = difference
        .fields
        .iter()
        .map(|values| {
            format!(
                "{} legacy {} / LMS {}",
                values.field,
                shown(values.legacy.as_deref()),
                shown(values.lms.as_deref())
            )
        })
        .collect();
    format!(
        "{} {} ({verdict}): {}",
        difference.legacy_id,
        difference.kind.as_str(),
        values.join("; ")
    )
}

/// The whole report.
pub fn to_table(report: &VerifyReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Verification of the LMS against legacy, {} ({:.2} s; checksums per {} legacy ids)\n",
        report.checked_at.format("%Y-%m-%d %H:%M:%S UTC"),
        report.elapsed_seconds,
        count(u64::from(report.chunk_size)),
    );
    let _ = writeln!(
        out,
        "{:<14} {:<23} {:>9} {:>9} {:>9} {:>9} {:>13} {:>9} {:>11}",
        "legacy table",
        "LMS table",
        "legacy",
        "expected",
        "present",
        "matching",
        "chunks (diff)",
        "explained",
        "unexplained"
    );
    for entity in &report.entities {
        let _ = writeln!(
            out,
            "{:<14} {:<23} {:>9} {:>9} {:>9} {:>9} {:>13} {:>9} {:>11}",
            entity.entity.as_str(),
            entity.target_table,
            count(entity.legacy_rows),
            count(entity.expected_rows),
            count(entity.present_rows),
            count(entity.matching_rows),
            format!(
                "{} ({})",
                count(entity.chunks),
                count(entity.differing_chunks)
            ),
            count(entity.explained),
            count(entity.unexplained),
        );
    }
    for entity in report
        .entities
        .iter()
        .filter(|entity| !entity.samples.is_empty())
    {
        let _ = writeln!(
            out,
            "\n{} difference(s) in {} ({} unexplained, {} explained; {} shown):",
            count(entity.explained + entity.unexplained),
            entity.entity.as_str(),
            count(entity.unexplained),
            count(entity.explained),
            entity.samples.len(),
        );
        for difference in &entity.samples {
            let _ = writeln!(
                out,
                "  {} {}",
                entity.entity.as_str(),
                difference_line(difference)
            );
        }
    }
    out.push('\n');
    out.push_str(&academic_table(&report.academic));
    let unexplained = report.unexplained();
    if unexplained == 0 {
        let _ = writeln!(
            out,
            "\nVerified: no unexplained difference ({} explained).",
            count(report.explained())
        );
    } else {
        let _ = writeln!(
            out,
            "\nNOT VERIFIED: {} unexplained difference(s), {} explained (exit code {UNEXPLAINED_EXIT_CODE}).",
            count(unexplained),
            count(report.explained())
        );
    }
    out
}

fn tally_cells(tally: &TermTally) -> [String; 4] {
    [
        count(tally.enrollments),
        count(tally.final_grades),
        tally
            .five_point_average
            .map_or_else(|| "-".to_owned(), |average| format!("{average:.2}")),
        tally
            .pass_rate
            .map_or_else(|| "-".to_owned(), |rate| format!("{rate:.1}%")),
    ]
}

/// The registrar's sheet: legacy / LMS per cell.
pub fn academic_table(sheet: &AcademicSheet) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Academic reconciliation ({} of {} lines differ), legacy / LMS:",
        sheet.differing_lines(),
        sheet.terms.len() + sheet.submissions.len()
    );
    let _ = writeln!(
        out,
        "{:<32} {:<14} {:>19} {:>19} {:>17} {:>17}",
        "organization", "term", "enrollments", "final grades", "avg five-point", "pass rate"
    );
    for line in &sheet.terms {
        let (legacy, lms) = (tally_cells(&line.legacy), tally_cells(&line.lms));
        let _ = writeln!(
            out,
            "{:<32} {:<14} {:>19} {:>19} {:>17} {:>17}{}",
            organization_label(
                line.organization.as_deref(),
                line.organization_name.as_deref()
            ),
            format!("{} / {}", line.academic_year, line.semester),
            format!("{} / {}", legacy[0], lms[0]),
            format!("{} / {}", legacy[1], lms[1]),
            format!("{} / {}", legacy[2], lms[2]),
            format!("{} / {}", legacy[3], lms[3]),
            if line.matches { "" } else { "  DIFFERS" },
        );
    }
    let _ = writeln!(out, "\n{:<32} {:>19}", "organization", "submissions");
    for line in &sheet.submissions {
        let _ = writeln!(
            out,
            "{:<32} {:>19}{}",
            organization_label(
                line.organization.as_deref(),
                line.organization_name.as_deref()
            ),
            format!("{} / {}", count(line.legacy), count(line.lms)),
            if line.matches { "" } else { "  DIFFERS" },
        );
    }
    out
}

/// `12 College of Arts`, cut to fit a column.
pub fn organization_label(id: Option<&str>, name: Option<&str>) -> String {
    let label = match (id, name) {
        (Some(id), Some(name)) => format!("{id} {name}"),
        (Some(id), None) => id.to_owned(),
        (None, _) => "(none)".to_owned(),
    };
    label.chars().take(32).collect()
}
