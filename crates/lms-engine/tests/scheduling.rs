//! Which chunk a delivery runs: a stage chunk lets the run's queued chunks
//! of later phases go first, and a chunk a worker finds ready is claimed
//! only if no other worker has claimed it. When a run ends: with its last
//! chunk. And which chunks the sweeper queues again: those lost with the
//! queue, not those waiting in it.

mod support;

use std::time::Duration;

use lms_engine::chunk::chunk_ahead_of;
use lms_engine::setup::connect_queue;
use lms_engine::worker::requeue_lost_chunks;
use lms_engine::{
    ChunkOutcome, ChunkQueue, Delivery, RunOptions, RunStatus, plan_run, run_chunk,
    run_delivered_chunk, start_run,
};
use lms_legacy::Scale;
use support::queue_payloads::{fetched_by_a_stopped_worker, in_flight, rewrite_job_payload};
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
async fn a_claimed_chunk_does_not_go_ahead() -> anyhow::Result<()> {
    let staged = organizations_staged("aheadclaimed", 93).await?;
    let lms = staged.fixture.lms();

    // A worker's claim counted an attempt: the chunk is running, or its
    // worker waits out a retry's backoff before the next attempt.
    claimed_elsewhere(lms, staged.resolve).await?;
    assert_eq!(chunk_ahead_of(lms, staged.journal_stage).await?, None);
    staged.fixture.close().await
}

#[tokio::test]
async fn an_unclaimed_chunk_goes_ahead_even_while_its_row_is_locked() -> anyhow::Result<()> {
    let staged = organizations_staged("aheadlocked", 94).await?;
    let lms = staged.fixture.lms();

    // Another transaction holds the row (a claim not yet committed, or the
    // sweeper): the lookup still offers the chunk; the claim decides who
    // runs it.
    let mut holder = lms.begin().await?;
    lock_row(&mut holder, staged.resolve).await?;
    assert_eq!(
        chunk_ahead_of(lms, staged.journal_stage).await?,
        Some(staged.resolve)
    );
    holder.rollback().await?;
    staged.fixture.close().await
}

