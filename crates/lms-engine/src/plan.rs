//! Planning a run: which steps, in which order, over which id ranges.
//!
//! A run has four steps per legacy table: `stage` (copy the rows in, chunked
//! by legacy id range), `resolve` (the rules that need the whole table:
//! duplicates, renames, deletions), `apply` (write target rows and ledger,
//! chunked like stage) and `finalize` (links, verification, ANALYZE). A
//! table's resolve waits for the finalize of every table it references, so
//! references are always resolved against finished data.

use std::fmt;

use lms_config::MigrationSettings;
use lms_domain::LegacyEntity;
use lms_pg::CopyConnection;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::bulk::{self, LoadPath};
use crate::conflict::ConflictPolicy;
use crate::error::{DatabaseContext, EngineError};
use crate::hold::HoldThreshold;
use crate::id_stream::{IdSource, IdStream};
use crate::previous_ranges;
use crate::run_request::{RunRequest, run_of_request};
use crate::state::{ChunkState, StepState, stored_text_enum};

/// An inclusive range of legacy ids; `None` is unbounded. The chunks of a
/// table cover every possible id, so rows added during a run or later are
/// never outside all chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdRange {
    pub first: Option<i64>,
    pub last: Option<i64>,
}

impl IdRange {
    /// Every id.
    pub const ALL: IdRange = IdRange {
        first: None,
        last: None,
    };

    /// A SQL condition on `column` (the bounds are integers, never text).
    pub fn predicate(&self, column: &str) -> String {
        match (self.first, self.last) {
            (None, None) => "true".to_owned(),
            (Some(first), None) => format!("{column} >= {first}"),
            (None, Some(last)) => format!("{column} <= {last}"),
            (Some(first), Some(last)) => format!("{column} BETWEEN {first} AND {last}"),
        }
    }
}

impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.first, self.last) {
            (None, None) => f.write_str("all ids"),
            (Some(first), None) => write!(f, "ids from {first}"),
            (None, Some(last)) => write!(f, "ids up to {last}"),
            (Some(first), Some(last)) => write!(f, "ids {first}..={last}"),
        }
    }
}

stored_text_enum! {
    /// The phases of a table's migration, in order.
    pub enum Phase as "phase" {
        Stage => "stage",
        Resolve => "resolve",
        Apply => "apply",
        Finalize => "finalize",
    }
}

stored_text_enum! {
    /// What kind of run: a migration, a re-run of the tables with rejected
    /// rows, or a dry run.
    #[derive(Default)]
    pub enum RunKind as "run kind" {
        #[default]
        Full => "full",
        RetryRejected => "retry_rejected",
        /// Stage and resolve only, and report what the rules would do;
        /// nothing is written to the LMS tables or the ledger.
        DryRun => "dry_run",
    }
}

/// What a run covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// The legacy tables to migrate; empty means all of them.
    pub entities: Vec<LegacyEntity>,
    /// Legacy rows per chunk.
    pub chunk_size: u32,
    /// The most ranged chunks the run may plan over all its tables
    /// (`migration.max_chunks`); more is [`EngineError::TooManyChunks`].
    pub max_chunks: usize,
    /// A client's idempotency key and what it asked for: planning twice
    /// with one key gives one run, and the key with another request is
    /// refused.
    pub request: Option<RunRequest>,
    pub kind: RunKind,
    /// Which side wins where legacy and the LMS both changed a row.
    pub on_conflict: ConflictPolicy,
    /// The hold on mass changes; `None`: no hold. It applies only to a run
    /// that writes (not a dry run) with a table on the delta path.
    pub hold: Option<HoldThreshold>,
}

/// No tables chosen (all of them), no chunk size (which planning refuses),
/// the default chunk cap, and no hold.
impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            entities: Vec::new(),
            chunk_size: 0,
            max_chunks: MigrationSettings::DEFAULT_MAX_CHUNKS,
            request: None,
            kind: RunKind::default(),
            on_conflict: ConflictPolicy::default(),
            hold: None,
        }
    }
}

