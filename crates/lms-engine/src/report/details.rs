//! What the report page shows beyond the numbers: examples of rejected
//! rows, and how long each step of a run took.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::plan::Phase;
use crate::state::StepState;

/// One rejected legacy row, as the ledger explains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectionExample {
    pub legacy_id: i64,
    pub detail: Option<String>,
}

/// Examples by legacy table, then by reject reason.
pub type RejectionExamples = BTreeMap<String, BTreeMap<String, Vec<RejectionExample>>>;

/// Up to `per_reason` rejected rows of each of `entities` and each reason:
/// those with the lowest legacy ids, so the same ledger gives the same
/// examples. The ledger holds every row's latest outcome, so these are the
/// rejections as they stand now.
pub async fn rejection_examples(
    lms: &PgPool,
    entities: &[String],
    per_reason: i64,
) -> Result<RejectionExamples, EngineError> {
    let rows = sqlx::query(
        "SELECT entity, reason, legacy_id, detail FROM ( \
             SELECT entity, reason, legacy_id, detail, \
                    row_number() OVER (PARTITION BY entity, reason ORDER BY legacy_id) AS rank \
             FROM migration.ledger \
             WHERE entity = ANY($1) AND outcome = 'rejected' AND source_deleted_at IS NULL \
         ) ranked WHERE rank <= $2 ORDER BY entity, reason, legacy_id",
    )
    .bind(entities)
    .bind(per_reason)
    .fetch_all(lms)
    .await
    .lms()?;
    let mut examples = RejectionExamples::new();
    for row in &rows {
        let entity: String = row.try_get("entity").lms()?;
        let reason: String = row.try_get("reason").lms()?;
        examples
            .entry(entity)
            .or_default()
            .entry(reason)
            .or_default()
            .push(RejectionExample {
                legacy_id: row.try_get("legacy_id").lms()?,
                detail: row.try_get("detail").lms()?,
            });
    }
    Ok(examples)
}

/// How one step (a table's phase) of a run went, in time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepTiming {
    pub entity: String,
    pub phase: Phase,
    pub state: StepState,
    pub chunks: i64,
    /// When the steps it depends on were done (for the first phase, when
    /// the run was planned).
    pub ready_at: Option<DateTime<Utc>>,
    /// When the first of its chunks started (its latest attempt).
    pub first_chunk_started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The chunks' working time added up: more than the elapsed time when
    /// chunks ran in parallel.
    pub busy_seconds: f64,
    pub slowest_chunk_seconds: f64,
}

impl StepTiming {
    /// From its first chunk's start (else from when it was ready) to its end.
    pub fn elapsed_seconds(&self) -> Option<f64> {
        let start = self.first_chunk_started_at.or(self.ready_at)?;
        Some(seconds_between(start, self.finished_at?))
    }
}

/// Seconds from `start` to `end`, with millisecond precision.
pub fn seconds_between(start: DateTime<Utc>, end: DateTime<Utc>) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let millis = (end - start).num_milliseconds() as f64;
    millis / 1000.0
}

/// Every step of a run with its timings, in the run's table order and
/// phase order.
pub async fn step_timings(lms: &PgPool, run_id: Uuid) -> Result<Vec<StepTiming>, EngineError> {
    let entities: Vec<String> = sqlx::query("SELECT entities FROM migration.runs WHERE id = $1")
        .bind(run_id)
        .fetch_optional(lms)
        .await
        .lms()?
        .ok_or(EngineError::UnknownRun(run_id))?
        .try_get(0)
        .lms()?;
    let rows = sqlx::query(
        "SELECT s.entity, s.phase, s.state, s.started_at AS ready_at, s.finished_at, \
                count(c.id) AS chunks, min(c.started_at) AS first_chunk_started_at, \
                coalesce(sum(extract(epoch FROM c.finished_at - c.started_at)) \
                    FILTER (WHERE c.state = 'done'), 0)::float8 AS busy_seconds, \
                coalesce(max(extract(epoch FROM c.finished_at - c.started_at)) \
                    FILTER (WHERE c.state = 'done'), 0)::float8 AS slowest_chunk_seconds \
         FROM migration.run_steps s LEFT JOIN migration.chunks c ON c.step_id = s.id \
         WHERE s.run_id = $1 GROUP BY s.id",
    )
    .bind(run_id)
    .fetch_all(lms)
    .await
    .lms()?;
    let mut timings = Vec::with_capacity(rows.len());
    for entity in &entities {
        for phase in Phase::ALL {
            let row = rows.iter().find(|row| {
                row.try_get::<&str, _>("entity")
                    .is_ok_and(|name| name == entity)
                    && row
                        .try_get::<Phase, _>("phase")
                        .is_ok_and(|stored| stored == phase)
            });
            let Some(row) = row else { continue };
            timings.push(StepTiming {
                entity: entity.clone(),
                phase,
                state: row.try_get("state").lms()?,
                ready_at: row.try_get("ready_at").lms()?,
                finished_at: row.try_get("finished_at").lms()?,
                chunks: row.try_get("chunks").lms()?,
                first_chunk_started_at: row.try_get("first_chunk_started_at").lms()?,
                busy_seconds: row.try_get("busy_seconds").lms()?,
                slowest_chunk_seconds: row.try_get("slowest_chunk_seconds").lms()?,
            });
        }
    }
    Ok(timings)
}