#[tokio::test]
async fn looking_ahead_leaves_the_chunk_it_offers_unlocked() -> anyhow::Result<()> {
    let staged = organizations_staged("aheadfree", 95).await?;
    let lms = staged.fixture.lms();

    // In an open transaction, so that a lock the lookup took would still
    // be held: the worker about to run the chunk must find its row free.
    let mut looking = lms.begin().await?;
    assert_eq!(
        chunk_ahead_of(&mut *looking, staged.journal_stage).await?,
        Some(staged.resolve)
    );
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
async fn a_chunk_found_ready_is_left_to_the_worker_that_claimed_it() -> anyhow::Result<()> {
    let staged = organizations_staged("foundclaimed", 97).await?;
    let lms = staged.fixture.lms();
    claimed_elsewhere(lms, staged.resolve).await?;

    let outcome =
        run_delivered_chunk(&staged.fixture.engine, staged.resolve, Delivery::Found).await?;

    assert!(matches!(outcome, ChunkOutcome::Skipped(_)), "{outcome:?}");
    assert_eq!(
        attempts(lms, staged.resolve).await?,
        1,
        "no attempt counted"
    );
    staged.fixture.close().await
}

#[tokio::test]
async fn a_chunk_found_ready_and_unclaimed_runs() -> anyhow::Result<()> {
    let staged = organizations_staged("foundfree", 99).await?;

    let outcome =
        run_delivered_chunk(&staged.fixture.engine, staged.resolve, Delivery::Found).await?;

    assert!(matches!(outcome, ChunkOutcome::Done(_)), "{outcome:?}");
    assert_eq!(attempts(staged.fixture.lms(), staged.resolve).await?, 1);
    staged.fixture.close().await
}

#[tokio::test]
async fn a_queued_delivery_runs_a_chunk_whose_worker_was_lost() -> anyhow::Result<()> {
    let staged = organizations_staged("queuedlost", 98).await?;
    let lms = staged.fixture.lms();
    // Claimed by a worker that died before finishing; the sweeper queued
    // the chunk again.
    claimed_elsewhere(lms, staged.resolve).await?;

    let outcome = run_chunk(&staged.fixture.engine, staged.resolve).await?;

    assert!(matches!(outcome, ChunkOutcome::Done(_)), "{outcome:?}");
    assert_eq!(attempts(lms, staged.resolve).await?, 2);
    staged.fixture.close().await
}

async fn claimed_elsewhere(lms: &sqlx::PgPool, chunk: i64) -> anyhow::Result<()> {
    sqlx::query("UPDATE migration.chunks SET attempts = 1 WHERE id = $1")
        .bind(chunk)
        .execute(lms)
        .await?;
    Ok(())
}

async fn lock_row(tx: &mut sqlx::PgConnection, chunk: i64) -> anyhow::Result<()> {
    sqlx::query("SELECT 1 FROM migration.chunks WHERE id = $1 FOR UPDATE")
        .bind(chunk)
        .execute(tx)
        .await?;
    Ok(())
}

async fn attempts(lms: &sqlx::PgPool, chunk: i64) -> anyhow::Result<i32> {
    Ok(
        sqlx::query_scalar("SELECT attempts FROM migration.chunks WHERE id = $1")
            .bind(chunk)
            .fetch_one(lms)
            .await?,
    )
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

/// A run started on the queue, every chunk it queued made to look queued
/// an hour ago, with no worker to take them; returns them in order.
async fn queued_an_hour_ago(
    purpose: &str,
    seed: u64,
) -> anyhow::Result<(Fixture, ChunkQueue, uuid::Uuid, Vec<i64>)> {
    let fixture = Fixture::seeded(purpose, Scale::Small, seed).await?;
    let queue = connect_queue(&fixture.settings).await?;
    let options = RunOptions {
        chunk_size: 400,
        ..RunOptions::default()
    };
    let planned = start_run(fixture.lms(), fixture.legacy(), &queue, &options).await?;
    let queued: Vec<i64> = sqlx::query_scalar(
        "UPDATE migration.chunks SET queued_at = now() - interval '1 hour' \
         WHERE run_id = $1 AND state = 'queued' RETURNING id",
    )
    .bind(planned.run_id)
    .fetch_all(fixture.lms())
    .await?;
    anyhow::ensure!(queued.len() > 1, "the run queued {} chunks", queued.len());
    let mut queued = queued;
    queued.sort_unstable();
    Ok((fixture, queue, planned.run_id, queued))
}

#[tokio::test]
async fn chunks_waiting_on_the_queue_are_not_queued_again() -> anyhow::Result<()> {
    let (fixture, queue, _, queued) = queued_an_hour_ago("sweepwait", 99).await?;
    let waiting = queue.depth().await?.waiting;
    anyhow::ensure!(
        waiting == i64::try_from(queued.len())?,
        "{waiting} jobs waiting"
    );

    let requeued = requeue_lost_chunks(&fixture.engine, &queue, Duration::from_secs(60)).await?;

    assert_eq!(requeued, 0);
    assert_eq!(queue.depth().await?.waiting, waiting);
    fixture.close().await
}

#[tokio::test]
async fn chunks_lost_with_the_queue_go_back_on_it() -> anyhow::Result<()> {
    let (fixture, queue, _, queued) = queued_an_hour_ago("sweeplost", 100).await?;
    queue.delete_everything().await?;

    let requeued = requeue_lost_chunks(&fixture.engine, &queue, Duration::from_secs(60)).await?;

    assert_eq!(requeued, queued.len());
    assert_eq!(
        queue.chunks_with_jobs().await?,
        queued.iter().copied().collect()
    );
    fixture.close().await
}

#[tokio::test]
async fn a_chunk_lost_while_others_wait_goes_back_on_the_queue() -> anyhow::Result<()> {
    let (fixture, queue, run_id, queued) = queued_an_hour_ago("sweepsome", 101).await?;
    queue.delete_everything().await?;
    let (lost, waiting) = queued.split_at(1);
    queue.push(run_id, waiting).await?;

    let requeued = requeue_lost_chunks(&fixture.engine, &queue, Duration::from_secs(60)).await?;

    assert_eq!(requeued, lost.len());
    assert_eq!(
        queue.chunks_with_jobs().await?,
        queued.iter().copied().collect()
    );
    fixture.close().await
}

#[tokio::test]
async fn a_job_no_worker_can_read_is_set_aside_where_an_operator_can_read_it() -> anyhow::Result<()>
{
    let (fixture, queue, _, queued) = queued_an_hour_ago("unreadable", 102).await?;
    rewrite_job_payload(&fixture.settings, &queue, queued[0], b"{\"chunk\": 1}").await?;

    let set_aside = queue.set_aside_unreadable().await?;

    assert_eq!(set_aside, 1);
    let unreadable: Vec<String> = queue
        .unreadable_jobs()
        .await?
        .into_iter()
        .map(|job| job.payload)
        .collect();
    assert_eq!(unreadable, ["{\"chunk\": 1}"]);
    let depth = queue.depth().await?;
    assert_eq!(
        (depth.waiting, depth.set_aside),
        (i64::try_from(queued.len())? - 1, 1)
    );
    fixture.close().await
}

#[tokio::test]
async fn a_chunk_whose_only_job_is_unreadable_goes_back_on_the_queue() -> anyhow::Result<()> {
    let (fixture, queue, _, queued) = queued_an_hour_ago("unreadablechunk", 103).await?;
    rewrite_job_payload(&fixture.settings, &queue, queued[0], b"not json").await?;
    queue.set_aside_unreadable().await?;

    let requeued = requeue_lost_chunks(&fixture.engine, &queue, Duration::from_secs(60)).await?;

    assert_eq!(requeued, 1);
    assert_eq!(
        queue.chunks_with_jobs().await?,
        queued.iter().copied().collect()
    );
    fixture.close().await
}

#[tokio::test]
async fn an_unreadable_job_a_stopped_worker_fetched_is_set_aside() -> anyhow::Result<()> {
    let (fixture, queue, _, queued) = queued_an_hour_ago("unreadablefetched", 104).await?;
    fetched_by_a_stopped_worker(&fixture.settings, &queue, queued[0], "stopped-worker").await?;
    rewrite_job_payload(&fixture.settings, &queue, queued[0], b"[]").await?;

    let set_aside = queue.set_aside_unreadable().await?;

    assert_eq!(set_aside, 1);
    let payloads: Vec<String> = queue
        .unreadable_jobs()
        .await?
        .into_iter()
        .map(|job| job.payload)
        .collect();
    assert_eq!(payloads, ["[]"]);
    assert_eq!(
        in_flight(&fixture.settings, &queue, "stopped-worker").await?,
        Vec::<String>::new()
    );
    fixture.close().await
}

#[tokio::test]
async fn a_cancelling_runs_lost_chunk_goes_back_on_the_queue() -> anyhow::Result<()> {
    let (fixture, queue, run_id, queued) = queued_an_hour_ago("sweepcancel", 105).await?;
    let lms = fixture.lms().clone();
    let cancelling = ended_while_held(&fixture, &queue, queued[0], async {
        Ok(lms_engine::control::cancel_run(&lms, run_id, None)
            .await?
            .status)
    })
    .await?;
    anyhow::ensure!(cancelling == RunStatus::Cancelling, "{cancelling:?}");

    let requeued = requeue_lost_chunks(&fixture.engine, &queue, Duration::from_secs(60)).await?;

    assert_eq!(requeued, 1);
    assert_eq!(
        queue.chunks_with_jobs().await?,
        std::iter::once(queued[0]).collect()
    );
    fixture.close().await
}

#[tokio::test]
async fn a_failed_runs_lost_chunk_goes_back_on_the_queue() -> anyhow::Result<()> {
    let (fixture, queue, run_id, queued) = queued_an_hour_ago("sweepfailed", 106).await?;
    let lms = fixture.lms().clone();
    let failed = ended_while_held(&fixture, &queue, queued[0], async {
        Ok(lms_engine::progress::fail_chunk(&lms, run_id, queued[1], "gave up").await?)
    })
    .await?;
    anyhow::ensure!(failed, "the run was not failed");

    let requeued = requeue_lost_chunks(&fixture.engine, &queue, Duration::from_secs(60)).await?;

    assert_eq!(requeued, 1);
    assert_eq!(
        queue.chunks_with_jobs().await?,
        std::iter::once(queued[0]).collect()
    );
    fixture.close().await
}

/// Ends the run with `end_run` while a worker holds `chunk`, so the run
/// leaves that chunk queued; then the worker dies, and every job on the
/// queue is lost.
async fn ended_while_held<T>(
    fixture: &Fixture,
    queue: &ChunkQueue,
    chunk: i64,
    end_run: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<T> {
    let mut running = fixture.lms().begin().await?;
    sqlx::query("SELECT 1 FROM migration.chunks WHERE id = $1 FOR UPDATE")
        .bind(chunk)
        .execute(&mut *running)
        .await?;
    let ended = end_run.await?;
    running.rollback().await?;
    queue.delete_everything().await?;
    Ok(ended)
}

#[tokio::test]
async fn a_departed_workers_metadata_is_forgotten_and_a_registered_ones_kept() -> anyhow::Result<()>
{
    let fixture = Fixture::empty_legacy("forgetworkers").await?;
    let queue = connect_queue(&fixture.settings).await?;
    let client = redis::Client::open(fixture.settings.redis.url.expose())?;
    let mut redis = client.get_multiplexed_async_connection().await?;
    let workers = format!("{}:workers", queue.name());
    let metadata = |worker: &str| format!("{workers}:metadata:{worker}");
    // As apalis registers a worker: its name in the set, its metadata
    // beside it. The departed one's name has left the set.
    let () = redis::cmd("ZADD")
        .arg(&workers)
        .arg(1)
        .arg("alive-1")
        .query_async(&mut redis)
        .await?;
    for worker in ["alive-1", "departed-1"] {
        let () = redis::cmd("HSET")
            .arg(metadata(worker))
            .arg("service")
            .arg("chunks")
            .query_async(&mut redis)
            .await?;
    }

    let forgotten = queue.forget_departed_workers().await?;

    let kept: (bool, bool) = redis::pipe()
        .exists(metadata("alive-1"))
        .exists(metadata("departed-1"))
        .query_async(&mut redis)
        .await?;
    queue.delete_everything().await?;
    fixture.close().await?;
    assert_eq!((forgotten, kept), (1, (true, false)));
    Ok(())
}
