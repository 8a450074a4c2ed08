//! The coverage report as a terminal table.

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{
    Attribute, Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Table, Width,
};
use lms_engine::CoverageReport;

use super::output::Layout;

fn counts(map: &std::collections::BTreeMap<String, i64>) -> String {
    if map.is_empty() {
        return "-".to_owned();
    }
    map.iter()
        .map(|(code, count)| format!("{code} {count}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The report as text: as wide as `layout.width` (cells wrap to fit), or,
/// without a width, never wrapped. Colour only when `layout.colour`.
pub fn render(report: &CoverageReport, layout: Layout) -> String {
    let mut table = Table::new();
    // The layout decides, not comfy-table's own look at stdout.
    table.force_no_tty();
    if layout.colour {
        table.enforce_styling();
    }
    match layout.width {
        Some(width) => table
            .set_content_arrangement(ContentArrangement::Dynamic)
            .set_width(width),
        None => table.set_content_arrangement(ContentArrangement::Disabled),
    };
    table.load_style(UTF8_FULL_CONDENSED).set_header(
        [
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
        ]
        .map(|title| Cell::new(title).add_attribute(Attribute::Bold)),
    );
    for entity in &report.entities {
        let changes = entity.changes;
        let mut unexplained = Cell::new(entity.unexplained);
        if entity.unexplained != 0 {
            unexplained = unexplained.fg(Color::Red).add_attribute(Attribute::Bold);
        }
        table.add_row(vec![
            Cell::new(&entity.entity),
            Cell::new(entity.legacy_rows),
            Cell::new(entity.migrated),
            Cell::new(entity.merged),
            Cell::new(counts(&entity.rejected)),
            Cell::new(counts(&entity.warnings)),
            unexplained,
            Cell::new(entity.target_rows),
            Cell::new(counts(&entity.derived)),
            Cell::new(format!(
                "{} / {} / {} / {} / {}",
                changes.created,
                changes.updated,
                changes.unchanged,
                changes.conflicts,
                changes.source_deleted
            )),
        ]);
    }
    for column in [1, 2, 3, 6, 7] {
        if let Some(column) = table.column_mut(column) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    // On a narrow terminal, headers and the text columns wrap; table names
    // and numbers never break.
    for column in [0, 1, 2, 3, 6, 7] {
        let widest = report
            .entities
            .iter()
            .map(|entity| match column {
                0 => entity.entity.chars().count(),
                1 => entity.legacy_rows.to_string().len(),
                2 => entity.migrated.to_string().len(),
                3 => entity.merged.to_string().len(),
                6 => entity.unexplained.to_string().len(),
                _ => entity.target_rows.to_string().len(),
            })
            .max()
            .unwrap_or(1);
        // The boundary counts the cell's padding, a space either side.
        if let Some(column) = table.column_mut(column) {
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
                u16::try_from(widest + 2).unwrap_or(u16::MAX),
            )));
        }
    }
    let mut out = format!("Run {}: {}\n", report.run_id, report.status);
    if let Some(error) = &report.error {
        out.push_str(&format!("Error: {error}\n"));
    }
    if let Some(preview) = &report.hold {
        out.push_str(&lms_engine::hold::to_text(preview));
    }
    out.push_str(&table.to_string());
    out.push('\n');
    out.push_str(&lms_engine::report::conflicts_text(report));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report with one table whose reject reason is 150 characters long.
    fn wide_report(unexplained: i64) -> CoverageReport {
        let mut rejected = serde_json::Map::new();
        rejected.insert(format!("reason_{}", "x".repeat(143)), 269.into());
        let report = serde_json::json!({
            "run_id": "0190f5c6-0000-7000-8000-000000000001",
            "status": "succeeded",
            "error": null,
            "started_at": "2026-12-02T07:00:00Z",
            "finished_at": "2026-12-02T07:01:00Z",
            "entities": [{
                "entity": "journal",
                "legacy_rows": 510269,
                "migrated": 500000,
                "merged": 10000,
                "rejected": rejected,
                "warnings": { "W_TRIMMED": 12 },
                "unexplained": unexplained,
                "target_rows": 500000,
                "derived": { "courses": 9000 },
                "changes": { "created": 500000, "updated": 0, "unchanged": 0, "conflicts": 0, "source_deleted": 0 }
            }]
        });
        serde_json::from_value(report).expect("a valid report")
    }

    fn table_lines(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|line| line.starts_with(['┌', '│', '╞', '├', '└']))
            .collect()
    }

    #[test]
    fn for_a_pipe_no_line_is_wrapped() {
        let text = render(&wide_report(0), Layout::PIPE);
        let reason = format!("reason_{} 269", "x".repeat(143));
        assert!(text.contains(&reason), "{text}");
        let lines = table_lines(&text);
        assert_eq!(
            lines.len(),
            5,
            "top, header, separator, one row, bottom: {text}"
        );
        let widths: Vec<usize> = lines.iter().map(|line| line.chars().count()).collect();
        assert!(widths.iter().all(|width| *width == widths[0]), "{text}");
        assert!(widths[0] > 200, "{text}");
    }

    #[test]
    fn for_a_terminal_it_fits_the_width() {
        let text = render(
            &wide_report(0),
            Layout {
                colour: false,
                width: Some(100),
            },
        );
        let lines = table_lines(&text);
        assert!(lines.len() > 5, "cells wrap onto more lines: {text}");
        for line in lines {
            assert!(line.chars().count() <= 100, "{line}");
        }
    }

    #[test]
    fn colour_only_when_the_layout_has_it() {
        let report = wide_report(3);
        assert!(!render(&report, Layout::PIPE).contains('\x1b'));
        let coloured = render(
            &report,
            Layout {
                colour: true,
                width: None,
            },
        );
        assert!(coloured.contains('\x1b'), "{coloured}");
    }
}
