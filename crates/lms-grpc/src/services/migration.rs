//! `lms.migration.v1.MigrationService`: runs, their progress and reports,
//! and the ledger, over the migration engine.

use chrono::{DateTime, Utc};
use lms_domain::audit::{AuditFilter, Call};
use lms_domain::instant::lms_can_hold;
use lms_domain::{DomainError, LegacyEntity, Outcome, RejectReason, WarningCode};
use lms_engine::bulk::LoadPath;
use lms_engine::control::{self, OutcomeFilter};
use lms_engine::report::ConflictEntry;
use lms_engine::report::{self, CoverageReport, EntityReport};
use lms_engine::verify::{self, VerifyOptions};
use lms_engine::{
    ActionRequest, AskedRun, ChunkQueue, ConflictPolicy, HoldPreview, Phase, RunDefaults, RunKind,
    RunProgress, RunStatus, StepState, explain, hold, run_progress, start_run,
};
use sqlx::PgPool;
use tonic::{Request, Response};
use uuid::Uuid;

use super::{OrStatus, list_page};
use crate::audit::{CarriesRequestId, call_of, finish_control, key_call, well_formed};
use crate::convert::timestamp;
use crate::error::{ApiError, ApiResult};
use crate::pb::lms::migration::v1 as pb;
use crate::pb::lms::migration::v1::migration_service_server::MigrationService;
use crate::request::{
    MAX_SHORT_TEXT, next_token, next_uuid_token, optional_text, page, page_by_uuid, request_id,
};
use crate::request_limits::{InFlight, in_flight};
use crate::response_budget::ResponseBudget;
use crate::run_watch::{RunEvents, RunWatchHub};

/// The migration service's state.
#[derive(Debug, Clone)]
pub struct MigrationApi {
    /// The primary's pool the domain API uses (`grpc.statement_timeout`):
    /// progress, reports, outcomes, verification and the audit trail.
    pub lms: PgPool,
    /// Migration control's own pool on the primary, without a statement
    /// timeout: starting, approving, cancelling and undoing runs and
    /// retrying rejected rows, whose statements take as long as the data
    /// needs (a plan's repair of an unfinished first load, an undo), as
    /// lmsctl's do; and each such call's audit row and answer.
    pub control: PgPool,
    /// The migration service's legacy pool, without a statement timeout
    /// (planning and verification read whole legacy tables).
    pub legacy: PgPool,
    pub queue: ChunkQueue,
    /// What runs started without a chunk size, chunk cap or hold threshold
    /// take (`migration.*`).
    pub run_defaults: RunDefaults,
    /// The zone legacy timestamps are read in (`legacy.timezone`), for
    /// verification.
    pub legacy_timezone: String,
    /// How large a List response may be.
    pub budget: ResponseBudget,
    /// Becomes true when the server begins to shut down.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    /// `WatchRun`'s one listener, its followers and its watcher slots.
    pub watchers: RunWatchHub,
}

fn run_id(field: &str, name: &str) -> Result<Uuid, ApiError> {
    let id = name
        .strip_prefix("runs/")
        .ok_or_else(|| ApiError::invalid(field, "must be a run name like \"runs/<uuid>\""))?;
    // Only the one spelling the API gives out (lower case, hyphenated):
    // another would reach the audit trail as another resource.
    Uuid::parse_str(id)
        .ok()
        .filter(|uuid| uuid.hyphenated().to_string() == id)
        .ok_or_else(|| ApiError::invalid(field, "must be a run name like \"runs/<uuid>\""))
}

fn entities(field: &str, names: &[String]) -> Result<Vec<LegacyEntity>, ApiError> {
    if names.len() > LegacyEntity::ALL.len() {
        return Err(ApiError::invalid(field, "lists more tables than there are"));
    }
    names
        .iter()
        .map(|name| {
            name.parse::<LegacyEntity>()
                .map_err(|error| ApiError::invalid(field, error.to_string()))
        })
        .collect()
}

fn entity(field: &str, name: &str) -> Result<LegacyEntity, ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    name.parse::<LegacyEntity>()
        .map_err(|error| ApiError::invalid(field, error.to_string()))
}