/// A planned run and the chunks to put on the queue now.
#[derive(Debug, Clone)]
pub struct PlannedRun {
    pub run_id: Uuid,
    /// False when the request's id named an existing run.
    pub created: bool,
    pub queued_chunks: Vec<i64>,
}

/// The tables a run covers, in dependency order.
pub fn selected_entities(options: &RunOptions) -> Vec<LegacyEntity> {
    LegacyEntity::ALL
        .into_iter()
        .filter(|entity| options.entities.is_empty() || options.entities.contains(entity))
        .collect()
}

/// Plans a run and records it; the caller enqueues `queued_chunks`.
pub async fn plan_run(
    lms: &PgPool,
    legacy: &PgPool,
    options: &RunOptions,
) -> Result<PlannedRun, EngineError> {
    if options.chunk_size == 0 {
        return Err(EngineError::Plan(
            "chunk size must be at least 1".to_owned(),
        ));
    }
    if options.max_chunks == 0 {
        return Err(EngineError::Plan(
            "a run must be allowed at least 1 chunk (migration.max_chunks)".to_owned(),
        ));
    }
    if let Some(existing) = run_of_request(lms, options.request.as_ref()).await? {
        return Ok(existing);
    }
    let entities = selected_entities(options);
    if options.kind != RunKind::DryRun {
        check_dependencies(lms, &entities).await?;
    }
    if let Some(active) = active_run(lms).await? {
        return Err(EngineError::RunActive(active));
    }
    let limit = options.max_chunks;
    // Every table at once (the journal's ids take longest to read), each
    // bounded: past the limit, no more ranges are read.
    let budget = limit.saturating_add(1);
    // Every read ends on its own (an error in one must not cut another's
    // COPY short and hand its connection back mid-stream).
    let ranges: Vec<Vec<IdRange>> = futures::future::join_all(
        entities
            .iter()
            .map(|entity| ranges_for(lms, legacy, *entity, options.chunk_size, budget)),
    )
    .await
    .into_iter()
    .collect::<Result<_, _>>()?;
    let planned = ranges.iter().map(Vec::len).fold(0, usize::saturating_add);
    if planned > limit {
        return Err(too_many_chunks(legacy, &entities, options.chunk_size, limit).await?);
    }

    let run_id = Uuid::now_v7();
    let mut tx = lms.begin().await.lms()?;
    let names: Vec<&str> = entities.iter().map(|entity| entity.as_str()).collect();
    let inserted = sqlx::query(
        "INSERT INTO migration.runs (id, request_id, request, status, entities, chunk_size, kind, dry_run, on_conflict) \
         VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8)",
    )
    .bind(run_id)
    .bind(options.request.as_ref().map(RunRequest::id))
    .bind(options.request.as_ref().map(RunRequest::asked))
    .bind(&names)
    .bind(i32::try_from(options.chunk_size).unwrap_or(i32::MAX))
    .bind(options.kind)
    .bind(options.kind == RunKind::DryRun)
    .bind(options.on_conflict.as_str())
    .execute(&mut *tx)
    .await;
    if let Err(error) = inserted {
        // The one-active-run index or the request id raced with another planner.
        if let sqlx::Error::Database(database) = &error
            && database.code().as_deref() == Some("23505")
        {
            drop(tx);
            // A planner with the same request id won: its run is the answer.
            if let Some(existing) = run_of_request(lms, options.request.as_ref()).await? {
                return Ok(existing);
            }
            if let Some(active) = active_run(lms).await? {
                return Err(EngineError::RunActive(active));
            }
            return Err(EngineError::StartRaced);
        }
        return Err(EngineError::Lms(error));
    }
    // No other run is active: whatever an unfinished one left of a bulk
    // load (or a crash left of an index or a key) is mended first.
    bulk::repair(&mut tx).await?;
    bulk::witness_staging(&mut tx, run_id).await?;
    // Staging and resolutions stay from run to run (stage merges legacy
    // into the mirror; a bulk load empties them first).
    let mut choices = Vec::with_capacity(entities.len());
    for entity in &entities {
        choices.push(if options.kind == RunKind::DryRun {
            None
        } else {
            Some(bulk::choose(&mut tx, *entity).await?)
        });
    }
    let mut queued = Vec::new();
    for ((entity, ranges), choice) in entities.iter().zip(&ranges).zip(&choices) {
        insert_steps(&mut tx, run_id, *entity, ranges, options.kind, &mut queued).await?;
        let Some(choice) = choice else {
            continue;
        };
        if choice.path == LoadPath::Bulk {
            bulk::begin(&mut tx, run_id, *entity).await?;
        }
        sqlx::query(
            "UPDATE migration.run_steps SET load_path = $3, load_reason = $4 \
             WHERE run_id = $1 AND entity = $2 AND phase = 'apply'",
        )
        .bind(run_id)
        .bind(entity.as_str())
        .bind(choice.path)
        .bind(&choice.reason)
        .execute(&mut *tx)
        .await
        .lms()?;
    }
    for entity in &entities {
        insert_dependencies(&mut tx, run_id, *entity, &entities, options.kind).await?;
    }
    let any_delta = choices
        .iter()
        .flatten()
        .any(|choice| choice.path == LoadPath::Delta);
    if let Some(threshold) = options.hold.filter(|_| any_delta) {
        gate_resolve_steps(&mut tx, run_id, threshold).await?;
    }
    tx.commit().await.lms()?;
    tracing::info!(%run_id, entities = ?names, chunks = queued.len(), "planned a migration run");
    Ok(PlannedRun {
        run_id,
        created: true,
        queued_chunks: queued,
    })
}

