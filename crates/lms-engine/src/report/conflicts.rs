//! Open conflicts: rows whose legacy values wait while their LMS rows keep
//! their own, with both sides.

use chrono::{DateTime, Utc};
use lms_domain::LegacyEntity;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::conflict::ConflictKind;
use crate::error::{DatabaseContext, EngineError};

/// How many open conflicts of one table a report lists (all of them are
/// in the ledger: `ListRowOutcomes` with `conflict = true`).
pub const CONFLICTS_LISTED: i64 = 100;

/// One open conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictEntry {
    pub legacy_id: i64,
    pub kind: ConflictKind,
    /// The row's own LMS row, if it has one.
    pub target_id: Option<i64>,
    /// The LMS row the conflict is with: the row's own, or (`key_taken`)
    /// the one holding its key.
    pub lms_row: Option<i64>,
    /// What legacy proposes, in the LMS's columns.
    pub legacy_values: serde_json::Value,
    /// What that LMS row held when the conflict was found.
    pub lms_values: serde_json::Value,
    pub since: DateTime<Utc>,
}

/// The ledger columns [`ConflictEntry::from_ledger`] reads.
pub const CONFLICT_COLUMNS: &str =
    "legacy_id, conflict, target_id, conflict_target, proposed, conflict_lms, conflict_since";

impl ConflictEntry {
    /// The open conflict of a ledger row selected with [`CONFLICT_COLUMNS`],
    /// if it has one.
    pub fn from_ledger(row: &PgRow) -> Result<Option<ConflictEntry>, EngineError> {
        let Some(kind) = row.try_get::<Option<String>, _>("conflict").lms()? else {
            return Ok(None);
        };
        Ok(Some(ConflictEntry {
            legacy_id: row.try_get("legacy_id").lms()?,
            kind: kind.parse().map_err(EngineError::Invariant)?,
            target_id: row.try_get("target_id").lms()?,
            lms_row: row.try_get("conflict_target").lms()?,
            legacy_values: row
                .try_get::<Option<serde_json::Value>, _>("proposed")
                .lms()?
                .unwrap_or_default(),
            lms_values: row
                .try_get::<Option<serde_json::Value>, _>("conflict_lms")
                .lms()?
                .unwrap_or_default(),
            since: row.try_get("conflict_since").lms()?,
        }))
    }
}

/// The open conflicts of `entity`, lowest legacy ids first.
pub async fn open_conflicts(
    lms: &PgPool,
    entity: LegacyEntity,
) -> Result<Vec<ConflictEntry>, EngineError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CONFLICT_COLUMNS} FROM migration.ledger \
         WHERE entity = $1 AND conflict IS NOT NULL AND source_deleted_at IS NULL \
         ORDER BY legacy_id LIMIT $2"
    )))
    .bind(entity.as_str())
    .bind(CONFLICTS_LISTED)
    .fetch_all(lms)
    .await
    .lms()?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.extend(ConflictEntry::from_ledger(row)?);
    }
    Ok(entries)
}

/// The open conflicts of a report, one line each with both sides, for a
/// terminal or Markdown (empty when there are none).
pub fn conflicts_text(report: &super::CoverageReport) -> String {
    let mut out = String::new();
    for entity in &report.entities {
        if entity.changes.conflicts == 0 && entity.open_conflicts.is_empty() {
            continue;
        }
        let shown = entity.open_conflicts.len();
        out.push_str(&format!(
            "\nOpen conflicts in {}: {} in this run{}; the LMS rows keep their values until legacy agrees or a run with --on-conflict take-legacy.\n",
            entity.entity,
            entity.changes.conflicts,
            if i64::try_from(shown).unwrap_or(i64::MAX) < entity.changes.conflicts {
                format!(" (the first {shown} listed; `ListRowOutcomes` with conflict = true has them all)")
            } else {
                String::new()
            }
        ));
        for conflict in &entity.open_conflicts {
            out.push_str(&format!(
                "- {} {} ({}): legacy proposes {}; the LMS row{} holds {}\n",
                entity.entity,
                conflict.legacy_id,
                conflict.kind,
                conflict.legacy_values,
                conflict
                    .lms_row
                    .map(|id| format!(" {id}"))
                    .unwrap_or_default(),
                conflict.lms_values
            ));
        }
    }
    out
}
