//! Reads and a standby whose replay is behind: throwaway PostgreSQL
//! clusters (a primary and streaming standbys), one standby's replay paused
//! with `pg_wal_replay_pause()` while the primary writes, then the primary
//! stopped so that reads must go to a standby.

use std::time::{Duration, Instant};

use lms_config::{PostgresUrl, Settings, StandbySettings};
use lms_data::failover::{DataSource, DataSources, Replay};
use lms_data::{Database, Repository, schema};
use lms_domain::model::OrganizationId;
use lms_pg::PoolConfig;
use lms_testkit::{TempCluster, TestDatabase};
use sqlx::PgPool;

const MAX_STANDBY_LAG: Duration = Duration::from_secs(1);

/// A primary with the LMS schema, and standbys of it.
struct Clusters {
    primary: TempCluster,
    standbys: Vec<TempCluster>,
}

impl Clusters {
    async fn new(purpose: &str, standbys: usize) -> anyhow::Result<Clusters> {
        let primary = TempCluster::primary(&format!("{purpose}primary")).await?;
        let admin =
            lms_pg::connect(&primary.url("postgres")?, &PoolConfig::small("lag-test")).await?;
        sqlx::query("CREATE DATABASE lms").execute(&admin).await?;
        admin.close().await;
        let db = Database::connect(&primary.url("lms")?, &PoolConfig::small("lag-test")).await?;
        schema::upgrade(&db).await?;
        db.pool().close().await;
        let mut clusters = Clusters {
            primary,
            standbys: Vec::new(),
        };
        for index in 0..standbys {
            let standby =
                TempCluster::standby_of(&clusters.primary, &format!("{purpose}standby{index}"))
                    .await?;
            clusters.standbys.push(standby);
        }
        Ok(clusters)
    }

    fn settings(&self) -> anyhow::Result<Settings> {
        let mut settings = Settings::default();
        settings.database.url = self.primary.url("lms")?;
        settings.database.min_connections = 0;
        settings.database.connect_timeout = Duration::from_secs(1);
        settings.database.acquire_timeout = Duration::from_secs(1);
        settings.failover.probe_interval = Duration::from_secs(60);
        settings.failover.probe_timeout = Duration::from_secs(1);
        settings.failover.max_standby_lag = MAX_STANDBY_LAG;
        settings.failover.legacy_reads = false;
        for standby in &self.standbys {
            settings.database.standbys.push(StandbySettings {
                url: standby.url("lms")?,
                min_connections: None,
                max_connections: None,
                connect_timeout: None,
                acquire_timeout: None,
            });
        }
        Ok(settings)
    }
}

async fn pool(url: &PostgresUrl) -> anyhow::Result<PgPool> {
    Ok(lms_pg::connect(url, &PoolConfig::small("lag-test")).await?)
}

/// Inserts an organization on the primary and returns its id.
async fn organization_written(primary: &PgPool, name: &str) -> anyhow::Result<OrganizationId> {
    let id: i64 = sqlx::query_scalar("INSERT INTO organizations (name) VALUES ($1) RETURNING id")
        .bind(name)
        .fetch_one(primary)
        .await?;
    Ok(OrganizationId(id))
}

