//! What a client is told when a database cannot serve a request right now.
//!
//! The driver's own text names hosts, ports, sockets and sometimes
//! constraints; it goes to the log (at `debug`, since an outage repeats it
//! per request, and the failover pool already says at `warn` which endpoint
//! went down). The client gets a message in the domain's words, decided by
//! the kind of failure alone.

use std::fmt::Display;

use lms_domain::DomainError;

/// Which database a failure is about, as a client may be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database {
    Lms,
    Legacy,
}

impl Database {
    fn noun(self) -> &'static str {
        match self {
            Database::Lms => "the LMS database",
            Database::Legacy => "the legacy database",
        }
    }
}

/// Why the database could not serve the request, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outage {
    /// No connection could be made or kept: refused, reset, timed out,
    /// closed, or a protocol or TLS failure.
    NotAnswering,
    /// Every connection of the pool is busy, or none could be opened in time.
    NoFreeConnection,
    /// The server is shutting down, restarting or not yet accepting
    /// connections (SQLSTATE class 57P).
    Restarting,
    /// The server refuses more connections (53300).
    TooManyConnections,
    /// A concurrent transaction got in the way (40001, 40P01, 55P03).
    Contention,
    /// The statement ran past `grpc.statement_timeout`, or was cancelled
    /// (57014).
    StatementTimeout,
    /// The server at the primary's address is read-only (25006).
    ReadOnly,
}

impl Outage {
    /// The kind of a driver error already classified as transient.
    pub(crate) fn of(error: &sqlx::Error) -> Outage {
        match error {
            sqlx::Error::PoolTimedOut => Outage::NoFreeConnection,
            sqlx::Error::Database(database) => {
                Outage::of_sqlstate(database.code().as_deref().unwrap_or(""))
            }
            _ => Outage::NotAnswering,
        }
    }

    pub(crate) fn of_sqlstate(code: &str) -> Outage {
        match code {
            "53300" => Outage::TooManyConnections,
            "40001" | "40P01" | "55P03" => Outage::Contention,
            "57014" => Outage::StatementTimeout,
            "25006" => Outage::ReadOnly,
            _ if code.starts_with("57P") => Outage::Restarting,
            _ => Outage::NotAnswering,
        }
    }

    fn message(self, database: Database) -> String {
        let noun = database.noun();
        match self {
            Outage::NotAnswering => format!("{noun} is not answering; retry shortly"),
            Outage::NoFreeConnection => format!(
                "no connection to {noun} became free in time (it is busy or not answering); retry shortly"
            ),
            Outage::Restarting => {
                format!("{noun} is restarting or shutting down; retry shortly")
            }
            Outage::TooManyConnections => {
                format!("{noun} accepts no more connections at the moment; retry shortly")
            }
            Outage::Contention => {
                "the request met a concurrent change of the same rows; retry it".to_owned()
            }
            Outage::StatementTimeout => format!(
                "{noun} took longer than the server allows (grpc.statement_timeout); retry, or narrow the request"
            ),
            Outage::ReadOnly => format!(
                "{noun} is read-only at the moment (a failover may be under way); retry shortly"
            ),
        }
    }

    /// Whether the database answered: then it is busy, not down, and the
    /// failover pool has nothing to probe. (A server out of connection
    /// slots answers too, but the pool retries that connect until its
    /// acquire timeout, so it arrives as `NoFreeConnection`, which may
    /// equally be a server gone: the probe tells, and counts a full server
    /// as up, `probe.rs`.)
    fn database_answered(self) -> bool {
        match self {
            Outage::Contention | Outage::StatementTimeout => true,
            Outage::NotAnswering
            | Outage::NoFreeConnection
            | Outage::Restarting
            | Outage::TooManyConnections
            | Outage::ReadOnly => false,
        }
    }

    /// The domain error for this outage on `database`: `Busy` where the
    /// database answered, else `Unavailable`. `cause` (the driver's text)
    /// is logged, never returned.
    pub(crate) fn error(self, database: Database, cause: &dyn Display) -> DomainError {
        tracing::debug!(database = database.noun(), outage = ?self, %cause, "database request failed");
        if self.database_answered() {
            DomainError::Busy(self.message(database))
        } else {
            DomainError::Unavailable(self.message(database))
        }
    }
}

/// A transient driver error on `database`, in the domain's words.
pub fn unavailable(database: Database, error: &sqlx::Error) -> DomainError {
    Outage::of(error).error(database, error)
}

/// A write `database` stopped answering `when` (during it, as it
/// committed): it may have been applied, so the caller is not told to
/// simply retry.
pub(crate) fn write_outcome_unknown(database: &str, when: &str) -> DomainError {
    DomainError::Unavailable(format!(
        "{database} stopped answering {when}, so whether the write was applied is unknown: read \
         the resource back before retrying (a create retried with the same request_id is safe)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_pick_the_outage() {
        assert_eq!(Outage::of_sqlstate("53300"), Outage::TooManyConnections);
        assert_eq!(Outage::of_sqlstate("40P01"), Outage::Contention);
        assert_eq!(Outage::of_sqlstate("57014"), Outage::StatementTimeout);
        assert_eq!(Outage::of_sqlstate("57P01"), Outage::Restarting);
        assert_eq!(Outage::of_sqlstate("08006"), Outage::NotAnswering);
        assert_eq!(Outage::of_sqlstate("25006"), Outage::ReadOnly);
    }

    #[test]
    fn the_message_never_carries_the_drivers_text() {
        let cause = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connect to 10.1.2.3:5432 failed: Connection refused",
        ));
        let DomainError::Unavailable(message) = unavailable(Database::Legacy, &cause) else {
            panic!("a connection failure is Unavailable");
        };
        assert_eq!(
            message,
            "the legacy database is not answering; retry shortly"
        );
    }

    #[test]
    fn a_database_that_answered_is_busy_not_down() {
        for code in ["40001", "40P01", "55P03", "57014"] {
            let error = Outage::of_sqlstate(code).error(Database::Lms, &code);
            assert!(matches!(error, DomainError::Busy(_)), "{code}: {error:?}");
        }
        for code in ["53300", "57P01", "25006", "08006"] {
            let error = Outage::of_sqlstate(code).error(Database::Lms, &code);
            assert!(
                matches!(error, DomainError::Unavailable(_)),
                "{code}: {error:?}"
            );
        }
    }

    #[test]
    fn a_full_pool_says_so() {
        let DomainError::Unavailable(message) =
            unavailable(Database::Lms, &sqlx::Error::PoolTimedOut)
        else {
            panic!("a full pool is Unavailable");
        };
        assert!(
            message.starts_with("no connection to the LMS database"),
            "{message}"
        );
    }
}