impl From<RunStatus> for pb::RunStatus {
    fn from(status: RunStatus) -> Self {
        match status {
            RunStatus::Running => pb::RunStatus::Running,
            RunStatus::Held => pb::RunStatus::Held,
            RunStatus::Cancelling => pb::RunStatus::Cancelling,
            RunStatus::Succeeded => pb::RunStatus::Succeeded,
            RunStatus::Failed => pb::RunStatus::Failed,
            RunStatus::Cancelled => pb::RunStatus::Cancelled,
            RunStatus::Undone => pb::RunStatus::Undone,
        }
    }
}

impl From<RunKind> for pb::RunKind {
    fn from(kind: RunKind) -> Self {
        match kind {
            RunKind::Full => pb::RunKind::Full,
            RunKind::RetryRejected => pb::RunKind::RetryRejected,
            RunKind::DryRun => pb::RunKind::DryRun,
        }
    }
}

impl From<Phase> for pb::Phase {
    fn from(phase: Phase) -> Self {
        match phase {
            Phase::Stage => pb::Phase::Stage,
            Phase::Resolve => pb::Phase::Resolve,
            Phase::Apply => pb::Phase::Apply,
            Phase::Finalize => pb::Phase::Finalize,
        }
    }
}

impl From<StepState> for pb::StepState {
    fn from(state: StepState) -> Self {
        match state {
            StepState::Waiting => pb::StepState::Waiting,
            StepState::Ready => pb::StepState::Ready,
            StepState::Done => pb::StepState::Done,
            StepState::Failed => pb::StepState::Failed,
            StepState::Cancelled => pb::StepState::Cancelled,
        }
    }
}

impl From<Option<LoadPath>> for pb::LoadPath {
    fn from(path: Option<LoadPath>) -> Self {
        match path {
            None => pb::LoadPath::Unspecified,
            Some(LoadPath::Bulk) => pb::LoadPath::Bulk,
            Some(LoadPath::Delta) => pb::LoadPath::Delta,
        }
    }
}

impl From<RunProgress> for pb::Run {
    fn from(run: RunProgress) -> Self {
        pb::Run {
            name: format!("runs/{}", run.run_id),
            status: pb::RunStatus::from(run.status).into(),
            error: run.error.unwrap_or_default(),
            entities: run
                .entities
                .iter()
                .map(|entity| entity.entity.as_str().to_owned())
                .collect(),
            chunk_size: run.chunk_size,
            kind: pb::RunKind::from(run.kind).into(),
            request_id: run.request_id.unwrap_or_default(),
            create_time: timestamp(Some(run.started_at)),
            finish_time: timestamp(run.finished_at),
            progress: run
                .entities
                .into_iter()
                .map(|entity| pb::EntityProgress {
                    entity: entity.entity.as_str().to_owned(),
                    load_path: pb::LoadPath::from(entity.load_path).into(),
                    load_reason: entity.load_reason.unwrap_or_default(),
                    phases: entity
                        .phases
                        .into_iter()
                        .map(|phase| pb::PhaseProgress {
                            phase: pb::Phase::from(phase.phase).into(),
                            state: pb::StepState::from(phase.state).into(),
                            chunks_done: phase.chunks_done,
                            chunks_total: phase.chunks_total,
                        })
                        .collect(),
                })
                .collect(),
            failed_chunk: run
                .failed_chunk
                .map(|chunk| format!("runs/{}/chunks/{chunk}", run.run_id))
                .unwrap_or_default(),
            on_conflict: pb::ConflictPolicy::from(run.on_conflict).into(),
            hold: run.hold.map(pb::HoldPreview::from),
        }
    }
}

impl From<HoldPreview> for pb::HoldPreview {
    fn from(preview: HoldPreview) -> Self {
        pb::HoldPreview {
            percent: preview.threshold.percent,
            min_rows: preview.threshold.min_rows,
            tables: preview
                .tables
                .into_iter()
                .map(|table| pb::TablePreview {
                    entity: table.entity.as_str().to_owned(),
                    legacy_rows: table.legacy_rows,
                    creates: table.creates,
                    updates: table.updates,
                    deletes: table.deletes,
                    threshold: table.threshold,
                    exceeds: table.exceeds(),
                    load_path: pb::LoadPath::from(Some(table.load_path)).into(),
                })
                .collect(),
        }
    }
}

impl From<ConflictPolicy> for pb::ConflictPolicy {
    fn from(policy: ConflictPolicy) -> Self {
        match policy {
            ConflictPolicy::KeepLms => pb::ConflictPolicy::KeepLms,
            ConflictPolicy::TakeLegacy => pb::ConflictPolicy::TakeLegacy,
        }
    }
}