/// Waits until `standby` has replayed the organization `id`.
async fn replayed(standby: &PgPool, id: OrganizationId) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)")
                .bind(id.0)
                .fetch_one(standby)
                .await?;
        if found {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the standby did not replay {id:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Leaves `standby` behind the primary by more than [`MAX_STANDBY_LAG`]: a
/// write it replays (so that it has a last replayed commit), its replay
/// paused, a write it receives but does not replay, then a wait. Returns
/// the id it has not replayed.
async fn left_behind(
    primary: &PgPool,
    standby: &PgPool,
    others: &[&PgPool],
) -> anyhow::Result<OrganizationId> {
    let seen = organization_written(primary, "seen by every standby").await?;
    replayed(standby, seen).await?;
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(standby)
        .await?;
    let unseen = organization_written(primary, "not replayed by the paused standby").await?;
    for other in others {
        replayed(other, unseen).await?;
    }
    tokio::time::sleep(MAX_STANDBY_LAG * 2).await;
    Ok(unseen)
}

fn standby_states(sources: &DataSources) -> Vec<(Option<Replay>, bool)> {
    sources
        .status()
        .into_iter()
        .filter(|endpoint| endpoint.source == DataSource::Standby)
        .map(|endpoint| (endpoint.replay, endpoint.lagging))
        .collect()
}

#[tokio::test]
async fn reads_pass_over_a_standby_whose_replay_is_behind() -> anyhow::Result<()> {
    let clusters = Clusters::new("lagpassed", 2).await?;
    let primary = pool(&clusters.primary.url("lms")?).await?;
    let behind = pool(&clusters.standbys[0].url("lms")?).await?;
    let current = pool(&clusters.standbys[1].url("lms")?).await?;
    let unseen = left_behind(&primary, &behind, &[&current]).await?;
    primary.close().await;
    clusters.primary.stop().await?;

    let sources = DataSources::connect(&clusters.settings()?, "lag-test").await?;
    let repo = Repository::with_sources(sources.clone());
    let read = repo.get_organization(unseen).await;

    let states = standby_states(&sources);
    assert!(
        matches!(
            states.as_slice(),
            [(Some(Replay::Behind(Some(_))), true), (_, false)]
        ),
        "{states:?}"
    );
    assert_eq!(sources.current(), Some(DataSource::Standby));
    assert_eq!(read?.name, "not replayed by the paused standby");
    behind.close().await;
    current.close().await;
    Ok(())
}

#[tokio::test]
async fn a_standby_whose_replay_is_behind_still_serves_before_legacy() -> anyhow::Result<()> {
    let clusters = Clusters::new("lagonly", 1).await?;
    let legacy = TestDatabase::create("lagonlyedu").await?;
    let primary = pool(&clusters.primary.url("lms")?).await?;
    let behind = pool(&clusters.standbys[0].url("lms")?).await?;
    left_behind(&primary, &behind, &[]).await?;
    primary.close().await;
    clusters.primary.stop().await?;
    let mut settings = clusters.settings()?;
    settings.legacy.url = legacy.url().clone();
    settings.failover.legacy_reads = true;

    let sources = DataSources::connect(&settings, "lag-test").await?;

    let legacy_up = sources
        .status()
        .iter()
        .any(|endpoint| endpoint.source == DataSource::Legacy && endpoint.up);
    assert!(legacy_up, "{:?}", sources.status());
    assert_eq!(
        standby_states(&sources).first().map(|state| state.1),
        Some(true)
    );
    assert_eq!(sources.current(), Some(DataSource::Standby));
    behind.close().await;
    legacy.drop_now().await
}

#[tokio::test]
async fn a_standby_that_catches_up_is_passed_over_no_longer() -> anyhow::Result<()> {
    let clusters = Clusters::new("lagresumed", 2).await?;
    let primary = pool(&clusters.primary.url("lms")?).await?;
    let behind = pool(&clusters.standbys[0].url("lms")?).await?;
    let current = pool(&clusters.standbys[1].url("lms")?).await?;
    let unseen = left_behind(&primary, &behind, &[&current]).await?;
    primary.close().await;
    clusters.primary.stop().await?;
    let sources = DataSources::connect(&clusters.settings()?, "lag-test").await?;
    assert_eq!(
        standby_states(&sources).first().map(|state| state.1),
        Some(true)
    );

    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&behind)
        .await?;
    replayed(&behind, unseen).await?;
    sources.probe_all().await;

    let states = standby_states(&sources);
    assert!(
        matches!(
            states.as_slice(),
            [(Some(Replay::CaughtUp), false), (_, false)]
        ),
        "{states:?}"
    );
    behind.close().await;
    current.close().await;
    Ok(())
}
