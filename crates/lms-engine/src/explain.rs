//! Why one legacy row ended as it did.

use lms_domain::{LegacyEntity, Outcome, RejectReason, WarningCode};
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgPool, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::report::{CONFLICT_COLUMNS, ConflictEntry};
use crate::stored_codes::{parse_codes, parse_optional};

/// One legacy row's outcome, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub entity: LegacyEntity,
    pub legacy_id: i64,
    /// `None` when the ledger has no row.
    pub outcome: Option<Outcome>,
    pub reason: Option<RejectReason>,
    pub warnings: Vec<WarningCode>,
    pub detail: Option<String>,
    pub target_table: &'static str,
    pub target_id: Option<i64>,
    pub survivor_legacy_id: Option<i64>,
    pub source_deleted: bool,
    pub run_id: Option<Uuid>,
    /// Whether the legacy table has the row now.
    pub in_legacy: bool,
    /// The row's open conflict, if it has one.
    pub conflict: Option<ConflictEntry>,
    /// The explanation in one paragraph.
    pub text: String,
}

/// Explains one legacy row.
pub async fn explain(
    lms: &PgPool,
    legacy: &PgPool,
    entity: LegacyEntity,
    legacy_id: i64,
) -> Result<Explanation, EngineError> {
    let in_legacy: bool = sqlx::query(AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM {} WHERE id = $1)",
        entity.as_str()
    )))
    .bind(legacy_id)
    .fetch_one(legacy)
    .await
    .legacy()?
    .try_get(0)
    .legacy()?;
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT outcome, reason, warnings, detail, survivor_legacy_id, \
                source_deleted_at IS NOT NULL AS source_deleted, run_id, {CONFLICT_COLUMNS} \
         FROM migration.ledger WHERE entity = $1 AND legacy_id = $2"
    )))
    .bind(entity.as_str())
    .bind(legacy_id)
    .fetch_optional(lms)
    .await
    .lms()?;
    let target_table = entity.target_table();
    let Some(row) = row else {
        let text = if in_legacy {
            format!(
                "{entity} {legacy_id} exists in the legacy database but no run has migrated it yet."
            )
        } else {
            format!("{entity} {legacy_id} exists neither in the legacy database nor in the ledger.")
        };
        return Ok(Explanation {
            entity,
            legacy_id,
            outcome: None,
            reason: None,
            warnings: Vec::new(),
            detail: None,
            target_table,
            target_id: None,
            survivor_legacy_id: None,
            source_deleted: false,
            run_id: None,
            in_legacy,
            conflict: None,
            text,
        });
    };
    let outcome: Outcome = row.try_get::<String, _>("outcome").lms()?.parse()?;
    let reason: Option<RejectReason> = parse_optional(row.try_get("reason").lms()?)?;
    let warnings: Vec<WarningCode> =
        parse_codes(&row.try_get::<Vec<String>, _>("warnings").lms()?)?;
    let detail: Option<String> = row.try_get("detail").lms()?;
    let target_id: Option<i64> = row.try_get("target_id").lms()?;
    let survivor: Option<i64> = row.try_get("survivor_legacy_id").lms()?;
    let source_deleted: bool = row.try_get("source_deleted").lms()?;
    let conflict = ConflictEntry::from_ledger(&row)?;
    let mut text = match (outcome, target_id) {
        (Outcome::Migrated, Some(id)) => {
            format!("{entity} {legacy_id} was migrated to {target_table} id {id}.")
        }
        (Outcome::Migrated, None) if source_deleted && survivor.is_some() => format!(
            "{entity} {legacy_id} was migrated; it left its key group, and the group's {target_table} row \
             was handed to {entity} {}.",
            survivor.map_or("?".to_owned(), |id| id.to_string())
        ),
        (Outcome::Migrated, None) if warnings.contains(&WarningCode::DeletedInLms) => format!(
            "{entity} {legacy_id} was migrated, and its {target_table} row was since deleted in the LMS; \
             re-runs do not create it again."
        ),
        (Outcome::Migrated, None) => format!(
            "{entity} {legacy_id} was migrated but has no {target_table} row yet (see its conflict)."
        ),
        (Outcome::Merged, _) => format!(
            "{entity} {legacy_id} was merged into {entity} {}, and shares its {target_table} row (id {}).",
            survivor.map_or("?".to_owned(), |id| id.to_string()),
            target_id.map_or("?".to_owned(), |id| id.to_string())
        ),
        (Outcome::Rejected, _) => format!(
            "{entity} {legacy_id} was rejected ({}).",
            reason.map_or("no reason recorded", RejectReason::as_str)
        ),
    };
    if let Some(detail) = &detail {
        text.push_str(&format!(" Why: {detail}."));
    }
    if !warnings.is_empty() {
        let codes: Vec<&str> = warnings.iter().map(|code| code.as_str()).collect();
        text.push_str(&format!(" Warnings: {}.", codes.join(", ")));
    }
    if source_deleted && survivor.is_some() {
        text.push_str(" The legacy row has since been deleted.");
    } else if source_deleted {
        text.push_str(
            " The legacy row has since been deleted; its target is flagged source_deleted.",
        );
    }
    if let Some(conflict) = &conflict {
        text.push_str(&format!(
            " Open conflict ({}): {}; legacy proposes {}, the LMS row holds {}. \
             A run with --on-conflict take-legacy writes legacy's values.",
            conflict.kind,
            conflict.kind.explanation(),
            conflict.legacy_values,
            conflict.lms_values
        ));
    }
    Ok(Explanation {
        entity,
        legacy_id,
        outcome: Some(outcome),
        reason,
        warnings,
        detail,
        target_table,
        target_id,
        survivor_legacy_id: survivor,
        source_deleted,
        run_id: row.try_get("run_id").lms()?,
        in_legacy,
        conflict,
        text,
    })
}
