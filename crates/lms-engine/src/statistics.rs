//! Planner statistics for the migration's own tables.
//!
//! A step that has just filled or emptied a table analyzes it, so that the
//! statements after it do not plan over an empty table's statistics (and
//! nest loops over half a million rows). The migration's bookkeeping (the
//! ledger partitions, the staging mirrors, the resolutions and the apply
//! scope) is read by joins and lookups on ids, whose estimates a sample of
//! 9,000 rows (statistics target 30) gets as right as PostgreSQL's default
//! of 30,000. The smaller sample costs a quarter to a third of the time,
//! on the critical path of every first load: on a seed-scale journal, 77
//! ms against 323 ms for its ledger partition, 68 ms against 213 ms for
//! its staging mirror.
//!
//! The LMS's own tables keep the session's default target: the API's
//! queries plan over them.

use sqlx::{AssertSqlSafe, PgConnection};

use crate::error::{DatabaseContext, EngineError};

/// The statistics target a bookkeeping table is analyzed with.
pub const BOOKKEEPING_TARGET: u16 = 30;

/// Whether ANALYZE waits for a table another transaction holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locked {
    Wait,
    Skip,
}

/// ANALYZE of one bookkeeping `relation` (a trusted name: a partition or
/// mirror of a known table) at [`BOOKKEEPING_TARGET`]; the transaction's
/// later ANALYZEs are at the session's default again.
pub async fn analyze_bookkeeping(
    tx: &mut PgConnection,
    relation: &str,
    locked: Locked,
) -> Result<(), EngineError> {
    let options = match locked {
        Locked::Wait => "",
        Locked::Skip => "(SKIP_LOCKED) ",
    };
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET LOCAL default_statistics_target = {BOOKKEEPING_TARGET}; \
         ANALYZE {options}{relation}; \
         SET LOCAL default_statistics_target TO DEFAULT"
    )))
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}
