//! The initial-load path: a table that is empty when a run is planned is
//! loaded in bulk. Its secondary indexes and foreign keys are dropped when
//! the run is planned (their definitions recorded in `migration.deferred_ddl`,
//! the one record of what must come back), its rows are inserted with
//! nothing to compare and no per-row checks, and its finalize step rebuilds
//! the indexes and adds the foreign keys back, validated, in one
//! transaction. PostgreSQL checks every key in bulk before the run may
//! succeed. Meanwhile a trigger refuses every write to the table but the
//! migration's own (`LM001`, which the API answers with UNAVAILABLE).
//!
//! Staging is UNLOGGED (a mirror of legacy, `stage`): a PostgreSQL crash
//! empties it, so every step that reads it first checks it holds what its
//! stage chunks staged, staging again what a crash lost ([`ensure_staged`]).
//! The check is one lookup while the run's row in the unlogged
//! `migration.staging_witness` is there: a crash empties it with staging.
//!
//! Whatever a crash or a failed run leaves (dropped definitions, markers,
//! NOT VALID keys, invalid indexes), the next plan repairs first
//! ([`repair`]).

use lms_domain::LegacyEntity;
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::plan::{IdRange, Phase};
use crate::stage::{stage_range, stage_table};
use crate::state::stored_text_enum;

stored_text_enum! {
    /// How a table's apply writes its rows in one run.
    pub enum LoadPath as "load path" {
        /// Into empty tables, without secondary indexes and foreign keys,
        /// rebuilt in bulk when the table is finished.
        Bulk => "bulk",
        /// Row by row, through the three-way delta.
        Delta => "delta",
    }
}

/// The path chosen for a table, and the facts it was chosen from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadChoice {
    pub path: LoadPath,
    pub reason: String,
}

/// The LMS tables a legacy table's apply fills (courses, created by the
/// journal's resolve step a few at a time, keep their indexes).
pub const fn loaded_tables(entity: LegacyEntity) -> &'static [&'static str] {
    match entity {
        LegacyEntity::Organizations => &["organizations"],
        LegacyEntity::Persons => &["persons"],
        LegacyEntity::Users => &["users"],
        LegacyEntity::Groups => &["student_groups"],
        LegacyEntity::Subjects => &["subjects"],
        LegacyEntity::Students => &["students"],
        LegacyEntity::Teachers => &["staff_members"],
        LegacyEntity::Journal => &["course_enrollments", "grades"],
        LegacyEntity::Exams => &["assessments"],
        LegacyEntity::ExamResults => &["assessment_submissions"],
    }
}

/// Chooses the path of `entity` from the facts, inside the plan's
/// transaction and under a lock that makes writers wait: bulk only when no
/// run ever migrated the legacy table and every LMS table it fills is empty.
pub async fn choose(
    tx: &mut PgConnection,
    entity: LegacyEntity,
) -> Result<LoadChoice, EngineError> {
    let tables = loaded_tables(entity);
    let lock = format!(
        "LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
        tables.join(", ")
    );
    sqlx::raw_sql(AssertSqlSafe(lock))
        .execute(&mut *tx)
        .await
        .lms()?;
    let ledger_rows: bool =
        sqlx::query("SELECT EXISTS (SELECT 1 FROM migration.ledger WHERE entity = $1)")
            .bind(entity.as_str())
            .fetch_one(&mut *tx)
            .await
            .lms()?
            .try_get(0)
            .lms()?;
    if ledger_rows {
        return Ok(LoadChoice {
            path: LoadPath::Delta,
            reason: format!("{entity} was migrated before: a delta over the LMS rows"),
        });
    }
    for table in tables {
        let occupied: bool = sqlx::query(AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM {table})"
        )))
        .fetch_one(&mut *tx)
        .await
        .lms()?
        .try_get(0)
        .lms()?;
        if occupied {
            return Ok(LoadChoice {
                path: LoadPath::Delta,
                reason: format!("{table} has rows: a delta, row by row"),
            });
        }
    }
    Ok(LoadChoice {
        path: LoadPath::Bulk,
        reason: format!(
            "{} empty: loaded in bulk, indexes and foreign keys rebuilt after",
            tables.join(" and ")
        ),
    })
}

