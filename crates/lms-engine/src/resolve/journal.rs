//! The journal: references, duplicates, and the course offerings.

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, PgConnection};

use super::RulesOver;
use crate::conflict::ConflictPolicy;
use crate::error::{DatabaseContext, EngineError};
use crate::sql_template::render;

const MAPS: &str = include_str!("sql/journal_maps.sql");
const CHANGED: &str = include_str!("sql/journal_changed.sql");
const TOUCHED: &str = include_str!("sql/journal_touched.sql");
const KEYS: &str = include_str!("sql/journal_keys.sql");
const TOUCHED_ROWS: &str = include_str!("sql/journal_touched_rows.sql");
const SCOPE: &str = include_str!("sql/journal_scope.sql");
const OUTCOMES: &str = include_str!("sql/journal_outcomes.sql");
const COURSES: &str = include_str!("sql/journal_courses.sql");

/// The contract: a row whose student points nowhere or at a rejected student,
/// or whose subject points nowhere, is rejected; a merged student's rows
/// attach to the survivor; rows with the same (surviving student, course
/// key) are one enrollment, the lowest id survives. A group that points
/// nowhere counts as NULL in the course key (docs/contract.md).
///
/// Over every staged row, the caller has forgotten the journal's
/// resolutions; over the touched rows (gathered by [`gather_changed`]),
/// this forgets theirs and returns how many rows it resolved again.
pub async fn resolve(
    tx: &mut PgConnection,
    ledger: &str,
    dry_run: bool,
    rules_over: RulesOver,
) -> Result<Option<i64>, EngineError> {
    sqlx::raw_sql(AssertSqlSafe(render(MAPS, &[("ledger", ledger)])?))
        .execute(&mut *tx)
        .await
        .lms()?;
    let touched = match rules_over {
        RulesOver::EveryRow => {
            keys(tx, "").await?;
            None
        }
        RulesOver::TouchedJournalRows => Some(forget_touched(tx).await?),
    };
    sqlx::raw_sql(OUTCOMES).execute(&mut *tx).await.lms()?;
    if !dry_run {
        create_courses(tx).await?;
    }
    Ok(touched)
}

/// Gathers, for a delta run, the journal rows whose key or standing may
/// have changed (`journal_changed`); returns how many there are.
pub async fn gather_changed(
    tx: &mut PgConnection,
    references_seen: Option<DateTime<Utc>>,
    on_conflict: ConflictPolicy,
) -> Result<i64, EngineError> {
    sqlx::raw_sql(
        "CREATE TEMP TABLE journal_changed (legacy_id bigint PRIMARY KEY) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await
    .lms()?;
    let changed = sqlx::query(CHANGED)
        .bind(references_seen)
        .bind(on_conflict.as_str())
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected();
    Ok(i64::try_from(changed).unwrap_or(i64::MAX))
}

/// Gathers the rows a delta run resolves again (`journal_touched`, then
/// `journal_keys` over them in one pass over the staged rows, and
/// `journal_scope`), forgets their resolutions and returns how many there
/// are.
async fn forget_touched(tx: &mut PgConnection) -> Result<i64, EngineError> {
    sqlx::raw_sql(TOUCHED).execute(&mut *tx).await.lms()?;
    keys(tx, TOUCHED_ROWS).await?;
    sqlx::raw_sql(SCOPE).execute(&mut *tx).await.lms()?;
    let forgotten = sqlx::query(
        "DELETE FROM migration.resolutions \
         WHERE entity = 'journal' AND legacy_id IN (SELECT legacy_id FROM journal_scope)",
    )
    .execute(&mut *tx)
    .await
    .lms()?
    .rows_affected();
    tracing::debug!(
        forgotten,
        "journal resolutions forgotten for the touched rows"
    );
    let touched: i64 = sqlx::query_scalar("SELECT count(*) FROM journal_scope")
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    Ok(touched)
}

/// `journal_keys`: the key of every staged row, or of those `and_rows`
/// keeps (empty, or `AND` and a condition on the staged row `j`).
async fn keys(tx: &mut PgConnection, and_rows: &str) -> Result<(), EngineError> {
    sqlx::raw_sql(AssertSqlSafe(render(KEYS, &[("rows", and_rows)])?))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

/// One LMS course per distinct offering key, created on demand.
async fn create_courses(tx: &mut PgConnection) -> Result<(), EngineError> {
    sqlx::raw_sql(COURSES).execute(&mut *tx).await.lms()?;
    Ok(())
}
