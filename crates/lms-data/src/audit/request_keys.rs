//! Request ids of creates (AIP-155), claimed inside the create's
//! transaction.

use lms_domain::DomainError;
use lms_domain::audit::{Call, RequestKey};
use sea_orm::{ConnectionTrait, Value};

use super::statement;
use crate::repo::errors::{Target, db_error};

const KEY: &str = "request id";

/// What claiming a request id found.
#[derive(Debug)]
pub(crate) enum Claim {
    /// The id is new: this transaction owns it.
    Claimed,
    /// An earlier call with the same body committed this response.
    Replay(Vec<u8>),
    /// An earlier call used the id with another body.
    BodyDiffers,
}

fn key_values(call: &Call, key: &RequestKey) -> Vec<Value> {
    vec![
        call.actor.clone().into(),
        call.method.clone().into(),
        key.request_id.clone().into(),
    ]
}

/// Claims `key` for `call` inside the create's transaction `tx`. A
/// concurrent twin blocks here until the first transaction ends.
pub(crate) async fn claim(
    tx: &impl ConnectionTrait,
    call: &Call,
    key: &RequestKey,
) -> Result<Claim, DomainError> {
    let failed = |error: sea_orm::DbErr| db_error(Target::any(KEY), &error);
    let mut values = key_values(call, key);
    values.push(key.body_sha256.to_vec().into());
    let inserted = tx
        .query_one_raw(statement(include_str!("sql/claim_request_key.sql"), values))
        .await
        .map_err(failed)?;
    if inserted.is_some() {
        return Ok(Claim::Claimed);
    }
    let stored = tx
        .query_one_raw(statement(
            include_str!("sql/find_request_key.sql"),
            key_values(call, key),
        ))
        .await
        .map_err(failed)?
        .ok_or_else(|| {
            DomainError::Internal("a request id neither inserted nor found".to_owned())
        })?;
    let body: Vec<u8> = stored.try_get("", "body_sha256").map_err(failed)?;
    if body != key.body_sha256 {
        return Ok(Claim::BodyDiffers);
    }
    let response: Option<Vec<u8>> = stored.try_get("", "response").map_err(failed)?;
    response.map(Claim::Replay).ok_or_else(|| {
        DomainError::Internal("a committed request id without its response".to_owned())
    })
}

/// Stores the create's result under `key`, in the create's transaction.
pub(crate) async fn store_response(
    tx: &impl ConnectionTrait,
    call: &Call,
    key: &RequestKey,
    resource: &str,
    response: &[u8],
) -> Result<(), DomainError> {
    let mut values = key_values(call, key);
    values.push(resource.to_owned().into());
    values.push(response.to_vec().into());
    tx.execute_raw(statement(include_str!("sql/store_response.sql"), values))
        .await
        .map_err(|error| db_error(Target::any(KEY), &error))?;
    Ok(())
}
