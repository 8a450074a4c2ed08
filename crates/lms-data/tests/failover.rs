//! The failover pool against a database that silently drops packets: a
//! `SilentLink` in front of the test's own database passes nothing, and
//! gives no error either, as a dropped route does.

use std::time::{Duration, Instant};

use lms_config::{PostgresUrl, Settings, StandbySettings};
use lms_data::failover::{DataSource, DataSources};
use lms_data::{Database, Repository, schema};
use lms_domain::DomainError;
use lms_domain::model::{OrganizationId, PageRequest, StudentId};
use lms_pg::PoolConfig;
use lms_testkit::{SilentLink, TestDatabase};

const PROBE_TIMEOUT: Duration = Duration::from_millis(400);
const SLOW_REQUEST_PROBE: Duration = Duration::from_millis(500);
/// What the issue allows for leaving an endpoint that went silent under
/// traffic: the probe's timeout plus one second.
const DETECTION_LIMIT: Duration = Duration::from_millis(1_400);

/// The test's migrated database, reached through a link of its own.
struct Env {
    test_db: TestDatabase,
    link: SilentLink,
    through_link: PostgresUrl,
}

impl Env {
    async fn new(purpose: &str) -> anyhow::Result<Env> {
        let test_db = TestDatabase::create(purpose).await?;
        let db = Database::connect(test_db.url(), &PoolConfig::small("failover-test")).await?;
        schema::upgrade(&db).await?;
        db.pool().close().await;
        let (link, through_link) = SilentLink::in_front_of(test_db.url()).await?;
        Ok(Env {
            test_db,
            link,
            through_link,
        })
    }

    /// Settings whose primary is reached through the link; no periodic
    /// probes run (nothing calls `run_probes`), so every probe a test sees
    /// was asked for by a request.
    fn settings(&self) -> Settings {
        let mut settings = Settings::default();
        settings.database.url = self.through_link.clone();
        settings.database.min_connections = 0;
        settings.database.max_connections = 4;
        settings.database.connect_timeout = Duration::from_secs(1);
        settings.database.acquire_timeout = Duration::from_secs(1);
        settings.failover.probe_interval = Duration::from_secs(60);
        settings.failover.probe_timeout = PROBE_TIMEOUT;
        settings.failover.slow_request_probe = SLOW_REQUEST_PROBE;
        settings.failover.legacy_reads = false;
        settings
    }

    /// The same database, reached directly, as a standby would be.
    fn direct_standby(&self) -> StandbySettings {
        StandbySettings {
            url: self.test_db.url().clone(),
            min_connections: None,
            max_connections: None,
            connect_timeout: None,
            acquire_timeout: None,
        }
    }

    async fn finish(self, sources: DataSources) -> anyhow::Result<()> {
        // Abandoned requests left connections mid-statement; restored, the
        // link lets them finish, so the pool can close.
        self.link.restore();
        sources.primary_pool().close().await;
        drop(self.link);
        self.test_db.drop_now().await
    }
}

/// Opens every connection the primary's pool may hold, so that requests
/// after the cut open none and every new connection is a probe.
async fn fill_the_pool(repo: &Repository) -> anyhow::Result<()> {
    let reads = (0..16).map(|_| repo.list_organizations(PageRequest::first(10)));
    for read in futures::future::join_all(reads).await {
        read?;
    }
    Ok(())
}

fn primary_probes(sources: &DataSources) -> u64 {
    sources.status().first().map_or(0, |primary| primary.probes)
}

#[tokio::test]
async fn a_thousand_requests_on_a_silent_primary_share_one_probe() -> anyhow::Result<()> {
    let env = Env::new("singleflight").await?;
    let sources = DataSources::connect(&env.settings(), "failover-test").await?;
    let repo = Repository::with_sources(sources.clone());
    fill_the_pool(&repo).await?;
    let probes_before = primary_probes(&sources);

    env.link.cut();
    let started = Instant::now();
    let reads = (0..1_000).map(|_| repo.get_organization(OrganizationId(1)));
    let outcomes = futures::future::join_all(reads).await;
    let took = started.elapsed();

    let probes = primary_probes(&sources) - probes_before;
    assert_eq!(probes, 1, "probes after the cut: {probes}");
    for outcome in &outcomes {
        assert!(
            matches!(outcome, Err(DomainError::Unavailable(_))),
            "{outcome:?}"
        );
    }
    assert!(
        took <= SLOW_REQUEST_PROBE + DETECTION_LIMIT,
        "the requests ended after {took:?}"
    );
    env.finish(sources).await
}

