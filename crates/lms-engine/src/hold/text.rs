//! A hold preview as plain text, for `lmsctl migrate run --wait`, `status`
//! and `report`: one line per table, the tables that hold the run marked.

use std::fmt::Write as _;

use super::HoldPreview;
use crate::report::thousands;

/// The preview as lines of text, ending with a newline.
pub fn to_text(preview: &HoldPreview) -> String {
    let mut out = format!(
        "Hold preview (threshold: more than max({}% of a table's legacy rows, {} rows)):\n",
        preview.threshold.percent,
        thousands(i64::try_from(preview.threshold.min_rows).unwrap_or(i64::MAX))
    );
    let width = preview
        .tables
        .iter()
        .map(|table| table.entity.as_str().len())
        .max()
        .unwrap_or(0);
    for table in &preview.tables {
        let verdict = if table.exceeds() {
            "  HOLDS THE RUN"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {:>9} legacy rows  {:>9} creates  {:>9} updates  {:>9} deletes  threshold {:>9} [{}]{verdict}",
            table.entity.as_str(),
            thousands(table.legacy_rows),
            thousands(table.creates),
            thousands(table.updates),
            thousands(table.deletes),
            thousands(table.threshold),
            table.load_path,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use lms_domain::LegacyEntity;

    use super::*;
    use crate::bulk::LoadPath;
    use crate::hold::{HoldThreshold, TablePreview};

    #[test]
    fn a_table_over_its_threshold_is_marked() {
        let preview = HoldPreview {
            threshold: HoldThreshold::default(),
            tables: vec![TablePreview {
                entity: LegacyEntity::Journal,
                load_path: LoadPath::Delta,
                legacy_rows: 1_000,
                creates: 0,
                updates: 120,
                deletes: 0,
                threshold: 100,
            }],
        };
        let text = to_text(&preview);
        assert!(text.contains("journal"), "{text}");
        assert!(text.contains("120 updates"), "{text}");
        assert!(text.contains("HOLDS THE RUN"), "{text}");
    }
}
