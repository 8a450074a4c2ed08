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
    answered_true(
        standby,
        "SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)",
        Some(id.0),
    )
    .await
    .map_err(|error| anyhow::anyhow!("the standby did not replay {id:?}: {error}"))
}

/// Waits until `standby` has replayed all the WAL it received (after the
/// primary stopped: its shutdown record included).
async fn caught_up(standby: &PgPool) -> anyhow::Result<()> {
    answered_true(
        standby,
        "SELECT pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()",
        None,
    )
    .await
    .map_err(|error| anyhow::anyhow!("the standby did not replay what it received: {error}"))
}

/// Asks `question` (with `id` as `$1`, if any) until it answers true, for
/// up to 30 s.
async fn answered_true(
    standby: &PgPool,
    question: &'static str,
    id: Option<i64>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let asked = sqlx::query_scalar::<_, bool>(question);
        let asked = match id {
            Some(id) => asked.bind(id),
            None => asked,
        };
        if asked.fetch_one(standby).await? {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "no answer in time");
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

/// The failover pool connected to a primary and two standbys, all up and
/// caught up; then the first standby left behind, the primary stopped,
/// and the second standby caught up with everything it received. The
/// pool has not probed since it connected.
struct FailedOver {
    _clusters: Clusters,
    behind: PgPool,
    current: PgPool,
    /// The row the first standby has not replayed.
    unseen: OrganizationId,
    sources: DataSources,
}

impl FailedOver {
    async fn new(purpose: &str) -> anyhow::Result<FailedOver> {
        let clusters = Clusters::new(purpose, 2).await?;
        let primary = pool(&clusters.primary.url("lms")?).await?;
        let behind = pool(&clusters.standbys[0].url("lms")?).await?;
        let current = pool(&clusters.standbys[1].url("lms")?).await?;
        caught_up(&behind).await?;
        caught_up(&current).await?;
        let sources = DataSources::connect(&clusters.settings()?, "lag-test").await?;
        let before = standby_states(&sources);
        anyhow::ensure!(
            before.iter().all(|(_, lagging)| !lagging),
            "before: {before:?}"
        );
        let unseen = left_behind(&primary, &behind, &[&current]).await?;
        primary.close().await;
        clusters.primary.stop().await?;
        caught_up(&current).await?;
        Ok(FailedOver {
            _clusters: clusters,
            behind,
            current,
            unseen,
            sources,
        })
    }

    async fn finish(self) {
        self.behind.close().await;
        self.current.close().await;
    }
}

#[tokio::test]
async fn reads_pass_over_a_standby_whose_replay_is_behind() -> anyhow::Result<()> {
    let env = FailedOver::new("lagpassed").await?;
    let repo = Repository::with_sources(env.sources.clone());

    let read = repo.get_organization(env.unseen).await;

    let states = standby_states(&env.sources);
    assert!(
        matches!(
            states.as_slice(),
            [(Some(Replay::Behind(Some(_))), true), (_, false)]
        ),
        "{states:?}"
    );
    assert_eq!(env.sources.current(), Some(DataSource::Standby));
    assert_eq!(read?.name, "not replayed by the paused standby");
    env.finish().await;
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
    let env = FailedOver::new("lagresumed").await?;
    env.sources.probe_all().await;
    assert_eq!(
        standby_states(&env.sources).first().map(|state| state.1),
        Some(true)
    );

    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&env.behind)
        .await?;
    replayed(&env.behind, env.unseen).await?;
    env.sources.probe_all().await;

    let states = standby_states(&env.sources);
    assert!(
        matches!(
            states.as_slice(),
            [(Some(Replay::CaughtUp), false), (_, false)]
        ),
        "{states:?}"
    );
    env.finish().await;
    Ok(())
}
