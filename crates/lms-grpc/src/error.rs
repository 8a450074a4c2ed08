//! Every error a handler can return, and the one mapping to `tonic::Status`.

use lms_data::outage;
use lms_domain::{DomainError, FieldViolation};
use lms_engine::EngineError;
use std::collections::HashMap;

use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::request_deadline::RequestDeadline;

/// Why a request failed, in the API's terms.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// No valid bearer token.
    #[error("{0}")]
    Unauthenticated(String),
    /// A valid token without the scope the method needs.
    #[error("{0}")]
    PermissionDenied(String),
    /// A method the server does not serve (or has no access decided for).
    #[error("{0}")]
    Unimplemented(String),
    /// Not found, where the whole message explains why (`ExplainRow`).
    #[error("{0}")]
    NotFoundExplained(String),
    /// An AIP-155 request id sent again with another request.
    #[error("request_id was used with another request")]
    RequestIdReused,
    /// An item (the next of a list, or the one a Get asks for) is larger
    /// than one response may be (`response_budget`).
    #[error(
        "this item takes {item_bytes} bytes, more than one response may carry \
         (grpc.max_message_bytes is {max_message_bytes} bytes, of which a list keeps \
         {reserved} for its page token): it cannot be served until the \
         server's operator raises grpc.max_message_bytes",
        reserved = crate::response_budget::RESERVED_BYTES
    )]
    ResponseItemTooLarge {
        item_bytes: usize,
        max_message_bytes: usize,
    },
    /// The server has as many requests in flight as `grpc.concurrency_limit`
    /// allows; this one was refused at once.
    #[error("{0}")]
    Overloaded(String),
    /// The request ran past its deadline, the server's or the client's:
    /// the server stopped waiting (a migration-control call still runs to
    /// its end).
    #[error(
        "{}: the server stopped waiting for it; a read was cancelled, a migration-control \
         call goes on to its end and is audited (see GetRun and ListAuditEvents)",
        deadline_passed(.0)
    )]
    DeadlineExceeded(RequestDeadline),
    /// Every `WatchRun` slot is taken (`grpc.max_run_watchers`).
    #[error(
        "{limit} WatchRun streams are open, the most this server serves at once \
         (grpc.max_run_watchers); retry later"
    )]
    TooManyWatchers { limit: usize },
    /// The server ended a stream; the client should open it again.
    #[error("{0}")]
    StreamEnded(StreamEnd),
}

/// Why the server ended a stream that the client may open again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamEnd {
    /// The server is shutting down.
    ShuttingDown,
    /// The stream reached its maximum age (`grpc.max_run_watch_age`).
    MaxAge(std::time::Duration),
}

impl std::fmt::Display for StreamEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamEnd::ShuttingDown => {
                f.write_str("the server is shutting down; watch the run again to resume")
            }
            StreamEnd::MaxAge(age) => write!(
                f,
                "the stream reached its maximum age of {} (grpc.max_run_watch_age); \
                 watch the run again to resume",
                humantime::format_duration(*age)
            ),
        }
    }
}

impl ApiError {
    pub fn not_found_explained(message: String) -> ApiError {
        ApiError::NotFoundExplained(message)
    }

    /// One invalid field.
    pub fn invalid(field: &str, description: impl Into<String>) -> ApiError {
        ApiError::Domain(DomainError::invalid(field, description))
    }
}

/// The engine's errors in the domain's terms.
impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let domain = match &error {
            EngineError::RequestIdReused { .. } => return ApiError::RequestIdReused,
            EngineError::UnknownRun(run) => DomainError::not_found("run", format!("runs/{run}")),
            // The chunk size may be the server's default (migration.chunk_size),
            // or no size fits the cap (migration.max_chunks): StartRun blames
            // its own field where the client gave one and a larger one fits.
            EngineError::TooManyChunks { .. } => DomainError::FailedPrecondition(error.to_string()),
            EngineError::RunActive(_)
            | EngineError::Plan(_)
            | EngineError::Settings(_)
            | EngineError::UndoRefused(_)
            | EngineError::StagingLostAndLegacyChanged { .. }
            | EngineError::TermsDiffer { .. }
            | EngineError::NotHeld { .. } => DomainError::FailedPrecondition(error.to_string()),
            // In the server's words, as the domain API says it: the
            // driver's text (hosts, ports) goes to the log only.
            EngineError::Lms(cause) if error.class() == lms_pg::FailureClass::Transient => {
                outage::unavailable(outage::Database::Lms, cause)
            }
            EngineError::Legacy(cause) if error.class() == lms_pg::FailureClass::Transient => {
                outage::unavailable(outage::Database::Legacy, cause)
            }
            EngineError::Queue(cause) if error.class() == lms_pg::FailureClass::Transient => {
                tracing::debug!(%cause, "job queue request failed");
                DomainError::Unavailable(
                    "the job queue (Redis) is not answering; retry shortly".to_owned(),
                )
            }
            // A concurrent change of the same row (the one active run):
            // UNAVAILABLE, which a client retries.
            EngineError::StartRaced => DomainError::Busy(error.to_string()),
            EngineError::Lms(_)
            | EngineError::Legacy(_)
            | EngineError::Queue(_)
            | EngineError::LegacyRow { .. }
            | EngineError::Invariant(_) => DomainError::Internal(error.to_string()),
        };
        ApiError::Domain(domain)
    }
}

