//! Failures: transient ones retry with backoff, permanent ones and spent
//! retries fail the run with the chunk and its error in view, and nothing
//! loops forever.

mod support;

use lms_engine::RunStatus;
use std::time::Duration;

use lms_domain::LegacyEntity;
use lms_engine::inline::run_inline;
use lms_engine::worker::requeue_lost_chunks;
use lms_engine::{ChunkOutcome, EngineContext, RetryPolicy, RunOptions, plan_run, run_chunk};
use lms_legacy::Scale;
use sqlx::{Connection, Row};
use support::Fixture;

fn impatient(engine: &EngineContext) -> EngineContext {
    EngineContext {
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
        },
        lock_timeout: Duration::from_millis(100),
        ..engine.clone()
    }
}

fn only(entity: LegacyEntity) -> RunOptions {
    RunOptions {
        entities: vec![entity],
        chunk_size: 1_000,
        max_chunks: lms_config::MigrationSettings::DEFAULT_MAX_CHUNKS,
        request: None,
        kind: lms_engine::RunKind::Full,
        on_conflict: lms_engine::ConflictPolicy::KeepLms,
        hold: None,
    }
}

/// Holds an exclusive lock on a table in another session until dropped.
async fn lock_table(fixture: &Fixture, table: &str) -> anyhow::Result<sqlx::PgConnection> {
    let mut conn = sqlx::PgConnection::connect(fixture.settings.database.url.expose()).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut conn)
    .await?;
    Ok(conn)
}

#[tokio::test]
async fn a_transient_failure_is_retried_with_backoff_until_it_passes() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("transient", Scale::Small, 61).await?;
    let engine = impatient(&fixture.engine);
    let planned = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &only(LegacyEntity::Organizations),
    )
    .await?;
    let lock = lock_table(&fixture, "migration.stage_organizations").await?;
    // The lock goes once an attempt has failed on it (however slowly the
    // machine gets there), so the retry is what succeeds.
    let lms = fixture.lms().clone();
    let run_id = planned.run_id;
    let release = tokio::spawn(async move {
        for _ in 0..600 {
            let failed: Option<bool> = sqlx::query_scalar(
                "SELECT bool_or(last_error IS NOT NULL) FROM migration.chunks WHERE run_id = $1",
            )
            .bind(run_id)
            .fetch_one(&lms)
            .await
            .ok()
            .flatten();
            if failed == Some(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(lock);
    });
    let status = run_inline(&engine, planned.run_id, 1).await?;
    release.await?;
    assert_eq!(status, RunStatus::Succeeded);
    let attempts: i32 = sqlx::query(
        "SELECT max(c.attempts) FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.phase = 'stage'",
    )
    .bind(planned.run_id)
    .fetch_one(fixture.lms())
    .await?
    .get(0);
    assert!(
        attempts >= 2,
        "the locked chunk was retried ({attempts} attempts)"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_chunk_waiting_to_retry_is_not_taken_for_lost() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("retrynotlost", Scale::Small, 65).await?;
    let engine = EngineContext {
        retry: RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_secs(30),
            max_delay: Duration::from_secs(30),
        },
        lock_timeout: Duration::from_millis(100),
        ..fixture.engine.clone()
    };
    let planned = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &only(LegacyEntity::Organizations),
    )
    .await?;
    let chunk = planned.queued_chunks[0];
    // Queued long ago, as a chunk is when its run has been going a while.
    sqlx::query("UPDATE migration.chunks SET queued_at = now() - interval '1 hour' WHERE id = $1")
        .bind(chunk)
        .execute(fixture.lms())
        .await?;
    let lock = lock_table(&fixture, "migration.stage_organizations").await?;
    let running = tokio::spawn(async move { run_chunk(&engine, chunk).await });
    let mut failed_once = false;
    for _ in 0..600 {
        failed_once =
            sqlx::query_scalar("SELECT last_error IS NOT NULL FROM migration.chunks WHERE id = $1")
                .bind(chunk)
                .fetch_one(fixture.lms())
                .await?;
        if failed_once {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::ensure!(failed_once, "the first attempt did not fail within 30 s");

    // Its worker sleeps before the next attempt; the sweeper leaves it be.
    let queue = lms_engine::setup::connect_queue(&fixture.settings).await?;
    let requeued = requeue_lost_chunks(&fixture.engine, &queue, Duration::from_secs(60)).await?;

    running.abort();
    drop(lock);
    queue.delete_everything().await?;
    fixture.close().await?;
    assert_eq!(requeued, 0);
    Ok(())
}

#[tokio::test]
async fn spent_retries_fail_the_run_with_the_chunk_in_view() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("spent", Scale::Small, 62).await?;
    let engine = impatient(&fixture.engine);
    let planned = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &only(LegacyEntity::Organizations),
    )
    .await?;
    let lock = lock_table(&fixture, "migration.stage_organizations").await?;
    let status = run_inline(&engine, planned.run_id, 1).await?;
    drop(lock);
    assert_eq!(status, RunStatus::Failed);
    let run = sqlx::query(
        "SELECT r.error, c.state, c.attempts, c.last_error FROM migration.runs r \
         JOIN migration.chunks c ON c.id = r.failed_chunk_id WHERE r.id = $1",
    )
    .bind(planned.run_id)
    .fetch_one(fixture.lms())
    .await?;
    let (error, state, attempts): (String, String, i32) = (run.get(0), run.get(1), run.get(2));
    assert_eq!((state.as_str(), attempts), ("failed", 4));
    assert!(
        error.contains("organizations stage") && error.contains("lock"),
        "{error}"
    );
    let report = fixture.report(planned.run_id).await?;
    assert_eq!(report.status, RunStatus::Failed);
    fixture.close().await
}

