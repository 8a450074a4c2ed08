//! Every error a handler can return, and the one mapping to `tonic::Status`.

use lms_domain::{DomainError, FieldViolation};
use lms_engine::EngineError;
use std::collections::HashMap;

use tonic::metadata::MetadataMap;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

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
            EngineError::UnknownRun(run) => DomainError::not_found("run", format!("runs/{run}")),
            // The chunk size may be the server's default (migration.chunk_size):
            // StartRun blames its own field where the client gave one.
            EngineError::TooManyChunks { .. } => DomainError::FailedPrecondition(error.to_string()),
            EngineError::RunActive(_)
            | EngineError::Plan(_)
            | EngineError::StagingLostAndLegacyChanged { .. }
            | EngineError::TermsDiffer { .. } => DomainError::FailedPrecondition(error.to_string()),
            EngineError::Lms(_) | EngineError::Legacy(_) | EngineError::Queue(_)
                if error.class() == lms_pg::FailureClass::Transient =>
            {
                DomainError::Unavailable(error.to_string())
            }
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
            ApiError::Domain(DomainError::Internal(_)) => "INTERNAL_ERROR",
            ApiError::Unauthenticated(_) => "TOKEN_MISSING_OR_INVALID",
            ApiError::PermissionDenied(_) => "SCOPE_MISSING",
            ApiError::Unimplemented(_) => "METHOD_NOT_SERVED",
            ApiError::RequestIdReused => "REQUEST_ID_REUSED",
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
        details.set_error_info(error.reason(), ERROR_DOMAIN, HashMap::new());
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
            ApiError::Domain(DomainError::Unavailable(message)) => {
                (Code::Unavailable, bounded(&message))
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