/// The active run, if any.
pub async fn active_run(lms: &PgPool) -> Result<Option<Uuid>, EngineError> {
    let row = sqlx::query(
        "SELECT id FROM migration.runs WHERE status IN ('running', 'held', 'cancelling')",
    )
    .fetch_optional(lms)
    .await
    .lms()?;
    row.map(|row| row.try_get(0)).transpose().lms()
}

/// A table whose referenced tables are not in the run needs them migrated
/// by an earlier run: its references are resolved through their ledger.
async fn check_dependencies(lms: &PgPool, entities: &[LegacyEntity]) -> Result<(), EngineError> {
    for entity in entities {
        for dependency in entity.depends_on() {
            if entities.contains(dependency) {
                continue;
            }
            let migrated: bool =
                sqlx::query("SELECT EXISTS (SELECT 1 FROM migration.ledger WHERE entity = $1)")
                    .bind(dependency.as_str())
                    .fetch_one(lms)
                    .await
                    .lms()?
                    .try_get(0)
                    .lms()?;
            if !migrated {
                return Err(EngineError::Plan(format!(
                    "{entity} references {dependency}, which no run has migrated yet; include {dependency} in this run"
                )));
            }
        }
    }
    Ok(())
}

/// The refusal of a plan past `limit` ranged chunks (`migration.max_chunks`),
/// with the smallest chunk size that fits (from the tables' row counts,
/// read only now).
async fn too_many_chunks(
    legacy: &PgPool,
    entities: &[LegacyEntity],
    chunk_size: u32,
    limit: usize,
) -> Result<EngineError, EngineError> {
    let mut rows = Vec::with_capacity(entities.len());
    for entity in entities {
        let count: i64 = sqlx::query(AssertSqlSafe(format!(
            "SELECT count(*) AS n FROM {}",
            entity.as_str()
        )))
        .fetch_one(legacy)
        .await
        .legacy()?
        .try_get("n")
        .legacy()?;
        rows.push(u64::try_from(count).unwrap_or(0));
    }
    Ok(EngineError::TooManyChunks {
        chunk_size,
        planned: chunks_for(&rows, u64::from(chunk_size)),
        limit,
        smallest: smallest_fitting_chunk_size(&rows, limit),
    })
}

/// Ranged chunks a plan has with `size` rows per chunk (an empty table
/// still has its one open range).
fn chunks_for(rows: &[u64], size: u64) -> usize {
    rows.iter()
        .map(|&n| usize::try_from(n.div_ceil(size.max(1)).max(1)).unwrap_or(usize::MAX))
        .fold(0, usize::saturating_add)
}

