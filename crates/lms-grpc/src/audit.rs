//! The audit trail from the API's side: who is calling (the `Caller` the
//! auth layer put in the request), the request ids of creates, and
//! recording how a call ended.
//!
//! A domain write that succeeds records itself in its own transaction
//! (`lms_data::repo::AuditedWrites`); [`finish_write`] records one that
//! failed. Migration control records every outcome through
//! [`finish_control`] (and so may any later control call).

use std::time::Duration;

use lms_data::Repository;
use lms_data::repo::Recorded;
use lms_domain::DomainError;
use lms_domain::audit::{AuditEvent, Call, CallCode, Created, NewAuditEvent, RequestKey};
use prost::Message;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tonic::{Request, Response, Status};

use crate::auth::Caller;
use crate::convert::timestamp;
use crate::error::{ApiError, ApiResult};
use crate::pb::lms::migration::v1 as pb;
use crate::request::request_id;

/// The call a request makes, from the caller the auth layer recorded. A
/// guarded method always has one; its absence is a server bug.
pub fn call_of<T>(request: &Request<T>) -> Result<Call, Status> {
    let caller = request.extensions().get::<Caller>().ok_or_else(|| {
        Status::from(ApiError::from(DomainError::Internal(
            "a write reached its handler without a caller".to_owned(),
        )))
    })?;
    Ok(Call {
        actor: caller.token_name.clone(),
        method: caller.method.to_owned(),
        resource: None,
        key: None,
    })
}

/// `name` when it is a well-formed resource name (by `parse`): what a
/// failed call's audit row names.
pub fn well_formed<T>(
    name: &str,
    parse: impl FnOnce(&str) -> Result<T, ApiError>,
) -> Option<String> {
    parse(name).ok().map(|_| name.to_owned())
}

/// The request id of a request that carries one, and a digest of the
/// request without it.
fn request_key<M: CarriesRequestId>(request: &M) -> Result<Option<RequestKey>, ApiError> {
    let Some(request_id) = request_id(request.request_id())? else {
        return Ok(None);
    };
    let mut body = request.clone();
    body.clear_request_id();
    Ok(Some(RequestKey {
        request_id,
        body_sha256: Sha256::digest(body.encode_to_vec()).into(),
    }))
}

/// Puts a request's id and the digest of the rest on its call, before
/// anything else can fail: the audit row of a call that carries a request
/// id (a create, `StartRun`, `RetryRejected`, `ApproveRun`, `CancelRun`, `UndoRun`) names it however the call
/// ends. A malformed id is the call's error,
/// recorded without one.
pub fn key_call<M: CarriesRequestId>(call: &mut Call, request: &M) -> Result<(), ApiError> {
    call.key = request_key(request)?;
    Ok(())
}

/// A request that carries a client's request id (AIP-155).
pub trait CarriesRequestId: Message + Clone {
    fn request_id(&self) -> &str;
    /// Empties it, for the digest of the rest.
    fn clear_request_id(&mut self);
}

macro_rules! carries_request_id {
    ($($request:ty),+ $(,)?) => {
        $(impl CarriesRequestId for $request {
            fn request_id(&self) -> &str {
                &self.request_id
            }
            fn clear_request_id(&mut self) {
                self.request_id.clear();
            }
        })+
    };
}

carries_request_id!(
    crate::pb::lms::v1::CreateStudentRequest,
    crate::pb::lms::v1::CreateCourseMaterialRequest,
    crate::pb::lms::v1::CreateEnrollmentRequest,
    crate::pb::lms::v1::CreateGradeRequest,
    pb::StartRunRequest,
    pb::RetryRejectedRequest,
    pb::ApproveRunRequest,
    pb::CancelRunRequest,
    pb::UndoRunRequest,
);

/// What a create stores for its retries: the response it sends.
pub fn recorded(name: &str, response: &impl Message) -> Recorded {
    Recorded {
        resource: name.to_owned(),
        response: response.encode_to_vec(),
    }
}

