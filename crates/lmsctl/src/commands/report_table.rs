//! The coverage report as a terminal table.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use lms_engine::CoverageReport;

fn counts(map: &std::collections::BTreeMap<String, i64>) -> String {
    if map.is_empty() {
        return "-".to_owned();
    }
    map.iter()
        .map(|(code, count)| format!("{code} {count}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn render(report: &CoverageReport) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec![
        "legacy table",
        "legacy rows",
        "migrated",
        "merged",
        "rejected",
        "warnings",
        "unexplained",
        "LMS rows",
        "derived",
        "created / updated / unchanged / conflicts / deleted",
    ]);
    for entity in &report.entities {
        let changes = entity.changes;
        table.add_row(vec![
            entity.entity.clone(),
            entity.legacy_rows.to_string(),
            entity.migrated.to_string(),
            entity.merged.to_string(),
            counts(&entity.rejected),
            counts(&entity.warnings),
            entity.unexplained.to_string(),
            entity.target_rows.to_string(),
            counts(&entity.derived),
            format!(
                "{} / {} / {} / {} / {}",
                changes.created,
                changes.updated,
                changes.unchanged,
                changes.conflicts,
                changes.source_deleted
            ),
        ]);
    }
    for column in [1, 2, 3, 6, 7] {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    let mut out = format!("Run {}: {}\n", report.run_id, report.status);
    if let Some(error) = &report.error {
        out.push_str(&format!("Error: {error}\n"));
    }
    out.push_str(&table.to_string());
    out.push('\n');
    out.push_str(&lms_engine::report::conflicts_text(report));
    out
}