/// The AIP-193 `ErrorInfo.domain` of every error this server returns.
pub const ERROR_DOMAIN: &str = "lms.api";

impl ApiError {
    /// The AIP-193 `ErrorInfo.reason`: a stable name per kind of error,
    /// for clients to branch on instead of parsing messages.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Domain(DomainError::NotFound { .. }) | ApiError::NotFoundExplained(_) => {
                "RESOURCE_NOT_FOUND"
            }
            ApiError::Domain(DomainError::InvalidArgument(_)) => "INVALID_FIELD",
            ApiError::Domain(DomainError::AlreadyExists { .. }) => "RESOURCE_ALREADY_EXISTS",
            ApiError::Domain(DomainError::FailedPrecondition(_)) => "PRECONDITION_NOT_MET",
            ApiError::Domain(DomainError::Unavailable(_)) => "DATABASE_UNAVAILABLE",
            ApiError::Domain(DomainError::Busy(_)) => "DATABASE_BUSY",
            ApiError::Domain(DomainError::NotKnownToLegacy { .. }) => "NOT_KNOWN_TO_LEGACY",
            ApiError::Domain(DomainError::Internal(_)) => "INTERNAL_ERROR",
            ApiError::Unauthenticated(_) => "TOKEN_MISSING_OR_INVALID",
            ApiError::PermissionDenied(_) => "SCOPE_MISSING",
            ApiError::Unimplemented(_) => "METHOD_NOT_SERVED",
            ApiError::RequestIdReused => "REQUEST_ID_REUSED",
            ApiError::Overloaded(_) => "SERVER_OVERLOADED",
            ApiError::DeadlineExceeded(RequestDeadline::Server(_)) => "REQUEST_TIMEOUT",
            ApiError::DeadlineExceeded(RequestDeadline::Client(_)) => "CLIENT_DEADLINE_EXCEEDED",
            ApiError::TooManyWatchers { .. } => "TOO_MANY_WATCHERS",
            ApiError::StreamEnded(StreamEnd::ShuttingDown) => "SERVER_SHUTTING_DOWN",
            ApiError::StreamEnded(StreamEnd::MaxAge(_)) => "STREAM_MAX_AGE",
            ApiError::ResponseItemTooLarge { .. } => "RESPONSE_ITEM_TOO_LARGE",
        }
    }
}

impl ApiError {
    /// The `ErrorInfo.metadata`: the numbers a client may act on.
    fn metadata(&self) -> HashMap<String, String> {
        match self {
            ApiError::ResponseItemTooLarge {
                item_bytes,
                max_message_bytes,
            } => HashMap::from([
                ("item_bytes".to_owned(), item_bytes.to_string()),
                (
                    "max_message_bytes".to_owned(),
                    max_message_bytes.to_string(),
                ),
            ]),
            _ => HashMap::new(),
        }
    }
}

