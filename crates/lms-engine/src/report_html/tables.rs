//! The page's per-table sections: coverage, changes, rejections, warnings.

use maud::{Markup, html};

use super::{Hook, count, id, share};
use crate::report::{CoverageReport, EntityReport, RejectionExamples, target_noun};

/// Shares of the legacy rows as a stacked bar, widths in percent.
fn bar(entity: &EntityReport) -> Markup {
    #[allow(clippy::cast_precision_loss)]
    let width = |part: i64| {
        if entity.legacy_rows == 0 {
            0.0
        } else {
            part as f64 * 100.0 / entity.legacy_rows as f64
        }
    };
    let segments = [
        ("migrated", entity.migrated),
        ("merged", entity.merged),
        ("rejected", entity.rejected_total()),
        ("unexplained", entity.unexplained),
    ];
    html! {
        div.bar role="img" aria-label={ "shares of " (entity.entity) "'s legacy rows" } {
            @for (class, part) in segments {
                @if part > 0 {
                    span class=(class) style=(format!("width: {:.3}%", width(part))) {}
                }
            }
        }
    }
}

fn legend() -> Markup {
    html! {
        div.legend {
            @for name in ["migrated", "merged", "rejected", "unexplained"] {
                span { i class=(name) {} (name) }
            }
        }
    }
}

/// Legacy rows and what became of them, one row per legacy table.
pub(super) fn coverage(report: &CoverageReport) -> Markup {
    let total = |value: fn(&EntityReport) -> i64| report.entities.iter().map(value).sum::<i64>();
    html! {
        section #coverage {
            h2 { "Coverage" }
            p.note { "Every legacy row is migrated, merged into a survivor, or rejected with a reason. Rows with none of these are unexplained." }
            (legend())
            table {
                thead { tr {
                    th { "legacy table" } th.n { "legacy rows" } th { "shares" }
                    th.n { "migrated" } th.n { "merged" } th.n { "rejected" } th.n { "unexplained" }
                    th.n { "LMS rows" } th { "derived" }
                } }
                tbody {
                    @for entity in &report.entities {
                        (coverage_row(entity))
                    }
                }
                tfoot { tr.total {
                    td { "all tables" }
                    td.n { (count(Hook::run("legacy_rows"), total(|e| e.legacy_rows))) }
                    td {}
                    td.n { (count(Hook::run("migrated"), total(|e| e.migrated))) }
                    td.n { (count(Hook::run("merged"), total(|e| e.merged))) }
                    td.n { (count(Hook::run("rejected_total"), total(EntityReport::rejected_total))) }
                    td.n { (count(Hook::run("unexplained"), total(|e| e.unexplained))) }
                    td.n { (count(Hook::run("target_rows"), total(|e| e.target_rows))) }
                    td {}
                } }
            }
        }
    }
}

fn coverage_row(entity: &EntityReport) -> Markup {
    let name = entity.entity.as_str();
    let hook = |field| Hook::entity(name, field);
    let whole = entity.legacy_rows;
    html! {
        tr.unexplained[entity.unexplained > 0] {
            td { strong { (name) } br; span.muted { "→ " (target_noun(name)) } }
            td.n { (count(hook("legacy_rows"), whole)) }
            td { (bar(entity)) }
            td.n { (count(hook("migrated"), entity.migrated)) br; span.share { (share(hook("share.migrated"), entity.migrated, whole)) } }
            td.n { (count(hook("merged"), entity.merged)) br; span.share { (share(hook("share.merged"), entity.merged, whole)) } }
            td.n { (count(hook("rejected_total"), entity.rejected_total())) br; span.share { (share(hook("share.rejected"), entity.rejected_total(), whole)) } }
            td.n.unexplained-count { (count(hook("unexplained"), entity.unexplained)) br; span.share { (share(hook("share.unexplained"), entity.unexplained, whole)) } }
            td.n { (count(hook("target_rows"), entity.target_rows)) }
            td {
                ul.counts {
                    @for (derived, value) in &entity.derived {
                        li { (derived) " " (count(hook("derived").key(derived), *value)) }
                    }
                }
            }
        }
    }
}

