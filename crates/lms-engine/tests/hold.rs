//! The hold on mass changes: a delta run whose preview changes more than
//! the threshold in a table stops `held` before writing anything; approval
//! applies exactly what the preview counted, cancellation leaves the LMS
//! as it was.

mod support;

use lms_domain::LegacyEntity;
use lms_engine::hold::approve;
use lms_engine::inline::run_inline;
use lms_engine::{
    CoverageReport, EngineError, HoldThreshold, RunKind, RunOptions, RunStatus, TablePreview,
    plan_run,
};
use support::fingerprint::{fingerprint, write_marks};
use support::school::{lms_value, migrated_school};
use support::{Fixture, run_until};
use uuid::Uuid;

/// Holds past one changed row in a table (the school's tables are tiny).
const ONE_ROW: HoldThreshold = HoldThreshold {
    percent: 10,
    min_rows: 1,
};

/// Journal: two rows updated, one deleted, one new.
const FOUR_JOURNAL_CHANGES: &str = "\
    UPDATE journal SET status = 'completed' WHERE id IN (100, 101); \
    DELETE FROM journal WHERE id = 103; \
    INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final) \
    VALUES (104, 11, 2, 1, 20, '2024-2025', 2, 'active', '3');";

fn held_at(threshold: HoldThreshold) -> RunOptions {
    RunOptions {
        chunk_size: 2,
        hold: Some(threshold),
        ..RunOptions::default()
    }
}

fn unheld() -> RunOptions {
    RunOptions {
        chunk_size: 2,
        ..RunOptions::default()
    }
}

/// Plans a run and runs its chunks until it ends or is held; returns its id
/// and report.
async fn run(fixture: &Fixture, options: &RunOptions) -> anyhow::Result<(Uuid, CoverageReport)> {
    let planned = plan_run(fixture.lms(), fixture.legacy(), options).await?;
    run_inline(&fixture.engine, planned.run_id, 2).await?;
    Ok((planned.run_id, fixture.report(planned.run_id).await?))
}

/// Approves a held run and runs it to its end.
async fn approve_and_finish(fixture: &Fixture, run_id: Uuid) -> anyhow::Result<CoverageReport> {
    approve(fixture.lms(), run_id, None).await?;
    run_inline(&fixture.engine, run_id, 2).await?;
    fixture.report(run_id).await
}

fn table(report: &CoverageReport, entity: LegacyEntity) -> &TablePreview {
    report
        .hold
        .as_ref()
        .and_then(|preview| preview.tables.iter().find(|table| table.entity == entity))
        .unwrap_or_else(|| panic!("{entity} missing from the hold preview"))
}

#[tokio::test]
async fn a_delta_past_the_threshold_is_held_with_its_preview_and_writes_nothing()
-> anyhow::Result<()> {
    let fixture = migrated_school("holdpreview").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    let (marks, rows) = (
        write_marks(fixture.lms()).await?,
        fingerprint(fixture.lms()).await?,
    );

    let (_, report) = run(&fixture, &held_at(ONE_ROW)).await?;

    assert_eq!(report.status, RunStatus::Held, "{:?}", report.error);
    let journal = table(&report, LegacyEntity::Journal);
    assert_eq!(
        (
            journal.legacy_rows,
            journal.creates,
            journal.updates,
            journal.deletes
        ),
        (4, 1, 2, 1)
    );
    assert_eq!(journal.threshold, 1);
    assert!(journal.exceeds());
    let others = report.hold.iter().flat_map(|preview| &preview.tables);
    for other in others.filter(|table| table.entity != LegacyEntity::Journal) {
        assert_eq!(other.changes(), 0, "{other:?}");
    }
    assert_eq!(
        write_marks(fixture.lms()).await?,
        marks,
        "no row was written"
    );
    assert_eq!(fingerprint(fixture.lms()).await?, rows);
    fixture.close().await
}

#[tokio::test]
async fn each_stage_chunk_of_a_gated_run_counts_its_share_of_the_preview() -> anyhow::Result<()> {
    let fixture = migrated_school("holdshares").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;

    let (run_id, report) = run(&fixture, &held_at(ONE_ROW)).await?;

    assert_eq!(report.status, RunStatus::Held, "{:?}", report.error);
    let shares: Vec<(i64, i64, i64)> = sqlx::query_as(
        "SELECT (c.stats->'preview'->>'creates')::bigint, (c.stats->'preview'->>'updates')::bigint, \
                (c.stats->'preview'->>'deletes')::bigint \
         FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'stage' ORDER BY c.first_legacy_id NULLS FIRST",
    )
    .bind(run_id)
    .fetch_all(fixture.lms())
    .await?;
    assert!(shares.len() > 1, "{shares:?}");
    let summed = shares.iter().fold((0, 0, 0), |(c, u, d), share| {
        (c + share.0, u + share.1, d + share.2)
    });
    assert_eq!(summed, (1, 2, 1), "{shares:?}");
    fixture.close().await
}