fn conflict_policy(value: i32) -> Result<ConflictPolicy, ApiError> {
    match pb::ConflictPolicy::try_from(value) {
        Ok(pb::ConflictPolicy::Unspecified | pb::ConflictPolicy::KeepLms) => {
            Ok(ConflictPolicy::KeepLms)
        }
        Ok(pb::ConflictPolicy::TakeLegacy) => Ok(ConflictPolicy::TakeLegacy),
        Err(_) => Err(ApiError::invalid(
            "on_conflict",
            format!("{value} is not a ConflictPolicy (KEEP_LMS or TAKE_LEGACY)"),
        )),
    }
}

/// `table` is the LMS table the conflict's rows are in, which names them.
fn conflict(table: &str, entry: &ConflictEntry) -> pb::Conflict {
    pb::Conflict {
        legacy_id: entry.legacy_id,
        kind: entry.kind.as_str().to_owned(),
        target: entry
            .target_id
            .map(|id| format!("{table}/{id}"))
            .unwrap_or_default(),
        lms_row: entry
            .lms_row
            .map(|id| format!("{table}/{id}"))
            .unwrap_or_default(),
        legacy_values: entry.legacy_values.to_string(),
        lms_values: entry.lms_values.to_string(),
        since: timestamp(Some(entry.since)),
    }
}

fn coverage(entity: EntityReport) -> pb::EntityCoverage {
    // A report's table is kept as text (reports are stored as JSON).
    let table = entity
        .entity
        .parse::<LegacyEntity>()
        .map(LegacyEntity::target_table)
        .unwrap_or_default();
    let open_conflicts = entity
        .open_conflicts
        .into_iter()
        .map(|entry| conflict(table, &entry))
        .collect();
    pb::EntityCoverage {
        open_conflicts,
        entity: entity.entity,
        legacy_rows: entity.legacy_rows,
        migrated: entity.migrated,
        merged: entity.merged,
        rejected: entity.rejected.into_iter().collect(),
        warnings: entity.warnings.into_iter().collect(),
        unexplained: entity.unexplained,
        target_rows: entity.target_rows,
        derived: entity.derived.into_iter().collect(),
        changes: Some(pb::Changes {
            created: entity.changes.created,
            updated: entity.changes.updated,
            unchanged: entity.changes.unchanged,
            source_deleted: entity.changes.source_deleted,
            conflicts: entity.changes.conflicts,
        }),
    }
}

impl From<CoverageReport> for pb::CoverageReport {
    fn from(report: CoverageReport) -> Self {
        pb::CoverageReport {
            run: format!("runs/{}", report.run_id),
            status: pb::RunStatus::from(report.status).into(),
            error: report.error.unwrap_or_default(),
            entities: report.entities.into_iter().map(coverage).collect(),
            hold: report.hold.map(pb::HoldPreview::from),
        }
    }
}

/// A row's reject reason as the API sends it (empty: none).
fn reason_text(reason: Option<RejectReason>) -> String {
    reason.map_or_else(String::new, |reason| reason.as_str().to_owned())
}

/// A row's warnings as the API sends them.
fn warnings_text(warnings: &[WarningCode]) -> Vec<String> {
    warnings
        .iter()
        .map(|code| code.as_str().to_owned())
        .collect()
}

fn outcome(row: control::RowOutcome) -> pb::RowOutcome {
    let table = row.entity.target_table();
    let target = row
        .target_id
        .map(|id| format!("{table}/{id}"))
        .unwrap_or_default();
    let conflict = row.conflict.map(|entry| conflict(table, &entry));
    pb::RowOutcome {
        explanation: String::new(),
        conflict,
        entity: row.entity.as_str().to_owned(),
        legacy_id: row.legacy_id,
        outcome: row.outcome.as_str().to_owned(),
        reason: reason_text(row.reason),
        warnings: warnings_text(&row.warnings),
        detail: row.detail.unwrap_or_default(),
        target,
        survivor_legacy_id: row.survivor_legacy_id.unwrap_or_default(),
        source_deleted: row.source_deleted,
        run: format!("runs/{}", row.run_id),
    }
}

