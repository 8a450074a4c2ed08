//! The journal: references, duplicates, and the course offerings.

use sqlx::{AssertSqlSafe, PgConnection};

use crate::error::{DatabaseContext, EngineError};

const KEYS: &str = include_str!("sql/journal_keys.sql");
const OUTCOMES: &str = include_str!("sql/journal_outcomes.sql");
const COURSES: &str = include_str!("sql/journal_courses.sql");

/// The contract: a row whose student points nowhere or at a rejected student,
/// or whose subject points nowhere, is rejected; a merged student's rows
/// attach to the survivor; rows with the same (surviving student, course
/// key) are one enrollment, the lowest id surviving. A group that points
/// nowhere counts as NULL in the course key (docs/contract.md).
pub async fn resolve(
    tx: &mut PgConnection,
    ledger: &str,
    dry_run: bool,
) -> Result<(), EngineError> {
    sqlx::raw_sql(AssertSqlSafe(crate::sql_template::render(
        KEYS,
        &[("ledger", ledger)],
    )?))
    .execute(&mut *tx)
    .await
    .lms()?;
    sqlx::raw_sql(OUTCOMES).execute(&mut *tx).await.lms()?;
    if !dry_run {
        create_courses(tx).await?;
    }
    Ok(())
}

/// One LMS course per distinct offering key, created on demand.
async fn create_courses(tx: &mut PgConnection) -> Result<(), EngineError> {
    sqlx::raw_sql(COURSES).execute(&mut *tx).await.lms()?;
    Ok(())
}