#[tokio::test]
async fn poison_data_fails_the_run_at_once() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("poison", Scale::Small, 63).await?;
    // A schema drift in production: a column that should be a number is not.
    fixture
        .legacy_sql(
            "ALTER TABLE journal ALTER COLUMN semester TYPE text; \
             INSERT INTO journal (id, student_id, subject_id, academic_year, semester) VALUES (7777777, 1, 1, '2024-2025', 'spring')",
        )
        .await?;
    let report = fixture.migrate(1_000).await?;
    assert_eq!(report.status, RunStatus::Failed);
    let chunk = sqlx::query(
        "SELECT c.attempts, c.last_error, r.error FROM migration.runs r JOIN migration.chunks c ON c.id = r.failed_chunk_id \
         WHERE r.id = $1",
    )
    .bind(report.run_id)
    .fetch_one(fixture.lms())
    .await?;
    let (attempts, error): (i32, String) = (chunk.get(0), chunk.get(2));
    assert_eq!(attempts, 1, "a permanent failure is not retried");
    assert!(
        error.contains("7777777") && error.contains("spring"),
        "{error}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_chunk_that_keeps_killing_its_worker_stops_after_its_attempts() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("crashloop", Scale::Small, 64).await?;
    let engine = impatient(&fixture.engine);
    let planned = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &only(LegacyEntity::Organizations),
    )
    .await?;
    let chunk = planned.queued_chunks[0];
    // Four deliveries already started and never finished (their workers died).
    sqlx::query("UPDATE migration.chunks SET attempts = 4 WHERE id = $1")
        .bind(chunk)
        .execute(fixture.lms())
        .await?;
    let outcome = run_chunk(&engine, chunk).await?;
    let ChunkOutcome::Failed(message) = outcome else {
        panic!("expected the chunk to fail, got {outcome:?}");
    };
    assert!(message.contains("attempted 4 times"), "{message}");
    let status: RunStatus = sqlx::query("SELECT status FROM migration.runs WHERE id = $1")
        .bind(planned.run_id)
        .fetch_one(fixture.lms())
        .await?
        .get(0);
    assert_eq!(status, RunStatus::Failed);
    // A late delivery of the same chunk does nothing.
    assert!(matches!(
        run_chunk(&engine, chunk).await?,
        ChunkOutcome::Skipped(_)
    ));
    fixture.close().await
}

#[tokio::test]
async fn a_failed_stage_leaves_no_half_read_copy_on_a_pooled_legacy_connection()
-> anyhow::Result<()> {
    let fixture = Fixture::seeded("stagefail", Scale::Small, 67).await?;
    // One legacy connection: whatever a failure leaves on it, the next
    // stage meets.
    let legacy = lms_pg::connect(
        &fixture.settings.legacy.url,
        &lms_pg::PoolConfig {
            max_connections: 1,
            ..lms_pg::PoolConfig::small("stagefail")
        },
    )
    .await?;
    let mut lms = fixture.lms().acquire().await?;
    fixture
        .lms_sql(
            "ALTER TABLE migration.stage_students RENAME COLUMN record_book_no TO record_book_away",
        )
        .await?;
    assert!(
        stage_students(&legacy, &mut lms).await.is_err(),
        "a COPY into a column that is not there fails"
    );
    fixture
        .lms_sql(
            "ALTER TABLE migration.stage_students RENAME COLUMN record_book_away TO record_book_no",
        )
        .await?;
    let staged = stage_students(&legacy, &mut lms).await?;
    let legacy_rows: i64 = sqlx::query_scalar("SELECT count(*) FROM students")
        .fetch_one(&legacy)
        .await?;
    assert_eq!(i64::try_from(staged.rows)?, legacy_rows);
    drop(lms);
    legacy.close().await;
    fixture.close().await
}