/// What this run changed, by legacy row.
pub(super) fn changes(report: &CoverageReport) -> Markup {
    let fields = [
        "created",
        "updated",
        "unchanged",
        "conflicts",
        "source_deleted",
    ];
    html! {
        section #changes {
            h2 { "Changes in this run" }
            p.note { "Re-runs are a delta sync: unchanged rows are compared and not written; rows deleted from legacy flag their targets; a row both legacy and the LMS changed is a conflict, settled by the run's policy." }
            table {
                thead { tr {
                    th { "legacy table" }
                    @for field in fields { th.n { (field.replace('_', " ")) } }
                } }
                tbody {
                    @for entity in &report.entities {
                        @let changes = entity.changes;
                        @let values = [changes.created, changes.updated, changes.unchanged, changes.conflicts, changes.source_deleted];
                        tr {
                            td { (entity.entity) }
                            @for (field, value) in fields.iter().zip(values) {
                                td.n { (count(Hook::entity(&entity.entity, &format!("changes.{field}")), value)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Open conflicts: legacy's values and the LMS row's, side by side.
pub(super) fn conflicts(report: &CoverageReport) -> Markup {
    let conflicting: Vec<&EntityReport> = report
        .entities
        .iter()
        .filter(|entity| !entity.open_conflicts.is_empty())
        .collect();
    html! {
        section #conflicts {
            h2 { "Open conflicts" }
            @if conflicting.is_empty() {
                p.note { "No row has an open conflict." }
            } @else {
                p.note {
                    "Rows both legacy and the LMS changed since the migration wrote them: the LMS rows keep their values "
                    "until legacy agrees or a run with " code { "--on-conflict take-legacy" } " writes legacy's."
                }
            }
            @for entity in conflicting {
                @let name = entity.entity.as_str();
                h3 { (name) }
                table.examples {
                    thead { tr { th { "legacy id" } th { "kind" } th { "legacy proposes" } th { "the LMS row holds" } } }
                    tbody {
                        @for conflict in &entity.open_conflicts {
                            tr {
                                td.id { (id(Hook::entity(name, "conflict.legacy_id"), conflict.legacy_id)) }
                                td { code { (conflict.kind) } }
                                td.detail { code { (conflict.legacy_values) } }
                                td.detail { code { (conflict.lms_values) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Rejected rows by reason, with the ledger's explanation of a few.
pub(super) fn rejections(report: &CoverageReport, examples: &RejectionExamples) -> Markup {
    let rejecting: Vec<&EntityReport> = report
        .entities
        .iter()
        .filter(|entity| !entity.rejected.is_empty())
        .collect();
    html! {
        section #rejected {
            h2 { "Rejected rows" }
            @if rejecting.is_empty() {
                p.note { "No row was rejected." }
            } @else {
                p.note {
                    "Up to five rows per table and reason, lowest legacy ids first, as the ledger explains them now. "
                    code { "lmsctl migrate explain TABLE ID" } " tells the whole story of one row."
                }
            }
            @for entity in rejecting {
                h3 { (entity.entity) }
                @for (reason, rejected) in &entity.rejected {
                    @let name = entity.entity.as_str();
                    @let shown = examples.get(name).and_then(|reasons| reasons.get(reason));
                    table.examples {
                        colgroup { col.ids; col; }
                        thead { tr {
                            th colspan="2" {
                                code { (reason) } ": " (count(Hook::entity(name, "rejected").key(reason), *rejected))
                                @if *rejected == 1 { " row" } @else { " rows" }
                            }
                        } }
                        tbody {
                            @for example in shown.into_iter().flatten() {
                                tr {
                                    td.id { (id(Hook::entity(name, "example.legacy_id").key(reason), example.legacy_id)) }
                                    td.detail { (example.detail.as_deref().unwrap_or("(no detail recorded)")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Warnings by code: the row migrated, but something in it was off.
pub(super) fn warnings(report: &CoverageReport) -> Markup {
    let warned: Vec<&EntityReport> = report
        .entities
        .iter()
        .filter(|entity| !entity.warnings.is_empty())
        .collect();
    html! {
        section #warnings {
            h2 { "Warnings" }
            @if warned.is_empty() {
                p.note { "No row carries a warning." }
            } @else {
                p.note { "A row may carry several warnings; counts are per code." }
                table {
                    thead { tr { th { "legacy table" } th { "warning" } th.n { "rows" } } }
                    tbody {
                        @for entity in warned {
                            @for (code, value) in &entity.warnings {
                                tr {
                                    td { (entity.entity) }
                                    td { code { (code) } }
                                    td.n { (count(Hook::entity(&entity.entity, "warnings").key(code), *value)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