/// The smallest chunk size whose plan stays within `limit` chunks; none
/// when even one chunk per table is more than that.
fn smallest_fitting_chunk_size(rows: &[u64], limit: usize) -> Option<u64> {
    let (mut low, mut high) = (1, rows.iter().copied().max().unwrap_or(1).max(1));
    // The largest table in one chunk: every table has a single chunk.
    if chunks_for(rows, high) > limit {
        return None;
    }
    while low < high {
        let middle = low + (high - low) / 2;
        if chunks_for(rows, middle) <= limit {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Some(low)
}

/// A table's ranges for a new run: the last run's where they still fit
/// (`previous_ranges`), with a tail grown too long cut again; else cut
/// afresh from every id.
async fn ranges_for(
    lms: &PgPool,
    legacy: &PgPool,
    entity: LegacyEntity,
    chunk_size: u32,
    limit: usize,
) -> Result<Vec<IdRange>, EngineError> {
    let staged = previous_ranges::last_staged(lms, entity, chunk_size).await?;
    let Some(mut kept) = previous_ranges::reusable(&staged, chunk_size) else {
        return chunk_ranges(legacy, entity, chunk_size, limit).await;
    };
    let Some(tail) = kept.pop() else {
        return chunk_ranges(legacy, entity, chunk_size, limit).await;
    };
    let tail_limit = previous_ranges::tail_limit(chunk_size);
    if previous_ranges::tail_rows(legacy, entity, tail, tail_limit).await? <= tail_limit {
        kept.push(tail);
    } else {
        let budget = limit.saturating_sub(kept.len()).max(1);
        kept.extend(chunk_ranges_from(legacy, entity, tail.first, chunk_size, budget).await?);
    }
    Ok(kept)
}

/// Splits a legacy table into ranges of about `chunk_size` rows each, by its
/// ids as they are now; the first and last ranges are open-ended. At most
/// `limit` ranges are read.
///
/// The ids stream out in order (`COPY`, in constant memory) and every
/// `chunk_size`-th closes a range: numbering the rows in SQL and grouping
/// them cost three times the scan.
pub async fn chunk_ranges(
    legacy: &PgPool,
    entity: LegacyEntity,
    chunk_size: u32,
    limit: usize,
) -> Result<Vec<IdRange>, EngineError> {
    chunk_ranges_from(legacy, entity, None, chunk_size, limit).await
}

/// As [`chunk_ranges`], over the ids from `from` on (`None`: every id); the
/// first range starts at `from`.
async fn chunk_ranges_from(
    legacy: &PgPool,
    entity: LegacyEntity,
    from: Option<i64>,
    chunk_size: u32,
    limit: usize,
) -> Result<Vec<IdRange>, EngineError> {
    let mut connection = CopyConnection::acquire(legacy).await.legacy()?;
    let RangeUppers { uppers, read_whole } =
        range_uppers(&mut connection, entity, from, chunk_size, limit).await?;
    if read_whole {
        // (A COPY cut short at the limit is left unread: that connection
        // is closed.)
        connection.release();
    }
    if uppers.is_empty() {
        return Ok(vec![IdRange {
            first: from,
            last: None,
        }]);
    }
    let mut ranges = Vec::with_capacity(uppers.len());
    let mut first = from;
    for (index, upper) in uppers.iter().enumerate() {
        let last = if index + 1 == uppers.len() {
            None
        } else {
            Some(*upper)
        };
        ranges.push(IdRange { first, last });
        // Only the last range can end at the type's maximum, and it is
        // open-ended: nothing follows it.
        first = upper.checked_add(1);
    }
    Ok(ranges)
}

/// The last id of each run of `chunk_size` ids, in order, and of the rest.
struct RangeUppers {
    uppers: Vec<i64>,
    /// The stream was read to its end (not cut short at the limit).
    read_whole: bool,
}

async fn range_uppers(
    connection: &mut PgConnection,
    entity: LegacyEntity,
    from: Option<i64>,
    chunk_size: u32,
    limit: usize,
) -> Result<RangeUppers, EngineError> {
    let from = IdRange {
        first: from,
        last: None,
    };
    let query = format!(
        "COPY (SELECT id FROM {} WHERE {} ORDER BY id) TO STDOUT",
        entity.as_str(),
        from.predicate("id")
    );
    let mut ids = IdStream::new(
        connection.copy_out_raw(&query).await.legacy()?,
        IdSource::Legacy,
    );
    let mut uppers = Vec::new();
    let (mut in_range, mut last) = (0_u32, None);
    while let Some(id) = ids.next().await? {
        in_range += 1;
        last = Some(id);
        if in_range == chunk_size {
            uppers.push(id);
            in_range = 0;
            if uppers.len() >= limit {
                return Ok(RangeUppers {
                    uppers,
                    read_whole: false,
                });
            }
        }
    }
    if in_range > 0
        && let Some(last) = last
    {
        uppers.push(last);
    }
    Ok(RangeUppers {
        uppers,
        read_whole: true,
    })
}

async fn insert_steps(
    tx: &mut Transaction<'_, Postgres>,
    run_id: Uuid,
    entity: LegacyEntity,
    ranges: &[IdRange],
    kind: RunKind,
    queued: &mut Vec<i64>,
) -> Result<(), EngineError> {
    for phase in Phase::ALL {
        if kind == RunKind::DryRun && phase == Phase::Apply {
            continue;
        }
        let chunk_ranges: Vec<IdRange> = match phase {
            Phase::Stage => ranges.to_vec(),
            // Rows whose natural keys move are applied by the resolve
            // step, in one transaction; the chunks apply the rest.
            Phase::Apply => ranges.to_vec(),
            Phase::Resolve | Phase::Finalize => vec![IdRange::ALL],
        };
        let ready = phase == Phase::Stage;
        let step_id: i64 = sqlx::query(
            "INSERT INTO migration.run_steps (run_id, entity, phase, state, pending_dependencies, chunks_total, started_at) \
             VALUES ($1, $2, $3, $4, 0, $5, CASE WHEN $4 = 'ready' THEN now() END) RETURNING id",
        )
        .bind(run_id)
        .bind(entity.as_str())
        .bind(phase.as_str())
        .bind(if ready {
            StepState::Ready
        } else {
            StepState::Waiting
        })
        .bind(i32::try_from(chunk_ranges.len()).unwrap_or(i32::MAX))
        .fetch_one(&mut **tx)
        .await
        .lms()?
        .try_get(0)
        .lms()?;
        let firsts: Vec<Option<i64>> = chunk_ranges.iter().map(|range| range.first).collect();
        let lasts: Vec<Option<i64>> = chunk_ranges.iter().map(|range| range.last).collect();
        let rows = sqlx::query(
            "INSERT INTO migration.chunks (run_id, step_id, first_legacy_id, last_legacy_id, state, queued_at) \
             SELECT $1, $2, f, l, $5, CASE WHEN $5 = 'queued' THEN now() END \
             FROM unnest($3::bigint[], $4::bigint[]) AS r(f, l) RETURNING id",
        )
        .bind(run_id)
        .bind(step_id)
        .bind(&firsts)
        .bind(&lasts)
        .bind(if ready {
            ChunkState::Queued
        } else {
            ChunkState::Waiting
        })
        .fetch_all(&mut **tx)
        .await
        .lms()?;
        if ready {
            for row in rows {
                queued.push(row.try_get(0).lms()?);
            }
        }
    }
    Ok(())
}

/// Puts the run's resolve steps behind its hold gate (`hold`): each waits
/// for one dependency more, which the gate's decision or an approval
/// releases.
async fn gate_resolve_steps(
    tx: &mut Transaction<'_, Postgres>,
    run_id: Uuid,
    threshold: HoldThreshold,
) -> Result<(), EngineError> {
    sqlx::query("UPDATE migration.runs SET hold_percent = $2, hold_min_rows = $3 WHERE id = $1")
        .bind(run_id)
        .bind(i32::try_from(threshold.percent).unwrap_or(100))
        .bind(i64::try_from(threshold.min_rows).unwrap_or(i64::MAX))
        .execute(&mut **tx)
        .await
        .lms()?;
    sqlx::query(
        "UPDATE migration.run_steps SET pending_dependencies = pending_dependencies + 1 \
         WHERE run_id = $1 AND phase = 'resolve'",
    )
    .bind(run_id)
    .execute(&mut **tx)
    .await
    .lms()?;
    Ok(())
}

async fn insert_dependencies(
    tx: &mut Transaction<'_, Postgres>,
    run_id: Uuid,
    entity: LegacyEntity,
    selected: &[LegacyEntity],
    kind: RunKind,
) -> Result<(), EngineError> {
    // A dry run writes no ledger: a table resolves against what the run
    // predicts for the tables it references, so it waits for their resolve
    // step rather than for their rows (resolve/outcomes.rs).
    let mut edges: Vec<(LegacyEntity, Phase, LegacyEntity, Phase)> = if kind == RunKind::DryRun {
        vec![
            (entity, Phase::Resolve, entity, Phase::Stage),
            (entity, Phase::Finalize, entity, Phase::Resolve),
        ]
    } else {
        vec![
            (entity, Phase::Resolve, entity, Phase::Stage),
            (entity, Phase::Apply, entity, Phase::Resolve),
            (entity, Phase::Finalize, entity, Phase::Apply),
        ]
    };
    let waits_for = if kind == RunKind::DryRun {
        Phase::Resolve
    } else {
        Phase::Finalize
    };
    for dependency in entity.depends_on() {
        if selected.contains(dependency) {
            edges.push((entity, Phase::Resolve, *dependency, waits_for));
        }
    }
    for (entity, phase, on_entity, on_phase) in edges {
        sqlx::query(
            "INSERT INTO migration.step_dependencies (step_id, depends_on) \
             SELECT s.id, d.id FROM migration.run_steps s, migration.run_steps d \
             WHERE s.run_id = $1 AND s.entity = $2 AND s.phase = $3 \
               AND d.run_id = $1 AND d.entity = $4 AND d.phase = $5",
        )
        .bind(run_id)
        .bind(entity.as_str())
        .bind(phase.as_str())
        .bind(on_entity.as_str())
        .bind(on_phase.as_str())
        .execute(&mut **tx)
        .await
        .lms()?;
        sqlx::query(
            "UPDATE migration.run_steps SET pending_dependencies = pending_dependencies + 1 \
             WHERE run_id = $1 AND entity = $2 AND phase = $3",
        )
        .bind(run_id)
        .bind(entity.as_str())
        .bind(phase.as_str())
        .execute(&mut **tx)
        .await
        .lms()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = MigrationSettings::DEFAULT_MAX_CHUNKS;

    #[test]
    fn the_suggested_chunk_size_is_the_smallest_that_fits() {
        let rows = [600_000, 510_269, 12, 0, 7_777];
        let size = smallest_fitting_chunk_size(&rows, LIMIT).expect("a size fits");
        assert!(chunks_for(&rows, size) <= LIMIT);
        assert!(chunks_for(&rows, size - 1) > LIMIT);
    }

    #[test]
    fn the_suggested_size_follows_the_configured_limit() {
        let rows = [1_000, 250, 0];
        let size = smallest_fitting_chunk_size(&rows, 10).expect("a size fits");
        assert!(chunks_for(&rows, size) <= 10);
        assert!(chunks_for(&rows, size - 1) > 10);
        assert_eq!(size, 143);
    }

    #[test]
    fn no_size_fits_a_limit_below_one_chunk_per_table() {
        assert_eq!(smallest_fitting_chunk_size(&[10, 20, 30], 2), None);
        assert_eq!(smallest_fitting_chunk_size(&[10, 20, 30], 3), Some(30));
    }

    #[test]
    fn an_empty_table_still_plans_one_chunk() {
        assert_eq!(chunks_for(&[0, 0], 100), 2);
    }
}
