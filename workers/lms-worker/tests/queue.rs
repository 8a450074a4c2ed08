//! The engine through the real queue: worker processes, a Redis namespace of
//! the test's own, and the crashes workers and Redis go through.

// Rows read back from SQL are tuples; naming each shape would add nothing.
#![allow(clippy::type_complexity)]

#[path = "../../../crates/lms-engine/tests/support/mod.rs"]
mod support;

use lms_engine::RunStatus;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lms_engine::setup::connect_queue;
use lms_engine::{ChunkQueue, RunOptions, start_run};
use lms_legacy::Scale;
use lms_testkit::free_port;
use sqlx::{PgPool, Row};
use support::Fixture;
use support::fingerprint::fingerprint;
use support::queue_payloads::rewrite_job_payload;
use tokio::process::{Child, Command};
use uuid::Uuid;

/// Starts an `lms-worker` process configured for the fixture.
fn spawn_worker(fixture: &Fixture, redis_url: &str) -> anyhow::Result<Child> {
    spawn_worker_running(fixture, redis_url, 2, Recovery::Quick)
}

/// How soon a worker process takes back chunks that seem lost.
#[derive(Debug, Clone, Copy)]
enum Recovery {
    /// Within seconds (a chunk queued 2 s ago and not started is queued
    /// again; a worker silent for 2 s is dead): the tests that kill workers
    /// and lose Redis.
    Quick,
    /// Not within a test: on a loaded machine, a chunk queued again or
    /// taken back from a worker that only seemed dead would go to the back
    /// of the queue, which a test of the queue's order must not see.
    Patient,
}

/// Starts an `lms-worker` process that runs `concurrency` jobs at once.
fn spawn_worker_running(
    fixture: &Fixture,
    redis_url: &str,
    concurrency: u16,
    recovery: Recovery,
) -> anyhow::Result<Child> {
    Ok(worker_command(fixture, redis_url, concurrency, recovery).spawn()?)
}