/// The journal's preview counts, as the first test expects them.
fn journal_counts(report: &CoverageReport) -> (i64, i64, i64, i64) {
    let journal = table(report, LegacyEntity::Journal);
    (
        journal.legacy_rows,
        journal.creates,
        journal.updates,
        journal.deletes,
    )
}

#[tokio::test]
async fn a_preview_counts_the_same_when_the_record_of_changes_is_not_trusted() -> anyhow::Result<()>
{
    // In step, the preview counts the recorded changes; after a dry run it
    // compares every staged row with the ledger. Both see the same changes.
    let fixture = migrated_school("holdoutofstep").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    let dry_run = RunOptions {
        kind: RunKind::DryRun,
        ..unheld()
    };
    run(&fixture, &dry_run).await?;

    let (_, report) = run(&fixture, &held_at(ONE_ROW)).await?;

    assert_eq!(report.status, RunStatus::Held, "{:?}", report.error);
    assert_eq!(journal_counts(&report), (4, 1, 2, 1));
    fixture.close().await
}

#[tokio::test]
async fn a_preview_counts_legacy_deletions_after_the_mirror_was_lost() -> anyhow::Result<()> {
    // A crash empties the unlogged mirror: the range is staged whole again,
    // and what legacy deleted meanwhile is found through the ledger.
    let fixture = migrated_school("holdlostmirror").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    fixture.crash_empties_unlogged_tables().await?;

    let (_, report) = run(&fixture, &held_at(ONE_ROW)).await?;

    assert_eq!(report.status, RunStatus::Held, "{:?}", report.error);
    assert_eq!(journal_counts(&report), (4, 1, 2, 1));
    fixture.close().await
}

#[tokio::test]
async fn approving_a_held_run_ends_as_an_unheld_run_over_the_same_legacy() -> anyhow::Result<()> {
    let held = migrated_school("holdapprove").await?;
    let unheld_twin = migrated_school("holdapprovetwin").await?;
    held.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    unheld_twin.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    let (run_id, report) = run(&held, &held_at(ONE_ROW)).await?;
    assert_eq!(report.status, RunStatus::Held);

    let approved = approve_and_finish(&held, run_id).await?;
    let (_, expected) = run(&unheld_twin, &unheld()).await?;

    assert_eq!(
        approved.status,
        RunStatus::Succeeded,
        "{:?}",
        approved.error
    );
    assert_eq!(
        expected.status,
        RunStatus::Succeeded,
        "{:?}",
        expected.error
    );
    assert_eq!(
        fingerprint(held.lms()).await?,
        fingerprint(unheld_twin.lms()).await?
    );
    unheld_twin.close().await?;
    held.close().await
}

#[tokio::test]
async fn a_legacy_change_after_the_hold_is_left_to_the_next_run() -> anyhow::Result<()> {
    let fixture = migrated_school("holdlater").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    let (run_id, _) = run(&fixture, &held_at(ONE_ROW)).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'dropped' WHERE id = 100")
        .await?;

    let approved = approve_and_finish(&fixture, run_id).await?;

    assert_eq!(
        approved.status,
        RunStatus::Succeeded,
        "{:?}",
        approved.error
    );
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("completed"), "the previewed value");
    let (_, next) = run(&fixture, &unheld()).await?;
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("dropped"), "the next run's value");
    fixture.close().await
}