async fn stage_students(
    legacy: &sqlx::PgPool,
    lms: &mut sqlx::PgConnection,
) -> Result<lms_engine::stage::Staged, lms_engine::EngineError> {
    lms_engine::stage::stage_range_recording(
        legacy,
        lms,
        LegacyEntity::Students,
        lms_engine::plan::IdRange::ALL,
        lms_engine::stage::Recording::Nothing,
    )
    .await
}

#[tokio::test]
async fn a_worker_configured_with_another_legacy_time_zone_refuses_the_runs_chunks()
-> anyhow::Result<()> {
    let fixture = Fixture::seeded("terms", Scale::Small, 68).await?;
    let planned = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &only(LegacyEntity::Organizations),
    )
    .await?;
    let chunks: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM migration.chunks WHERE run_id = $1 AND state = 'queued' ORDER BY id",
    )
    .bind(planned.run_id)
    .fetch_all(fixture.lms())
    .await?;
    let first = *chunks
        .first()
        .ok_or_else(|| anyhow::anyhow!("no queued chunk"))?;
    let done = run_chunk(&fixture.engine, first).await?;
    anyhow::ensure!(matches!(done, ChunkOutcome::Done(_)), "{done:?}");
    let next: i64 = sqlx::query_scalar(
        "SELECT id FROM migration.chunks WHERE run_id = $1 AND state = 'queued' ORDER BY id LIMIT 1",
    )
    .bind(planned.run_id)
    .fetch_one(fixture.lms())
    .await?;
    let elsewhere = EngineContext {
        legacy_timezone: "Asia/Tokyo".to_owned(),
        ..fixture.engine.clone()
    };

    let refused = run_chunk(&elsewhere, next).await?;

    let ChunkOutcome::Failed(message) = refused else {
        anyhow::bail!("a worker under other terms ran the chunk: {refused:?}");
    };
    assert!(
        message.contains("Asia/Tokyo") && message.contains("configure the worker"),
        "{message}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_late_failure_fails_nothing_another_worker_finished() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("latefail", Scale::Small, 66).await?;
    let (run_id, _) = persons_staged(&fixture).await?;
    // The persons' stage is done (by another worker, as far as this
    // delivery knows) when a delivery of it gives up on its own attempt.
    let stage: i64 = sqlx::query_scalar(
        "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'persons' AND s.phase = 'stage'",
    )
    .bind(run_id)
    .fetch_one(fixture.lms())
    .await?;

    let failed = lms_engine::progress::fail_chunk(fixture.lms(), run_id, stage, "gave up").await?;

    assert!(!failed);
    let (chunk, run): (String, String) = sqlx::query_as(
        "SELECT c.state, r.status FROM migration.chunks c JOIN migration.runs r ON r.id = c.run_id \
         WHERE c.id = $1",
    )
    .bind(stage)
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!((chunk.as_str(), run.as_str()), ("done", "running"));
    fixture.close().await
}

#[tokio::test]
async fn a_cancelled_runs_last_chunk_delivered_again_closes_the_run() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("cancellast", Scale::Small, 67).await?;
    let (run_id, resolve) = persons_staged(&fixture).await?;
    // A worker holds the resolve chunk when the run is cancelled, so the
    // cancel leaves it to close the run; then its attempt fails and rolls
    // back, and its retry (or a duplicate) is what delivers it next.
    let mut running = fixture.lms().begin().await?;
    sqlx::query("SELECT 1 FROM migration.chunks WHERE id = $1 FOR UPDATE")
        .bind(resolve)
        .execute(&mut *running)
        .await?;
    let cancelling = lms_engine::control::cancel_run(fixture.lms(), run_id, None).await?;
    assert_eq!(cancelling.status, RunStatus::Cancelling);
    running.rollback().await?;

    let outcome = run_chunk(&fixture.engine, resolve).await?;

    assert!(matches!(outcome, ChunkOutcome::Skipped(_)), "{outcome:?}");
    let status: RunStatus = sqlx::query_scalar("SELECT status FROM migration.runs WHERE id = $1")
        .bind(run_id)
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(status, RunStatus::Cancelled);
    fixture.close().await
}

/// A run of the persons alone, run until their resolve chunk is queued;
/// returns the run and that chunk.
async fn persons_staged(fixture: &Fixture) -> anyhow::Result<(uuid::Uuid, i64)> {
    let planned = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &only(LegacyEntity::Persons),
    )
    .await?;
    let resolve = support::run_until(&fixture.engine, planned.run_id, |entity, phase| {
        (entity, phase) == ("persons", "resolve")
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("persons resolve never queued"))?;
    Ok((planned.run_id, resolve))
}

