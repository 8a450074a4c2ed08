//! The coverage report as Markdown: the analysis report's table,
//! regenerated from the ledger, then the full numbers.

use std::fmt::Write as _;

use super::format::{percent, target_noun, thousands};
use super::{CoverageReport, EntityReport};

fn summary(entity: &EntityReport) -> String {
    let mut parts = vec![format!(
        "{} {} in LMS ({} of rows migrated)",
        thousands(entity.target_rows),
        target_noun(&entity.entity),
        percent(entity.migrated, entity.legacy_rows)
    )];
    if entity.merged > 0 {
        parts.push(format!(
            "{} merged into survivors",
            thousands(entity.merged)
        ));
    }
    for (reason, count) in &entity.rejected {
        parts.push(format!("{} rejected ({reason})", thousands(*count)));
    }
    let mut notes: Vec<String> = entity
        .warnings
        .iter()
        .map(|(code, count)| format!("{code} {}", thousands(*count)))
        .collect();
    notes.extend(
        entity
            .derived
            .iter()
            .map(|(name, count)| format!("{} {name}", thousands(*count))),
    );
    let mut text = parts.join(", ");
    if !notes.is_empty() {
        let _ = write!(text, "; {}", notes.join(", "));
    }
    if entity.unexplained > 0 {
        let _ = write!(
            text,
            "; **{} rows unexplained**",
            thousands(entity.unexplained)
        );
    } else {
        text.push_str("; every row accounted for");
    }
    text
}

/// The report as Markdown: the analysis report's table, regenerated from the
/// ledger, then the full numbers.
pub fn to_markdown(report: &CoverageReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Migration coverage: run {} ({})\n",
        report.run_id, report.status
    );
    if let Some(error) = &report.error {
        let _ = writeln!(out, "> {error}\n");
    }
    if let Some(preview) = &report.hold {
        let _ = writeln!(out, "```text\n{}```\n", crate::hold::to_text(preview));
    }
    let _ = writeln!(out, "| legacy table | rows | what this run saw |");
    let _ = writeln!(out, "|---|---:|---|");
    for entity in &report.entities {
        let _ = writeln!(
            out,
            "| {} | {} | {} |",
            entity.entity,
            thousands(entity.legacy_rows),
            summary(entity)
        );
    }
    let _ = writeln!(
        out,
        "\n| legacy table | legacy rows | migrated | merged | rejected | unexplained | LMS rows | created | updated | unchanged | conflicts | source deleted |"
    );
    let _ = writeln!(
        out,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for entity in &report.entities {
        let changes = entity.changes;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            entity.entity,
            thousands(entity.legacy_rows),
            thousands(entity.migrated),
            thousands(entity.merged),
            thousands(entity.rejected_total()),
            thousands(entity.unexplained),
            thousands(entity.target_rows),
            thousands(changes.created),
            thousands(changes.updated),
            thousands(changes.unchanged),
            thousands(changes.conflicts),
            thousands(changes.source_deleted),
        );
    }
    out.push_str(&super::conflicts_text(report));
    out
}
