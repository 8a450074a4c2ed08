//! Which chunk a delivery runs: a stage chunk lets the run's queued chunks
//! of later phases go first. And when a run ends: with its last chunk.

mod support;

use lms_engine::chunk::chunk_ahead_of;
use lms_engine::{RunOptions, plan_run};
use lms_legacy::Scale;
use support::{Fixture, run_until};

/// A planned run whose organizations are staged, so that their resolve is
/// queued while every other table's stage chunks still wait.
struct Staged {
    fixture: Fixture,
    /// The first of the journal's stage chunks.
    journal_stage: i64,
    /// The organizations' resolve chunk, queued.
    resolve: i64,
    run_id: uuid::Uuid,
}

async fn organizations_staged(purpose: &str, seed: u64) -> anyhow::Result<Staged> {
    let fixture = Fixture::seeded(purpose, Scale::Small, seed).await?;
    let options = RunOptions {
        chunk_size: 400,
        ..RunOptions::default()
    };
    let planned = plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    let journal_stage = stage_chunk(&fixture, planned.run_id, "journal").await?;
    let resolve = run_until(&fixture.engine, planned.run_id, |entity, phase| {
        (entity, phase) == ("organizations", "resolve")
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("organizations resolve never queued"))?;
    Ok(Staged {
        fixture,
        journal_stage,
        resolve,
        run_id: planned.run_id,
    })
}

async fn stage_chunk(fixture: &Fixture, run_id: uuid::Uuid, entity: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = $2 AND s.phase = 'stage' ORDER BY c.id LIMIT 1",
    )
    .bind(run_id)
    .bind(entity)
    .fetch_one(fixture.lms())
    .await?)
}

#[tokio::test]
async fn with_only_stage_chunks_queued_nothing_goes_ahead() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("aheadnone", Scale::Small, 90).await?;
    let options = RunOptions {
        chunk_size: 400,
        ..RunOptions::default()
    };
    let planned = plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    let journal_stage = stage_chunk(&fixture, planned.run_id, "journal").await?;

    assert_eq!(chunk_ahead_of(fixture.lms(), journal_stage).await?, None);
    fixture.close().await
}

#[tokio::test]
async fn a_stage_chunk_lets_a_ready_later_phase_go_first() -> anyhow::Result<()> {
    let staged = organizations_staged("ahead", 91).await?;
    let lms = staged.fixture.lms();

    assert_eq!(
        chunk_ahead_of(lms, staged.journal_stage).await?,
        Some(staged.resolve)
    );
    let persons_stage = stage_chunk(&staged.fixture, staged.run_id, "persons").await?;
    assert_eq!(
        chunk_ahead_of(lms, persons_stage).await?,
        Some(staged.resolve)
    );
    staged.fixture.close().await
}

#[tokio::test]
async fn only_a_stage_chunk_lets_others_go_first() -> anyhow::Result<()> {
    let staged = organizations_staged("notahead", 92).await?;

    // A resolve chunk is delivered: it runs itself, whatever else is queued.
    assert_eq!(
        chunk_ahead_of(staged.fixture.lms(), staged.resolve).await?,
        None
    );
    staged.fixture.close().await
}

#[tokio::test]
async fn a_chunk_a_worker_is_running_does_not_go_ahead() -> anyhow::Result<()> {
    let staged = organizations_staged("aheadheld", 93).await?;
    let lms = staged.fixture.lms();

    // A worker's claim counted an attempt and committed; its chunk's own
    // transaction holds the row.
    sqlx::query("UPDATE migration.chunks SET attempts = 1 WHERE id = $1")
        .bind(staged.resolve)
        .execute(lms)
        .await?;
    let mut running = lms.begin().await?;
    sqlx::query("SELECT 1 FROM migration.chunks WHERE id = $1 FOR UPDATE")
        .bind(staged.resolve)
        .execute(&mut *running)
        .await?;
    assert_eq!(chunk_ahead_of(lms, staged.journal_stage).await?, None);
    running.rollback().await?;
    staged.fixture.close().await
}

#[tokio::test]
async fn looking_ahead_neither_skips_nor_holds_a_locked_unclaimed_chunk() -> anyhow::Result<()> {
    let staged = organizations_staged("aheadpeek", 95).await?;
    let lms = staged.fixture.lms();

    // Another transaction holds the unclaimed chunk's row (a claim not yet
    // committed, or the sweeper queueing it again): the lookup still offers
    // it, and the claim decides who runs it.
    let mut holder = lms.begin().await?;
    sqlx::query("SELECT 1 FROM migration.chunks WHERE id = $1 FOR UPDATE")
        .bind(staged.resolve)
        .execute(&mut *holder)
        .await?;
    assert_eq!(
        chunk_ahead_of(lms, staged.journal_stage).await?,
        Some(staged.resolve)
    );
    holder.rollback().await?;

    // And the lookup leaves the row free: a worker's transaction about to
    // run the chunk finds it unlocked.
    let mut looking = lms.begin().await?;
    let offered: Option<i64> =
        sqlx::query_scalar(include_str!("../src/chunk/sql/chunk_ahead_of_stage.sql"))
            .bind(staged.journal_stage)
            .bind(lms_engine::plan::Phase::Stage)
            .bind(lms_engine::state::ChunkState::Queued)
            .fetch_optional(&mut *looking)
            .await?;
    assert_eq!(offered, Some(staged.resolve));
    let free: Option<i64> =
        sqlx::query_scalar("SELECT id FROM migration.chunks WHERE id = $1 FOR UPDATE SKIP LOCKED")
            .bind(staged.resolve)
            .fetch_optional(lms)
            .await?;
    assert_eq!(free, Some(staged.resolve));
    looking.rollback().await?;
    staged.fixture.close().await
}

#[tokio::test]
async fn a_chunk_waiting_to_retry_does_not_go_ahead() -> anyhow::Result<()> {
    let staged = organizations_staged("aheadretry", 94).await?;
    let lms = staged.fixture.lms();

    // An attempt failed and its worker waits out the backoff before the next.
    sqlx::query("UPDATE migration.chunks SET attempts = 1 WHERE id = $1")
        .bind(staged.resolve)
        .execute(lms)
        .await?;
    assert_eq!(chunk_ahead_of(lms, staged.journal_stage).await?, None);
    staged.fixture.close().await
}

#[tokio::test]
async fn a_run_ends_when_its_last_chunk_does() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("runends", Scale::Small, 96).await?;
    let report = fixture.migrate(400).await?;

    // The last chunk finishes the run in its own transaction; the run's end
    // is the moment that chunk's work ended, not the moment it began.
    let last_chunk: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT max(finished_at) FROM migration.chunks WHERE run_id = $1")
            .bind(report.run_id)
            .fetch_one(fixture.lms())
            .await?;
    let finished = report
        .finished_at
        .ok_or_else(|| anyhow::anyhow!("the run has no end"))?;
    assert!(
        finished >= last_chunk,
        "the run ended at {finished}, before its last chunk did at {last_chunk}"
    );
    fixture.close().await
}