const DEFERRABLE: &str = include_str!("bulk/deferrable.sql");

/// What a bulk load drops and restores (`migration.deferred_ddl.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeferredKind {
    Index,
    Unique,
    ForeignKey,
}

impl DeferredKind {
    const ALL: [DeferredKind; 3] = [
        DeferredKind::Index,
        DeferredKind::Unique,
        DeferredKind::ForeignKey,
    ];

    const fn as_str(self) -> &'static str {
        match self {
            DeferredKind::Index => "index",
            DeferredKind::Unique => "unique",
            DeferredKind::ForeignKey => "foreign_key",
        }
    }

    fn parse(text: &str) -> Option<DeferredKind> {
        DeferredKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Starts a bulk load of `entity` (in the plan's transaction, after
/// [`choose`]): marks its tables, records and drops their secondary
/// indexes and outgoing foreign keys, and empties its staging mirror (a
/// dry run may have filled it).
pub async fn begin(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
) -> Result<(), EngineError> {
    // A bulk load records no staged changes: until its finalize brings the
    // table in step, a later run must compare every row (if this one
    // fails, the next one does).
    crate::resolve::scope::out_of_step(tx, entity).await?;
    for table in loaded_tables(entity) {
        sqlx::query(
            "INSERT INTO migration.bulk_loads (target_table, run_id, entity) VALUES ($1, $2, $3)",
        )
        .bind(table)
        .bind(run_id)
        .bind(entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
        let deferred = sqlx::query(DEFERRABLE)
            .bind(table)
            .fetch_all(&mut *tx)
            .await
            .lms()?;
        for row in &deferred {
            let name: String = row.try_get("name").lms()?;
            let kind_text: String = row.try_get("kind").lms()?;
            let kind = DeferredKind::parse(&kind_text).ok_or_else(|| {
                EngineError::Invariant(format!("a deferred definition of kind {kind_text:?}"))
            })?;
            sqlx::query(
                "INSERT INTO migration.deferred_ddl \
                     (target_table, name, kind, definition, run_id, referenced_table) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(table)
            .bind(&name)
            .bind(kind.as_str())
            .bind(row.try_get::<String, _>("definition").lms()?)
            .bind(run_id)
            .bind(row.try_get::<Option<String>, _>("referenced_table").lms()?)
            .execute(&mut *tx)
            .await
            .lms()?;
            let drop = match kind {
                DeferredKind::Index => format!("DROP INDEX public.{}", quote_ident(&name)),
                DeferredKind::Unique | DeferredKind::ForeignKey => format!(
                    "ALTER TABLE public.{table} DROP CONSTRAINT {}",
                    quote_ident(&name)
                ),
            };
            sqlx::raw_sql(AssertSqlSafe(drop))
                .execute(&mut *tx)
                .await
                .lms()?;
        }
    }
    sqlx::raw_sql(AssertSqlSafe(format!("TRUNCATE {}", stage_table(entity))))
        .execute(&mut *tx)
        .await
        .lms()?;
    for table in [
        "migration.stage_changes",
        "migration.resolutions",
        "migration.apply_scope",
    ] {
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE entity = $1"
        )))
        .bind(entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    }
    Ok(())
}

/// Ends the bulk load of `entity` (in its finalize transaction): rebuilds
/// the indexes, adds the foreign keys back (PostgreSQL validates each in
/// one pass over the table), and lets writers in again.
pub async fn finish(tx: &mut PgConnection, entity: LegacyEntity) -> Result<usize, EngineError> {
    let tables: Vec<&str> = loaded_tables(entity).to_vec();
    // Index builds sort in memory and use PostgreSQL's parallel workers.
    sqlx::raw_sql("SET LOCAL maintenance_work_mem = '256MB'")
        .execute(&mut *tx)
        .await
        .lms()?;
    let restored = restore(tx, Some(&tables)).await?;
    sqlx::query("DELETE FROM migration.bulk_loads WHERE target_table = ANY($1)")
        .bind(&tables)
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(restored)
}

/// Executes and forgets the recorded definitions (of `tables`, or all):
/// indexes and unique constraints first, then foreign keys, which may need
/// them.
async fn restore(tx: &mut PgConnection, tables: Option<&[&str]>) -> Result<usize, EngineError> {
    let rows = sqlx::query(
        "SELECT target_table, name, definition FROM migration.deferred_ddl \
         WHERE $1::text[] IS NULL OR target_table = ANY($1) \
         ORDER BY kind = 'foreign_key', target_table, name",
    )
    .bind(tables)
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    for row in &rows {
        let definition: String = row.try_get("definition").lms()?;
        sqlx::raw_sql(AssertSqlSafe(definition))
            .execute(&mut *tx)
            .await
            .lms()?;
        sqlx::query("DELETE FROM migration.deferred_ddl WHERE target_table = $1 AND name = $2")
            .bind(row.try_get::<String, _>("target_table").lms()?)
            .bind(row.try_get::<String, _>("name").lms()?)
            .execute(&mut *tx)
            .await
            .lms()?;
    }
    Ok(rows.len())
}

/// What [`repair`] found and mended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Repairs {
    /// Indexes and foreign keys a bulk load had dropped, restored.
    pub restored: usize,
    /// Foreign keys left NOT VALID, validated.
    pub validated: usize,
    /// Indexes left invalid (a build that died), rebuilt.
    pub reindexed: usize,
}

const NOT_VALID_KEYS: &str = include_str!("bulk/not_valid_keys.sql");
const INVALID_INDEXES: &str = include_str!("bulk/invalid_indexes.sql");

/// Puts the LMS schema back whole before a run is planned (no run is
/// active then): restores what an unfinished bulk load dropped, validates
/// NOT VALID foreign keys, rebuilds invalid indexes, and lets writers in.
pub async fn repair(tx: &mut PgConnection) -> Result<Repairs, EngineError> {
    // One repair at a time: a plan's, or the one after a run that ended.
    sqlx::raw_sql("LOCK TABLE migration.deferred_ddl, migration.bulk_loads IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .lms()?;
    let mut repairs = Repairs {
        restored: restore(tx, None).await?,
        ..Repairs::default()
    };
    sqlx::raw_sql("DELETE FROM migration.bulk_loads")
        .execute(&mut *tx)
        .await
        .lms()?;
    for row in sqlx::query(NOT_VALID_KEYS)
        .fetch_all(&mut *tx)
        .await
        .lms()?
    {
        let table: String = row.try_get("table_name").lms()?;
        let name: String = row.try_get("name").lms()?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "ALTER TABLE {table} VALIDATE CONSTRAINT {}",
            quote_ident(&name)
        )))
        .execute(&mut *tx)
        .await
        .lms()?;
        repairs.validated += 1;
    }
    for row in sqlx::query(INVALID_INDEXES)
        .fetch_all(&mut *tx)
        .await
        .lms()?
    {
        let name: String = row.try_get("name").lms()?;
        sqlx::raw_sql(AssertSqlSafe(format!(
            "REINDEX INDEX {}",
            row.try_get::<String, _>("qualified").lms()?
        )))
        .execute(&mut *tx)
        .await
        .lms()?;
        tracing::warn!(index = name, "rebuilt an invalid index");
        repairs.reindexed += 1;
    }
    if repairs != Repairs::default() {
        tracing::warn!(?repairs, "repaired the LMS schema before planning");
    }
    Ok(repairs)
}

