//! An operator's action on an existing run (an approval, a cancel, an undo) under a
//! client's request id (AIP-155). The action's transaction records the
//! request (`migration.run_action_requests`) beside its own writes, so the
//! record exists exactly when the action took effect. The same id given
//! again with the same action, caller and run is a retry: it is answered
//! with the run as it is now, where the action itself would refuse ("not
//! held", "has already ended", "undone already"). Given with another action, caller or run it
//! is [`EngineError::RequestIdReused`], and nothing is done.
//!
//! These ids are one namespace, server-wide, over every caller and all
//! three actions; an id that started a run (`migration.runs.request_id`) is not
//! compared with them.
//!
//! A retry of the same action on the same run is ordered after the first
//! by the action's own lock, and finds its record. Any request under an
//! id whose record is committed is refused when it looks the id up. The
//! engine's locks leave no two actions in flight at once otherwise (one
//! run is active at a time, held runs included, and an undo refuses while
//! one is); should a writer they do not order record the id first, the
//! record's primary key still refuses the later one when it records,
//! rather than failing on a unique violation.

use serde_json::{Value, json};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::state::stored_text_enum;

stored_text_enum! {
    /// What an operator does to an existing run.
    pub enum RunAction as "run action" {
        /// A held run let through (`ApproveRun`).
        Approve => "approve",
        /// An active run stopped (`CancelRun`).
        Cancel => "cancel",
        /// A succeeded delta run undone (`UndoRun`).
        Undo => "undo",
    }
}

/// A client's request id and who sent it. Built by [`ActionRequest::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    id: String,
    caller: String,
}

impl ActionRequest {
    /// `id` as `caller` sent it (the API's token name; `lmsctl` for the
    /// command line).
    pub fn new(id: String, caller: &str) -> ActionRequest {
        ActionRequest {
            id,
            caller: caller.to_owned(),
        }
    }

    /// The client's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn asked(&self, action: RunAction, run_id: Uuid) -> Value {
        json!({
            "action": action.as_str(),
            "caller": self.caller,
            "run": run_id,
        })
    }
}

/// Whether the action was done already under `request`: true for a retry
/// of it, false for a new request (and with none). Called in the action's
/// transaction once it holds the lock that orders it after a twin, so a
/// twin's committed record is seen.
pub(crate) async fn done_already(
    tx: &mut PgConnection,
    action: RunAction,
    run_id: Uuid,
    request: Option<&ActionRequest>,
) -> Result<bool, EngineError> {
    let Some(request) = request else {
        return Ok(false);
    };
    match earlier(tx, request).await? {
        None => Ok(false),
        Some(earlier) if earlier.asked == request.asked(action, run_id) => Ok(true),
        Some(earlier) => Err(earlier.reused_by(request)),
    }
}

/// What was asked first under a request id.
struct Earlier {
    run_id: Uuid,
    asked: Value,
}

impl Earlier {
    fn reused_by(self, request: &ActionRequest) -> EngineError {
        EngineError::RequestIdReused {
            request_id: request.id().to_owned(),
            run_id: self.run_id,
            asked: self.asked.to_string(),
        }
    }
}

async fn earlier(
    tx: &mut PgConnection,
    request: &ActionRequest,
) -> Result<Option<Earlier>, EngineError> {
    let Some(row) = sqlx::query(
        "SELECT run_id, request FROM migration.run_action_requests WHERE request_id = $1",
    )
    .bind(request.id())
    .fetch_optional(&mut *tx)
    .await
    .lms()?
    else {
        return Ok(None);
    };
    Ok(Some(Earlier {
        run_id: row.try_get("run_id").lms()?,
        asked: row.try_get("request").lms()?,
    }))
}

/// Records `request` in the action's transaction (nothing with none). An
/// id another request under it recorded first, since [`done_already`]
/// looked (it took another lock), is [`EngineError::RequestIdReused`]: the
/// insert waits for that request's transaction and, once it commits, does
/// nothing; the caller's transaction then rolls back.
pub(crate) async fn record(
    tx: &mut PgConnection,
    action: RunAction,
    run_id: Uuid,
    request: Option<&ActionRequest>,
) -> Result<(), EngineError> {
    let Some(request) = request else {
        return Ok(());
    };
    let recorded = sqlx::query(
        "INSERT INTO migration.run_action_requests (request_id, run_id, request) VALUES ($1, $2, $3) \
         ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(request.id())
    .bind(run_id)
    .bind(request.asked(action, run_id))
    .execute(&mut *tx)
    .await
    .lms()?
    .rows_affected();
    if recorded == 1 {
        return Ok(());
    }
    let earlier = earlier(tx, request).await?.ok_or_else(|| {
        EngineError::Invariant(format!(
            "request id {:?} was neither recorded nor found",
            request.id()
        ))
    })?;
    Err(earlier.reused_by(request))
}
