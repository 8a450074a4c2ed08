//! After a bulk load's finalize: VACUUM of the relations the load wrote,
//! so that the runs after it find their visibility maps set.
//!
//! A delta run reads the ledger, the targets and staging by index, row by
//! row; every page whose visibility map bit is clear sends an index-only
//! scan to the heap. After a bulk load no bit is set until a VACUUM. Bulk
//! loaders such as pgcopydb vacuum what they load for the same reason.
//! Later changes are autovacuum's (`deploy/postgres/lms.conf` tunes it; it
//! is off on the CI machine here). Measured on a seed-scale 1% journal
//! delta after a first load never vacuumed: 5.0-5.9 s, against 3.3-3.7 s
//! after one that was (the journal's relations took 0.46 s).
//!
//! It runs after the finalize's transaction commits, outside any
//! transaction (VACUUM cannot run inside one), and skips a relation whose
//! lock it cannot take at once. It is maintenance: it never fails a chunk.
//! While it runs it holds SHARE UPDATE EXCLUSIVE on each relation, so a
//! next run's plan (which locks the loaded tables to choose their path)
//! waits for it, for as long as the VACUUM takes.

use lms_domain::LegacyEntity;
use sqlx::PgPool;

use crate::bulk::loaded_tables;
use crate::finalize::also_written;
use crate::stage::stage_table;

/// The relations a run's chunks write for `entity`: the LMS tables it
/// loads and the others it writes (accounts, courses), its ledger
/// partition and its staging mirror.
pub fn written_relations(entity: LegacyEntity) -> Vec<String> {
    let mut relations: Vec<String> = loaded_tables(entity)
        .iter()
        .chain(also_written(entity))
        .map(|table| (*table).to_owned())
        .collect();
    relations.push(format!("migration.ledger_{}", entity.as_str()));
    relations.push(stage_table(entity));
    relations
}

/// Vacuums `entity`'s written relations; a failure is logged, never raised.
pub async fn after_bulk_load(lms: &PgPool, entity: LegacyEntity) {
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
