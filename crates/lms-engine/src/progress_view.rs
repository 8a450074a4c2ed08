//! A run's progress as operators watch it: per table, how many chunks of
//! each phase are done.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lms_domain::LegacyEntity;
use lms_domain::entity::UnknownEntity;
use serde::Serialize;
use sqlx::postgres::{PgListener, PgRow};
use sqlx::{PgPool, Row};
use uuid::Uuid;

use crate::bulk::LoadPath;
use crate::conflict::{ConflictPolicy, UnknownPolicy};
use crate::error::{DatabaseContext, EngineError};
use crate::hold::HoldPreview;
use crate::plan::{Phase, RunKind};
use crate::progress::PROGRESS_CHANNEL;
use crate::state::{RunStatus, StepState};

const RUNS_BY_ID: &str = include_str!("progress_view/runs_by_id.sql");
const STEPS_OF_RUNS: &str = include_str!("progress_view/steps_of_runs.sql");

/// A run's state now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunProgress {
    pub run_id: Uuid,
    pub status: RunStatus,
    pub kind: RunKind,
    pub request_id: Option<String>,
    pub chunk_size: i32,
    /// Which side the run lets win a conflict.
    pub on_conflict: ConflictPolicy,
    pub error: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The chunk that failed the run, if one did.
    pub failed_chunk: Option<i64>,
    /// The hold gate's preview, once a gated run counted it (a held run's
    /// is what an approval applies).
    pub hold: Option<HoldPreview>,
    pub entities: Vec<EntityProgress>,
}

/// One table's progress through its four phases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntityProgress {
    pub entity: LegacyEntity,
    /// How its apply writes its rows in this run (`bulk` or `delta`; none
    /// for a dry run), and the facts that chose it.
    pub load_path: Option<LoadPath>,
    pub load_reason: Option<String>,
    pub phases: Vec<PhaseProgress>,
}

/// One phase of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseProgress {
    pub phase: Phase,
    pub state: StepState,
    pub chunks_done: i32,
    pub chunks_total: i32,
    /// Legacy rows the phase's done chunks covered: stage and apply chunks
    /// record them (`rows` in their stats); resolve and finalize count none.
    pub rows_done: i64,
}

impl RunProgress {
    /// Whether the run has ended (whichever way).
    pub fn is_finished(&self) -> bool {
        self.status.is_finished()
    }

    /// Whether the run waits for an operator: ended, or held.
    pub fn is_settled(&self) -> bool {
        self.is_finished() || self.status == RunStatus::Held
    }

    /// Chunks done and in all, over every table and phase.
    pub fn chunks(&self) -> (i64, i64) {
        self.entities.iter().flat_map(|entity| &entity.phases).fold(
            (0, 0),
            |(done, total), phase| {
                (
                    done + i64::from(phase.chunks_done),
                    total + i64::from(phase.chunks_total),
                )
            },
        )
    }
}

/// Reads a run's progress.
pub async fn run_progress(lms: &PgPool, run_id: Uuid) -> Result<RunProgress, EngineError> {
    runs_progress(lms, &[run_id])
        .await?
        .pop()
        .ok_or(EngineError::UnknownRun(run_id))
}

/// Reads the progress of several runs, in the order given, in two
/// statements whatever their number (a page of `ListRuns`); an id with no
/// run is [`EngineError::UnknownRun`]. Both statements read one snapshot,
/// so a run that moves meanwhile is shown as it was when the read began,
/// never with its status from one moment and its steps from the next.
pub async fn runs_progress(
    lms: &PgPool,
    run_ids: &[Uuid],
) -> Result<Vec<RunProgress>, EngineError> {
    let mut snapshot = lms
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
        .lms()?;
    let runs = sqlx::query(RUNS_BY_ID)
        .bind(run_ids)
        .fetch_all(&mut *snapshot)
        .await
        .lms()?;
    let steps = sqlx::query(STEPS_OF_RUNS)
        .bind(run_ids)
        .fetch_all(&mut *snapshot)
        .await
        .lms()?;
    snapshot.commit().await.lms()?;
    let mut runs_by_id = HashMap::with_capacity(runs.len());
    for run in runs {
        runs_by_id.insert(run.try_get::<Uuid, _>("id").lms()?, run);
    }
    let mut steps_by_run: HashMap<Uuid, Vec<PgRow>> = HashMap::new();
    for step in steps {
        steps_by_run
            .entry(step.try_get("run_id").lms()?)
            .or_default()
            .push(step);
    }
    run_ids
        .iter()
        .map(|run_id| {
            let run = runs_by_id
                .get(run_id)
                .ok_or(EngineError::UnknownRun(*run_id))?;
            let steps = steps_by_run.get(run_id).map_or(&[][..], Vec::as_slice);
            progress_of(*run_id, run, steps)
        })
        .collect()
}