/// After `run_id` ended failed or cancelled, with none of its chunks still
/// running and no other run active, puts back what its bulk loads took
/// (as the next plan would), so that writers need not wait for one. Best
/// effort: what it cannot do now, the next plan does, and the log says so.
pub async fn release_ended_run(lms: &PgPool, run_id: Uuid) {
    match try_release(lms, run_id).await {
        Ok(Some(repairs)) => {
            tracing::info!(%run_id, ?repairs, "the ended run's bulk loads were undone: writes are let in again");
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(
            %run_id, %error,
            "could not restore what the ended run's bulk loads dropped; the next run's plan will"
        ),
    }
}

async fn try_release(lms: &PgPool, run_id: Uuid) -> Result<Option<Repairs>, EngineError> {
    let mut tx = lms.begin().await.lms()?;
    sqlx::raw_sql(
        "SET LOCAL lock_timeout = '5s'; \
         LOCK TABLE migration.deferred_ddl, migration.bulk_loads IN EXCLUSIVE MODE",
    )
    .execute(&mut *tx)
    .await
    .lms()?;
    let releasable: bool = sqlx::query_scalar(include_str!("bulk/releasable.sql"))
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    if !releasable {
        return Ok(None);
    }
    let repairs = repair(&mut tx).await?;
    tx.commit().await.lms()?;
    Ok(Some(repairs))
}

/// Makes sure the staging of `entity` holds, over `range`, the rows this
/// run's stage chunks saw in legacy there: unlogged staging is emptied by a
/// PostgreSQL crash, and then the lost ranges are staged again (from
/// legacy as it is now). Returns the rows staged again.
///
/// Before the table's resolve step (`reader` is `Phase::Resolve`), legacy
/// may have changed meanwhile: the resolve sees the rows as staged again.
/// After it, the rows staged again must be the rows the resolve saw (the
/// stage chunk's fingerprint says so); otherwise the run cannot finish on
/// its resolutions, and fails, for a new run to pick the change up. A run
/// whose hold gate counted a preview passes a later phase for its resolve
/// too: the preview fixed the snapshot.
///
/// It COPYs into `tx`: a pooled connection must be a
/// [`lms_pg::CopyConnection`], closed should this be cut short.
pub async fn ensure_staged(
    tx: &mut PgConnection,
    legacy: &PgPool,
    run_id: Uuid,
    entity: LegacyEntity,
    range: IdRange,
    reader: Phase,
) -> Result<u64, EngineError> {
    if staging_witnessed(tx, run_id).await? {
        return Ok(0);
    }
    let stage = stage_table(entity);
    let chunks = staged_chunks(tx, run_id, entity, range).await?;
    let mut expected_total = 0;
    for chunk in &chunks {
        expected_total += chunk.try_get::<i64, _>("rows").lms()?;
    }
    // One count settles the usual case: nothing was lost.
    if staged_rows(tx, &stage, range).await? == expected_total {
        return Ok(0);
    }
    let mut restaged = 0;
    for chunk in &chunks {
        let id: i64 = chunk.try_get("id").lms()?;
        let staged_range = IdRange {
            first: chunk.try_get("first_legacy_id").lms()?,
            last: chunk.try_get("last_legacy_id").lms()?,
        };
        if staged_rows(tx, &stage, staged_range).await? == chunk.try_get::<i64, _>("rows").lms()? {
            continue;
        }
        // Steps that read the same range may find it short at once (a dry
        // run's resolves sharing a referenced table, users' apply chunks,
        // each over every range): one stages it again, and the others,
        // waiting for it to commit, find it staged. Steps over other ranges
        // never wait. A step takes a table's ranges in stage chunk order,
        // and its own table before the tables it references (a dry run's
        // resolve); no two steps take two tables in opposite orders, since
        // a dry run resolves a table only after the tables it references,
        // and the hold gate runs before any resolve.
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('migration.ensure_staged:' || $1, 0))",
        )
        .bind(id.to_string())
        .execute(&mut *tx)
        .await
        .lms()?;
        // The stage chunk as it stands now: a step before may have staged
        // it again, from legacy as it was then.
        let chunk = sqlx::query(
            "SELECT coalesce((stats->>'rows')::bigint, 0) AS rows, stats->>'fingerprint' AS fingerprint \
             FROM migration.chunks WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .lms()?;
        let expected: i64 = chunk.try_get("rows").lms()?;
        let present = staged_rows(tx, &stage, staged_range).await?;
        if present == expected {
            continue;
        }
        tracing::warn!(%entity, range = %staged_range, expected, present,
            "staged rows were lost (a PostgreSQL crash empties unlogged staging); staging them again");
        let staged = stage_range(legacy, tx, entity, staged_range).await?;
        if reader == Phase::Resolve {
            // The resolve sees these rows: they are the stage chunk's now.
            sqlx::query(include_str!("bulk/restaged_chunk.sql"))
                .bind(id)
                .bind(i64::try_from(staged.rows).unwrap_or(i64::MAX))
                .bind(String::from(staged.fingerprint))
                .execute(&mut *tx)
                .await
                .lms()?;
        } else {
            let fingerprint: Option<String> = chunk.try_get("fingerprint").lms()?;
            if fingerprint != Some(String::from(staged.fingerprint)) {
                return Err(EngineError::StagingLostAndLegacyChanged {
                    entity: entity.as_str().to_owned(),
                    range: staged_range.to_string(),
                });
            }
        }
        restaged += staged.written;
    }
    Ok(restaged)
}