/// A run of the persons, planned in stage chunks of 50 rows, and those
/// chunks (at least two), in id order.
async fn persons_in_stage_chunks_of_50(
    fixture: &Fixture,
) -> anyhow::Result<(lms_engine::PlannedRun, Vec<i64>)> {
    let options = RunOptions {
        chunk_size: 50,
        ..only(LegacyEntity::Persons)
    };
    let planned = plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    let stage: Vec<i64> = sqlx::query_scalar(
        "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.phase = 'stage' ORDER BY c.id",
    )
    .bind(planned.run_id)
    .fetch_all(fixture.lms())
    .await?;
    anyhow::ensure!(stage.len() > 1, "{} stage chunks", stage.len());
    Ok((planned, stage))
}

/// The advisory lock a chunk's commit waits on in the test below.
const COMMIT_GATE: i64 = 4242;

#[tokio::test]
async fn a_chunk_committing_while_its_run_is_cancelled_leaves_the_run_closed() -> anyhow::Result<()>
{
    let fixture = Fixture::seeded("cancelcommit", Scale::Small, 68).await?;
    let (planned, stage) = persons_in_stage_chunks_of_50(&fixture).await?;
    // The chunk's commit waits on a lock this test holds: the cancel comes
    // while the chunk, its work done, is committing.
    fixture
        .lms_sql(&format!(
            "CREATE FUNCTION wait_for_the_gate() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN PERFORM pg_advisory_xact_lock({COMMIT_GATE}); RETURN NULL; END $$; \
             CREATE CONSTRAINT TRIGGER commit_waits AFTER UPDATE ON migration.chunks \
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW \
             WHEN (NEW.id = {} AND NEW.state = 'done') EXECUTE FUNCTION wait_for_the_gate();",
            stage[0]
        ))
        .await?;
    let mut gate = sqlx::PgConnection::connect(fixture.settings.database.url.expose()).await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(COMMIT_GATE)
        .execute(&mut gate)
        .await?;
    let engine = fixture.engine.clone();
    let chunk = stage[0];
    let running = tokio::spawn(async move { run_chunk(&engine, chunk).await });
    wait_for(&fixture, "wait_event = 'advisory'").await?;

    let lms = fixture.lms().clone();
    let run_id = planned.run_id;
    let cancel =
        tokio::spawn(async move { lms_engine::control::cancel_run(&lms, run_id, None).await });
    // The cancel either ends or waits for the committing chunk.
    for _ in 0..600 {
        if cancel.is_finished() || waiting(&fixture, "wait_event <> 'advisory'").await? {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(COMMIT_GATE)
        .execute(&mut gate)
        .await?;
    let ran = running.await??;
    cancel.await??;

    assert!(matches!(ran, ChunkOutcome::Done(_)), "{ran:?}");
    let status: RunStatus = sqlx::query_scalar("SELECT status FROM migration.runs WHERE id = $1")
        .bind(planned.run_id)
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(status, RunStatus::Cancelled);
    fixture.close().await
}

/// Whether a session of the test's LMS database waits on a lock, as
/// `condition` (on `pg_stat_activity`) narrows it.
async fn waiting(fixture: &Fixture, condition: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
         AND wait_event_type = 'Lock' AND {condition})"
    )))
    .fetch_one(fixture.lms())
    .await?)
}

/// Waits (up to 30 s) until a session waits on a lock as `condition` says.
async fn wait_for(fixture: &Fixture, condition: &str) -> anyhow::Result<()> {
    for _ in 0..600 {
        if waiting(fixture, condition).await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("no session waited on a lock ({condition}) within 30 s")
}

/// A chunk still running when another chunk fails its run commits none of
/// its work: the run is no longer active, so a later run may already be
/// recording the changes that work would clear.
#[tokio::test]
async fn a_chunk_running_when_its_run_fails_commits_none_of_its_work() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("failwhilerunning", Scale::Small, 69).await?;
    let (planned, stage) = persons_in_stage_chunks_of_50(&fixture).await?;
    // The first stage chunk waits inside its work for the staging table.
    let staging = lock_table(&fixture, "migration.stage_persons").await?;
    let engine = fixture.engine.clone();
    let chunk = stage[0];
    let running = tokio::spawn(async move { run_chunk(&engine, chunk).await });
    wait_for(&fixture, "query ILIKE '%stage_persons%'").await?;

    let failed =
        lms_engine::progress::fail_chunk(fixture.lms(), planned.run_id, stage[1], "a test").await?;
    anyhow::ensure!(failed, "the second stage chunk failed nothing");
    staging.close().await?;
    let ran = running.await??;

    assert!(matches!(ran, ChunkOutcome::Skipped(_)), "{ran:?}");
    let staged: i64 = sqlx::query_scalar("SELECT count(*) FROM migration.stage_persons")
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(staged, 0, "the chunk's staged rows were committed");
    fixture.close().await
}
