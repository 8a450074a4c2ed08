//! A gated run's preview, counted by its stage chunks, each over its own
//! range, while staging runs on every worker: otherwise the last stage
//! chunk counts every table's changes alone, on the run's critical path
//! (for a 1% journal delta at seed scale, 5,100 changed rows looked up in
//! the mirror and the ledger, about 100 ms).
//!
//! A table's shares add up to its preview when it is in step: its recorded
//! changes are all there is to count, each range's are written only by the
//! range's own stage chunk, and the ledger does not change while the gate
//! is closed. A table whose chunks did not all count (not in step then, or
//! planned before shares were counted) is counted whole by the decision.

use lms_domain::LegacyEntity;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use super::PREVIEW_CHANGES;
use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use crate::resolve::scope;
use crate::sql_template::render;
use crate::stage::stage_table;

/// The preview's counts over some of a table's legacy ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewShare {
    pub creates: i64,
    pub updates: i64,
    pub deletes: i64,
}

/// A stage chunk's share of the preview, counted after it staged `range`;
/// `None` when the table is not in step (the decision counts it whole).
pub(crate) async fn count_share(
    tx: &mut PgConnection,
    entity: LegacyEntity,
    range: IdRange,
) -> Result<Option<PreviewShare>, EngineError> {
    if !scope::in_step(tx, entity).await? {
        return Ok(None);
    }
    count(tx, entity, range).await.map(Some)
}

/// The preview's counts over `range` of a table in step.
pub(super) async fn count(
    tx: &mut PgConnection,
    entity: LegacyEntity,
    range: IdRange,
) -> Result<PreviewShare, EngineError> {
    let statement = render(
        PREVIEW_CHANGES,
        &[
            ("stage", &stage_table(entity)),
            ("range", &range.predicate("c.legacy_id")),
        ],
    )?;
    let counts = sqlx::query(AssertSqlSafe(statement))
        .bind(entity.as_str())
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    Ok(PreviewShare {
        creates: counts.try_get("creates").lms()?,
        updates: counts.try_get("updates").lms()?,
        deletes: counts.try_get("deletes").lms()?,
    })
}

/// The shares the run's stage chunks of `entity` counted, added up; `None`
/// unless every one of them counted its share.
pub(super) async fn summed(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
) -> Result<Option<PreviewShare>, EngineError> {
    let row = sqlx::query(include_str!("stage_shares_summed.sql"))
        .bind(run_id)
        .bind(entity.as_str())
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    let chunks: i64 = row.try_get("chunks").lms()?;
    let counted: i64 = row.try_get("counted").lms()?;
    if chunks == 0 || counted != chunks {
        return Ok(None);
    }
    Ok(Some(PreviewShare {
        creates: row.try_get("creates").lms()?,
        updates: row.try_get("updates").lms()?,
        deletes: row.try_get("deletes").lms()?,
    }))
}
