//! One health probe of one endpoint.

use std::time::Duration;

use sqlx::{ConnectOptions, Connection, FromRow, PgConnection, PgPool};

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

/// How far a server's replay is behind the WAL it has received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replay {
    /// Not in recovery: a primary, or a promoted standby.
    NotInRecovery,
    /// Everything received is replayed.
    CaughtUp,
    /// WAL is received but not yet replayed; the last transaction replayed
    /// committed this long ago (`None`: none was replayed since start-up,
    /// so how far behind is unknown).
    Behind(Option<Duration>),
}

impl Replay {
    /// Whether reads should prefer another standby: behind by more than
    /// `max_lag`, or by an unknown amount.
    pub fn lags_past(self, max_lag: Duration) -> bool {
        match self {
            Replay::NotInRecovery | Replay::CaughtUp => false,
            Replay::Behind(Some(lag)) => lag > max_lag,
            Replay::Behind(None) => true,
        }
    }
}

/// What a server that answered a probe said.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Answer {
    /// How far its replay is behind.
    Asked(Replay),
    /// It refused the probe a connection slot (53300): busy, not gone.
    NoSlot,
}

#[derive(FromRow)]
struct RecoveryState {
    in_recovery: bool,
    wal_pending: bool,
    replay_age_ms: Option<i64>,
    /// The last WAL position received (`pg_lsn` as text), when streaming.
    received: Option<String>,
}

/// How long a probe that finds WAL pending waits before it looks again:
/// a standby that is keeping up replays a few records in far less, so WAL
/// that merely arrived as the probe asked (a checkpoint, a vacuum) is not
/// taken for lag.
fn settle_time(timeout: Duration) -> Duration {
    (timeout / 4).min(Duration::from_millis(100))
}

/// How far the server's replay is behind: asked once and, when WAL is
/// pending, asked again after [`settle_time`] whether replay has reached
/// what was received at the first look.
async fn replay(connection: &mut PgConnection, timeout: Duration) -> Result<Replay, sqlx::Error> {
    let state = sqlx::query_as::<_, RecoveryState>(include_str!("recovery_state.sql"))
        .fetch_one(&mut *connection)
        .await?;
    if let (true, true, Some(received)) = (state.in_recovery, state.wal_pending, &state.received) {
        tokio::time::sleep(settle_time(timeout)).await;
        let replayed: bool = sqlx::query_scalar("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn")
            .bind(received)
            .fetch_one(&mut *connection)
            .await?;
        if replayed {
            return Ok(Replay::CaughtUp);
        }
    }
    Ok(Replay::from(state))
}

impl From<RecoveryState> for Replay {
    fn from(state: RecoveryState) -> Replay {
        match state {
            RecoveryState {
                in_recovery: false, ..
            } => Replay::NotInRecovery,
            RecoveryState {
                wal_pending: false, ..
            } => Replay::CaughtUp,
            // A commit time ahead of this server's clock (clocks differ
            // between hosts) is not behind at all.
            RecoveryState { replay_age_ms, .. } => Replay::Behind(
                replay_age_ms.map(|ms| Duration::from_millis(ms.max(0).unsigned_abs())),
            ),
        }
    }
}

/// Opens a connection of its own (with the pool's options, outside the
/// pool) and asks the server whether it is in recovery, and how far its
/// replay is behind, within `timeout`. A primary must not be in recovery.
/// Outside the pool, because a pool that is merely busy must not look like
/// a database that is gone.
pub(crate) async fn probe(
    pool: &PgPool,
    source: DataSource,
    timeout: Duration,
) -> Result<Answer, ProbeError> {
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
                return Ok(Answer::NoSlot);
            }
            Err(error) => return Err(error),
        };
        let asked = replay(&mut connection, timeout).await;
        // Closing politely is best effort; the answer is what counts.
        let _ = connection.close().await;
        asked.map(Answer::Asked)
    })
    .await
    .map_err(|_| ProbeError::Timeout(timeout))??;
    match asked {
        Answer::Asked(replay)
            if source == DataSource::Primary && replay != Replay::NotInRecovery =>
        {
            Err(ProbeError::InRecovery)
        }
        answer => Ok(answer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUND: Duration = Duration::from_secs(30);

    fn state(in_recovery: bool, wal_pending: bool, replay_age_ms: Option<i64>) -> Replay {
        Replay::from(RecoveryState {
            in_recovery,
            wal_pending,
            replay_age_ms,
            received: None,
        })
    }

    #[test]
    fn a_primary_is_not_behind_whatever_its_last_replay() {
        assert_eq!(state(false, true, Some(i64::MAX)), Replay::NotInRecovery);
    }

    #[test]
    fn a_standby_with_nothing_to_replay_is_caught_up_however_old_its_last_commit() {
        assert_eq!(state(true, false, Some(i64::MAX)), Replay::CaughtUp);
    }

    #[test]
    fn a_commit_time_ahead_of_the_standby_clock_is_no_lag() {
        assert_eq!(
            state(true, true, Some(i64::MIN)),
            Replay::Behind(Some(Duration::ZERO))
        );
    }

    #[test]
    fn a_lag_equal_to_the_bound_is_within_it() {
        assert!(!Replay::Behind(Some(BOUND)).lags_past(BOUND));
    }

    #[test]
    fn a_lag_a_millisecond_past_the_bound_is_past_it() {
        assert!(Replay::Behind(Some(BOUND + Duration::from_millis(1))).lags_past(BOUND));
    }

    #[test]
    fn pending_wal_with_no_replayed_commit_counts_as_past_the_bound() {
        assert!(state(true, true, None).lags_past(BOUND));
    }
}
