//! Running one chunk: claim it, do its phase's work and advance the run in
//! one transaction, retry transient failures with exponential backoff, and
//! fail the run once the attempts are spent.
//!
//! Every delivery of a chunk, duplicate or late, is safe: the chunk's row is
//! locked for the whole transaction, a chunk that is done is never redone,
//! and a chunk another worker holds is left to it.

mod ahead;
mod unchanged_table;

use std::time::Duration;

use lms_domain::LegacyEntity;
use lms_pg::{CopyConnection, FailureClass};
use serde_json::json;
use sqlx::{Connection as _, PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::bulk::{self, LoadPath};
use crate::conflict::ConflictPolicy;
use crate::error::{DatabaseContext, EngineError};
use crate::plan::{IdRange, Phase, RunKind};
use crate::progress::{self, Advance};
use crate::state::{ChunkState, RunStatus};
use crate::{apply, finalize, hold, resolve, stage};

pub use ahead::chunk_ahead_of;

/// What a chunk's work needs: both databases and the retry policy.
#[derive(Debug, Clone)]
pub struct EngineContext {
    pub lms: PgPool,
    pub legacy: PgPool,
    pub retry: RetryPolicy,
    /// The legacy `timestamp` columns' time zone (a PostgreSQL zone name).
    pub legacy_timezone: String,
    /// This process, as recorded on the chunks it runs.
    pub worker_name: String,
    /// How long a chunk's statements wait for a lock.
    pub lock_timeout: Duration,
}

/// Attempts and backoff for transient failures.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl RetryPolicy {
    /// The delay after the `attempt`-th failure: base, 2×base, 4×base, ...
    /// capped at the maximum.
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// How a delivery of a chunk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// The work is committed; these chunks became ready.
    Done(Advance),
    /// Nothing to do: already done, held by another worker, or its run is over.
    Skipped(&'static str),
    /// The chunk failed for good and so did its run.
    Failed(String),
}

/// A chunk as the database describes it.
#[derive(Debug, Clone)]
pub struct ChunkInfo {
    pub id: i64,
    pub run_id: Uuid,
    pub kind: RunKind,
    pub step_id: i64,
    pub entity: LegacyEntity,
    pub phase: Phase,
    pub range: IdRange,
    pub on_conflict: ConflictPolicy,
    /// How the table's apply writes its rows in this run.
    pub load_path: LoadPath,
    /// The run's hold gate counted a preview over the staged snapshot:
    /// from then on the snapshot is fixed (`bulk::ensure_staged`).
    pub previewed: bool,
    /// The run's hold gate is still to decide: its stage chunks count
    /// their shares of the preview (`hold::count_share`).
    pub gate_pending: bool,
}

enum Claim {
    Run { attempt: u32, info: ChunkInfo },
    Skip(&'static str),
}

/// Why a failing delivery failed nothing: another delivery ran or failed
/// the chunk meanwhile, or its run was cancelled.
const NO_LONGER_QUEUED: &str =
    "no longer queued (done or failed by another delivery, or cancelled)";

/// Why a chunk that ran committed nothing: its run failed or closed first.
const RUN_ENDED_WHILE_RUNNING: &str = "its run ended while it ran (its work was rolled back)";

/// How long a chunk's transaction waits for its claimed chunk's row.
const CHUNK_ROW_WAIT: Duration = Duration::from_secs(2);

/// Whether `error` is PostgreSQL's `lock_not_available` (a lock timeout,
/// or a `NOWAIT` lock another session holds).
pub(crate) fn is_lock_not_available(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|error| error.code())
        .is_some_and(|code| code == lms_pg::LOCK_NOT_AVAILABLE)
}

/// How a worker came to run a chunk, which decides whether it may claim it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The queue delivered it: a first delivery, or one queued again after
    /// its worker was lost (its attempts already counted).
    Queued,
    /// The worker found it ready itself (it made it ready, or it runs it
    /// ahead of a stage chunk): another worker may have found it too, so it
    /// is claimed only if no worker has claimed it yet. (Else both claims
    /// would count an attempt for one run.)
    Found,
}

/// Runs one delivery of a chunk to its end (done, skipped or failed).
pub async fn run_chunk(ctx: &EngineContext, chunk_id: i64) -> Result<ChunkOutcome, EngineError> {
    run_delivered_chunk(ctx, chunk_id, Delivery::Queued).await
}

