//! The domain's errors: what a caller of the domain's services needs to
//! tell apart, whatever the transport.

/// A field whose value is unusable, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path in the request, e.g. `student.status`.
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        FieldViolation {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Why a domain operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// The named resource does not exist.
    #[error("{resource} {key} does not exist")]
    NotFound { resource: &'static str, key: String },
    /// The input is unusable; each violation names its field.
    #[error("invalid input: {}", .0.iter().map(|v| format!("{}: {}", v.field, v.description)).collect::<Vec<_>>().join("; "))]
    InvalidArgument(Vec<FieldViolation>),
    /// The resource (or one with the same unique key) exists already.
    #[error("{resource} already exists: {detail}")]
    AlreadyExists {
        resource: &'static str,
        detail: String,
    },
    /// The operation is not possible in the current state.
    #[error("{0}")]
    FailedPrecondition(String),
    /// A dependency (the database) cannot be reached; try again later.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// The database answered, but cannot do this now: a concurrent change
    /// of the same rows, a statement stopped at its timeout, a table being
    /// loaded in bulk. Try again later; the database is not down.
    #[error("temporarily unavailable: {0}")]
    Busy(String),
    /// Degraded mode cannot tell whether the resource exists, or cannot
    /// serve it: the LMS databases are down, and the legacy database read
    /// in their place has only the rows a migration run wrote, as legacy
    /// holds them now; not those created in the LMS, migrated since the id
    /// map was loaded, or gone from legacy since (the LMS keeps those).
    /// Retry when the LMS is back; it is not a NOT_FOUND.
    #[error(
        "{resource} {key} cannot be read now: the LMS database is down, and the legacy database read in its place cannot serve it (it has only the rows a migration run wrote, as legacy holds them now); retry when the LMS is back"
    )]
    NotKnownToLegacy { resource: &'static str, key: String },
    /// A bug or an unexpected state; the message is for the logs.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    // Keys are ids and names of every kind; taking any Display keeps callers short.
    #[allow(clippy::needless_pass_by_value)]
    pub fn not_found(resource: &'static str, key: impl ToString) -> Self {
        DomainError::NotFound {
            resource,
            key: key.to_string(),
        }
    }

    #[allow(clippy::needless_pass_by_value)]
    pub fn not_known_to_legacy(resource: &'static str, key: impl ToString) -> Self {
        DomainError::NotKnownToLegacy {
            resource,
            key: key.to_string(),
        }
    }

    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        DomainError::InvalidArgument(vec![FieldViolation::new(field, description)])
    }
}
