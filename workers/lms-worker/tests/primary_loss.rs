//! A migration run never fails over: when the LMS primary goes away mid-run
//! the worker pauses and retries, and the run finishes on the primary once
//! it is back, every legacy row accounted for.

use lms_engine::RunStatus;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lms_data::{Database, schema};
use lms_engine::report;
use lms_engine::setup::connect_queue;
use lms_engine::{RunKind, RunOptions, start_run};
use lms_legacy::{Scale, SeedOptions, seed_legacy_database};
use lms_testkit::{TempCluster, TestDatabase, TestRedis, test_settings};
use sqlx::PgPool;
use tokio::process::{Child, Command};
use uuid::Uuid;

fn spawn_worker(settings: &lms_config::Settings) -> anyhow::Result<Child> {
    Ok(Command::new(env!("CARGO_BIN_EXE_lms-worker"))
        .env_remove("LMS_CONFIG")
        .env("LMS_DATABASE__URL", settings.database.url.expose())
        .env("LMS_DATABASE__CONNECT_TIMEOUT", "1s")
        .env("LMS_DATABASE__ACQUIRE_TIMEOUT", "1s")
        .env("LMS_LEGACY__URL", settings.legacy.url.expose())
        .env("LMS_REDIS__URL", settings.redis.url.expose())
        .env("LMS_REDIS__NAMESPACE", &settings.redis.namespace)
        .env("LMS_WORKER__CONCURRENCY", "2")
        .env("LMS_WORKER__POLL_INTERVAL", "50ms")
        .env("LMS_MIGRATION__REQUEUE_AFTER", "2s")
        .env("LMS_MIGRATION__SWEEP_INTERVAL", "500ms")
        .env("LMS_MIGRATION__RETRY_BASE_DELAY", "100ms")
        .env("LMS_MIGRATION__RETRY_MAX_DELAY", "1s")
        .env("LMS_METRICS__ENABLED", "false")
        .env("LMS_LOG__FILTER", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?)
}

async fn chunks_done(lms: &PgPool, run: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM migration.chunks WHERE run_id = $1 AND state = 'done'")
        .bind(run)
        .fetch_one(lms)
        .await
        .unwrap_or(0)
}

#[tokio::test]
async fn a_run_waits_for_its_primary_and_finishes_there() -> anyhow::Result<()> {
    let primary = TempCluster::primary("runprimary").await?;
    lms_pg::admin::ensure_database(&primary.url("lms")?).await?;
    let legacy = TestDatabase::create("runlossedu").await?;
    seed_legacy_database(
        legacy.url(),
        SeedOptions {
            scale: Scale::Small,
            seed: 5,
            force: true,
        },
    )
    .await?;
    let redis = TestRedis::new("runloss");
    let settings = test_settings(
        &primary.url("lms")?,
        legacy.url(),
        redis.url(),
        redis.namespace(),
    )?;
    let db = Database::connect(
        &settings.database.url,
        &lms_pg::PoolConfig::small("primary-loss"),
    )
    .await?;
    schema::upgrade(&db).await?;
    let lms = db.pool().clone();
    let legacy_pool =
        lms_pg::connect(legacy.url(), &lms_pg::PoolConfig::small("primary-loss")).await?;
    let queue = connect_queue(&settings).await?;

    let mut worker = spawn_worker(&settings)?;
    // Small chunks, so that the outage lands in the middle of the run.
    let planned = start_run(
        &lms,
        &legacy_pool,
        &queue,
        &RunOptions {
            entities: Vec::new(),
            chunk_size: 150,
            max_chunks: lms_config::MigrationSettings::DEFAULT_MAX_CHUNKS,
            request: None,
            kind: RunKind::Full,
            on_conflict: lms_engine::ConflictPolicy::KeepLms,
            hold: None,
        },
    )
    .await?;
    let started = Instant::now();
    while chunks_done(&lms, planned.run_id).await < 5 {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "the run did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM migration.chunks WHERE run_id = $1 AND state <> 'done'",
    )
    .bind(planned.run_id)
    .fetch_one(&lms)
    .await?;
    anyhow::ensure!(left > 0, "the run ended before the outage");
    // An immediate stop is a crash: recovery runs when the primary returns.
    primary.stop().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    primary.start().await?;

    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        let run: Option<(RunStatus, Option<String>)> =
            sqlx::query_as("SELECT status, error FROM migration.runs WHERE id = $1")
                .bind(planned.run_id)
                .fetch_optional(&lms)
                .await
                .unwrap_or(None);
        match run {
            Some((RunStatus::Running, _)) => {}
            None => {}
            Some(ended) => break ended,
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the run did not end after the primary came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        status.0,
        RunStatus::Succeeded,
        "the run ended with {:?}",
        status.1
    );
    let coverage = report::build(&lms, planned.run_id).await?;
    assert_eq!(coverage.unexplained(), 0);
    assert!(
        coverage
            .entities
            .iter()
            .all(|entity| entity.legacy_rows == entity.explained())
    );
    // The first run loads in bulk, its staging unlogged: whatever the crash
    // interrupted, every index and key is back and valid.
    let broken: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pg_constraint WHERE NOT convalidated) \
              + (SELECT count(*) FROM pg_index WHERE NOT indisvalid) \
              + (SELECT count(*) FROM migration.deferred_ddl) \
              + (SELECT count(*) FROM migration.bulk_loads)",
    )
    .fetch_one(&lms)
    .await?;
    assert_eq!(
        broken, 0,
        "keys, indexes and bulk-load records after the crash"
    );

    worker.kill().await?;
    lms.close().await;
    legacy_pool.close().await;
    redis.clean().await?;
    drop(primary);
    legacy.drop_now().await
}
