//! The worker's Prometheus endpoint, scraped while a run moves: run
//! progress per table, chunk timings, queue depth and pool occupancy.

use lms_engine::RunStatus;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lms_data::{Database, schema};
use lms_engine::setup::connect_queue;
use lms_engine::{RunKind, RunOptions, start_run};
use lms_legacy::{Scale, SeedOptions, seed_legacy_database};
use lms_testkit::{Scrape, TestDatabase, TestRedis, free_local_address, test_settings};
use tokio::process::Command;

/// The first scrape whose gauges show the run ended with every chunk done
/// and the queue drained: the gauges are refreshed on a timer
/// (`metrics.refresh_interval`), not by the scrape, so the first scrapes
/// after the run may be behind it; and a chunk that ran ahead of its turn
/// (`chunk::ahead`) leaves its queue entry behind, which the worker takes
/// and skips after the run has ended.
async fn scrape_after_refresh(
    address: std::net::SocketAddr,
    deadline: Instant,
) -> anyhow::Result<Scrape> {
    loop {
        let scrape = Scrape::fetch(address).await?;
        let done = scrape.sum("lms_migration_chunks_done", &[]);
        let total = scrape.sum("lms_migration_chunks_total", &[]);
        let drained = scrape.sum("lms_queue_depth", &[]) == 0.0;
        if scrape.sum("lms_migration_run_active", &[]) == 0.0
            && total > 0.0
            && done == total
            && drained
        {
            return Ok(scrape);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the gauges did not show the run ended and the queue drained: {scrape:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn metrics_show_a_run_while_it_runs() -> anyhow::Result<()> {
    let lms_db = TestDatabase::create("metricslms").await?;
    let legacy_db = TestDatabase::create("metricsedu").await?;
    seed_legacy_database(
        legacy_db.url(),
        SeedOptions {
            scale: Scale::Small,
            seed: 3,
            force: true,
        },
    )
    .await?;
    let redis = TestRedis::new("metrics");
    let settings = test_settings(
        lms_db.url(),
        legacy_db.url(),
        redis.url(),
        redis.namespace(),
    )?;
    let db = Database::connect(lms_db.url(), &lms_pg::PoolConfig::small("metrics-test")).await?;
    schema::upgrade(&db).await?;
    let lms = db.pool().clone();
    let legacy =
        lms_pg::connect(legacy_db.url(), &lms_pg::PoolConfig::small("metrics-test")).await?;
    let queue = connect_queue(&settings).await?;

    let address = free_local_address()?;
    let mut worker = Command::new(env!("CARGO_BIN_EXE_lms-worker"))
        .env_remove("LMS_CONFIG")
        .env("LMS_DATABASE__URL", settings.database.url.expose())
        .env("LMS_LEGACY__URL", settings.legacy.url.expose())
        .env("LMS_REDIS__URL", settings.redis.url.expose())
        .env("LMS_REDIS__NAMESPACE", &settings.redis.namespace)
        .env("LMS_WORKER__CONCURRENCY", "1")
        .env("LMS_WORKER__POLL_INTERVAL", "50ms")
        .env("LMS_METRICS__LISTEN", address.to_string())
        .env("LMS_METRICS__REFRESH_INTERVAL", "100ms")
        .env("LMS_LOG__FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;

    // The endpoint answers before any run exists.
    let started = Instant::now();
    let idle = loop {
        match Scrape::fetch(address).await {
            Ok(scrape) => break scrape,
            Err(error) if started.elapsed() > Duration::from_secs(30) => return Err(error),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    assert_eq!(idle.sum("lms_migration_run_active", &[]), 0.0);
    assert!(idle.has("lms_db_pool_connections"), "{idle:?}");

    // Small chunks on one worker slot, so the run is seen half-way.
    let planned = start_run(
        &lms,
        &legacy,
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
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seen_midway = None;
    let finished = loop {
        let scrape = Scrape::fetch(address).await?;
        let done = scrape.sum("lms_migration_chunks_done", &[]);
        let total = scrape.sum("lms_migration_chunks_total", &[]);
        if scrape.sum("lms_migration_run_active", &[]) == 1.0 && done > 0.0 && done < total {
            seen_midway.get_or_insert((done, total, scrape.clone()));
        }
        let status: RunStatus =
            sqlx::query_scalar("SELECT status FROM migration.runs WHERE id = $1")
                .bind(planned.run_id)
                .fetch_one(&lms)
                .await?;
        if status != RunStatus::Running {
            assert_eq!(status, RunStatus::Succeeded);
            break scrape_after_refresh(address, deadline).await?;
        }
        anyhow::ensure!(Instant::now() < deadline, "the run did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    let (done, total, midway) = seen_midway.ok_or_else(|| {
        anyhow::anyhow!("no scrape caught the run between its first and last chunk")
    })?;
    assert!(done < total, "{done} of {total}");
    // Progress is per table and phase: the journal's apply step is there.
    assert!(
        midway
            .find(
                "lms_migration_chunks_total",
                &[("entity", "journal"), ("phase", "apply")]
            )
            .next()
            .is_some(),
        "{midway:?}"
    );

    // After the run: every chunk done, each one timed, none failed.
    let chunks: i64 = sqlx::query_scalar("SELECT count(*) FROM migration.chunks WHERE run_id = $1")
        .bind(planned.run_id)
        .fetch_one(&lms)
        .await?;
    assert_eq!(finished.sum("lms_migration_run_active", &[]), 0.0);
    assert_eq!(
        finished.sum("lms_migration_chunks_done", &[]),
        chunks as f64
    );
    assert_eq!(
        finished.sum("lms_migration_chunks_total", &[]),
        chunks as f64
    );
    // A chunk is timed each time it commits; a chunk another worker slot
    // already holds is skipped, not timed.
    assert!(finished.sum("lms_chunk_duration_seconds_count", &[]) >= chunks as f64);
    // (The queue drained: `scrape_after_refresh` waited for it.)
    assert_eq!(finished.sum("lms_chunk_failures_total", &[]), 0.0);
    for endpoint in ["primary", "legacy"] {
        assert!(
            finished
                .find(
                    "lms_db_pool_connections",
                    &[("endpoint", endpoint), ("state", "idle")]
                )
                .next()
                .is_some(),
            "no pool gauge for {endpoint}"
        );
    }

    worker.kill().await?;
    lms.close().await;
    legacy.close().await;
    redis.clean().await?;
    lms_db.drop_now().await?;
    legacy_db.drop_now().await
}
