//! A run's idempotency key and the request it came with. Planning twice
//! with one key gives one run; the key given again with another request
//! (another method, caller, tables, chunk size, policy or hold) is refused
//! ([`EngineError::RequestIdReused`]), as the domain API refuses a create's
//! key reused with another body. The request is kept beside the run
//! (`migration.runs.request`), canonical: the tables in dependency order,
//! the chunk size as the run uses it.

use lms_domain::LegacyEntity;
use serde_json::{Value, json};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::plan::{PlannedRun, RunOptions, selected_entities};

/// A client's request id and what it asked for under it. Built only by
/// [`RunRequest::start`] and [`RunRequest::retry`], so that the two
/// methods never name one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    id: String,
    asked: Value,
}

impl RunRequest {
    /// A new run (`StartRun`, `lmsctl migrate run`) asked by `caller` (the
    /// API's token name; `lmsctl` for the command line). `options.request`
    /// plays no part.
    pub fn start(id: String, caller: &str, options: &RunOptions) -> RunRequest {
        let hold = options.hold.map_or(
            Value::Null,
            |hold| json!({"percent": hold.percent, "min_rows": hold.min_rows}),
        );
        RunRequest {
            id,
            asked: json!({
                "method": "start_run",
                "caller": caller,
                "kind": options.kind.as_str(),
                "entities": names(&selected_entities(options)),
                "chunk_size": options.chunk_size,
                "on_conflict": options.on_conflict.as_str(),
                "hold": hold,
            }),
        }
    }

    /// A retry of rejected rows (`RetryRejected`, `lmsctl migrate retry`)
    /// asked by `caller`, limited to `only` (empty: every table with
    /// rejected rows, whichever they are when it is planned).
    pub fn retry(id: String, caller: &str, only: &[LegacyEntity], chunk_size: u32) -> RunRequest {
        let only: Vec<LegacyEntity> = LegacyEntity::ALL
            .into_iter()
            .filter(|entity| only.contains(entity))
            .collect();
        RunRequest {
            id,
            asked: json!({
                "method": "retry_rejected",
                "caller": caller,
                "entities": names(&only),
                "chunk_size": chunk_size,
            }),
        }
    }

    /// The client's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What was asked, as `migration.runs.request` keeps it.
    pub fn asked(&self) -> &Value {
        &self.asked
    }
}

fn names(entities: &[LegacyEntity]) -> Vec<&'static str> {
    entities.iter().map(|entity| entity.as_str()).collect()
}

/// The run an earlier request with the same id started, if any; the id
/// given with another request is [`EngineError::RequestIdReused`]. (A run
/// planned before requests were kept answers any request with its id.)
pub(crate) async fn run_of_request(
    lms: &PgPool,
    request: Option<&RunRequest>,
) -> Result<Option<PlannedRun>, EngineError> {
    let Some(request) = request else {
        return Ok(None);
    };
    let Some(existing) = sqlx::query(
        "SELECT id, request, request IS NULL OR request = $2 AS same \
         FROM migration.runs WHERE request_id = $1",
    )
    .bind(request.id())
    .bind(request.asked())
    .fetch_optional(lms)
    .await
    .lms()?
    else {
        return Ok(None);
    };
    let run_id: Uuid = existing.try_get("id").lms()?;
    if !existing.try_get::<bool, _>("same").lms()? {
        return Err(EngineError::RequestIdReused {
            request_id: request.id().to_owned(),
            run_id,
            asked: existing
                .try_get::<Option<Value>, _>("request")
                .lms()?
                .unwrap_or(Value::Null)
                .to_string(),
        });
    }
    Ok(Some(PlannedRun {
        run_id,
        created: false,
        queued_chunks: Vec::new(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConflictPolicy, HoldThreshold, RunKind};

    fn options() -> RunOptions {
        RunOptions {
            chunk_size: 100,
            ..RunOptions::default()
        }
    }

    #[test]
    fn every_table_named_or_none_named_is_one_request() {
        let all = RunOptions {
            entities: LegacyEntity::ALL.into_iter().rev().collect(),
            ..options()
        };
        assert_eq!(
            RunRequest::start("r".into(), "admin", &all),
            RunRequest::start("r".into(), "admin", &options())
        );
    }

    #[test]
    fn each_field_of_a_start_makes_another_request() {
        let base = RunRequest::start("r".into(), "admin", &options());
        let others = [
            RunRequest::start("r".into(), "operator", &options()),
            RunRequest::start(
                "r".into(),
                "admin",
                &RunOptions {
                    entities: vec![LegacyEntity::Students],
                    ..options()
                },
            ),
            RunRequest::start(
                "r".into(),
                "admin",
                &RunOptions {
                    chunk_size: 101,
                    ..options()
                },
            ),
            RunRequest::start(
                "r".into(),
                "admin",
                &RunOptions {
                    kind: RunKind::DryRun,
                    ..options()
                },
            ),
            RunRequest::start(
                "r".into(),
                "admin",
                &RunOptions {
                    on_conflict: ConflictPolicy::TakeLegacy,
                    ..options()
                },
            ),
            RunRequest::start(
                "r".into(),
                "admin",
                &RunOptions {
                    hold: Some(HoldThreshold::default()),
                    ..options()
                },
            ),
            RunRequest::retry("r".into(), "admin", &[], 100),
        ];
        for other in others {
            assert_ne!(base.asked(), other.asked(), "{other:?}");
        }
    }

    #[test]
    fn a_retry_names_its_tables_in_one_order() {
        assert_eq!(
            RunRequest::retry(
                "r".into(),
                "admin",
                &[LegacyEntity::Journal, LegacyEntity::Students],
                10
            ),
            RunRequest::retry(
                "r".into(),
                "admin",
                &[LegacyEntity::Students, LegacyEntity::Journal],
                10
            )
        );
    }
}
