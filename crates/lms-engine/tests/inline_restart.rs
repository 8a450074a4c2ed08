//! `lmsctl migrate run --inline` across a restart of the LMS database: the
//! in-process runner and the view that follows it wait out the transient
//! errors, and the run finishes, instead of ending and leaving an active
//! run nobody runs.

use std::time::{Duration, Instant};

use lms_domain::LegacyEntity;
use lms_engine::inline::run_inline;
use lms_engine::setup::connect_engine;
use lms_engine::{EngineContext, RetryPolicy, RunOptions, RunStatus, follow_run, plan_run};
use lms_legacy::{Scale, SeedOptions, seed_legacy_database};
use lms_testkit::{TempCluster, TestDatabase, TestRedis, test_settings};

#[tokio::test]
async fn an_inline_run_and_its_follower_wait_out_a_restart_of_the_lms_database()
-> anyhow::Result<()> {
    let legacy_db = TestDatabase::create("inlinerestartedu").await?;
    seed_legacy_database(
        legacy_db.url(),
        SeedOptions {
            scale: Scale::Small,
            seed: 71,
            force: false,
        },
    )
    .await?;
    let cluster = TempCluster::primary("inlinerestart").await?;
    lms_pg::admin::ensure_database(&cluster.url("lms")?).await?;
    let db = lms_data::Database::connect(
        &cluster.url("lms")?,
        &lms_pg::PoolConfig::small("inline-test"),
    )
    .await?;
    lms_data::schema::upgrade(&db).await?;
    db.pool().close().await;
    let redis = TestRedis::new("inlinerestart");
    let mut settings = test_settings(
        &cluster.url("lms")?,
        legacy_db.url(),
        redis.url(),
        redis.namespace(),
    )?;
    // While the database is down, asking the pool fails within 300 ms
    // (sqlx would otherwise wait out a short restart itself, and the
    // runner would never see it).
    settings.database.acquire_timeout = Duration::from_millis(300);
    // Patient enough for a slow restart on a busy machine: about 30 s.
    let engine = EngineContext {
        retry: RetryPolicy {
            max_attempts: 32,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
        },
        ..connect_engine(&settings, "test-inlinerestart".to_owned(), 2).await?
    };
    let options = RunOptions {
        entities: vec![LegacyEntity::Organizations, LegacyEntity::Persons],
        chunk_size: 20,
        max_chunks: lms_config::MigrationSettings::DEFAULT_MAX_CHUNKS,
        request: None,
        kind: lms_engine::RunKind::Full,
        on_conflict: lms_engine::ConflictPolicy::KeepLms,
        hold: None,
    };
    let planned = plan_run(&engine.lms, &engine.legacy, &options).await?;
    let running = {
        let engine = engine.clone();
        tokio::spawn(async move { run_inline(&engine, planned.run_id, 2).await })
    };
    let following = {
        let lms = engine.lms.clone();
        tokio::spawn(async move { follow_run(&lms, planned.run_id, |_| {}).await })
    };
    wait_for_a_chunk_done(&engine, planned.run_id).await?;
    anyhow::ensure!(!running.is_finished(), "the run ended before the restart");

    cluster.stop().await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.start().await?;
    let status = tokio::time::timeout(Duration::from_secs(120), running).await???;
    let followed = tokio::time::timeout(Duration::from_secs(30), following).await???;

    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(followed.status, RunStatus::Succeeded);
    engine.lms.close().await;
    engine.legacy.close().await;
    legacy_db.drop_now().await
}

/// Waits (at most 60 s) until a chunk of `run` is done.
async fn wait_for_a_chunk_done(engine: &EngineContext, run: uuid::Uuid) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM migration.chunks WHERE run_id = $1 AND state = 'done'",
        )
        .bind(run)
        .fetch_one(&engine.lms)
        .await?;
        if done > 0 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(60),
            "no chunk was done within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