/// The run's done stage chunks of `entity` within `range`
/// (`bulk/staged_chunks.sql`).
async fn staged_chunks(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
    range: IdRange,
) -> Result<Vec<PgRow>, EngineError> {
    sqlx::query(include_str!("bulk/staged_chunks.sql"))
        .bind(run_id)
        .bind(entity.as_str())
        .bind(range.first)
        .bind(range.last)
        .fetch_all(&mut *tx)
        .await
        .lms()
}

/// Records, in unlogged `migration.staging_witness`, that the run's staging
/// is whole: a crash empties the witness with staging.
pub async fn witness_staging(tx: &mut PgConnection, run_id: Uuid) -> Result<(), EngineError> {
    sqlx::query("INSERT INTO migration.staging_witness (run_id) VALUES ($1)")
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

/// The rows staging holds over `range` (a range of the run's chunks), as
/// its stage chunks recorded them. Once [`ensure_staged`] passed for the
/// range, staging holds exactly these: a step reads the number here rather
/// than counting a mirror whose pages are rarely all-visible.
pub async fn recorded_stage_rows(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
    range: IdRange,
) -> Result<i64, EngineError> {
    let chunks = staged_chunks(tx, run_id, entity, range).await?;
    let mut rows: i64 = 0;
    for chunk in &chunks {
        rows = rows.saturating_add(chunk.try_get::<i64, _>("rows").lms()?);
    }
    Ok(rows)
}

/// Whether no crash emptied the unlogged tables since the run was planned.
/// (A run planned before the witness existed has no row: its staging is
/// counted.)
pub(crate) async fn staging_witnessed(
    tx: &mut PgConnection,
    run_id: Uuid,
) -> Result<bool, EngineError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM migration.staging_witness WHERE run_id = $1)")
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await
        .lms()
}

async fn staged_rows(
    tx: &mut PgConnection,
    stage: &str,
    range: IdRange,
) -> Result<i64, EngineError> {
    sqlx::query(AssertSqlSafe(format!(
        "SELECT count(*) AS rows FROM {stage} WHERE {}",
        range.predicate("legacy_id")
    )))
    .fetch_one(&mut *tx)
    .await
    .lms()?
    .try_get("rows")
    .lms()
}

/// An identifier as SQL names it (catalog names are trusted, but quoted).
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
