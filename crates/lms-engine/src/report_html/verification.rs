//! The verification's section of the page (`lmsctl migrate report --format
//! html --verify`): per legacy table, the rows expected, present and
//! matching, the chunks whose checksums differ, explained and unexplained
//! differences with samples, and the academic sheet's lines that differ.

use maud::{Markup, html};

use super::{Hook, count, id};
use crate::verify::VerifyReport;
use crate::verify::academic::{AcademicSheet, TermTally};
use crate::verify::table::{organization_label, shown};

/// Lines of the academic sheet shown (differing lines first).
const ACADEMIC_LINES: usize = 60;

fn number(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn section(report: &VerifyReport) -> Markup {
    let unexplained = number(report.unexplained());
    html! {
        section #verification {
            h2 { "Verification against legacy" }
            p.note {
                "Both databases read directly, the contract applied a second time, independently of the engine; "
                "the migration's own records are read only to explain a difference (an open conflict kept under "
                "the delta policy, a row deleted in the LMS). Checked " (report.checked_at.format("%Y-%m-%d %H:%M:%S UTC"))
                ", checksums per " (report.chunk_size) " legacy ids."
            }
            @if unexplained == 0 {
                p.verdict.ok {
                    "Verified: no unexplained difference ("
                    (count(Hook::run("verify.explained"), number(report.explained()))) " explained)."
                }
            } @else {
                p.verdict.bad {
                    (count(Hook::run("verify.unexplained"), unexplained))
                    " differences are unexplained: no conflict or deletion the migration recorded accounts for them."
                }
            }
            table {
                thead { tr {
                    th { "legacy table" } th { "LMS table" } th.n { "legacy rows" } th.n { "expected" }
                    th.n { "present" } th.n { "matching" } th.n { "chunks" } th.n { "differing chunks" }
                    th.n { "explained" } th.n { "unexplained" }
                } }
                tbody {
                    @for entity in &report.entities {
                        @let name = entity.entity.as_str();
                        tr {
                            th { (name) } td { code { (entity.target_table) } }
                            td.n { (count(Hook::entity(name, "verify.legacy_rows"), number(entity.legacy_rows))) }
                            td.n { (count(Hook::entity(name, "verify.expected_rows"), number(entity.expected_rows))) }
                            td.n { (count(Hook::entity(name, "verify.present_rows"), number(entity.present_rows))) }
                            td.n { (count(Hook::entity(name, "verify.matching_rows"), number(entity.matching_rows))) }
                            td.n { (count(Hook::entity(name, "verify.chunks"), number(entity.chunks))) }
                            td.n { (count(Hook::entity(name, "verify.differing_chunks"), number(entity.differing_chunks))) }
                            td.n { (count(Hook::entity(name, "verify.explained"), number(entity.explained))) }
                            td.n { (count(Hook::entity(name, "verify.unexplained"), number(entity.unexplained))) }
                        }
                    }
                }
            }
            (samples(report))
            (academic(&report.academic))
        }
    }
}

fn samples(report: &VerifyReport) -> Markup {
    html! {
        @for entity in report.entities.iter().filter(|entity| !entity.samples.is_empty()) {
            @let name = entity.entity.as_str();
            h3 { "Differences in " (name) " (" (entity.samples.len()) " shown)" }
            table.samples {
                thead { tr { th.n { "legacy id" } th { "difference" } th { "verdict" } th { "field" } th { "legacy" } th { "LMS" } } }
                tbody {
                    @for difference in &entity.samples {
                        @let rows = difference.fields.len().max(1);
                        @for (index, field) in difference.fields.iter().enumerate() {
                            tr {
                                @if index == 0 {
                                    td.n rowspan=(rows) { (id(Hook::entity(name, "verify.sample"), difference.legacy_id)) }
                                    td rowspan=(rows) { (difference.kind.as_str()) }
                                    td rowspan=(rows) {
                                        @match difference.explanation {
                                            Some(explanation) => span.muted { "explained: " (explanation.label()) },
                                            None => strong { "unexplained" },
                                        }
                                    }
                                }
                                td { code { (field.field) } }
                                td { code { (shown(field.legacy.as_deref())) } }
                                td { code { (shown(field.lms.as_deref())) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn tally(tally: &TermTally) -> String {
    let average = tally
        .five_point_average
        .map_or_else(|| "-".to_owned(), |average| format!("{average:.2}"));
    let rate = tally
        .pass_rate
        .map_or_else(|| "-".to_owned(), |rate| format!("{rate:.1}%"));
    format!(
        "{} enrolled, {} graded, five-point {average}, pass {rate}",
        tally.enrollments, tally.final_grades
    )
}

fn academic(sheet: &AcademicSheet) -> Markup {
    let mut lines: Vec<_> = sheet.terms.iter().collect();
    lines.sort_by_key(|line| line.matches);
    let shown_lines = lines.len().min(ACADEMIC_LINES);
    html! {
        h3 { "Academic reconciliation" }
        p.note {
            "Per organization (the student's) and term (the course's): enrollments, final grades, the average "
            "five-point mark and the pass rate of pass/fail marks, legacy beside the LMS. "
            (count(Hook::run("verify.academic_differing"), i64::try_from(sheet.differing_lines()).unwrap_or(i64::MAX)))
            " of " (sheet.terms.len() + sheet.submissions.len()) " lines differ"
            @if shown_lines < lines.len() { "; the first " (shown_lines) " lines are shown, differing lines first" }
            "."
        }
        table {
            thead { tr { th { "organization" } th { "term" } th { "legacy" } th { "LMS" } th { "" } } }
            tbody {
                @for line in lines.iter().take(shown_lines) {
                    tr {
                        td { (organization_label(line.organization.as_deref(), line.organization_name.as_deref())) }
                        td { (line.academic_year) " / " (line.semester) }
                        td { (tally(&line.legacy)) }
                        td { (tally(&line.lms)) }
                        td { @if line.matches { "=" } @else { strong { "differs" } } }
                    }
                }
            }
        }
        table {
            thead { tr { th { "organization" } th.n { "submissions, legacy" } th.n { "LMS" } th { "" } } }
            tbody {
                @for line in &sheet.submissions {
                    tr {
                        td { (organization_label(line.organization.as_deref(), line.organization_name.as_deref())) }
                        td.n { (line.legacy) } td.n { (line.lms) }
                        td { @if line.matches { "=" } @else { strong { "differs" } } }
                    }
                }
            }
        }
    }
}
