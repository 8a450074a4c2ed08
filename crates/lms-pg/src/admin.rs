//! Creating and dropping whole databases, through the server's maintenance
//! database (`postgres`).

use lms_config::PostgresUrl;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use crate::pool::{PoolConfig, connect_one};

/// The database every cluster has, used to create and drop others.
pub const MAINTENANCE_DATABASE: &str = "postgres";

/// Why a database could not be created or dropped.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{name:?} is not a plain database name (letters, digits and _ only)")]
    BadName { name: String },
    #[error("cannot reach the PostgreSQL server at {server}: {source}")]
    Unreachable { server: String, source: sqlx::Error },
    #[error("PostgreSQL refused to {action} database {name:?}: {source}")]
    Refused {
        action: &'static str,
        name: String,
        source: sqlx::Error,
    },
}

fn checked_name(name: &str) -> Result<&str, AdminError> {
    let plain = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        Ok(name)
    } else {
        Err(AdminError::BadName {
            name: name.to_owned(),
        })
    }
}

async fn maintenance(url: &PostgresUrl) -> Result<PgConnection, AdminError> {
    let admin_url = url.with_database(MAINTENANCE_DATABASE);
    connect_one(&admin_url, &PoolConfig::small("lms-admin"))
        .await
        .map_err(|source| AdminError::Unreachable {
            server: url.host_port(),
            source,
        })
}

/// Whether the database the URL names exists.
pub async fn database_exists(url: &PostgresUrl) -> Result<bool, AdminError> {
    let name = url.database_name();
    let mut conn = maintenance(url).await?;
    let row = sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(&name)
        .fetch_one(&mut conn)
        .await
        .map_err(|source| AdminError::Refused {
            action: "look up",
            name: name.clone(),
            source,
        })?;
    row.try_get::<bool, _>(0)
        .map_err(|source| AdminError::Refused {
            action: "look up",
            name,
            source,
        })
}

/// Creates the database the URL names unless it exists; returns whether it
/// was created. Safe against a concurrent creator.
pub async fn ensure_database(url: &PostgresUrl) -> Result<bool, AdminError> {
    if database_exists(url).await? {
        return Ok(false);
    }
    let database = url.database_name();
    let name = checked_name(&database)?;
    let mut conn = maintenance(url).await?;
    let statement = format!("CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0");
    match sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(&mut conn)
        .await
    {
        Ok(_) => Ok(true),
        // 42P04: someone else created it between our check and our CREATE.
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42P04") => Ok(false),
        Err(source) => Err(AdminError::Refused {
            action: "create",
            name: name.to_owned(),
            source,
        }),
    }
}

/// Drops the database the URL names, disconnecting its sessions.
pub async fn drop_database(url: &PostgresUrl) -> Result<(), AdminError> {
    let database = url.database_name();
    let name = checked_name(&database)?;
    let mut conn = maintenance(url).await?;
    let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(&mut conn)
        .await
        .map_err(|source| AdminError::Refused {
            action: "drop",
            name: name.to_owned(),
            source,
        })?;
    Ok(())
}

/// Names of databases whose names start with `prefix` (for sweeping test
/// leftovers).
pub async fn databases_with_prefix(
    url: &PostgresUrl,
    prefix: &str,
) -> Result<Vec<String>, AdminError> {
    let mut conn = maintenance(url).await?;
    let rows = sqlx::query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind(prefix)
        .fetch_all(&mut conn)
        .await
        .map_err(|source| AdminError::Refused {
            action: "list",
            name: prefix.to_owned(),
            source,
        })?;
    Ok(rows
        .iter()
        .filter_map(|row| row.try_get::<String, _>(0).ok())
        .collect())
}
