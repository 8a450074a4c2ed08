use std::sync::Once;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use lms_config::PostgresUrl;
use lms_pg::admin;

/// Every test database's name starts with this.
const PREFIX: &str = "lms_test_";
/// Databases of test processes that died are dropped once this old.
const STALE_AFTER: Duration = Duration::from_secs(2 * 60 * 60);

/// The server tests create databases on: `$LMS_TEST_POSTGRES`, or local
/// PostgreSQL as user postgres.
pub fn server_url() -> anyhow::Result<PostgresUrl> {
    let raw = std::env::var("LMS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    PostgresUrl::parse(&raw).map_err(|error| anyhow::anyhow!("LMS_TEST_POSTGRES: {error}"))
}

/// A database of one test's own, dropped when the value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    url: PostgresUrl,
    dropped: bool,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl TestDatabase {
    /// Creates an empty database named `lms_test_<unix time>_<purpose>_<random>`.
    pub async fn create(purpose: &str) -> anyhow::Result<TestDatabase> {
        let server = server_url()?;
        sweep_stale_once(&server).await;
        let purpose: String = purpose
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let random = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{PREFIX}{}_{purpose}_{}", unix_now(), &random[..10]);
        let url = server.with_database(&name);
        admin::ensure_database(&url)
            .await
            .with_context(|| format!("creating test database {name}"))?;
        Ok(TestDatabase {
            url,
            dropped: false,
        })
    }

    pub fn url(&self) -> &PostgresUrl {
        &self.url
    }

    /// Drops the database now (tests call this at their end; `Drop` is the
    /// fallback when a test fails early).
    pub async fn drop_now(mut self) -> anyhow::Result<()> {
        self.dropped = true;
        admin::drop_database(&self.url).await?;
        Ok(())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        let url = self.url.clone();
        // Drop cannot await, and the test's runtime may be shutting down, so
        // the database is dropped on a thread with a runtime of its own.
        let handle = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime
                && let Err(error) = runtime.block_on(admin::drop_database(&url))
            {
                tracing::warn!(%error, "could not drop a test database");
            }
        });
        let _ = handle.join();
    }
}

async fn sweep_stale_once(server: &PostgresUrl) {
    static SWEEP: Once = Once::new();
    let mut first = false;
    SWEEP.call_once(|| first = true);
    if !first {
        return;
    }
    let Ok(names) = admin::databases_with_prefix(server, PREFIX).await else {
        return;
    };
    let now = unix_now();
    for name in names {
        let created = name[PREFIX.len()..]
            .split('_')
            .next()
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|created| now.saturating_sub(created) > STALE_AFTER.as_secs()) {
            let _ = admin::drop_database(&server.with_database(&name)).await;
        }
    }
}