/// The chunk size a request asks for; `None` (sent as 0): the server's.
fn asked_chunk_size(value: i32) -> Result<Option<u32>, ApiError> {
    match value {
        0 => Ok(None),
        1..=1_000_000 => Ok(u32::try_from(value).ok()),
        _ => Err(ApiError::invalid(
            "chunk_size",
            "must be between 1 and 1000000 (0 for the default)",
        )),
    }
}

fn chunk_size(value: i32, default: u32) -> Result<u32, ApiError> {
    Ok(asked_chunk_size(value)?.unwrap_or(default))
}

#[tonic::async_trait]
impl MigrationService for MigrationApi {
    async fn start_run(&self, request: Request<pb::StartRunRequest>) -> ApiResult<pb::Run> {
        let mut call = call_of(&request)?;
        let place = in_flight(&request);
        let (api, request) = (self.clone(), request.into_inner());
        let keyed = key_call(&mut call, &request);
        let caller = call.actor.clone();
        self.control(call, place, async move {
            keyed?;
            api.start_run_as(request, &caller).await
        })
        .await
    }

    async fn get_run(&self, request: Request<pb::GetRunRequest>) -> ApiResult<pb::Run> {
        let id = run_id("name", &request.get_ref().name).or_status()?;
        Ok(Response::new(
            run_progress(&self.lms, id).await.or_status()?.into(),
        ))
    }

    async fn list_runs(
        &self,
        request: Request<pb::ListRunsRequest>,
    ) -> ApiResult<pb::ListRunsResponse> {
        let request = request.into_inner();
        let (size, before) =
            page_by_uuid(request.page_size, &request.page_token, "ListRuns").or_status()?;
        let (runs, next) = control::list_runs(&self.lms, size, before)
            .await
            .or_status()?;
        let cursors: Vec<Uuid> = runs.iter().map(|run| run.run_id).collect();
        let mut runs: Vec<pb::Run> = runs.into_iter().map(Into::into).collect();
        let next = self
            .budget
            .keep_fitting(&mut runs, &cursors)
            .or_status()?
            .or(next);
        Ok(Response::new(pb::ListRunsResponse {
            runs,
            next_page_token: next_uuid_token(next, "ListRuns"),
        }))
    }

    type WatchRunStream = RunEvents;

    /// The run's snapshot, then its state after every change, until the run
    /// ends, the server stops or the stream reaches its maximum age (see
    /// `run_watch`).
    async fn watch_run(
        &self,
        request: Request<pb::WatchRunRequest>,
    ) -> ApiResult<Self::WatchRunStream> {
        let id = run_id("name", &request.get_ref().name).or_status()?;
        let events = self.watchers.watch(id, self.stopping.clone()).await?;
        Ok(Response::new(events))
    }

    async fn cancel_run(&self, request: Request<pb::CancelRunRequest>) -> ApiResult<pb::Run> {
        self.act_on_run(request, |api, id, action| async move {
            Ok(control::cancel_run(&api.control, id, action.as_ref())
                .await?
                .into())
        })
        .await
    }

    async fn undo_run(&self, request: Request<pb::UndoRunRequest>) -> ApiResult<pb::Run> {
        self.act_on_run(request, |api, id, action| async move {
            Ok(
                lms_engine::undo::undo_run(&api.control, id, action.as_ref())
                    .await?
                    .into(),
            )
        })
        .await
    }

    async fn approve_run(&self, request: Request<pb::ApproveRunRequest>) -> ApiResult<pb::Run> {
        self.act_on_run(request, |api, id, action| async move {
            Ok(
                hold::approve_run(&api.control, &api.queue, id, action.as_ref())
                    .await?
                    .into(),
            )
        })
        .await
    }

    async fn get_coverage_report(
        &self,
        request: Request<pb::GetCoverageReportRequest>,
    ) -> ApiResult<pb::CoverageReport> {
        let name = &request.get_ref().name;
        let id = if name.is_empty() {
            report::latest_run(&self.lms)
                .await
                .or_status()?
                .ok_or_else(|| DomainError::not_found("run", "(latest)"))
                .or_status()?
        } else {
            run_id("name", name).or_status()?
        };
        let report: pb::CoverageReport = report::build(&self.lms, id).await.or_status()?.into();
        Ok(Response::new(self.budget.whole(report).or_status()?))
    }

