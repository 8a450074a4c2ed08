//! Which chunk a delivery runs: a stage chunk lets the run's queued chunks
//! of later phases go first.

mod support;

use lms_engine::chunk::chunk_ahead_of;
use lms_engine::{RunOptions, plan_run};
use lms_legacy::Scale;
use support::{Fixture, run_until};

const OPTIONS: RunOptions = RunOptions {
    entities: Vec::new(),
    chunk_size: 400,
    max_chunks: lms_config::MigrationSettings::DEFAULT_MAX_CHUNKS,
    request_id: None,
    kind: lms_engine::RunKind::Full,
    on_conflict: lms_engine::ConflictPolicy::KeepLms,
    hold: None,
};

async fn journal_stage_chunk(fixture: &Fixture, run_id: uuid::Uuid) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'stage' ORDER BY c.id LIMIT 1",
    )
    .bind(run_id)
    .fetch_one(fixture.lms())
    .await?)
}

#[tokio::test]
async fn a_stage_chunk_lets_a_ready_later_phase_go_first() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("ahead", Scale::Small, 91).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    let journal_stage = journal_stage_chunk(&fixture, planned.run_id).await?;

    // Only stage chunks are queued: nothing goes ahead.
    assert_eq!(chunk_ahead_of(fixture.lms(), journal_stage).await?, None);

    // Organizations staged: their resolve is queued, and goes ahead.
    let resolve = run_until(&fixture.engine, planned.run_id, |entity, phase| {
        (entity, phase) == ("organizations", "resolve")
    })
    .await?;
    assert!(resolve.is_some());
    assert_eq!(chunk_ahead_of(fixture.lms(), journal_stage).await?, resolve);
    fixture.close().await
}

#[tokio::test]
async fn only_a_stage_chunk_lets_others_go_first() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("notahead", Scale::Small, 92).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    let resolve = run_until(&fixture.engine, planned.run_id, |entity, phase| {
        (entity, phase) == ("organizations", "resolve")
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("organizations resolve never queued"))?;
    let persons_stage: i64 = sqlx::query_scalar(
        "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'persons' AND s.phase = 'stage'",
    )
    .bind(planned.run_id)
    .fetch_one(fixture.lms())
    .await?;

    // A resolve chunk is delivered: it runs itself, whatever else is queued.
    assert_eq!(chunk_ahead_of(fixture.lms(), resolve).await?, None);
    // A stage chunk is delivered: the resolve goes first.
    assert_eq!(
        chunk_ahead_of(fixture.lms(), persons_stage).await?,
        Some(resolve)
    );
    fixture.close().await
}

#[tokio::test]
async fn a_chunk_a_worker_is_running_does_not_go_ahead() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("aheadheld", Scale::Small, 93).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    let journal_stage = journal_stage_chunk(&fixture, planned.run_id).await?;
    let resolve = run_until(&fixture.engine, planned.run_id, |entity, phase| {
        (entity, phase) == ("organizations", "resolve")
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("organizations resolve never queued"))?;

    // A running chunk's row is locked by its transaction.
    let mut running = fixture.lms().begin().await?;
    sqlx::query("SELECT 1 FROM migration.chunks WHERE id = $1 FOR UPDATE")
        .bind(resolve)
        .execute(&mut *running)
        .await?;
    assert_eq!(chunk_ahead_of(fixture.lms(), journal_stage).await?, None);
    running.rollback().await?;
    fixture.close().await
}

#[tokio::test]
async fn a_chunk_waiting_to_retry_does_not_go_ahead() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("aheadretry", Scale::Small, 94).await?;
    let planned = plan_run(fixture.lms(), fixture.legacy(), &OPTIONS).await?;
    let journal_stage = journal_stage_chunk(&fixture, planned.run_id).await?;
    let resolve = run_until(&fixture.engine, planned.run_id, |entity, phase| {
        (entity, phase) == ("organizations", "resolve")
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("organizations resolve never queued"))?;

    // An attempt failed and its worker waits out the backoff before the next.
    sqlx::query("UPDATE migration.chunks SET attempts = 1 WHERE id = $1")
        .bind(resolve)
        .execute(fixture.lms())
        .await?;
    assert_eq!(chunk_ahead_of(fixture.lms(), journal_stage).await?, None);
    fixture.close().await
}
