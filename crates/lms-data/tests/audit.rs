//! The audit trail and the request ids of creates on a real PostgreSQL:
//! recording and listing events, and purging expired request ids.

#[path = "repo_support.rs"]
mod support;

use std::time::Duration;

use lms_data::audit::{REQUEST_KEY_RETENTION, list, purge_request_keys, record};
use lms_domain::audit::{AuditFilter, CallCode, NewAuditEvent};
use lms_domain::model::PageRequest;
use support::Env;

fn event(method: &str, resource: &str, code: i32) -> NewAuditEvent {
    NewAuditEvent {
        actor: "ops".into(),
        method: method.into(),
        resource: Some(resource.into()),
        code: CallCode::new(code).unwrap_or(CallCode::UNKNOWN),
        request_id: None,
    }
}

const CREATE: &str = "/lms.v1.StudentService/CreateStudent";
const DELETE: &str = "/lms.v1.StudentService/DeleteStudent";

#[tokio::test]
async fn recorded_events_list_newest_first_in_pages() -> anyhow::Result<()> {
    let env = Env::new("auditpages").await?;
    for resource in ["students/1", "students/2", "students/3"] {
        record(env.pool(), &event(CREATE, resource, 0)).await?;
    }
    let filter = AuditFilter::default();
    let first = list(env.pool(), &filter, PageRequest::new(2, None)).await?;
    let names: Vec<_> = first.items.iter().map(|e| e.resource.clone()).collect();
    assert_eq!(
        names,
        [Some("students/3".to_owned()), Some("students/2".to_owned())]
    );
    let next = PageRequest::resume(2, first.next_after);
    let second = list(env.pool(), &filter, next).await?;
    assert_eq!(second.items.len(), 1);
    assert_eq!(second.items[0].resource.as_deref(), Some("students/1"));
    assert!(second.next_after.is_none());
    env.finish().await
}

#[tokio::test]
async fn events_filter_by_method_resource_and_time() -> anyhow::Result<()> {
    let env = Env::new("auditfilters").await?;
    record(env.pool(), &event(CREATE, "students/1", 0)).await?;
    record(env.pool(), &event(DELETE, "students/1", 5)).await?;
    record(env.pool(), &event(DELETE, "students/2", 0)).await?;
    let deletes = AuditFilter {
        method: Some(DELETE.into()),
        resource: Some("students/1".into()),
        ..Default::default()
    };
    let found = list(env.pool(), &deletes, PageRequest::new(10, None)).await?;
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].code.number(), 5);
    assert_eq!(found.items[0].actor, "ops");
    let future = AuditFilter {
        since: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..Default::default()
    };
    assert!(
        list(env.pool(), &future, PageRequest::new(10, None))
            .await?
            .items
            .is_empty()
    );
    let past = AuditFilter {
        until: Some(chrono::Utc::now() + chrono::Duration::hours(1)),
        ..Default::default()
    };
    assert_eq!(
        list(env.pool(), &past, PageRequest::new(10, None))
            .await?
            .items
            .len(),
        3
    );
    env.finish().await
}

#[tokio::test]
async fn request_ids_past_the_retention_are_purged() -> anyhow::Result<()> {
    let env = Env::new("auditpurge").await?;
    env.exec(
        "INSERT INTO api.idempotency_keys (actor, method, request_id, body_sha256, created_at) VALUES \
         ('ops', 'm', 'old', decode(repeat('00', 32), 'hex'), now() - interval '25 hours'), \
         ('ops', 'm', 'young', decode(repeat('00', 32), 'hex'), now() - interval '23 hours')",
    )
    .await?;
    assert_eq!(REQUEST_KEY_RETENTION, Duration::from_secs(24 * 3600));
    let purged = purge_request_keys(env.pool(), REQUEST_KEY_RETENTION).await?;
    assert_eq!(purged, 1);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT request_id FROM api.idempotency_keys ORDER BY request_id")
            .fetch_all(env.pool())
            .await?;
    assert_eq!(left, ["young"]);
    env.finish().await
}