/// The command that starts an `lms-worker` process configured for the
/// fixture, running `concurrency` jobs at once.
fn worker_command(
    fixture: &Fixture,
    redis_url: &str,
    concurrency: u16,
    recovery: Recovery,
) -> Command {
    let (requeue_after, missed_heartbeats) = match recovery {
        Recovery::Quick => ("2s", "2"),
        Recovery::Patient => ("1h", "100"),
    };
    let settings = &fixture.settings;
    let mut command = Command::new(env!("CARGO_BIN_EXE_lms-worker"));
    command
        .env_remove("LMS_CONFIG")
        .env("LMS_DATABASE__URL", settings.database.url.expose())
        .env("LMS_LEGACY__URL", settings.legacy.url.expose())
        .env("LMS_REDIS__URL", redis_url)
        .env("LMS_REDIS__NAMESPACE", &settings.redis.namespace)
        .env("LMS_WORKER__CONCURRENCY", concurrency.to_string())
        .env("LMS_WORKER__POLL_INTERVAL", "50ms")
        .env("LMS_WORKER__HEARTBEAT_INTERVAL", "1s")
        .env("LMS_WORKER__MISSED_HEARTBEATS", missed_heartbeats)
        .env("LMS_MIGRATION__REQUEUE_AFTER", requeue_after)
        .env("LMS_MIGRATION__SWEEP_INTERVAL", "500ms")
        .env("LMS_MIGRATION__RETRY_BASE_DELAY", "100ms")
        .env("LMS_MIGRATION__RETRY_MAX_DELAY", "1s")
        .env("LMS_METRICS__ENABLED", "false")
        .env("LMS_LOG__FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}

async fn wait_for_run(lms: &PgPool, run_id: Uuid, limit: Duration) -> anyhow::Result<RunStatus> {
    let deadline = Instant::now() + limit;
    loop {
        let status: RunStatus = sqlx::query("SELECT status FROM migration.runs WHERE id = $1")
            .bind(run_id)
            .fetch_one(lms)
            .await?
            .get(0);
        if status != RunStatus::Running {
            return Ok(status);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "run {run_id} still running after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (at most 30 s) until `count` worker processes have sent a
/// heartbeat.
async fn wait_for_workers(queue: &ChunkQueue, count: usize) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while queue.alive_workers().await?.len() < count {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{count} workers did not start within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn options(chunk_size: u32) -> RunOptions {
    RunOptions {
        entities: Vec::new(),
        chunk_size,
        max_chunks: lms_config::MigrationSettings::DEFAULT_MAX_CHUNKS,
        request: None,
        kind: lms_engine::RunKind::Full,
        on_conflict: lms_engine::ConflictPolicy::KeepLms,
        hold: None,
    }
}

#[tokio::test]
async fn two_worker_processes_share_a_run() -> anyhow::Result<()> {
    let queued = Fixture::seeded("queue", Scale::Small, 31).await?;
    let reference = Fixture::seeded("queueref", Scale::Small, 31).await?;
    let redis_url = queued.settings.redis.url.expose().to_owned();
    let mut workers = vec![
        spawn_worker(&queued, &redis_url)?,
        spawn_worker(&queued, &redis_url)?,
    ];
    let queue = connect_queue(&queued.settings).await?;
    // Both are listening before the chunks are queued: a process slow to
    // start would otherwise find the other one done with them.
    wait_for_workers(&queue, 2).await?;
    let planned = start_run(queued.lms(), queued.legacy(), &queue, &options(300)).await?;
    let status = wait_for_run(queued.lms(), planned.run_id, Duration::from_secs(180)).await?;
    assert_eq!(status, RunStatus::Succeeded);
    let workers_used: i64 =
        sqlx::query("SELECT count(DISTINCT worker) FROM migration.chunks WHERE run_id = $1")
            .bind(planned.run_id)
            .fetch_one(queued.lms())
            .await?
            .get(0);
    assert_eq!(workers_used, 2, "both processes ran chunks");
    assert_eq!(reference.migrate(300).await?.status, RunStatus::Succeeded);
    assert_eq!(
        fingerprint(queued.lms()).await?,
        fingerprint(reference.lms()).await?
    );
    for worker in &mut workers {
        worker.start_kill()?;
    }
    queued.close().await?;
    reference.close().await
}

/// A worker takes a run's chunks in the order the plan queued them (its
/// tables in dependency order, each table's ranges in order). apalis's own
/// job ids are random within a millisecond, and jobs pushed together left
/// the queue in any order.
#[tokio::test]
async fn a_worker_takes_chunks_in_the_order_they_were_queued() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("queueorder", Scale::Small, 37).await?;
    let redis_url = fixture.settings.redis.url.expose().to_owned();
    let queue = connect_queue(&fixture.settings).await?;
    // Every stage chunk is queued by the plan, in one push, before a
    // worker is up.
    let planned = start_run(fixture.lms(), fixture.legacy(), &queue, &options(100)).await?;
    let mut worker = spawn_worker_running(&fixture, &redis_url, 1, Recovery::Patient)?;
    let status = wait_for_run(fixture.lms(), planned.run_id, Duration::from_secs(180)).await?;
    assert_eq!(status, RunStatus::Succeeded);
    let started: Vec<i64> = sqlx::query_scalar(
        "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.phase = 'stage' ORDER BY c.started_at",
    )
    .bind(planned.run_id)
    .fetch_all(fixture.lms())
    .await?;
    assert!(started.len() >= 10, "{} stage chunks", started.len());
    assert_eq!(started, planned.queued_chunks);
    worker.start_kill()?;
    fixture.close().await
}

/// Polls `query` (one bound parameter, `$1`: the run) until it returns a
/// chunk id, for at most `limit`.
async fn wait_for_chunk(
    lms: &PgPool,
    query: &'static str,
    run_id: Uuid,
    limit: Duration,
    what: &str,
) -> anyhow::Result<i64> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(chunk) = sqlx::query_scalar(query)
            .bind(run_id)
            .fetch_optional(lms)
            .await?
        {
            return Ok(chunk);
        }
        anyhow::ensure!(Instant::now() < deadline, "no {what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The journal's resolve, done.
const JOURNAL_RESOLVED: &str = "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
     WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'resolve' AND c.state = 'done' \
     ORDER BY c.id LIMIT 1";

/// No journal apply chunk is left to run: none to catch half-way.
const JOURNAL_APPLIED: &str = "SELECT count(*) FILTER (WHERE c.state IN ('waiting', 'queued')) = 0 \
     FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
     WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'apply'";

/// A journal apply chunk claimed once, whose transaction waits for a lock
/// in its bulk statement: half-way, and unable to commit.
const JOURNAL_APPLY_WAITING: &str = "SELECT c.id FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
     WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'apply' AND c.state = 'queued' AND c.attempts = 1 \
       AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = current_database() \
                   AND a.application_name = 'lms-engine' AND a.wait_event_type = 'Lock' \
                   AND a.query LIKE '%apply_rows%') \
     ORDER BY c.id LIMIT 1";

/// Rows per chunk for the killed worker's run: its journal has a dozen
/// apply chunks, too many to all end while the test takes its lock.
const CHUNK: u32 = 2_000;

#[tokio::test]
async fn a_worker_killed_mid_chunk_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let scale = Scale::Times(0.05);
    let disturbed = Fixture::seeded("sigkill", scale, 41).await?;
    let undisturbed = Fixture::seeded("sigkillref", scale, 41).await?;
    let redis_url = disturbed.settings.redis.url.expose().to_owned();
    let mut first = spawn_worker(&disturbed, &redis_url)?;
    let queue = connect_queue(&disturbed.settings).await?;
    let planned = start_run(disturbed.lms(), disturbed.legacy(), &queue, &options(CHUNK)).await?;
    // Once the journal is resolved (its resolve also writes the
    // enrollments, flagging rows legacy deleted), the enrollments, which
    // the journal's apply chunks write, are locked against writes: the apply
    // chunks then wait in their bulk statement, uncommitted, for as long as
    // the test holds the lock (behind the lock's request, any chunk that
    // already holds the table ends first), and are surely cut short.
    let limit = Duration::from_secs(120);
    let (lms, run_id) = (disturbed.lms(), planned.run_id);
    wait_for_chunk(lms, JOURNAL_RESOLVED, run_id, limit, "journal resolve").await?;
    let mut lock = lms.begin().await?;
    sqlx::raw_sql("LOCK TABLE course_enrollments IN SHARE MODE")
        .execute(&mut *lock)
        .await?;
    let all_applied: bool = sqlx::query_scalar(JOURNAL_APPLIED)
        .bind(run_id)
        .fetch_one(lms)
        .await?;
    anyhow::ensure!(
        !all_applied,
        "every journal apply chunk committed before the test's lock was granted"
    );
    let victim = wait_for_chunk(lms, JOURNAL_APPLY_WAITING, run_id, limit, "waiting apply").await?;
    first.start_kill()?; // SIGKILL
    first.wait().await?;
    lock.rollback().await?;
    let mut second = spawn_worker(&disturbed, &redis_url)?;
    let status = wait_for_run(disturbed.lms(), planned.run_id, Duration::from_secs(240)).await?;
    assert_eq!(status, RunStatus::Succeeded);
    let attempts: i32 = sqlx::query("SELECT attempts FROM migration.chunks WHERE id = $1")
        .bind(victim)
        .fetch_one(disturbed.lms())
        .await?
        .get(0);
    assert!(
        attempts >= 2,
        "the killed chunk ran again (attempts {attempts})"
    );
    assert_eq!(
        undisturbed.migrate(CHUNK).await?.status,
        RunStatus::Succeeded
    );
    assert_eq!(
        fingerprint(disturbed.lms()).await?,
        fingerprint(undisturbed.lms()).await?,
        "the LMS tables and the ledger equal those of an undisturbed run"
    );
    second.start_kill()?;
    disturbed.close().await?;
    undisturbed.close().await
}

/// A Redis server of the test's own, on a free port, that can be stopped.
struct PrivateRedis {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    fn start(port: u16, dir: std::path::PathBuf) -> anyhow::Result<PrivateRedis> {
        let mut redis = PrivateRedis {
            port,
            dir,
            child: None,
        };
        redis.restart()?;
        Ok(redis)
    }

    fn restart(&mut self) -> anyhow::Result<()> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()?;
        self.child = Some(child);
        std::thread::sleep(Duration::from_millis(300));
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn a_run_survives_a_redis_restart() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("redisrestart", Scale::Times(0.03), 51).await?;
    let dir = std::env::temp_dir().join(format!("lms-redis-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let mut redis = PrivateRedis::start(free_port()?, dir.clone())?;
    let mut settings = fixture.settings.clone();
    settings.redis.url = lms_config::RedisUrl::parse(&redis.url()).map_err(anyhow::Error::msg)?;
    let mut worker = spawn_worker(&fixture, &redis.url())?;
    let queue = connect_queue(&settings).await?;
    let planned = start_run(fixture.lms(), fixture.legacy(), &queue, &options(2_000)).await?;
    // Let the run get going, then lose Redis and everything queued in it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: i64 = sqlx::query(
            "SELECT count(*) FROM migration.chunks WHERE run_id = $1 AND state = 'done'",
        )
        .bind(planned.run_id)
        .fetch_one(fixture.lms())
        .await?
        .get(0);
        if done >= 3 {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the run did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    redis.stop();
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis.restart()?;
    let status = wait_for_run(fixture.lms(), planned.run_id, Duration::from_secs(240)).await?;
    assert_eq!(status, RunStatus::Succeeded);
    let report = fixture.report(planned.run_id).await?;
    assert!(report.entities.iter().all(|entity| entity.unexplained == 0));
    worker.start_kill()?;
    redis.stop();
    let _ = std::fs::remove_dir_all(dir);
    fixture.close().await
}

/// apalis decodes a worker's whole fetch at once: a job that is not a chunk
/// job (pushed by hand, or by a version that wrote another shape) stops the
/// worker that fetches it, and comes back to stop it again. The sweeper sets
/// it aside, and the chunk it displaced runs.
#[tokio::test]
async fn a_job_no_worker_can_read_is_set_aside_and_the_run_finishes() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("unreadablejob", Scale::Small, 53).await?;
    let redis_url = fixture.settings.redis.url.expose().to_owned();
    let queue = connect_queue(&fixture.settings).await?;
    let planned = start_run(fixture.lms(), fixture.legacy(), &queue, &options(300)).await?;
    let displaced = *planned
        .queued_chunks
        .first()
        .ok_or_else(|| anyhow::anyhow!("the run queued nothing"))?;
    rewrite_job_payload(&fixture.settings, &queue, displaced, b"not a chunk job").await?;
    let mut worker = spawn_worker(&fixture, &redis_url)?;

    let status = wait_for_run(fixture.lms(), planned.run_id, Duration::from_secs(180)).await?;

    assert_eq!(status, RunStatus::Succeeded);
    let deadline = Instant::now() + Duration::from_secs(30);
    let unreadable = loop {
        let unreadable = queue.unreadable_jobs().await?;
        if !unreadable.is_empty() || Instant::now() > deadline {
            break unreadable;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let payloads: Vec<&str> = unreadable.iter().map(|job| job.payload.as_str()).collect();
    assert_eq!(payloads, ["not a chunk job"]);
    worker.start_kill()?;
    fixture.close().await
}

#[tokio::test]
async fn a_worker_removes_the_change_logs_past_the_undo_history() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("queueprune", Scale::Small, 37).await?;
    assert_eq!(fixture.migrate(300).await?.status, RunStatus::Succeeded);
    let mut deltas = Vec::new();
    for edited in [1, 2] {
        fixture
            .legacy_sql(&format!(
                "UPDATE users SET email = 'prune{edited}.' || id || '@mail.kz' WHERE id % 50 = {edited}"
            ))
            .await?;
        let report = fixture
            .rerun(300, lms_engine::ConflictPolicy::KeepLms, 2)
            .await?;
        assert_eq!(report.status, RunStatus::Succeeded);
        deltas.push(report.run_id);
    }
    let redis_url = fixture.settings.redis.url.expose().to_owned();
    let mut worker = worker_command(&fixture, &redis_url, 1, Recovery::Patient)
        .env("LMS_MIGRATION__UNDO_HISTORY", "1")
        .spawn()?;
    let marked = "SELECT changes_pruned_at IS NOT NULL FROM migration.runs WHERE id = $1";
    let deadline = Instant::now() + Duration::from_secs(60);
    let older_marked = loop {
        let older_marked: bool = sqlx::query_scalar(marked)
            .bind(deltas[0])
            .fetch_one(fixture.lms())
            .await?;
        if older_marked || Instant::now() > deadline {
            break older_marked;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    worker.start_kill()?;
    assert!(
        older_marked,
        "the older delta's log was not removed within 60 s"
    );
    let latest_marked: bool = sqlx::query_scalar(marked)
        .bind(deltas[1])
        .fetch_one(fixture.lms())
        .await?;
    assert!(!latest_marked, "the latest delta stays undoable");
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM migration.run_change_events WHERE run_id = $1")
            .bind(deltas[0])
            .fetch_one(fixture.lms())
            .await?;
    assert_eq!(events, 0);
    fixture.close().await
}