/// One run's progress from its `migration.runs` row and its steps' rows.
fn progress_of(run_id: Uuid, run: &PgRow, steps: &[PgRow]) -> Result<RunProgress, EngineError> {
    let names: Vec<String> = run.try_get("entities").lms()?;
    let mut entities = Vec::with_capacity(names.len());
    for name in names {
        let entity: LegacyEntity = name
            .parse()
            .map_err(|error: UnknownEntity| EngineError::Invariant(error.to_string()))?;
        let mut phases = Vec::with_capacity(Phase::ALL.len());
        let (mut load_path, mut load_reason) = (None, None);
        for phase in Phase::ALL {
            let step = steps.iter().find(|step| {
                step.try_get::<&str, _>("entity")
                    .is_ok_and(|stored| stored == name)
                    && step
                        .try_get::<Phase, _>("phase")
                        .is_ok_and(|stored| stored == phase)
            });
            if let Some(step) = step {
                if phase == Phase::Apply {
                    load_path = step.try_get("load_path").lms()?;
                    load_reason = step.try_get("load_reason").lms()?;
                }
                phases.push(PhaseProgress {
                    phase,
                    state: step.try_get("state").lms()?,
                    chunks_done: step.try_get("chunks_done").lms()?,
                    chunks_total: step.try_get("chunks_total").lms()?,
                    rows_done: step.try_get("rows_done").lms()?,
                });
            }
        }
        entities.push(EntityProgress {
            entity,
            load_path,
            load_reason,
            phases,
        });
    }
    Ok(RunProgress {
        run_id,
        status: run.try_get("status").lms()?,
        kind: run.try_get("kind").lms()?,
        request_id: run.try_get("request_id").lms()?,
        chunk_size: run.try_get("chunk_size").lms()?,
        on_conflict: run
            .try_get::<String, _>("on_conflict")
            .lms()?
            .parse()
            .map_err(|error: UnknownPolicy| EngineError::Invariant(error.to_string()))?,
        error: run.try_get("error").lms()?,
        started_at: run.try_get("created_at").lms()?,
        finished_at: run.try_get("finished_at").lms()?,
        failed_chunk: run.try_get("failed_chunk_id").lms()?,
        hold: run
            .try_get::<Option<serde_json::Value>, _>("hold_preview")
            .lms()?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|error| EngineError::Invariant(format!("a stored hold preview: {error}")))?,
        entities,
    })
}

/// How long [`follow_run`] goes on reading a run's progress that cannot
/// be read: a database restart, not one gone for good.
pub const FOLLOWER_PATIENCE: Duration = Duration::from_secs(60);

/// Follows a run until it ends or is held, calling `on_update` with each
/// new state.
/// Wakes on the progress notifications chunks send at commit, and at least
/// every second in case a notification is missed. Transient errors (the
/// LMS restarting) are waited out for up to [`FOLLOWER_PATIENCE`] in a
/// row: the run goes on without its follower.
pub async fn follow_run(
    lms: &PgPool,
    run_id: Uuid,
    mut on_update: impl FnMut(&RunProgress),
) -> Result<RunProgress, EngineError> {
    let mut listener = PgListener::connect_with(lms).await.lms()?;
    listener.listen(PROGRESS_CHANNEL).await.lms()?;
    let mut last: Option<RunProgress> = None;
    let mut failing_since: Option<std::time::Instant> = None;
    loop {
        let progress = match run_progress(lms, run_id).await {
            Ok(progress) => {
                failing_since = None;
                progress
            }
            Err(error)
                if error.class() == lms_pg::FailureClass::Transient
                    && failing_since
                        .get_or_insert_with(std::time::Instant::now)
                        .elapsed()
                        < FOLLOWER_PATIENCE =>
            {
                tracing::warn!(%error, "the run's progress cannot be read; trying again");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        if last.as_ref() != Some(&progress) {
            on_update(&progress);
        }
        if progress.is_settled() {
            return Ok(progress);
        }
        last = Some(progress);
        tokio::select! {
            notification = listener.recv() => {
                if let Err(error) = notification {
                    tracing::debug!(%error, "progress notifications interrupted; polling");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
