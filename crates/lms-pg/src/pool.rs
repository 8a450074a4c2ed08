//! Connection pools.

use std::time::Duration;

use lms_config::{DatabaseSettings, PostgresUrl};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection};

/// How a pool is sized and how long callers wait.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    pub min_connections: u32,
    pub max_connections: u32,
    /// How long to wait for a TCP connection and the PostgreSQL handshake.
    pub connect_timeout: Duration,
    /// How long a caller waits for a free pooled connection.
    pub acquire_timeout: Duration,
    /// The `application_name` the server shows in `pg_stat_activity`.
    pub application_name: String,
}

impl PoolConfig {
    /// The pool the LMS database settings describe.
    pub fn from_settings(settings: &DatabaseSettings, application_name: &str) -> Self {
        PoolConfig {
            min_connections: settings.min_connections,
            max_connections: settings.max_connections,
            connect_timeout: settings.connect_timeout,
            acquire_timeout: settings.acquire_timeout,
            application_name: application_name.to_owned(),
        }
    }

    /// A small pool for one-off administrative work and tests.
    pub fn small(application_name: &str) -> Self {
        PoolConfig {
            min_connections: 0,
            max_connections: 4,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
            application_name: application_name.to_owned(),
        }
    }
}

/// The sqlx connect options for a URL, with statement logging off (it would
/// log every bulk statement at INFO).
pub fn connect_options(
    url: &PostgresUrl,
    config: &PoolConfig,
) -> Result<PgConnectOptions, sqlx::Error> {
    let options: PgConnectOptions = url.expose().parse()?;
    Ok(options
        .application_name(&config.application_name)
        // Server notices ("table does not exist, skipping") are not news.
        .options([("client_min_messages", "warning")])
        .disable_statement_logging())
}

/// Opens a pool and checks, within the connect timeout, that the server
/// answers.
pub async fn connect(url: &PostgresUrl, config: &PoolConfig) -> Result<PgPool, sqlx::Error> {
    let options = connect_options(url, config)?;
    let pool = PgPoolOptions::new()
        .min_connections(config.min_connections)
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        // Bulk work (the engine, verify) runs more tasks than connections
        // on purpose: a wait for a busy pool, bounded by acquire_timeout,
        // is expected there and not worth a warning to the operator.
        .acquire_slow_level(log::LevelFilter::Debug)
        .connect_lazy_with(options);
    match tokio::time::timeout(config.connect_timeout, pool.acquire()).await {
        Ok(Ok(_connection)) => Ok(pool),
        Ok(Err(error)) => Err(error),
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}

/// Opens a single connection within the connect timeout.
pub async fn connect_one(
    url: &PostgresUrl,
    config: &PoolConfig,
) -> Result<PgConnection, sqlx::Error> {
    let options = connect_options(url, config)?;
    match tokio::time::timeout(config.connect_timeout, PgConnection::connect_with(&options)).await {
        Ok(result) => result,
        Err(_) => Err(sqlx::Error::PoolTimedOut),
    }
}
