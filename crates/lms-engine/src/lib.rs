//! The migration engine: EDU legacy rows into the LMS schema, following the
//! contract in `docs/edu-legacy/DATA.md`, in parallel chunks run by any
//! number of worker processes, with every legacy row accounted for in a
//! ledger.
//!
//! The crate is shared by the producers (`lmsctl`, the gRPC server) and the
//! workers. It never imports the server.

pub mod action_request;
pub mod apply;
pub mod bulk;
pub mod chunk;
pub mod conflict;
pub mod control;
pub mod coverage;
pub mod doctor;
pub mod error;
pub mod explain;
pub mod finalize;
pub mod hold;
mod id_stream;
pub mod inline;
pub mod plan;
mod poll_tick;
mod previous_ranges;
pub mod progress;
pub mod progress_view;
pub mod queue;
pub mod report;
pub mod report_html;
pub mod resolve;
pub mod run_metrics;
pub mod run_request;
pub mod setup;
mod sql_template;
pub mod stage;
pub mod state;
mod statistics;
mod stored_codes;
pub mod undo;
pub mod vacuum;
pub mod verify;
pub mod worker;

pub use action_request::ActionRequest;
pub use chunk::{
    ChunkOutcome, Delivery, EngineContext, RetryPolicy, run_chunk, run_delivered_chunk,
};
pub use conflict::{ConflictKind, ConflictPolicy};
pub use error::EngineError;
pub use hold::{HoldPreview, HoldThreshold, HoldThresholdError, TablePreview};
pub use plan::{IdRange, Phase, PlannedRun, RunKind, RunOptions, plan_run};
pub use progress_view::{RunProgress, follow_run, run_progress};
pub use queue::{ChunkJob, ChunkQueue, QueueConfig};
pub use report::CoverageReport;
pub use run_request::{AskedRun, AskedRunError, RunDefaults, RunRequest};
pub use state::{ChunkState, RunStatus, StepState};
pub use worker::{WorkerConfig, run_worker, unique_worker_name};

use sqlx::PgPool;

/// Plans a run and puts its first chunks on the queue.
pub async fn start_run(
    lms: &PgPool,
    legacy: &PgPool,
    queue: &ChunkQueue,
    options: &RunOptions,
) -> Result<PlannedRun, EngineError> {
    let planned = plan_run(lms, legacy, options).await?;
    // If this push fails the chunks stay queued in PostgreSQL, with no job
    // on the queue, and a worker's sweeper queues them after
    // `requeue_after`.
    if let Err(error) = queue.push(planned.run_id, &planned.queued_chunks).await {
        tracing::warn!(%error, "the run is planned but its first chunks could not be queued yet");
    }
    Ok(planned)
}
