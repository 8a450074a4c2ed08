use lms_config::PostgresUrl;
use lms_pg::PoolConfig;
use sea_orm::{DatabaseConnection, SqlxPostgresConnector};
use sqlx::PgPool;

/// A pooled connection to the LMS database, usable through SeaORM (the
/// domain) and through sqlx (bulk paths). Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Database {
    orm: DatabaseConnection,
    pool: PgPool,
}

impl Database {
    /// Opens the pool and checks that the server answers.
    pub async fn connect(url: &PostgresUrl, config: &PoolConfig) -> Result<Database, sqlx::Error> {
        let pool = lms_pg::connect(url, config).await?;
        Ok(Database::from_pool(pool))
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Database {
        let orm = SqlxPostgresConnector::from_sqlx_postgres_pool(pool.clone());
        Database { orm, pool }
    }

    /// The SeaORM connection, for the domain's repositories.
    pub fn orm(&self) -> &DatabaseConnection {
        &self.orm
    }

    /// The sqlx pool, for bulk SQL (COPY, `INSERT ... SELECT`).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}
