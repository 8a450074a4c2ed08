//! One health probe of one endpoint.

use std::time::Duration;

use sqlx::{ConnectOptions, Connection, PgPool};

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

/// Opens a connection of its own (with the pool's options, outside the
/// pool) and asks the server whether it is in recovery, within `timeout`.
/// A primary must not be. Outside the pool, because a pool that is merely
/// busy must not look like a database that is gone.
pub(crate) async fn probe(
    pool: &PgPool,
    source: DataSource,
    timeout: Duration,
) -> Result<(), ProbeError> {
    let options = pool.connect_options();
    let asked = tokio::time::timeout(timeout, async {
        let mut connection = match options.connect().await {
            Ok(connection) => connection,
            // A server that refuses a connection for lack of slots (53300)
            // answers: it is busy, not gone, and the pool's own connections
            // still work. Marking it down would abandon every request on it.
            // (Whether it is in recovery stays unknown; the next probe with
            // a free slot tells, and a write meeting a standby says 25006.)
            Err(sqlx::Error::Database(refused)) if refused.code().as_deref() == Some("53300") => {
                return Ok(false);
            }
            Err(error) => return Err(error),
        };
        let asked = sqlx::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
            .fetch_one(&mut connection)
            .await;
        // Closing politely is best effort; the answer is what counts.
        let _ = connection.close().await;
        asked
    })
    .await
    .map_err(|_| ProbeError::Timeout(timeout))??;
    if source == DataSource::Primary && asked {
        return Err(ProbeError::InRecovery);
    }
    Ok(())
}