#[tokio::test]
async fn cancelling_a_held_run_leaves_the_lms_untouched_and_frees_the_way() -> anyhow::Result<()> {
    let fixture = migrated_school("holdcancel").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    let marks = write_marks(fixture.lms()).await?;
    let (run_id, _) = run(&fixture, &held_at(ONE_ROW)).await?;

    let cancelled = lms_engine::control::cancel_run(fixture.lms(), run_id, None).await?;

    assert_eq!(cancelled.status, RunStatus::Cancelled);
    assert_eq!(
        write_marks(fixture.lms()).await?,
        marks,
        "no row was written"
    );
    let (_, next) = run(&fixture, &unheld()).await?;
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 101).await?;
    assert_eq!(
        status.as_deref(),
        Some("completed"),
        "the next run applies it"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_held_run_blocks_another_run() -> anyhow::Result<()> {
    let fixture = migrated_school("holdblocks").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    let (run_id, _) = run(&fixture, &held_at(ONE_ROW)).await?;

    let another = plan_run(fixture.lms(), fixture.legacy(), &unheld()).await;

    assert!(
        matches!(another, Err(EngineError::RunActive(active)) if active == run_id),
        "{another:?}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_first_load_is_never_held() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("holdfirst").await?;
    fixture.legacy_sql(support::school::SCHOOL).await?;
    let everything = HoldThreshold {
        percent: 0,
        min_rows: 0,
    };

    let (_, report) = run(&fixture, &held_at(everything)).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(report.hold, None, "a first load has no gate");
    fixture.close().await
}

#[tokio::test]
async fn a_delta_within_the_default_threshold_is_not_held() -> anyhow::Result<()> {
    let fixture = migrated_school("holdsmall").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;

    let (_, report) = run(&fixture, &held_at(HoldThreshold::default())).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let journal = table(&report, LegacyEntity::Journal);
    assert_eq!((journal.changes(), journal.threshold), (4, 50));
    assert!(!journal.exceeds());
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 101).await?;
    assert_eq!(status.as_deref(), Some("completed"));
    fixture.close().await
}

#[tokio::test]
async fn approving_a_run_that_is_not_held_is_refused() -> anyhow::Result<()> {
    let fixture = migrated_school("holdnotheld").await?;
    let (run_id, report) = run(&fixture, &unheld()).await?;
    assert_eq!(report.status, RunStatus::Succeeded);

    let refused = approve(fixture.lms(), run_id, None).await;

    assert!(
        matches!(
            refused,
            Err(EngineError::NotHeld {
                status: RunStatus::Succeeded,
                ..
            })
        ),
        "{refused:?}"
    );
    fixture.close().await
}

#[tokio::test]
async fn an_approval_never_stages_legacy_again_where_the_mirror_was_lost() -> anyhow::Result<()> {
    let fixture = migrated_school("holdmirror").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    let (run_id, _) = run(&fixture, &held_at(ONE_ROW)).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'dropped' WHERE id = 100")
        .await?;
    // A PostgreSQL crash while the run is held empties the unlogged mirror.
    fixture.crash_empties_unlogged_tables().await?;

    let approved = approve_and_finish(&fixture, run_id).await?;

    assert_eq!(approved.status, RunStatus::Failed);
    assert!(
        approved
            .error
            .as_deref()
            .is_some_and(|error| error.contains("staging of journal")),
        "{:?}",
        approved.error
    );
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_ne!(
        status.as_deref(),
        Some("dropped"),
        "not what the preview counted"
    );
    fixture.close().await
}

/// Plans a held run, lets a crash empty staging once its first journal
/// stage chunk is next, runs `legacy_edit` (if any) on legacy, and runs the
/// run to its end; returns its report.
async fn held_after_a_crash_before_the_gate(
    fixture: &Fixture,
    legacy_edit: Option<&str>,
) -> anyhow::Result<CoverageReport> {
    let planned = plan_run(fixture.lms(), fixture.legacy(), &held_at(ONE_ROW)).await?;
    run_until(&fixture.engine, planned.run_id, |entity, phase| {
        entity == "journal" && phase == "stage"
    })
    .await?;
    fixture.crash_empties_unlogged_tables().await?;
    if let Some(edit) = legacy_edit {
        fixture.legacy_sql(edit).await?;
    }
    run_until(&fixture.engine, planned.run_id, |_, _| false).await?;
    fixture.report(planned.run_id).await
}

/// Asserts the preview of `FOUR_JOURNAL_CHANGES`: the journal's four, no
/// other table's.
fn assert_four_journal_changes(report: &CoverageReport) {
    assert_eq!(report.status, RunStatus::Held, "{:?}", report.error);
    assert_eq!(journal_counts(report), (4, 1, 2, 1));
    let others = report.hold.iter().flat_map(|preview| &preview.tables);
    for other in others.filter(|table| table.entity != LegacyEntity::Journal) {
        assert_eq!(other.changes(), 0, "{other:?}");
    }
}

#[tokio::test]
async fn a_preview_counts_the_same_when_a_crash_empties_staging_before_the_gate()
-> anyhow::Result<()> {
    // Out of step (after a dry run), the preview compares every staged row
    // with the ledger: staging a crash emptied after its table was staged
    // would count every row of it as deleted.
    let fixture = migrated_school("holdgatecrash").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;
    let dry_run = RunOptions {
        kind: RunKind::DryRun,
        ..unheld()
    };
    run(&fixture, &dry_run).await?;

    let report = held_after_a_crash_before_the_gate(&fixture, None).await?;

    assert_four_journal_changes(&report);
    fixture.close().await
}

#[tokio::test]
async fn a_preview_counts_what_legacy_deleted_after_staging_a_crash_emptied() -> anyhow::Result<()>
{
    // In step, the stage chunks' shares are summed. The teachers were
    // staged, counted unchanged, and then lost in a crash; legacy deleted
    // its only teacher meanwhile, so staging again writes nothing: the
    // preview must count the deletion all the same.
    let fixture = migrated_school("holdgatecrashgone").await?;
    fixture.legacy_sql(FOUR_JOURNAL_CHANGES).await?;

    let report = held_after_a_crash_before_the_gate(&fixture, Some("DELETE FROM teachers")).await?;

    assert_eq!(report.status, RunStatus::Held, "{:?}", report.error);
    assert_eq!(journal_counts(&report), (4, 1, 2, 1));
    let teachers = table(&report, LegacyEntity::Teachers);
    assert_eq!(
        (teachers.legacy_rows, teachers.deletes),
        (0, 1),
        "{teachers:?}"
    );
    fixture.close().await
}