/// The response of a create: the new resource, or the stored response of
/// the call that created it.
pub fn created<T, M>(created: Created<T>) -> Result<M, ApiError>
where
    M: Message + Default + From<T>,
{
    match created {
        Created::New(value) => Ok(M::from(value)),
        Created::Replayed(response) => M::decode(response.as_slice()).map_err(|error| {
            ApiError::from(DomainError::Internal(format!(
                "a stored response does not decode: {error}"
            )))
        }),
        Created::RequestIdReused => Err(ApiError::RequestIdReused),
    }
}

fn code_of(status: &Status) -> CallCode {
    CallCode::new(i32::from(status.code())).unwrap_or(CallCode::UNKNOWN)
}

/// Ends a domain write: a failure is recorded with its code (a success
/// recorded itself when it committed). A failure to record is logged; the
/// client still gets the write's own answer.
pub async fn finish_write<T>(
    repo: &Repository,
    call: &Call,
    result: Result<T, ApiError>,
) -> ApiResult<T> {
    match result {
        Ok(value) => Ok(Response::new(value)),
        Err(error) => {
            let status = Status::from(error);
            if let Err(error) = repo.record_failed_call(call, code_of(&status)).await {
                warn_unrecorded(&call.event(code_of(&status)), &error);
            }
            Err(status)
        }
    }
}

/// Ends a migration-control call: records its outcome and the resource it
/// acted on (`resource` of the result, else the call's own).
pub async fn finish_control<T>(
    lms: &PgPool,
    call: &Call,
    result: Result<T, ApiError>,
    resource: impl FnOnce(&T) -> String,
) -> ApiResult<T> {
    let (event, outcome) = match result {
        Ok(value) => {
            let mut event = call.event(CallCode::OK);
            event.resource = Some(resource(&value));
            (event, Ok(Response::new(value)))
        }
        Err(error) => {
            let status = Status::from(error);
            (call.event(code_of(&status)), Err(status))
        }
    };
    record(lms, &event).await;
    outcome
}

/// Records a call's outcome on its own; for control calls made outside
/// this module's handlers (an approve, an undo). Logs what it cannot write.
pub async fn record(lms: &PgPool, event: &NewAuditEvent) {
    if let Err(error) = lms_data::audit::record(lms, event).await {
        warn_unrecorded(event, &error);
    }
}

fn warn_unrecorded(event: &NewAuditEvent, error: &DomainError) {
    tracing::warn!(
        target: "lms::audit",
        actor = %event.actor,
        method = %event.method,
        resource = event.resource.as_deref().unwrap_or(""),
        code = event.code.number(),
        %error,
        "the audit row of this call could not be written"
    );
}

impl From<AuditEvent> for pb::AuditEvent {
    fn from(event: AuditEvent) -> Self {
        pb::AuditEvent {
            name: format!("auditEvents/{}", event.id),
            time: timestamp(Some(event.at)),
            actor: event.actor,
            method: event.method,
            resource: event.resource.unwrap_or_default(),
            code: event.code.number(),
            request_id: event.request_id.unwrap_or_default(),
        }
    }
}

/// How often the server purges request ids past their retention.
pub const PURGE_EVERY: Duration = Duration::from_secs(15 * 60);

/// Purges request ids older than their retention
/// ([`lms_data::audit::REQUEST_KEY_RETENTION`]) now and every
/// [`PURGE_EVERY`], until `stop` completes. A failed purge is logged and
/// tried again next time: a key kept longer does no harm.
pub async fn purge_request_keys(lms: PgPool, stop: impl Future<Output = ()>) {
    let purge = async {
        let mut ticks = tokio::time::interval(PURGE_EVERY);
        loop {
            ticks.tick().await;
            let retention = lms_data::audit::REQUEST_KEY_RETENTION;
            match lms_data::audit::purge_request_keys(&lms, retention).await {
                Ok(purged) => tracing::debug!(purged, "purged expired request ids"),
                Err(error) => tracing::warn!(%error, "could not purge expired request ids"),
            }
        }
    };
    tokio::select! {
        () = purge => {}
        () = stop => {}
    }
}
