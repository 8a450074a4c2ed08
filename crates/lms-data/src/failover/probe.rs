//! One health probe of one endpoint.

use std::time::Duration;

use sqlx::PgPool;

use super::DataSource;

/// Why an endpoint does not count as up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Database(#[from] sqlx::Error),
    /// A primary that came back as a standby (in recovery) cannot take
    /// writes; it stays down until it is promoted.
    #[error("the server is in recovery (a standby), not a primary")]
    InRecovery,
}

/// Takes a connection and asks the server whether it is in recovery,
/// within `timeout`. A primary must not be.
pub(crate) async fn probe(
    pool: &PgPool,
    source: DataSource,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let asked = tokio::time::timeout(timeout, async {
        let mut connection = pool.acquire().await?;
        sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
            .fetch_one(&mut *connection)
            .await
    })
    .await
    .map_err(|_| ProbeError::Timeout(timeout))??;
    if source == DataSource::Primary && asked {
        return Err(ProbeError::InRecovery);
    }
    Ok(())
}
