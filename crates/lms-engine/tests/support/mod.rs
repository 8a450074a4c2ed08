//! Shared by the engine's integration tests: a legacy database and an LMS
//! database of the test's own, and ways to run and inspect migrations.
#![allow(dead_code, clippy::type_complexity)]

pub mod arbitrary;
pub mod fingerprint;
pub mod journal_rows;
pub mod queue_payloads;
pub mod school;

use std::time::Duration;

use lms_config::Settings;
use lms_data::{Database, schema};
use lms_engine::inline::run_inline;
use lms_engine::setup::connect_engine;
use lms_engine::{
    ChunkOutcome, ConflictPolicy, CoverageReport, EngineContext, RunOptions, plan_run, report,
    run_chunk,
};
use lms_legacy::{Scale, SeedOptions, seed_legacy_database};
use lms_testkit::{TestDatabase, TestRedis, test_settings};
use sqlx::PgPool;
use uuid::Uuid;

/// A legacy database, an LMS database with the schema applied, and a Redis
/// namespace, all of one test's own.
pub struct Fixture {
    pub legacy_db: TestDatabase,
    pub lms_db: TestDatabase,
    pub redis: TestRedis,
    pub settings: Settings,
    pub engine: EngineContext,
}

impl Fixture {
    /// A legacy database generated at `scale` with `seed`.
    pub async fn seeded(purpose: &str, scale: Scale, seed: u64) -> anyhow::Result<Fixture> {
        let legacy_db = TestDatabase::create(&format!("{purpose}edu")).await?;
        seed_legacy_database(
            legacy_db.url(),
            SeedOptions {
                scale,
                seed,
                force: false,
            },
        )
        .await?;
        Self::around(purpose, legacy_db).await
    }

    /// A legacy database with the schema and no rows (tests insert their own).
    pub async fn empty_legacy(purpose: &str) -> anyhow::Result<Fixture> {
        let legacy_db = TestDatabase::create(&format!("{purpose}edu")).await?;
        let pool = lms_pg::connect(legacy_db.url(), &lms_pg::PoolConfig::small("test")).await?;
        sqlx::raw_sql(lms_legacy::LEGACY_SCHEMA_SQL)
            .execute(&pool)
            .await?;
        pool.close().await;
        Self::around(purpose, legacy_db).await
    }

    async fn around(purpose: &str, legacy_db: TestDatabase) -> anyhow::Result<Fixture> {
        let lms_db = TestDatabase::create(&format!("{purpose}lms")).await?;
        let db = Database::connect(lms_db.url(), &lms_pg::PoolConfig::small("test")).await?;
        schema::upgrade(&db).await?;
        db.pool().close().await;
        let redis = TestRedis::new(purpose);
        let settings = test_settings(
            lms_db.url(),
            legacy_db.url(),
            redis.url(),
            redis.namespace(),
        )?;
        let engine = connect_engine(&settings, format!("test-{purpose}"), 4).await?;
        Ok(Fixture {
            legacy_db,
            lms_db,
            redis,
            settings,
            engine,
        })
    }

    pub fn lms(&self) -> &PgPool {
        &self.engine.lms
    }

    pub fn legacy(&self) -> &PgPool {
        &self.engine.legacy
    }

    /// Plans a full run and runs it in this process; returns its report.
    pub async fn migrate(&self, chunk_size: u32) -> anyhow::Result<CoverageReport> {
        self.migrate_with(RunOptions {
            entities: Vec::new(),
            chunk_size,
            max_chunks: self.settings.migration.max_chunks,
            request: None,
            kind: lms_engine::RunKind::Full,
            on_conflict: ConflictPolicy::KeepLms,
            hold: None,
        })
        .await
    }

    pub async fn migrate_with(&self, options: RunOptions) -> anyhow::Result<CoverageReport> {
        self.migrate_using(options, 3).await
    }

    /// A full run with `policy`, its chunks run `parallelism` at a time.
    pub async fn rerun(
        &self,
        chunk_size: u32,
        policy: ConflictPolicy,
        parallelism: usize,
    ) -> anyhow::Result<CoverageReport> {
        let options = RunOptions {
            chunk_size,
            on_conflict: policy,
            ..RunOptions::default()
        };
        self.migrate_using(options, parallelism).await
    }

    /// Plans a run and runs its chunks in this process, `parallelism` at a
    /// time (as that many workers would).
    pub async fn migrate_using(
        &self,
        options: RunOptions,
        parallelism: usize,
    ) -> anyhow::Result<CoverageReport> {
        let planned = plan_run(self.lms(), self.legacy(), &options).await?;
        let status = tokio::time::timeout(
            Duration::from_secs(300),
            run_inline(&self.engine, planned.run_id, parallelism),
        )
        .await??;
        let report = report::build(self.lms(), planned.run_id).await?;
        assert_eq!(status, report.status);
        Ok(report)
    }

    pub async fn report(&self, run_id: Uuid) -> anyhow::Result<CoverageReport> {
        Ok(report::build(self.lms(), run_id).await?)
    }