#[tokio::test]
async fn reads_leave_a_silent_primary_within_the_probe_timeout_and_a_second() -> anyhow::Result<()>
{
    let env = Env::new("silentprimary").await?;
    let mut settings = env.settings();
    settings.database.standbys = vec![env.direct_standby()];
    let sources = DataSources::connect(&settings, "failover-test").await?;
    let repo = Repository::with_sources(sources.clone());
    fill_the_pool(&repo).await?;
    assert_eq!(sources.current(), Some(DataSource::Primary));

    // Traffic: a read every 20 ms, each on its own task.
    let traffic = {
        let repo = repo.clone();
        tokio::spawn(async move {
            let mut reads = tokio::task::JoinSet::new();
            for _ in 0..150 {
                let repo = repo.clone();
                reads.spawn(async move { repo.list_organizations(PageRequest::first(10)).await });
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            reads.join_all().await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    env.link.cut();
    let cut = Instant::now();
    while sources.current() != Some(DataSource::Standby) && cut.elapsed() < Duration::from_secs(10)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let left = cut.elapsed();
    assert!(
        left <= DETECTION_LIMIT,
        "reads left the silent primary after {left:?}"
    );
    // Every read succeeded: those caught on the primary were abandoned
    // there and served by the standby.
    for read in traffic.await? {
        assert!(read.is_ok(), "{read:?}");
    }
    env.finish(sources).await
}

#[tokio::test]
async fn a_write_on_a_silent_primary_ends_unavailable_and_says_its_outcome_is_unknown()
-> anyhow::Result<()> {
    let env = Env::new("silentwrite").await?;
    let sources = DataSources::connect(&env.settings(), "failover-test").await?;
    let repo = Repository::with_sources(sources.clone());
    fill_the_pool(&repo).await?;

    env.link.cut();
    let started = Instant::now();
    let outcome = repo.delete_student(StudentId(1)).await;
    let took = started.elapsed();
    match outcome {
        Err(DomainError::Unavailable(message)) => {
            assert!(message.contains("unknown"), "{message}");
        }
        other => anyhow::bail!("expected Unavailable, got {other:?}"),
    }
    assert!(took <= DETECTION_LIMIT, "the write ended after {took:?}");
    assert!(!sources.primary_is_up());
    env.finish(sources).await
}

/// Settings whose statements stop after 200 ms, long before a slow request
/// is probed, and a session of the test's own holding `table` locked.
async fn behind_a_lock(
    env: &Env,
    table: &str,
) -> anyhow::Result<(Settings, sqlx::Transaction<'static, sqlx::Postgres>)> {
    let mut settings = env.settings();
    settings.grpc.statement_timeout = Duration::from_millis(200);
    settings.failover.slow_request_probe = Duration::from_secs(10);
    let owner = lms_pg::connect(env.test_db.url(), &PoolConfig::small("failover-test")).await?;
    let mut lock = owner.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"
    )))
    .execute(&mut *lock)
    .await?;
    Ok((settings, lock))
}

#[tokio::test]
async fn a_write_stopped_by_a_lock_is_busy_and_probes_nothing() -> anyhow::Result<()> {
    let env = Env::new("busywrite").await?;
    let (settings, lock) = behind_a_lock(&env, "students").await?;
    let sources = DataSources::connect(&settings, "failover-test").await?;
    let repo = Repository::with_sources(sources.clone());
    let probes_before = primary_probes(&sources);

    let outcome = repo.delete_student(StudentId(1)).await;

    lock.rollback().await?;
    assert_eq!(primary_probes(&sources) - probes_before, 0);
    assert!(matches!(outcome, Err(DomainError::Busy(_))), "{outcome:?}");
    assert!(sources.primary_is_up());
    env.finish(sources).await
}

#[tokio::test]
async fn a_read_stopped_by_a_lock_stays_on_the_primary_and_probes_nothing() -> anyhow::Result<()> {
    let env = Env::new("busyread").await?;
    let (mut settings, lock) = behind_a_lock(&env, "organizations").await?;
    settings.database.standbys = vec![env.direct_standby()];
    let sources = DataSources::connect(&settings, "failover-test").await?;
    let repo = Repository::with_sources(sources.clone());
    let probes_before = primary_probes(&sources);

    let outcome = repo.get_organization(OrganizationId(1)).await;

    lock.rollback().await?;
    assert_eq!(primary_probes(&sources) - probes_before, 0);
    assert!(matches!(outcome, Err(DomainError::Busy(_))), "{outcome:?}");
    assert!(sources.primary_is_up());
    env.finish(sources).await
}

#[tokio::test]
async fn a_restored_primary_is_taken_back_by_the_next_probe() -> anyhow::Result<()> {
    let env = Env::new("silentback").await?;
    let sources = DataSources::connect(&env.settings(), "failover-test").await?;
    let repo = Repository::with_sources(sources.clone());
    fill_the_pool(&repo).await?;
    env.link.cut();
    assert!(repo.get_organization(OrganizationId(1)).await.is_err());
    assert!(!sources.primary_is_up());

    env.link.restore();
    sources.probe_all().await;
    assert!(sources.primary_is_up());
    assert!(matches!(
        repo.get_organization(OrganizationId(1)).await,
        Err(DomainError::NotFound { .. })
    ));
    env.finish(sources).await
}

/// An endpoint marked down is probed again every second or so, not only
/// at the next `probe_interval` (a minute here): writes come back soon
/// after the primary does.
#[tokio::test]
async fn a_primary_marked_down_is_probed_again_within_seconds() -> anyhow::Result<()> {
    let env = Env::new("silentrecheck").await?;
    let sources = DataSources::connect(&env.settings(), "failover-test").await?;
    let repo = Repository::with_sources(sources.clone());
    fill_the_pool(&repo).await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let probing = tokio::spawn(sources.clone().run_probes(async {
        let _ = stopped.await;
    }));
    env.link.cut();
    assert!(repo.get_organization(OrganizationId(1)).await.is_err());
    assert!(!sources.primary_is_up());

    env.link.restore();
    let restored = Instant::now();
    while !sources.primary_is_up() {
        anyhow::ensure!(
            restored.elapsed() < Duration::from_secs(5),
            "the primary is still marked down {:?} after it came back",
            restored.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    probing.await?;
    env.finish(sources).await
}

#[tokio::test]
async fn a_primary_out_of_connection_slots_still_counts_as_up() -> anyhow::Result<()> {
    let env = Env::new("busyprimary").await?;
    // A role allowed one connection: the pool's takes it, and the probe's
    // own connection is refused with 53300, as a full server refuses.
    let unique = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let role = format!("busy_{}_{unique}", std::process::id());
    let server = lms_testkit::server_url()?;
    let admin = lms_pg::connect(&server, &PoolConfig::small("failover-test")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN CONNECTION LIMIT 1"
    )))
    .execute(&admin)
    .await?;
    let outcome = probe_as_busy_role(&env, &role).await;
    // The database goes first (it holds the role's grants), then the role.
    env.test_db.drop_now().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
        .execute(&admin)
        .await?;
    admin.close().await;
    outcome
}

async fn probe_as_busy_role(env: &Env, role: &str) -> anyhow::Result<()> {
    let owner = lms_pg::connect(env.test_db.url(), &PoolConfig::small("failover-test")).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "GRANT USAGE ON SCHEMA public TO {role}; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
    )))
    .execute(&owner)
    .await?;
    owner.close().await;
    let mut settings = env.settings();
    settings.database.url = PostgresUrl::parse(&format!(
        "postgres://{role}@{}/{}",
        env.test_db.url().host_port(),
        env.test_db.url().database_name()
    ))
    .map_err(anyhow::Error::msg)?;
    settings.database.max_connections = 1;
    let sources = DataSources::connect(&settings, "failover-test").await?;
    let repo = Repository::with_sources(sources.clone());
    repo.list_organizations(PageRequest::first(10)).await?;
    let probes_before = primary_probes(&sources);

    sources.probe_all().await;
    let probed = primary_probes(&sources) - probes_before;
    let up = sources.primary_is_up();
    sources.primary_pool().close().await;
    assert_eq!(probed, 1);
    assert!(up, "a busy primary was marked down");
    Ok(())
}
