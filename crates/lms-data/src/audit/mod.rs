//! The audit trail (`api.audit_events`) and the request ids of retried
//! creates (`api.idempotency_keys`).
//!
//! Domain writes record their audit row inside their own transaction
//! ([`crate::repo::AuditedWrites`]); anything else (migration control, and
//! any later approve or undo) calls [`record`] once it knows the outcome.
//! Every recorded event is also logged at INFO with target `lms::audit`.

pub(crate) mod request_keys;

use std::time::Duration;

use chrono::{DateTime, Utc};
use lms_domain::DomainError;
use lms_domain::audit::{AuditEvent, AuditFilter, CallCode, NewAuditEvent};
use lms_domain::model::{Page, PageRequest};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, SqlxPostgresConnector, Statement, Value};
use sqlx::PgPool;

use crate::repo::errors::{Target, db_error};

/// How long a request id is kept: a retry within this time returns the
/// first result. The server purges older keys on a timer.
pub const REQUEST_KEY_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

const EVENT: &str = "audit event";

pub(crate) fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// Records one call's outcome on its own (not inside another write's
/// transaction), and logs it.
pub async fn record(lms: &PgPool, event: &NewAuditEvent) -> Result<(), DomainError> {
    let db = SqlxPostgresConnector::from_sqlx_postgres_pool(lms.clone());
    insert_event(&db, event).await?;
    log(event);
    Ok(())
}

/// Inserts an audit row on `db`: a pool, or the transaction of the write it
/// records (then the caller logs it once the transaction has committed).
pub(crate) async fn insert_event(
    db: &impl ConnectionTrait,
    event: &NewAuditEvent,
) -> Result<(), DomainError> {
    let code = i16::try_from(event.code.number())
        .map_err(|_| DomainError::Internal(format!("call code {} out of range", event.code)))?;
    db.execute_raw(statement(
        include_str!("sql/insert_event.sql"),
        vec![
            event.actor.clone().into(),
            event.method.clone().into(),
            event.resource.clone().into(),
            code.into(),
            event.request_id.clone().into(),
        ],
    ))
    .await
    .map_err(|error| db_error(Target::any(EVENT), &error))?;
    Ok(())
}

/// The log line of a recorded event.
pub(crate) fn log(event: &NewAuditEvent) {
    tracing::info!(
        target: "lms::audit",
        actor = %event.actor,
        method = %event.method,
        resource = event.resource.as_deref().unwrap_or(""),
        code = event.code.number(),
        request_id = event.request_id.as_deref().unwrap_or(""),
        "audited call"
    );
}

/// One page of audit rows, newest first, matching `filter`.
pub async fn list(
    lms: &PgPool,
    filter: &AuditFilter,
    page: PageRequest,
) -> Result<Page<AuditEvent>, DomainError> {
    let db = SqlxPostgresConnector::from_sqlx_postgres_pool(lms.clone());
    let rows = db
        .query_all_raw(statement(
            include_str!("sql/list_events.sql"),
            vec![
                page.after().into(),
                filter.actor.clone().into(),
                filter.method.clone().into(),
                filter.resource.clone().into(),
                filter.since.into(),
                filter.until.into(),
                (i64::from(page.size()) + 1).into(),
            ],
        ))
        .await
        .map_err(|error| db_error(Target::any(EVENT), &error))?;
    let events = rows
        .iter()
        .map(event)
        .collect::<Result<Vec<_>, DomainError>>()?;
    Ok(Page::from_overfetch(events, page, |event| event.id))
}

fn event(row: &QueryResult) -> Result<AuditEvent, DomainError> {
    let read = |error: sea_orm::DbErr| db_error(Target::any(EVENT), &error);
    let code: i16 = row.try_get("", "code").map_err(read)?;
    Ok(AuditEvent {
        id: row.try_get("", "id").map_err(read)?,
        at: row.try_get::<DateTime<Utc>>("", "at").map_err(read)?,
        actor: row.try_get("", "actor").map_err(read)?,
        method: row.try_get("", "method").map_err(read)?,
        resource: row.try_get("", "resource").map_err(read)?,
        code: CallCode::new(i32::from(code)).ok_or_else(|| {
            DomainError::Internal(format!("audit event with unknown code {code}"))
        })?,
        request_id: row.try_get("", "request_id").map_err(read)?,
    })
}

/// Deletes request ids older than `retention`; how many.
pub async fn purge_request_keys(lms: &PgPool, retention: Duration) -> Result<u64, DomainError> {
    let db = SqlxPostgresConnector::from_sqlx_postgres_pool(lms.clone());
    let purged = db
        .execute_raw(statement(
            include_str!("sql/purge_request_keys.sql"),
            vec![retention.as_secs_f64().into()],
        ))
        .await
        .map_err(|error| db_error(Target::any("request id"), &error))?;
    Ok(purged.rows_affected())
}