/// The one place errors become statuses. Every status carries an
/// `ErrorInfo` (reason and [`ERROR_DOMAIN`]); invalid arguments also a
/// `BadRequest` naming each field. Internal errors are logged with a
/// correlation id that is returned in the `x-correlation-id` metadata, so an
/// operator can find the log line a client reports; their details never
/// reach the client.
impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        let mut details = ErrorDetails::new();
        details.set_error_info(error.reason(), ERROR_DOMAIN, error.metadata());
        let mut metadata = MetadataMap::new();
        let (code, message) = match error {
            ApiError::Domain(DomainError::NotFound { resource, key }) => (
                Code::NotFound,
                bounded(&format!("{resource} {key} does not exist")),
            ),
            ApiError::Domain(DomainError::InvalidArgument(violations)) => {
                for violation in &violations {
                    details.add_bad_request_violation(
                        bounded(&violation.field),
                        bounded(&violation.description),
                    );
                }
                (Code::InvalidArgument, summary(&violations))
            }
            ApiError::Domain(DomainError::AlreadyExists { resource, detail }) => (
                Code::AlreadyExists,
                bounded(&format!("{resource} already exists: {detail}")),
            ),
            ApiError::Domain(DomainError::FailedPrecondition(message)) => {
                (Code::FailedPrecondition, bounded(&message))
            }
            ApiError::Domain(DomainError::Unavailable(message) | DomainError::Busy(message)) => {
                (Code::Unavailable, bounded(&message))
            }
            // Retryable: the answer is known once the LMS is back.
            ApiError::Domain(unknown @ DomainError::NotKnownToLegacy { .. }) => {
                (Code::Unavailable, bounded(&unknown.to_string()))
            }
            ApiError::Domain(DomainError::Internal(message)) => {
                let correlation_id = uuid::Uuid::new_v4().to_string();
                tracing::error!(%correlation_id, error = %message, "internal error");
                if let Ok(value) = correlation_id.parse() {
                    metadata.insert("x-correlation-id", value);
                }
                (
                    Code::Internal,
                    format!("internal error; correlation id {correlation_id}"),
                )
            }
            ApiError::Unauthenticated(message) => (Code::Unauthenticated, bounded(&message)),
            ApiError::PermissionDenied(message) => (Code::PermissionDenied, bounded(&message)),
            ApiError::Unimplemented(message) => (Code::Unimplemented, bounded(&message)),
            ApiError::NotFoundExplained(message) => (Code::NotFound, bounded(&message)),
            ApiError::Overloaded(message) => (Code::Unavailable, bounded(&message)),
            deadline @ ApiError::DeadlineExceeded(_) => {
                (Code::DeadlineExceeded, deadline.to_string())
            }
            ApiError::TooManyWatchers { .. } => (Code::ResourceExhausted, error.to_string()),
            ApiError::StreamEnded(end) => (Code::Unavailable, end.to_string()),
            // Retrying cannot help (RESOURCE_EXHAUSTED would invite it): the
            // server's configuration must change first.
            too_large @ ApiError::ResponseItemTooLarge { .. } => {
                (Code::FailedPrecondition, bounded(&too_large.to_string()))
            }
            ApiError::RequestIdReused => {
                let description = "was used before with another request; a retry must repeat the request unchanged, and a new request needs a new id";
                details.add_bad_request_violation("request_id", description);
                (Code::InvalidArgument, format!("request_id: {description}"))
            }
        };
        Status::with_error_details_and_metadata(code, message, details, metadata)
    }
}

/// Descriptions may quote what the client sent; a status travels in HTTP/2
/// headers, so what it quotes is kept short.
const MAX_DESCRIPTION_CHARS: usize = 300;

/// Whose deadline passed, in the error's words.
fn deadline_passed(deadline: &RequestDeadline) -> String {
    match deadline {
        RequestDeadline::Server(timeout) => format!(
            "the request took longer than the server allows ({timeout:?}, grpc.request_timeout)"
        ),
        RequestDeadline::Client(timeout) => format!(
            "the request was not answered within the client's deadline ({timeout:?}, its \
             grpc-timeout)"
        ),
    }
}

fn bounded(text: &str) -> String {
    if text.chars().count() <= MAX_DESCRIPTION_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_DESCRIPTION_CHARS).collect();
    short.push('…');
    short
}

/// The message of an INVALID_ARGUMENT: every violation, bounded.
fn summary(violations: &[FieldViolation]) -> String {
    let summary: Vec<String> = violations
        .iter()
        .map(|violation| {
            format!(
                "{}: {}",
                bounded(&violation.field),
                bounded(&violation.description)
            )
        })
        .collect();
    summary.join("; ")
}

/// Handlers return this.
pub type ApiResult<T> = Result<tonic::Response<T>, Status>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_connection_failure_reaches_the_client_without_the_drivers_text() {
        let cause = sqlx::Error::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connect to 10.1.2.3:5432 failed: Connection refused",
        ));
        let status = Status::from(ApiError::from(EngineError::Legacy(cause)));
        assert_eq!(status.code(), Code::Unavailable);
        assert_eq!(
            status.message(),
            "the legacy database is not answering; retry shortly"
        );
    }

    #[test]
    fn a_start_that_raced_another_is_retryable() {
        let status = Status::from(ApiError::from(EngineError::StartRaced));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("try again"), "{status:?}");
    }

    #[test]
    fn a_queue_failure_reaches_the_client_without_redis_text() {
        let cause = EngineError::Queue("Connection refused (os error 111) at 10.1.2.3:6379".into());
        let status = Status::from(ApiError::from(cause));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            !status.message().contains("10.1.2.3"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn a_row_legacy_cannot_serve_is_unavailable_with_its_reason() {
        let status = Status::from(ApiError::Domain(DomainError::not_known_to_legacy(
            "enrollment",
            42,
        )));
        assert_eq!(status.code(), Code::Unavailable);
        assert!(
            status
                .message()
                .starts_with("enrollment 42 cannot be read now"),
            "{}",
            status.message()
        );
        let reason = status.get_details_error_info().map(|info| info.reason);
        assert_eq!(reason.as_deref(), Some("NOT_KNOWN_TO_LEGACY"));
    }
}
