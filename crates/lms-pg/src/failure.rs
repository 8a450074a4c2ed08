//! Transient or permanent: whether retrying an operation can help.

/// What a failed database operation tells the caller about retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The connection, the server or a concurrent transaction got in the way
    /// (connection reset, server restart, serialization failure, deadlock):
    /// the same work may well succeed if tried again.
    Transient,
    /// The statement or the data is wrong: trying again gives the same error.
    Permanent,
}

/// PostgreSQL's `lock_not_available`: a `NOWAIT` lock, or one past
/// `lock_timeout`, that another session holds.
pub const LOCK_NOT_AVAILABLE: &str = "55P03";

/// Classifies a sqlx error by its kind and SQLSTATE.
pub fn classify(error: &sqlx::Error) -> FailureClass {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => FailureClass::Transient,
        sqlx::Error::Database(database) => {
            classify_sqlstate(database.code().as_deref().unwrap_or(""))
        }
        _ => FailureClass::Permanent,
    }
}

/// Classifies a SQLSTATE code.
pub fn classify_sqlstate(code: &str) -> FailureClass {
    let transient = code.starts_with("08") // connection exceptions
        || code.starts_with("57P") // admin shutdown, crash shutdown, cannot connect now
        || matches!(
            code,
            "40001" // serialization_failure
                | "40P01" // deadlock_detected
                | "53300" // too_many_connections
                | LOCK_NOT_AVAILABLE
                | "57014" // query_canceled: a statement timeout or a cancel request
                | "25006" // read_only_sql_transaction: a standby took the primary's address
        );
    if transient {
        FailureClass::Transient
    } else {
        FailureClass::Permanent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_classify() {
        for code in [
            "40001", "40P01", "08006", "57P01", "53300", "57014", "25006",
        ] {
            assert_eq!(classify_sqlstate(code), FailureClass::Transient, "{code}");
        }
        for code in ["23505", "22P02", "42P01", ""] {
            assert_eq!(classify_sqlstate(code), FailureClass::Permanent, "{code}");
        }
        assert_eq!(
            classify(&sqlx::Error::PoolTimedOut),
            FailureClass::Transient
        );
        assert_eq!(classify(&sqlx::Error::RowNotFound), FailureClass::Permanent);
    }
}