/// Runs one delivery of a chunk, claimed as `delivery` allows, to its end.
pub async fn run_delivered_chunk(
    ctx: &EngineContext,
    chunk_id: i64,
    mut delivery: Delivery,
) -> Result<ChunkOutcome, EngineError> {
    loop {
        let claimed = claim(ctx, chunk_id, delivery).await?;
        // A retry follows this delivery's own claim.
        delivery = Delivery::Queued;
        let (attempt, info) = match claimed {
            Claim::Run { attempt, info } => (attempt, info),
            Claim::Skip(reason) => return Ok(ChunkOutcome::Skipped(reason)),
        };
        if attempt > ctx.retry.max_attempts {
            // Attempts are counted before the work, so a chunk that kills its
            // worker every time ends here instead of looping forever.
            let message = format!(
                "{} {} ({}) was attempted {} times without finishing",
                info.entity,
                info.phase.as_str(),
                info.range,
                attempt - 1
            );
            if !progress::fail_chunk(&ctx.lms, info.run_id, chunk_id, &message).await? {
                tracing::warn!(chunk_id, %message, NO_LONGER_QUEUED);
                return Ok(ChunkOutcome::Skipped(NO_LONGER_QUEUED));
            }
            return Ok(ChunkOutcome::Failed(message));
        }
        let started = std::time::Instant::now();
        let labels = [
            ("entity", info.entity.as_str()),
            ("phase", info.phase.as_str()),
        ];
        match execute(ctx, &info, attempt).await {
            Ok(Some(advance)) if advance.run_ended_first => {
                return Ok(ChunkOutcome::Skipped(RUN_ENDED_WHILE_RUNNING));
            }
            Ok(Some(advance)) => {
                metrics::histogram!("lms_chunk_duration_seconds", &labels)
                    .record(started.elapsed().as_secs_f64());
                return Ok(ChunkOutcome::Done(advance));
            }
            Ok(None) => return Ok(ChunkOutcome::Skipped("held by another worker")),
            Err(error) => {
                // A key the API took while the chunk ran (an enrollment, a
                // course, a login born in the LMS) is worth a retry: it
                // plans again, sees the row and takes it on, as a later run
                // would. A unique violation that is not that fails the run
                // on the last attempt, with its own message.
                let transient =
                    error.class() == FailureClass::Transient || error.is_unique_violation();
                record_error(&ctx.lms, chunk_id, &error).await;
                if transient && attempt < ctx.retry.max_attempts {
                    metrics::counter!("lms_chunk_retries_total", &labels).increment(1);
                    let delay = ctx.retry.delay(attempt);
                    tracing::warn!(chunk_id, attempt, ?delay, %error, "transient failure; retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
                let message = format!(
                    "{} {} ({}) failed on attempt {attempt}: {error}",
                    info.entity,
                    info.phase.as_str(),
                    info.range
                );
                if !progress::fail_chunk(&ctx.lms, info.run_id, chunk_id, &message).await? {
                    tracing::warn!(chunk_id, %message, NO_LONGER_QUEUED);
                    return Ok(ChunkOutcome::Skipped(NO_LONGER_QUEUED));
                }
                metrics::counter!("lms_chunk_failures_total", &labels).increment(1);
                return Ok(ChunkOutcome::Failed(message));
            }
        }
    }
}

/// Counts an attempt in its own transaction, so the count survives a crash.
/// Skips a chunk whose row another transaction holds (the holder runs it,
/// settles it or queues it again), one no longer queued, and, for a chunk
/// the worker found itself (`Delivery::Found`), one another delivery has
/// claimed. A chunk of a cancelled run is cancelled here, and the run
/// closed if it was its last.
async fn claim(
    ctx: &EngineContext,
    chunk_id: i64,
    delivery: Delivery,
) -> Result<Claim, EngineError> {
    let mut tx = ctx.lms.begin().await.lms()?;
    let row = sqlx::query(
        "SELECT c.state, c.attempts, r.status, c.run_id, c.step_id, s.entity, s.phase, c.first_legacy_id, c.last_legacy_id, r.kind, r.on_conflict, \
                r.hold_preview IS NOT NULL AS previewed, \
                (r.hold_percent IS NOT NULL AND r.hold_preview IS NULL) AS gate_pending, \
                (SELECT a.load_path FROM migration.run_steps a \
                 WHERE a.run_id = c.run_id AND a.entity = s.entity AND a.phase = 'apply') AS load_path \
         FROM migration.chunks c \
         JOIN migration.run_steps s ON s.id = c.step_id \
         JOIN migration.runs r ON r.id = c.run_id \
         WHERE c.id = $1 FOR UPDATE OF c SKIP LOCKED",
    )
    .bind(chunk_id)
    .fetch_optional(&mut *tx)
    .await
    .lms()?;
    let Some(row) = row else {
        let exists: bool =
            sqlx::query("SELECT EXISTS (SELECT 1 FROM migration.chunks WHERE id = $1)")
                .bind(chunk_id)
                .fetch_one(&mut *tx)
                .await
                .lms()?
                .try_get(0)
                .lms()?;
        return Ok(Claim::Skip(if exists {
            "held by another worker"
        } else {
            "no such chunk"
        }));
    };
    let state: ChunkState = row.try_get("state").lms()?;
    let run_status: RunStatus = row.try_get("status").lms()?;
    // A claim that gives way lets go of the row at once: the delivery that
    // runs the chunk waits for it (`execute`).
    if state != ChunkState::Queued {
        tx.rollback().await.lms()?;
        return Ok(Claim::Skip("not queued (done, failed or cancelled)"));
    }
    if delivery == Delivery::Found && row.try_get::<i32, _>("attempts").lms()? > 0 {
        tx.rollback().await.lms()?;
        return Ok(Claim::Skip("claimed by another worker"));
    }
    if run_status != RunStatus::Running {
        sqlx::query("UPDATE migration.chunks SET state = $2 WHERE id = $1")
            .bind(chunk_id)
            .bind(ChunkState::Cancelled)
            .execute(&mut *tx)
            .await
            .lms()?;
        let run_id: Uuid = row.try_get("run_id").lms()?;
        // The chunk may have been the cancelling run's last (its worker
        // failed after the cancel, and this is its retry or a duplicate):
        // then nothing else would close the run.
        let closed = if run_status == RunStatus::Cancelling {
            progress::close_cancelled_run(&mut tx, run_id, chunk_id).await?
        } else {
            None
        };
        tx.commit().await.lms()?;
        // A failed run leaves the chunks that were running queued; the last
        // of them to come back gives back what the run's bulk loads took.
        if closed.is_some() || matches!(run_status, RunStatus::Failed | RunStatus::Cancelled) {
            bulk::release_ended_run(&ctx.lms, run_id).await;
        }
        return Ok(Claim::Skip("its run is no longer running"));
    }
    let entity: String = row.try_get("entity").lms()?;
    let on_conflict: String = row.try_get("on_conflict").lms()?;
    let info = ChunkInfo {
        id: chunk_id,
        run_id: row.try_get("run_id").lms()?,
        kind: row.try_get("kind").lms()?,
        step_id: row.try_get("step_id").lms()?,
        entity: entity
            .parse()
            .map_err(|error: lms_domain::entity::UnknownEntity| {
                EngineError::Invariant(error.to_string())
            })?,
        phase: row.try_get("phase").lms()?,
        range: IdRange {
            first: row.try_get("first_legacy_id").lms()?,
            last: row.try_get("last_legacy_id").lms()?,
        },
        on_conflict: on_conflict
            .parse()
            .map_err(|error: crate::conflict::UnknownPolicy| {
                EngineError::Invariant(error.to_string())
            })?,
        // Steps planned before load paths existed took the delta path.
        load_path: row
            .try_get::<Option<LoadPath>, _>("load_path")
            .lms()?
            .unwrap_or(LoadPath::Delta),
        previewed: row.try_get("previewed").lms()?,
        gate_pending: row.try_get("gate_pending").lms()?,
    };
    let attempts: i32 = sqlx::query(
        "UPDATE migration.chunks SET attempts = attempts + 1, started_at = now(), worker = $2 \
         WHERE id = $1 RETURNING attempts",
    )
    .bind(chunk_id)
    .bind(&ctx.worker_name)
    .fetch_one(&mut *tx)
    .await
    .lms()?
    .try_get(0)
    .lms()?;
    // The run's first chunk fixes the terms its proposals are computed
    // under (no lock is taken once they are set).
    sqlx::query(
        "UPDATE migration.runs SET proposed_under = $2 WHERE id = $1 AND proposed_under IS NULL",
    )
    .bind(info.run_id)
    .bind(resolve::scope::terms(&ctx.legacy_timezone))
    .execute(&mut *tx)
    .await
    .lms()?;
    tx.commit().await.lms()?;
    Ok(Claim::Run {
        attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
        info,
    })
}

async fn record_error(lms: &PgPool, chunk_id: i64, error: &EngineError) {
    // A chunk whose worker waits to try it again is looked after: its
    // `queued_at` starts over, so the sweeper does not take it for lost
    // (`requeue_lost_chunks`) and queue a second delivery that would spend
    // its attempts twice as fast.
    let result = sqlx::query(
        "UPDATE migration.chunks SET last_error = $2, queued_at = now() \
         WHERE id = $1 AND state = 'queued'",
    )
    .bind(chunk_id)
    .bind(error.to_string())
    .execute(lms)
    .await;
    if let Err(record_error) = result {
        tracing::warn!(chunk_id, %record_error, "could not record a chunk's error");
    }
}

/// One attempt: the phase's work and the run's advance in one transaction
/// (and, after a bulk load's finalize commits, a VACUUM of what it wrote).
/// `None` when another worker holds the chunk.
async fn execute(
    ctx: &EngineContext,
    info: &ChunkInfo,
    attempt: u32,
) -> Result<Option<Advance>, EngineError> {
    // Staging, staging again what a crash lost (any phase after stage) and
    // a dry run's finalize COPY on this connection: an attempt cut short
    // (an error, or its future dropped) closes it. A retry opens
    // another, which costs little beside its delay.
    let mut connection = CopyConnection::acquire(&ctx.lms).await.lms()?;
    let attempted = attempt_in_transaction(ctx, &mut connection, info, attempt).await?;
    connection.release();
    let advance = match attempted {
        Attempted::NotHeld => return Ok(None),
        Attempted::NotQueued => return Ok(Some(Advance::default())),
        Attempted::RunEndedFirst(advance) => {
            tracing::info!(chunk = info.id, run = %info.run_id, "the run ended while the chunk ran: its work is rolled back");
            bulk::release_ended_run(&ctx.lms, info.run_id).await;
            return Ok(Some(advance));
        }
        Attempted::Done(advance) => advance,
    };
    if info.phase == Phase::Finalize
        && info.load_path == LoadPath::Bulk
        && info.kind != RunKind::DryRun
    {
        // After the commit, outside any transaction: see `vacuum`.
        crate::vacuum::after_bulk_load(&ctx.lms, info.entity).await;
    }
    if matches!(
        advance.finished,
        Some(RunStatus::Cancelled | RunStatus::Failed)
    ) {
        // The run ended before or with this chunk: if it was the last one
        // running, what the run's bulk loads took goes back now.
        bulk::release_ended_run(&ctx.lms, info.run_id).await;
    }
    Ok(Some(advance))
}

/// What became of an attempt's transaction.
enum Attempted {
    /// Another delivery holds the chunk or claimed it since, or the chunk is
    /// gone: nothing done.
    NotHeld,
    /// The chunk is no longer queued: nothing done.
    NotQueued,
    /// The run ended while the chunk ran: its work was rolled back.
    RunEndedFirst(Advance),
    /// The work and the run's advance committed.
    Done(Advance),
}

/// The phase's work and the run's advance, in one transaction on
/// `connection`.
async fn attempt_in_transaction(
    ctx: &EngineContext,
    connection: &mut PgConnection,
    info: &ChunkInfo,
    attempt: u32,
) -> Result<Attempted, EngineError> {
    let mut tx = connection.begin().await.lms()?;
    // The migration's own writes pass the bulk-load guard
    // (migration.refuse_writes_during_bulk_load). JIT compilation costs a
    // chunk's statements more than it saves (hundreds of milliseconds per
    // statement whose estimate runs high). The tables a chunk reads are hot
    // in memory: at the default random_page_cost (4, for disks) the planner
    // hashes a whole table to look up a few thousand rows that an index
    // finds in milliseconds.
    sqlx::raw_sql(
        "SET LOCAL lms.migration_writer = 'on'; SET LOCAL jit = off; SET LOCAL work_mem = '64MB'; \
         SET LOCAL random_page_cost = 1.1",
    )
    .execute(&mut *tx)
    .await
    .lms()?;
    if logs_changes(info) {
        // Every row this chunk writes is recorded for undo, in this
        // transaction (migration.run_change_events, by row triggers).
        sqlx::query("SELECT set_config('lms.change_log_run', $1, true)")
            .bind(info.run_id.to_string())
            .execute(&mut *tx)
            .await
            .lms()?;
    }
    let run_terms: Option<String> =
        sqlx::query_scalar("SELECT proposed_under FROM migration.runs WHERE id = $1")
            .bind(info.run_id)
            .fetch_one(&mut *tx)
            .await
            .lms()?;
    let worker_terms = resolve::scope::terms(&ctx.legacy_timezone);
    if let Some(run_terms) = run_terms
        && run_terms != worker_terms
    {
        return Err(EngineError::TermsDiffer {
            run: run_terms,
            worker: worker_terms,
        });
    }
    // The chunk's row: this delivery claimed the chunk, but a transaction
    // that reads or settles chunks may hold the row for a moment (another
    // delivery's claim, the sweeper, a cancel). Skipping it then would
    // leave the chunk to nobody until the sweeper, so this waits a little;
    // only a delivery that claimed the chunk after this one holds it
    // longer, by running it, and then the chunk is that delivery's.
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", CHUNK_ROW_WAIT.as_millis()))
        .execute(&mut *tx)
        .await
        .lms()?;
    let row =
        match sqlx::query("SELECT state, attempts FROM migration.chunks WHERE id = $1 FOR UPDATE")
            .bind(info.id)
            .fetch_optional(&mut *tx)
            .await
        {
            Ok(row) => row,
            Err(error) if is_lock_not_available(&error) => return Ok(Attempted::NotHeld),
            Err(error) => return Err(error).lms(),
        };
    let Some(row) = row else {
        return Ok(Attempted::NotHeld);
    };
    if row.try_get::<ChunkState, _>("state").lms()? != ChunkState::Queued {
        return Ok(Attempted::NotQueued);
    }
    if i64::from(row.try_get::<i32, _>("attempts").lms()?) != i64::from(attempt) {
        // Claimed again since: the later claim runs it.
        return Ok(Attempted::NotHeld);
    }
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(format!("{}ms", ctx.lock_timeout.as_millis().max(1)))
        .execute(&mut *tx)
        .await
        .lms()?;
    // What the work writes can be taken back alone, should the run have
    // ended while it ran (below).
    sqlx::query("SAVEPOINT chunk_work")
        .execute(&mut *tx)
        .await
        .lms()?;
    let stats = do_work(ctx, &mut tx, info).await?;
    let mut advance = progress::complete_chunk(
        &mut tx,
        &ctx.legacy,
        info.run_id,
        info.id,
        info.step_id,
        &stats,
    )
    .await?;
    if advance.run_ended_first {
        // The run failed or closed while this chunk ran: no longer active,
        // it no longer keeps a later run from starting, and that run's
        // changes must not meet this one's work.
        sqlx::query("ROLLBACK TO SAVEPOINT chunk_work")
            .execute(&mut *tx)
            .await
            .lms()?;
        sqlx::query(
            "UPDATE migration.chunks SET state = 'cancelled', finished_at = clock_timestamp() \
             WHERE id = $1",
        )
        .bind(info.id)
        .execute(&mut *tx)
        .await
        .lms()?;
        tx.commit().await.lms()?;
        return Ok(Attempted::RunEndedFirst(advance));
    }
    if unchanged_table::skipped_resolve(info, &stats) {
        advance = unchanged_table::complete_with_resolve(ctx, &mut tx, info, advance).await?;
    }
    tx.commit().await.lms()?;
    tracing::debug!(chunk = info.id, entity = %info.entity, phase = info.phase.as_str(), range = %info.range, %stats, "chunk done");
    Ok(Attempted::Done(advance))
}

/// Whether a chunk's writes go to the run's change log: a real run's
/// delta chunks do; a bulk load (a first load, which is never undone), a
/// dry run and staging (which writes no LMS row) do not.
fn logs_changes(info: &ChunkInfo) -> bool {
    info.kind != RunKind::DryRun && info.load_path == LoadPath::Delta && info.phase != Phase::Stage
}

async fn do_work(
    ctx: &EngineContext,
    tx: &mut PgConnection,
    info: &ChunkInfo,
) -> Result<serde_json::Value, EngineError> {
    let apply = apply::ApplyContext {
        run_id: info.run_id,
        entity: info.entity,
        legacy_timezone: &ctx.legacy_timezone,
        on_conflict: info.on_conflict,
        load_path: info.load_path,
    };
    let bulk = info.load_path == LoadPath::Bulk && info.kind != RunKind::DryRun;
    let mut restaged = 0;
    if info.phase != Phase::Stage {
        // What a crash took from unlogged staging is staged again first.
        // An apply chunk reads its own range of staging, except where the
        // rules look across the table (logins settled over every user, an
        // organization's parent).
        let range = match (info.phase, info.entity) {
            (Phase::Apply, LegacyEntity::Users | LegacyEntity::Organizations) => IdRange::ALL,
            (Phase::Apply, _) => info.range,
            _ => IdRange::ALL,
        };
        // Once a hold gate previewed the snapshot, the resolve too must see
        // the rows the preview counted, as the steps after it do.
        let reader = if info.previewed && info.phase == Phase::Resolve {
            Phase::Apply
        } else {
            info.phase
        };
        restaged = restage_lost(ctx, tx, info, info.entity, range, reader).await?;
    }
    if info.phase == Phase::Resolve {
        // A dry run's resolve also reads the staging of the tables it
        // references (their predicted outcomes); they were resolved before
        // it, so what is staged again must be what they resolved.
        let dry_run = info.kind == RunKind::DryRun;
        for referenced in
            resolve::predicted_references(tx, info.run_id, info.entity, dry_run).await?
        {
            restaged += restage_lost(ctx, tx, info, referenced, IdRange::ALL, Phase::Apply).await?;
        }
    }
    let mut stats = phase_work(ctx, tx, info, &apply, bulk).await?;
    if restaged > 0
        && let Some(object) = stats.as_object_mut()
    {
        object.insert("restaged".to_owned(), json!(restaged));
    }
    Ok(stats)
}

/// Stages again what a crash took from `entity`'s staging over `range`
/// ([`bulk::ensure_staged`]), settling users' logins again where a step
/// after their resolve reads them; returns the rows staged again.
async fn restage_lost(
    ctx: &EngineContext,
    tx: &mut PgConnection,
    info: &ChunkInfo,
    entity: LegacyEntity,
    range: IdRange,
    reader: Phase,
) -> Result<u64, EngineError> {
    let restaged = bulk::ensure_staged(tx, &ctx.legacy, info.run_id, entity, range, reader).await?;
    let logins_resolved = entity != info.entity || info.phase != Phase::Resolve;
    if restaged > 0 && entity == LegacyEntity::Users && logins_resolved {
        // Users' resolve writes the settled logins into staging.
        resolve::resolve_logins(tx).await?;
    }
    Ok(restaged)
}

async fn phase_work(
    ctx: &EngineContext,
    tx: &mut PgConnection,
    info: &ChunkInfo,
    apply: &apply::ApplyContext<'_>,
    bulk: bool,
) -> Result<serde_json::Value, EngineError> {
    match info.phase {
        Phase::Stage => {
            let recording = if bulk {
                stage::Recording::Nothing
            } else {
                stage::Recording::Changes
            };
            let staged =
                stage::stage_range_recording(&ctx.legacy, tx, info.entity, info.range, recording)
                    .await?;
            let mut stats = serde_json::to_value(staged)
                .map_err(|error| EngineError::Invariant(error.to_string()))?;
            if info.gate_pending
                && !bulk
                && let Some(share) = hold::count_share(tx, info.entity, info.range).await?
                && let Some(object) = stats.as_object_mut()
            {
                object.insert("preview".to_owned(), json!(share));
            }
            Ok(stats)
        }
        Phase::Resolve => resolve::resolve_entity(tx, apply, info.kind).await,
        Phase::Apply => {
            let changes = if bulk {
                apply::apply_bulk(tx, apply, info.range).await?
            } else {
                apply::apply_range(tx, apply, info.range).await?
            };
            Ok(serde_json::to_value(changes)
                .map_err(|error| EngineError::Invariant(error.to_string()))?)
        }
        Phase::Finalize if info.kind == RunKind::DryRun => {
            finalize::preview_entity(tx, &ctx.legacy, info.run_id, info.entity).await
        }
        Phase::Finalize => finalize::finalize_entity(tx, &ctx.lms, &ctx.legacy, apply).await,
    }
}
