//! After a table's finalize: VACUUM of the relations its run wrote, so that
//! the next run's lookups find their visibility maps set.
//!
//! A delta run reads the ledger, the targets and staging by index, row by
//! row; every page whose visibility map bit is clear sends an index-only
//! scan to the heap. After a bulk load no bit is set until a VACUUM, and
//! each delta clears the bits of the pages it writes. Autovacuum keeps up
//! where it runs (it is off on the CI machine here), but a run cannot count
//! on it: bulk loaders such as pgcopydb vacuum what they load for the same
//! reason. Measured on a seed-scale 1% journal delta over a first load never
//! vacuumed: 5.0-5.9 s, against 3.6-3.7 s once the journal's relations
//! were vacuumed (1.35 s for the four of them).
//!
//! It runs after the finalize's transaction commits, outside any
//! transaction (VACUUM cannot run inside one), and skips a relation someone
//! else holds a lock on: it is maintenance, and it never fails a chunk.

use lms_domain::LegacyEntity;
use sqlx::PgPool;

use crate::bulk::loaded_tables;
use crate::stage::stage_table;

/// The relations a run's chunks write for `entity`: the LMS tables it
/// loads, its ledger partition and its staging mirror.
pub fn written_relations(entity: LegacyEntity) -> Vec<String> {
    let mut relations: Vec<String> = loaded_tables(entity)
        .iter()
        .map(|table| (*table).to_owned())
        .collect();
    relations.push(format!("migration.ledger_{}", entity.as_str()));
    relations.push(stage_table(entity));
    relations
}

/// Vacuums `entity`'s written relations; a failure is logged, never raised.
pub async fn after_finalize(lms: &PgPool, entity: LegacyEntity) {
    let statement = format!(
        "VACUUM (SKIP_LOCKED) {}",
        written_relations(entity).join(", ")
    );
    let started = std::time::Instant::now();
    match sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(lms)
        .await
    {
        Ok(_) => {
            tracing::debug!(%entity, elapsed = ?started.elapsed(), "vacuumed what the run wrote")
        }
        Err(error) => {
            tracing::warn!(%entity, %error, "could not vacuum what the run wrote; the next run may read more of the heap")
        }
    }
}
