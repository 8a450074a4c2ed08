//! An operator's action on an existing run (an approval, an undo) under a
//! client's request id (AIP-155). The action's transaction records the
//! request (`migration.run_action_requests`) beside its own writes, so the
//! record exists exactly when the action took effect. The same id given
//! again with the same action, caller and run is a retry: it is answered
//! with the run as it is now, where the action itself would refuse ("not
//! held", "undone already"). Given with another action, caller or run it
//! is [`EngineError::RequestIdReused`], and nothing is done.
//!
//! These ids are their own namespace, as each domain create's are: an id
//! that started a run (`migration.runs.request_id`) is not compared.

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
    let asked = request.asked(action, run_id);
    let Some(earlier) = sqlx::query(
        "SELECT run_id, request, request = $2 AS same \
         FROM migration.run_action_requests WHERE request_id = $1",
    )
    .bind(request.id())
    .bind(&asked)
    .fetch_optional(&mut *tx)
    .await
    .lms()?
    else {
        return Ok(false);
    };
    if earlier.try_get::<bool, _>("same").lms()? {
        return Ok(true);
    }
    Err(EngineError::RequestIdReused {
        request_id: request.id().to_owned(),
        run_id: earlier.try_get("run_id").lms()?,
        asked: earlier.try_get::<Value, _>("request").lms()?.to_string(),
    })
}

/// Records `request` in the action's transaction (nothing with none).
pub(crate) async fn record(
    tx: &mut PgConnection,
    action: RunAction,
    run_id: Uuid,
    request: Option<&ActionRequest>,
) -> Result<(), EngineError> {
    let Some(request) = request else {
        return Ok(());
    };
    sqlx::query(
        "INSERT INTO migration.run_action_requests (request_id, run_id, request) VALUES ($1, $2, $3)",
    )
    .bind(request.id())
    .bind(run_id)
    .bind(request.asked(action, run_id))
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}
