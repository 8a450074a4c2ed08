//! Every error a handler can return, and the one mapping to `tonic::Status`.

use lms_domain::{DomainError, FieldViolation};
use lms_engine::EngineError;
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
}

impl ApiError {
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

/// The one place errors become statuses. Internal errors are logged with a
/// correlation id that is returned in the `x-correlation-id` metadata, so an
/// operator can find the log line a client reports; their details never
/// reach the client.
impl From<ApiError> for Status {
    fn from(error: ApiError) -> Status {
        match error {
            ApiError::Domain(DomainError::NotFound { resource, key }) => {
                Status::not_found(bounded(&format!("{resource} {key} does not exist")))
            }
            ApiError::Domain(DomainError::InvalidArgument(violations)) => {
                invalid_argument(&violations)
            }
            ApiError::Domain(DomainError::AlreadyExists { resource, detail }) => {
                Status::already_exists(bounded(&format!("{resource} already exists: {detail}")))
            }
            ApiError::Domain(DomainError::FailedPrecondition(message)) => {
                Status::failed_precondition(bounded(&message))
            }
            ApiError::Domain(DomainError::Unavailable(message)) => {
                Status::unavailable(bounded(&message))
            }
            ApiError::Domain(DomainError::Internal(message)) => {
                let correlation_id = uuid::Uuid::new_v4().to_string();
                tracing::error!(%correlation_id, error = %message, "internal error");
                let mut status =
                    Status::internal(format!("internal error; correlation id {correlation_id}"));
                if let Ok(value) = correlation_id.parse() {
                    status.metadata_mut().insert("x-correlation-id", value);
                }
                status
            }
            ApiError::Unauthenticated(message) => Status::unauthenticated(bounded(&message)),
            ApiError::PermissionDenied(message) => Status::permission_denied(bounded(&message)),
        }
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

fn invalid_argument(violations: &[FieldViolation]) -> Status {
    let mut details = ErrorDetails::new();
    for violation in violations {
        details
            .add_bad_request_violation(bounded(&violation.field), bounded(&violation.description));
    }
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
    Status::with_error_details(Code::InvalidArgument, summary.join("; "), details)
}

/// Handlers return this.
pub type ApiResult<T> = Result<tonic::Response<T>, Status>;