    async fn list_row_outcomes(
        &self,
        request: Request<pb::ListRowOutcomesRequest>,
    ) -> ApiResult<pb::ListRowOutcomesResponse> {
        let request = request.into_inner();
        let table = entity("entity", &request.entity).or_status()?;
        let filter = outcome_filter(&request).or_status()?;
        let binding = format!("ListRowOutcomes|{table}|{}", filter_binding(&filter));
        let page = page(request.page_size, &request.page_token, &binding).or_status()?;
        let (rows, next) =
            control::list_outcomes(&self.lms, table, &filter, page.size(), page.after())
                .await
                .or_status()?;
        let cursors: Vec<i64> = rows.iter().map(|row| row.legacy_id).collect();
        let mut row_outcomes: Vec<pb::RowOutcome> = rows.into_iter().map(outcome).collect();
        let next = self
            .budget
            .keep_fitting(&mut row_outcomes, &cursors)
            .or_status()?
            .or(next);
        Ok(Response::new(pb::ListRowOutcomesResponse {
            row_outcomes,
            next_page_token: next_token(next.map(lms_domain::model::Cursor::lms), &binding),
        }))
    }

    async fn explain_row(
        &self,
        request: Request<pb::ExplainRowRequest>,
    ) -> ApiResult<pb::RowOutcome> {
        let request = request.into_inner();
        let table = entity("entity", &request.entity).or_status()?;
        let legacy_id = super::legacy_id(table, request.legacy_id).or_status()?;
        let explanation = explain::explain(&self.lms, &self.legacy, table, legacy_id)
            .await
            .or_status()?;
        let Some(row_outcome) = explanation.outcome else {
            // The explanation says why in full (no ledger row, no such
            // legacy row): it is the message.
            return Err(ApiError::not_found_explained(explanation.text).into());
        };
        let conflict = explanation
            .conflict
            .map(|entry| conflict(explanation.target_table, &entry));
        Ok(Response::new(
            self.budget
                .whole(pb::RowOutcome {
                    conflict,
                    entity: explanation.entity.as_str().to_owned(),
                    legacy_id: explanation.legacy_id,
                    outcome: row_outcome.as_str().to_owned(),
                    reason: reason_text(explanation.reason),
                    warnings: warnings_text(&explanation.warnings),
                    detail: explanation.detail.unwrap_or_default(),
                    target: explanation
                        .target_id
                        .map(|id| format!("{}/{id}", explanation.target_table))
                        .unwrap_or_default(),
                    survivor_legacy_id: explanation.survivor_legacy_id.unwrap_or_default(),
                    source_deleted: explanation.source_deleted,
                    run: explanation
                        .run_id
                        .map(|run| format!("runs/{run}"))
                        .unwrap_or_default(),
                    explanation: explanation.text,
                })
                .or_status()?,
        ))
    }

    async fn verify_run(
        &self,
        request: Request<pb::VerifyRunRequest>,
    ) -> ApiResult<pb::Verification> {
        let options = VerifyOptions {
            chunk_size: chunk_size(request.get_ref().chunk_size, self.run_defaults.chunk_size)
                .or_status()?,
            legacy_timezone: self.legacy_timezone.clone(),
        };
        let report = verify::verify(&self.lms, &self.legacy, &options)
            .await
            .or_status()?;
        Ok(Response::new(self.budget.whole(report.into()).or_status()?))
    }

    async fn retry_rejected(
        &self,
        request: Request<pb::RetryRejectedRequest>,
    ) -> ApiResult<pb::Run> {
        let mut call = call_of(&request)?;
        let place = in_flight(&request);
        let (api, request) = (self.clone(), request.into_inner());
        let keyed = key_call(&mut call, &request);
        let caller = call.actor.clone();
        self.control(call, place, async move {
            keyed?;
            api.retry_rejected_as(request, &caller).await
        })
        .await
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> ApiResult<pb::ListAuditEventsResponse> {
        let request = request.into_inner();
        let filter = audit_filter(&request).or_status()?;
        let (audit_events, next_page_token) = list_page(
            self.budget,
            &format!("ListAuditEvents|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| lms_data::audit::list(&self.lms, &filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            audit_events,
            next_page_token,
        }))
    }
}

