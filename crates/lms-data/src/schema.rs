//! Applying and inspecting the LMS schema migrations.

use lms_migration::Migrator;
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};
use sea_orm_migration::MigratorTrait;

use crate::Database;

/// Serialises schema changes between processes (`lmsctl db up` on several
/// machines at once): an arbitrary constant naming the advisory lock.
const SCHEMA_LOCK: i64 = 0x4c4d_535f_5343_4845; // "LMS_SCHE"

/// One migration and whether it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

/// Applies every pending migration, atomically and under a lock; returns the
/// names applied (empty when the schema was up to date).
pub async fn upgrade(db: &Database) -> Result<Vec<String>, DbErr> {
    let txn = db.orm().begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
        .await?;
    let pending: Vec<String> = Migrator::get_pending_migrations(&txn)
        .await?
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    Migrator::up(&txn, None).await?;
    txn.commit().await?;
    Ok(pending)
}

/// Rolls back the `steps` most recent migrations, under the same lock.
pub async fn downgrade(db: &Database, steps: u32) -> Result<Vec<String>, DbErr> {
    let txn = db.orm().begin().await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
        .await?;
    let applied: Vec<String> = Migrator::get_applied_migrations(&txn)
        .await?
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    Migrator::down(&txn, Some(steps)).await?;
    txn.commit().await?;
    let keep = applied.len().saturating_sub(steps as usize);
    Ok(applied.into_iter().skip(keep).rev().collect())
}

/// Every migration this build knows, with its state. Read-only: it does not
/// create the bookkeeping table in a database that has none.
pub async fn status(db: &Database) -> Result<Vec<MigrationState>, DbErr> {
    let pending: Vec<String> = Migrator::get_pending_migrations_read_only(db.orm())
        .await?
        .iter()
        .map(|migration| migration.name().to_owned())
        .collect();
    Ok(Migrator::migrations()
        .iter()
        .map(|migration| MigrationState {
            name: migration.name().to_owned(),
            applied: !pending.iter().any(|name| name == migration.name()),
        })
        .collect())
}

/// Whether every migration this build knows is applied.
pub async fn is_up_to_date(db: &Database) -> Result<bool, DbErr> {
    Ok(status(db).await?.iter().all(|state| state.applied))
}