    /// Runs SQL against the LMS database, as another service writing to
    /// the LMS would.
    pub async fn lms_sql(&self, sql: &str) -> anyhow::Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(self.lms())
            .await?;
        Ok(())
    }

    /// Empties every unlogged table of the migration schema, as
    /// PostgreSQL's crash recovery does: staging, and the witness that
    /// staging is whole, among them.
    pub async fn crash_empties_unlogged_tables(&self) -> anyhow::Result<()> {
        self.lms_sql(
            "DO $$ DECLARE t text; BEGIN \
             FOR t IN SELECT relname FROM pg_class WHERE relnamespace = 'migration'::regnamespace \
                      AND relkind = 'r' AND relpersistence = 'u' \
             LOOP EXECUTE format('TRUNCATE migration.%I CASCADE', t); END LOOP; END $$",
        )
        .await
    }

    /// Runs SQL against the legacy database (tests own it).
    pub async fn legacy_sql(&self, sql: &str) -> anyhow::Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(self.legacy())
            .await?;
        Ok(())
    }

    pub async fn close(self) -> anyhow::Result<()> {
        self.engine.lms.close().await;
        self.engine.legacy.close().await;
        self.redis.clean().await?;
        self.lms_db.drop_now().await?;
        self.legacy_db.drop_now().await
    }
}

/// How many cases a property test runs: `PROPTEST_CASES` when set (for a
/// longer hunt), else the given number (each case migrates a database).
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(default)
}

/// One legacy row's ledger entry, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub outcome: String,
    pub reason: Option<String>,
    pub warnings: Vec<String>,
    pub survivor: Option<i64>,
    pub target_id: Option<i64>,
    pub detail: Option<String>,
}

pub async fn ledger(pool: &PgPool, entity: &str, legacy_id: i64) -> anyhow::Result<LedgerEntry> {
    let row: (String, Option<String>, Vec<String>, Option<i64>, Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT outcome, reason, warnings, survivor_legacy_id, target_id, detail FROM migration.ledger \
         WHERE entity = $1 AND legacy_id = $2",
    )
    .bind(entity)
    .bind(legacy_id)
    .fetch_one(pool)
    .await
    .map_err(|error| anyhow::anyhow!("ledger {entity} {legacy_id}: {error}"))?;
    let mut warnings = row.2;
    warnings.sort();
    Ok(LedgerEntry {
        outcome: row.0,
        reason: row.1,
        warnings,
        survivor: row.3,
        target_id: row.4,
        detail: row.5,
    })
}

/// A report's entry for one legacy table.
pub fn entity<'a>(report: &'a CoverageReport, name: &str) -> &'a report::EntityReport {
    report
        .entities
        .iter()
        .find(|entity| entity.entity == name)
        .unwrap_or_else(|| panic!("{name} missing from the report"))
}

/// Runs the run's chunks one at a time until `stop` says so for the next
/// queued one (or none is left); returns the chunk it stopped before.
pub async fn run_until(
    engine: &EngineContext,
    run_id: Uuid,
    stop: impl Fn(&str, &str) -> bool,
) -> anyhow::Result<Option<i64>> {
    loop {
        let next: Option<(i64, String, String)> = sqlx::query_as(
            "SELECT c.id, s.entity, s.phase FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
             WHERE c.run_id = $1 AND c.state = 'queued' ORDER BY c.id LIMIT 1",
        )
        .bind(run_id)
        .fetch_optional(&engine.lms)
        .await?;
        let Some((chunk, entity, phase)) = next else {
            return Ok(None);
        };
        if stop(&entity, &phase) {
            return Ok(Some(chunk));
        }
        let outcome = run_chunk(engine, chunk).await?;
        anyhow::ensure!(
            matches!(outcome, ChunkOutcome::Done(_)),
            "{entity} {phase}: {outcome:?}"
        );
    }
}

/// Plans a run (chunks of 2), runs it up to `entity`'s `phase` and cancels
/// it there, as an operator stopping it would.
pub async fn cancel_a_run_before(
    fixture: &Fixture,
    entity: &str,
    phase: &str,
) -> anyhow::Result<()> {
    let options = RunOptions {
        chunk_size: 2,
        ..RunOptions::default()
    };
    let run = plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    run_until(&fixture.engine, run.run_id, |name, at| {
        name == entity && at == phase
    })
    .await?;
    lms_engine::control::cancel_run(fixture.lms(), run.run_id, None).await?;
    Ok(())
}

/// Waits (up to 30 s) until `count` sessions of the LMS database behind
/// `lms` wait on a lock; fails at once if one of `tasks` (the sessions'
/// work) ends first.
pub async fn wait_for_lock_waiters<T>(
    lms: &PgPool,
    count: i64,
    tasks: &[tokio::task::JoinHandle<T>],
) -> anyhow::Result<()> {
    for _ in 0..600 {
        anyhow::ensure!(
            !tasks.iter().any(tokio::task::JoinHandle::is_finished),
            "a task ended before {count} sessions waited on a lock"
        );
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(lms)
        .await?;
        if waiting >= count {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::bail!("{count} sessions did not wait on a lock within 30 s")
}

/// Waits (up to 30 s) until a session of the LMS database behind `lms`
/// waits on a lock, or `task` ends first; returns whether one waited.
pub async fn waits_on_a_lock<T>(
    lms: &PgPool,
    task: &tokio::task::JoinHandle<T>,
) -> anyhow::Result<bool> {
    for _ in 0..600 {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock')",
        )
        .fetch_one(lms)
        .await?;
        if waiting {
            return Ok(true);
        }
        if task.is_finished() {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(false)
}