/// The control calls' work, between the audit bookkeeping of the handlers.
impl MigrationApi {
    /// Runs a control call to its end, its audit row included, on a task of
    /// its own: a client that goes away once the engine has committed (its
    /// deadline passing, a cancel) drops only the answer, never the record
    /// of what was done. The task keeps the call's place in
    /// `grpc.concurrency_limit` (`in_flight`) until it ends.
    async fn control(
        &self,
        call: Call,
        in_flight: Option<InFlight>,
        work: impl Future<Output = Result<pb::Run, ApiError>> + Send + 'static,
    ) -> ApiResult<pb::Run> {
        // On the control pool: the record of what the call did must not
        // wait behind the domain API's reads.
        let lms = self.control.clone();
        let (task_lms, task_call) = (lms.clone(), call.clone());
        match tokio::spawn(async move {
            let _in_flight = in_flight;
            let result = work.await;
            finish_control(&task_lms, &task_call, result, |run: &pb::Run| {
                run.name.clone()
            })
            .await
        })
        .await
        {
            Ok(answer) => answer,
            // A panic in the engine: the call is recorded and answered as
            // any internal error, through the one mapping.
            Err(error) => {
                let failed = Err(ApiError::from(DomainError::Internal(format!(
                    "a migration-control call's task ended abnormally: {error}"
                ))));
                finish_control(&lms, &call, failed, |run: &pb::Run| run.name.clone()).await
            }
        }
    }

    async fn start_run_as(
        &self,
        request: pb::StartRunRequest,
        caller: &str,
    ) -> Result<pb::Run, ApiError> {
        let entities = entities("entities", &request.entities)?;
        let asked = AskedRun {
            entities: &entities,
            chunk_size: asked_chunk_size(request.chunk_size)?,
            dry_run: request.dry_run,
            on_conflict: conflict_policy(request.on_conflict)?,
            hold_percent: request.hold_percent,
            hold_min_rows: request.hold_min_rows,
            no_hold: request.no_hold,
        };
        let options = asked
            .options(request_id(&request.request_id)?, caller, &self.run_defaults)
            .map_err(|error| ApiError::invalid(error.field(), error.to_string()))?;
        let planned = start_run(&self.control, &self.legacy, &self.queue, &options)
            .await
            .map_err(|error| {
                if error.blames_chosen_chunk_size(asked.chunk_size.is_some()) {
                    ApiError::invalid("chunk_size", error.to_string())
                } else {
                    ApiError::from(error)
                }
            })?;
        Ok(run_progress(&self.control, planned.run_id).await?.into())
    }

    /// An action on a named run (cancel, undo, approve), as a control call:
    /// audited with its run and request id, its request id checked and
    /// passed to `act` with the run's id.
    async fn act_on_run<M, Act, Done>(&self, request: Request<M>, act: Act) -> ApiResult<pb::Run>
    where
        M: NamesRun + Send + 'static,
        Act: FnOnce(MigrationApi, Uuid, Option<ActionRequest>) -> Done + Send + 'static,
        Done: Future<Output = Result<pb::Run, ApiError>> + Send,
    {
        let mut call = call_of(&request)?;
        let place = in_flight(&request);
        let (api, request) = (self.clone(), request.into_inner());
        call.resource = well_formed(request.name(), |name| run_id("", name));
        let keyed = key_call(&mut call, &request);
        let caller = call.actor.clone();
        self.control(call, place, async move {
            keyed?;
            let id = run_id("name", request.name())?;
            let action = action_request(request.request_id(), &caller)?;
            act(api, id, action).await
        })
        .await
    }

    async fn retry_rejected_as(
        &self,
        request: pb::RetryRejectedRequest,
        caller: &str,
    ) -> Result<pb::Run, ApiError> {
        let only = entities("entities", &request.entities)?;
        let planned = control::retry_rejected(
            &self.control,
            &self.legacy,
            &self.queue,
            control::RetryRequest {
                only: &only,
                chunk_size: self.run_defaults.chunk_size,
                max_chunks: self.run_defaults.max_chunks,
                request_id: request_id(&request.request_id)?,
                caller,
            },
        )
        .await?;
        Ok(run_progress(&self.control, planned.run_id).await?.into())
    }
}

/// A request that acts on one run, named `runs/{uuid}`.
trait NamesRun: CarriesRequestId {
    fn name(&self) -> &str;
}

macro_rules! names_run {
    ($($request:ty),+ $(,)?) => {
        $(impl NamesRun for $request {
            fn name(&self) -> &str {
                &self.name
            }
        })+
    };
}

names_run!(
    pb::CancelRunRequest,
    pb::UndoRunRequest,
    pb::ApproveRunRequest
);

