//! A pooled connection for COPY streams, which goes back to the pool only
//! when its holder says the work on it ended cleanly.
//!
//! sqlx does not count a COPY's closing `ReadyForQuery` among the replies
//! a connection still owes. A COPY its holder stops reading or writing
//! (after an error of its own, or with its future dropped: an aborted task,
//! a cancelled RPC, a deadline, a sibling failing in a join) leaves those
//! replies owed, and the check sqlx runs when a connection comes back to
//! the pool reads them as its own. It then leaves one reply of its own
//! unread, and the next statement on that connection fails with "expected
//! ParseComplete, got ReadyForQuery". So such a connection is closed, never
//! reused.

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres};

/// A pooled connection that is closed when dropped, unless
/// [`CopyConnection::release`] said its streams were read to their end.
#[derive(Debug)]
pub struct CopyConnection {
    connection: PoolConnection<Postgres>,
    released: bool,
}

impl CopyConnection {
    /// Takes a connection from `pool`.
    pub async fn acquire(pool: &PgPool) -> Result<CopyConnection, sqlx::Error> {
        Ok(CopyConnection {
            connection: pool.acquire().await?,
            released: false,
        })
    }

    /// No COPY on the connection was left unfinished (a transaction
    /// dropped without a commit is fine: sqlx counts the ROLLBACK it
    /// queues). It goes back to the pool.
    pub fn release(mut self) {
        self.released = true;
    }
}

impl Deref for CopyConnection {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.connection
    }
}

impl DerefMut for CopyConnection {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.connection
    }
}

impl Drop for CopyConnection {
    fn drop(&mut self) {
        if !self.released {
            self.connection.close_on_drop();
        }
    }
}
