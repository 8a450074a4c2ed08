//! The engine's errors, and whether retrying can help.

use lms_pg::FailureClass;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("LMS database: {0}")]
    Lms(#[source] sqlx::Error),
    #[error("legacy database: {0}")]
    Legacy(#[source] sqlx::Error),
    #[error("job queue (Redis): {0}")]
    Queue(String),
    #[error("legacy table {table}, row {row}: {problem}")]
    LegacyRow {
        table: &'static str,
        row: String,
        problem: String,
    },
    #[error("{0}")]
    Plan(String),
    /// A setting the databases refuse, named with its key.
    #[error("{0}")]
    Settings(String),
    #[error(
        "a chunk size of {chunk_size} would plan {planned} chunks, more than the {limit} a run \
         may have (migration.max_chunks); {}",
        fitting_chunk_size_advice(*smallest)
    )]
    TooManyChunks {
        chunk_size: u32,
        planned: usize,
        limit: usize,
        /// The smallest chunk size that fits; none when even one chunk per
        /// table is more than the limit.
        smallest: Option<u64>,
    },
    #[error("run {0} does not exist")]
    UnknownRun(uuid::Uuid),
    #[error("another migration run is active ({0}); wait for it to finish or cancel it first")]
    RunActive(uuid::Uuid),
    /// Another planner took the one-active-run slot at the same moment and
    /// has let go of it since: starting again may succeed.
    #[error("another run was started at the same moment and has ended since; try again")]
    StartRaced,
    #[error("internal inconsistency: {0}")]
    Invariant(String),
    /// A request id given again with another request than the first one
    /// under it: the one that started its run, or an action on a run.
    #[error(
        "request id {request_id:?} was given before with another request, on run {run_id} \
         ({asked}); a new request takes a new request id"
    )]
    RequestIdReused {
        request_id: String,
        /// The run the first request started or acted on.
        run_id: uuid::Uuid,
        /// What the first request asked, as it was kept.
        asked: String,
    },
    /// An undo that cannot be done, and why (the rows in the way, named).
    #[error("{0}")]
    UndoRefused(String),
    #[error(
        "the staging of {entity} (ids {range}) was lost after the table was resolved (a PostgreSQL \
         crash empties unlogged staging), and legacy has changed there since: this run cannot \
         finish on what it resolved; start a new run, which picks the change up"
    )]
    StagingLostAndLegacyChanged { entity: String, range: String },
    #[error(
        "this worker computes proposals under \"{worker}\", but its run under \"{run}\": a run's \
         chunks must all use one legacy.timezone and one engine version; configure the worker \
         like the others"
    )]
    TermsDiffer { run: String, worker: String },
    #[error("run {run_id} is {status}, not held: only a held run can be approved")]
    NotHeld {
        run_id: uuid::Uuid,
        status: crate::state::RunStatus,
    },
}

/// What to do about [`EngineError::TooManyChunks`].
fn fitting_chunk_size_advice(smallest: Option<u64>) -> String {
    match smallest {
        Some(size) => format!("use a chunk size of at least {size}"),
        None => "no chunk size fits, since every table needs a chunk of its own: raise \
                 migration.max_chunks or migrate fewer tables at once"
            .to_owned(),
    }
}

/// SQLSTATE `unique_violation`.
const UNIQUE_VIOLATION: &str = "23505";

impl EngineError {
    /// Whether the caller's chunk size is at fault: it chose one
    /// (`chose_chunk_size`), and the run would plan too many chunks at it
    /// where a larger size fits. (Under the configured default, or where no
    /// size fits, the configuration or the request's tables are.)
    pub fn blames_chosen_chunk_size(&self, chose_chunk_size: bool) -> bool {
        chose_chunk_size
            && matches!(
                self,
                EngineError::TooManyChunks {
                    smallest: Some(_),
                    ..
                }
            )
    }

    /// Whether the LMS refused a row for a unique key another transaction
    /// holds. A chunk tries again after one (`chunk::run_delivered_chunk`):
    /// the key may have been taken by the API while it ran.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, EngineError::Lms(sqlx::Error::Database(error))
            if error.code().as_deref() == Some(UNIQUE_VIOLATION))
    }

    /// Whether trying the same work again may succeed.
    pub fn class(&self) -> FailureClass {
        match self {
            EngineError::Lms(error) | EngineError::Legacy(error) => lms_pg::classify(error),
            EngineError::Queue(_) | EngineError::StartRaced => FailureClass::Transient,
            EngineError::LegacyRow { .. }
            | EngineError::Plan(_)
            | EngineError::Settings(_)
            | EngineError::TooManyChunks { .. }
            | EngineError::UnknownRun(_)
            | EngineError::RunActive(_)
            | EngineError::RequestIdReused { .. }
            | EngineError::UndoRefused(_)
            | EngineError::Invariant(_)
            | EngineError::StagingLostAndLegacyChanged { .. }
            | EngineError::TermsDiffer { .. }
            | EngineError::NotHeld { .. } => FailureClass::Permanent,
        }
    }
}

/// Tags a sqlx result with the database it came from.
pub trait DatabaseContext<T> {
    /// The error came from the LMS database.
    fn lms(self) -> Result<T, EngineError>;
    /// The error came from the legacy database.
    fn legacy(self) -> Result<T, EngineError>;
}

impl<T> DatabaseContext<T> for Result<T, sqlx::Error> {
    fn lms(self) -> Result<T, EngineError> {
        self.map_err(EngineError::Lms)
    }

    fn legacy(self) -> Result<T, EngineError> {
        self.map_err(EngineError::Legacy)
    }
}

/// A code read back from the ledger that this build does not know: written
/// by another version, or by hand.
impl From<lms_domain::outcome::UnknownCode> for EngineError {
    fn from(error: lms_domain::outcome::UnknownCode) -> Self {
        EngineError::Invariant(format!("a stored {error}"))
    }
}