/// An approval's, cancel's or undo's request id as `caller` sent it; none
/// when empty.
fn action_request(sent: &str, caller: &str) -> Result<Option<ActionRequest>, ApiError> {
    Ok(request_id(sent)?.map(|id| ActionRequest::new(id, caller)))
}

/// The filters of ListAuditEvents; every text bounded, times in range.
fn audit_filter(request: &pb::ListAuditEventsRequest) -> Result<AuditFilter, ApiError> {
    let since = instant("start_time", request.start_time.as_ref())?;
    let until = instant("end_time", request.end_time.as_ref())?;
    // The window is [start_time, end_time): one that ends where it starts,
    // or before, holds no call, and is a mistake rather than a question.
    if let (Some(since), Some(until)) = (since, until)
        && until <= since
    {
        return Err(ApiError::invalid(
            "end_time",
            format!("must be after start_time ({since}); it is {until}"),
        ));
    }
    Ok(AuditFilter {
        actor: optional_text("actor", &request.actor, MAX_SHORT_TEXT)?,
        method: optional_text("method", &request.method, MAX_SHORT_TEXT)?,
        resource: optional_text("resource", &request.resource, MAX_SHORT_TEXT)?,
        since,
        until,
    })
}

/// A timestamp a filter compares with: within years 1 to 9999, the range
/// of a protobuf `Timestamp` (PostgreSQL refuses some times before it).
fn instant(
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|time| {
            // protobuf's nanos are 0 to 999,999,999; chrono would read more
            // as a leap second.
            u32::try_from(time.nanos)
                .ok()
                .filter(|nanos| *nanos < 1_000_000_000)
                .and_then(|nanos| DateTime::from_timestamp(time.seconds, nanos))
                .filter(|at| lms_can_hold(*at))
                .ok_or_else(|| {
                    ApiError::invalid(
                        field,
                        "is not a time between 0001-01-01 and 9999-12-31 (UTC)",
                    )
                })
        })
        .transpose()
}

/// The filter as a page token is bound to it: the codes as stored, so a
/// token does not depend on how this build names its types.
fn filter_binding(filter: &OutcomeFilter) -> String {
    format!(
        "outcome={}|reason={}|warning={}|conflict={}",
        filter.outcome.map_or("", Outcome::as_str),
        filter.reason.map_or("", RejectReason::as_str),
        filter.warning.map_or("", WarningCode::as_str),
        filter.conflict
    )
}

fn outcome_filter(request: &pb::ListRowOutcomesRequest) -> Result<OutcomeFilter, ApiError> {
    let outcome = match request.outcome.as_str() {
        "" => None,
        outcome => Some(outcome.parse::<Outcome>().map_err(|_| {
            ApiError::invalid(
                "outcome",
                format!("{outcome:?} is not migrated, merged or rejected"),
            )
        })?),
    };
    let reason = match request.reason.as_str() {
        "" => None,
        reason => Some(
            reason
                .parse::<RejectReason>()
                .map_err(|error| ApiError::invalid("reason", error.to_string()))?,
        ),
    };
    let warning = match request.warning.as_str() {
        "" => None,
        warning => Some(
            warning
                .parse::<WarningCode>()
                .map_err(|error| ApiError::invalid("warning", error.to_string()))?,
        ),
    };
    Ok(OutcomeFilter {
        outcome,
        reason,
        warning,
        conflict: request.conflict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_time_with_nanos_past_a_second_is_invalid() {
        let leap = prost_types::Timestamp {
            seconds: 1_735_689_599,
            nanos: 1_500_000_000,
        };
        assert!(instant("start_time", Some(&leap)).is_err());
        let last = prost_types::Timestamp {
            nanos: 999_999_999,
            ..leap
        };
        assert!(instant("start_time", Some(&last)).is_ok());
    }

    #[test]
    fn a_run_name_has_one_spelling() {
        let id = "0193a4c2-7b1e-7d40-9f3e-2a6c1d0e5b71";
        assert!(run_id("name", &format!("runs/{id}")).is_ok());
        for other in [
            format!("runs/{}", id.to_uppercase()),
            format!("runs/{{{id}}}"),
            format!("runs/urn:uuid:{id}"),
            format!("runs/{}", id.replace('-', "")),
        ] {
            assert!(run_id("name", &other).is_err(), "{other}");
        }
    }
}
