//! The three-way delta beside a live LMS: a re-run compares legacy's
//! proposal now with what the migration last wrote and with the LMS row
//! now, so an edit made in the LMS is never undone silently.

mod support;

use lms_engine::ConflictPolicy::{KeepLms, TakeLegacy};
use lms_engine::RunStatus;
use serde_json::json;
use support::fingerprint::write_marks;
use support::school::{LEGACY_ROW_IN_THAT_COURSE, lms_born_enrollment, lms_value, migrated_school};
use support::{entity, ledger};

/// The journal's changes in a report: (created, updated, unchanged, conflicts).
fn journal_changes(report: &lms_engine::CoverageReport) -> (i64, i64, i64, i64) {
    let c = entity(report, "journal").changes;
    (c.created, c.updated, c.unchanged, c.conflicts)
}

/// As `UpdateEnrollment` does: a new status, stamped now.
const EDIT_IN_LMS: &str =
    "UPDATE course_enrollments SET status = 'dropped', updated_at = now() WHERE legacy_id = 100";

#[tokio::test]
async fn an_lms_edit_survives_a_rerun_over_unchanged_legacy() -> anyhow::Result<()> {
    let fixture = migrated_school("lmsedit").await?;
    fixture.lms_sql(EDIT_IN_LMS).await?;
    let before = write_marks(fixture.lms()).await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("dropped"));
    assert_eq!(journal_changes(&report), (0, 0, 4, 0));
    assert_eq!(
        before,
        write_marks(fixture.lms()).await?,
        "nothing was written"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_legacy_change_is_applied_to_an_lms_row_as_last_written() -> anyhow::Result<()> {
    let fixture = migrated_school("legacyedit").await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("completed"));
    assert_eq!(journal_changes(&report), (0, 1, 3, 0));
    fixture.close().await
}

#[tokio::test]
async fn a_legacy_edit_that_normalises_to_the_same_values_is_unchanged() -> anyhow::Result<()> {
    let fixture = migrated_school("whitespace").await?;
    fixture
        .legacy_sql("UPDATE journal SET status = ' ACTIVE ', mark_final = ' 5 ' WHERE id = 100")
        .await?;
    let before = write_marks(fixture.lms()).await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(journal_changes(&report), (0, 0, 4, 0));
    let after = write_marks(fixture.lms()).await?;
    for table in ["course_enrollments", "grades", "courses"] {
        assert_eq!(before[table], after[table], "{table} was not written");
    }
    fixture.close().await
}

#[tokio::test]
async fn a_conflict_keeps_the_lms_value_and_records_both_sides() -> anyhow::Result<()> {
    let fixture = migrated_school("conflict").await?;
    fixture.lms_sql(EDIT_IN_LMS).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("dropped"));
    assert_eq!(journal_changes(&report), (0, 0, 3, 1));
    let listed = &entity(&report, "journal").open_conflicts;
    assert_eq!(listed.len(), 1);
    let conflict = &listed[0];
    assert_eq!(conflict.legacy_id, 100);
    assert_eq!(conflict.kind, lms_engine::ConflictKind::LmsEdited);
    assert_eq!(conflict.legacy_values["status"], json!("completed"));
    assert_eq!(conflict.lms_values["status"], json!("dropped"));
    assert_eq!(
        ledger(fixture.lms(), "journal", 100).await?.outcome,
        "migrated"
    );
    fixture.close().await
}

#[tokio::test]
async fn an_open_conflict_is_listed_until_take_legacy_resolves_it() -> anyhow::Result<()> {
    let fixture = migrated_school("takelegacy").await?;
    fixture.lms_sql(EDIT_IN_LMS).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;

    let again = fixture.rerun(2, KeepLms, 2).await?;
    assert_eq!(journal_changes(&again), (0, 0, 3, 1), "still open");
    assert_eq!(entity(&again, "journal").open_conflicts.len(), 1);

    let taken = fixture.rerun(2, TakeLegacy, 2).await?;
    assert_eq!(journal_changes(&taken), (0, 1, 3, 0));
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("completed"));
    let after = fixture.rerun(2, KeepLms, 2).await?;
    assert_eq!(journal_changes(&after), (0, 0, 4, 0));
    assert!(entity(&after, "journal").open_conflicts.is_empty());
    fixture.close().await
}

#[tokio::test]
async fn a_conflict_closes_when_legacy_comes_to_agree_with_the_lms() -> anyhow::Result<()> {
    let fixture = migrated_school("agree").await?;
    fixture.lms_sql(EDIT_IN_LMS).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'dropped' WHERE id = 100")
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(journal_changes(&report), (0, 0, 4, 0));
    assert!(entity(&report, "journal").open_conflicts.is_empty());
    // From here on the LMS value is the baseline: a later legacy change applies.
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;
    let later = fixture.rerun(2, KeepLms, 2).await?;
    assert_eq!(journal_changes(&later), (0, 1, 3, 0));
    fixture.close().await
}

#[tokio::test]
async fn take_legacy_overwrites_an_lms_edit_in_the_same_run() -> anyhow::Result<()> {
    let fixture = migrated_school("takenow").await?;
    fixture.lms_sql(EDIT_IN_LMS).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;

    let report = fixture.rerun(2, TakeLegacy, 2).await?;

    assert_eq!(journal_changes(&report), (0, 1, 3, 0));
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("completed"));
    fixture.close().await
}

#[tokio::test]
async fn an_edit_of_a_grade_in_the_lms_survives_a_change_to_its_enrollment() -> anyhow::Result<()> {
    let fixture = migrated_school("gradeedit").await?;
    // The grade is edited in the LMS; legacy changes the enrollment's status:
    // one journal row, two LMS rows, so it is a conflict (kept), not a
    // silent overwrite of either.
    fixture
        .lms_sql("UPDATE grades SET raw_mark = '3', scale = 'five_point', value = '3', points = 3 WHERE legacy_id = 100")
        .await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(journal_changes(&report), (0, 0, 3, 1));
    let mark = lms_value(fixture.lms(), "grades", "raw_mark", 100).await?;
    assert_eq!(mark.as_deref(), Some("3"));
    fixture.close().await
}

/// Runs a delta while an API transaction holds what `lock` locks; once the
/// run waits on a lock, the API commits `edit`. Returns the run.
async fn run_racing_an_api_write(
    fixture: &support::Fixture,
    on_conflict: lms_engine::ConflictPolicy,
    lock: &str,
    edit: &str,
) -> anyhow::Result<uuid::Uuid> {
    use sqlx::Connection;
    let mut api = sqlx::PgConnection::connect(fixture.settings.database.url.expose()).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("BEGIN; {lock}")))
        .execute(&mut api)
        .await?;
    let run = {
        let fixture_lms = fixture.lms().clone();
        let engine = fixture.engine.clone();
        tokio::spawn(async move {
            let options = lms_engine::RunOptions {
                chunk_size: 2,
                on_conflict,
                ..lms_engine::RunOptions::default()
            };
            let planned = lms_engine::plan_run(&fixture_lms, &engine.legacy, &options).await?;
            lms_engine::inline::run_inline(&engine, planned.run_id, 1).await?;
            anyhow::Ok(planned.run_id)
        })
    };
    let waited = support::waits_on_a_lock(fixture.lms(), &run).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{edit}; COMMIT")))
        .execute(&mut api)
        .await?;
    let run_id = run.await??;
    anyhow::ensure!(waited, "the run never waited on the API's row");
    Ok(run_id)
}

/// The journal's open conflicts after `run_id`: (legacy id, kind).
async fn journal_conflicts(
    fixture: &support::Fixture,
    run_id: uuid::Uuid,
) -> anyhow::Result<Vec<(i64, lms_engine::ConflictKind)>> {
    let report = lms_engine::report::build(fixture.lms(), run_id).await?;
    Ok(entity(&report, "journal")
        .open_conflicts
        .iter()
        .map(|c| (c.legacy_id, c.kind))
        .collect())
}

#[tokio::test]
async fn an_api_write_racing_the_run_is_never_overwritten() -> anyhow::Result<()> {
    let fixture = migrated_school("race").await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;

    let run_id = run_racing_an_api_write(
        &fixture,
        KeepLms,
        "SELECT 1 FROM course_enrollments WHERE legacy_id = 100 FOR UPDATE",
        EDIT_IN_LMS,
    )
    .await?;

    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("dropped"), "the API's write stands");
    assert_eq!(
        journal_conflicts(&fixture, run_id).await?,
        vec![(100, lms_engine::ConflictKind::EditedDuringRun)]
    );
    fixture.close().await
}

#[tokio::test]
async fn an_api_grade_write_racing_the_run_is_never_overwritten() -> anyhow::Result<()> {
    let fixture = migrated_school("gradeace").await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;

    // The API edits the row's final grade, not its enrollment.
    let run_id = run_racing_an_api_write(
        &fixture,
        KeepLms,
        "SELECT 1 FROM grades WHERE legacy_id = 100 FOR UPDATE",
        "UPDATE grades SET raw_mark = '3', value = '3', points = 3 WHERE legacy_id = 100",
    )
    .await?;

    let mark: Option<String> =
        sqlx::query_scalar("SELECT raw_mark FROM grades WHERE legacy_id = 100")
            .fetch_one(fixture.lms())
            .await?;
    assert_eq!(mark.as_deref(), Some("3"), "the API's write stands");
    assert_eq!(
        journal_conflicts(&fixture, run_id).await?,
        vec![(100, lms_engine::ConflictKind::EditedDuringRun)]
    );
    fixture.close().await
}

#[tokio::test]
async fn an_lms_row_taken_on_while_the_api_edits_it_stays_linked_to_its_legacy_row()
-> anyhow::Result<()> {
    let fixture = migrated_school("adoptrace").await?;
    fixture.lms_sql(&lms_born_enrollment("dropped")).await?;
    fixture.legacy_sql(LEGACY_ROW_IN_THAT_COURSE).await?;
    // Under take-legacy the run would write legacy's values over the LMS
    // row it takes on; the API edits that row first.
    let born = "legacy_id IS NULL AND course_id IN \
                (SELECT id FROM courses WHERE semester = 2 AND NOT derived_from_legacy)";
    run_racing_an_api_write(
        &fixture,
        TakeLegacy,
        &format!("SELECT 1 FROM course_enrollments WHERE {born} FOR UPDATE"),
        &format!(
            "UPDATE course_enrollments SET status = 'completed', updated_at = now() WHERE {born}"
        ),
    )
    .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        ledger(fixture.lms(), "journal", 104).await?.warnings,
        Vec::<String>::new()
    );
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 104).await?;
    assert_eq!(
        status.as_deref(),
        Some("completed"),
        "linked, the API's edit kept"
    );
    fixture.close().await
}

#[tokio::test]
async fn an_lms_row_born_while_the_run_inserts_its_key_is_taken_on_by_the_retry()
-> anyhow::Result<()> {
    use sqlx::Connection;
    let fixture = migrated_school("bornrace").await?;
    fixture.legacy_sql(LEGACY_ROW_IN_THAT_COURSE).await?;
    let options = lms_engine::RunOptions {
        chunk_size: 2,
        ..lms_engine::RunOptions::default()
    };
    let planned = lms_engine::plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    support::run_until(&fixture.engine, planned.run_id, |entity, phase| {
        (entity, phase) == ("journal", "apply")
    })
    .await?;
    // Resolved, legacy's new row is to be inserted; meanwhile another
    // service enrolls the same student in the same course, and commits once
    // the run waits on that key.
    let mut api = sqlx::PgConnection::connect(fixture.settings.database.url.expose()).await?;
    sqlx::raw_sql("BEGIN").execute(&mut api).await?;
    let enrolled = sqlx::query(
        "INSERT INTO course_enrollments (student_id, course_id, status, updated_at) \
         SELECT st.id, c.id, 'active', now() FROM students st, courses c, subjects s \
         WHERE st.legacy_id = 11 AND c.subject_id = s.id AND s.legacy_id = 2 AND c.semester = 2",
    )
    .execute(&mut api)
    .await?
    .rows_affected();
    anyhow::ensure!(enrolled == 1, "the API enrolled {enrolled} rows");
    let engine = fixture.engine.clone();
    let run_id = planned.run_id;
    let rest =
        tokio::spawn(async move { lms_engine::inline::run_inline(&engine, run_id, 1).await });
    let waited = support::waits_on_a_lock(fixture.lms(), &rest).await?;
    sqlx::raw_sql("COMMIT").execute(&mut api).await?;
    rest.await??;
    anyhow::ensure!(waited, "the run never waited on the API's new row");

    let report = fixture.report(run_id).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let enrollments: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM course_enrollments e JOIN students st ON st.id = e.student_id \
         JOIN courses c ON c.id = e.course_id WHERE st.legacy_id = 11 AND c.semester = 2",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(enrollments, 1, "taken on, not created twice");
    fixture.close().await
}

#[tokio::test]
async fn a_rerun_under_another_legacy_time_zone_looks_at_every_row_again() -> anyhow::Result<()> {
    let mut fixture = migrated_school("timezone").await?;
    // Legacy is unchanged, but its timestamps now mean other instants.
    fixture.engine.legacy_timezone = "Asia/Tokyo".to_owned();

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let submitted = lms_value(
        fixture.lms(),
        "assessment_submissions",
        "extract(epoch FROM submitted_at)::bigint",
        300,
    )
    .await?;
    // 2025-01-10 10:00 in Tokyo is 01:00 UTC.
    assert_eq!(submitted.as_deref(), Some("1736470800"));
    fixture.close().await
}

#[tokio::test]
async fn a_journal_row_merged_and_then_set_apart_again_comes_back_with_its_grade()
-> anyhow::Result<()> {
    let fixture = migrated_school("unmerge").await?;
    // Row 101 takes row 100's key (semester 1): it merges, and its
    // enrollment and final grade are retired; then legacy sets it back.
    fixture
        .legacy_sql("UPDATE journal SET semester = 1 WHERE id = 101")
        .await?;
    let merged = fixture.rerun(2, KeepLms, 2).await?;
    anyhow::ensure!(merged.status == RunStatus::Succeeded, "{:?}", merged.error);
    fixture
        .legacy_sql("UPDATE journal SET semester = 2 WHERE id = 101")
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert!(
        entity(&report, "journal").open_conflicts.is_empty(),
        "{:?}",
        entity(&report, "journal").open_conflicts
    );
    let live: (bool, Option<String>) = sqlx::query_as(
        "SELECT e.source_deleted_at IS NULL, \
                (SELECT g.raw_mark FROM grades g WHERE g.legacy_id = 101 AND g.source_deleted_at IS NULL) \
         FROM course_enrollments e WHERE e.legacy_id = 101",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(live, (true, Some("4".to_owned())));
    fixture.close().await
}

#[tokio::test]
async fn a_journal_row_deleted_and_restored_brings_back_the_lms_grades_of_its_enrollment()
-> anyhow::Result<()> {
    let fixture = migrated_school("restoregrades").await?;
    // A teacher gives an interim grade in the LMS; then legacy deletes the
    // row, and restores it as it was.
    fixture
        .lms_sql(
            "INSERT INTO grades (enrollment_id, kind, raw_mark, scale, value, points, graded_at) \
             SELECT id, 'interim', '4', 'five_point', '4', 4, now() FROM course_enrollments \
             WHERE legacy_id = 102",
        )
        .await?;
    fixture
        .legacy_sql(
            "CREATE TABLE journal_kept AS SELECT * FROM journal WHERE id = 102; \
             DELETE FROM journal WHERE id = 102;",
        )
        .await?;
    let deleted = fixture.rerun(2, KeepLms, 2).await?;
    anyhow::ensure!(
        deleted.status == RunStatus::Succeeded,
        "{:?}",
        deleted.error
    );
    fixture
        .legacy_sql("INSERT INTO journal SELECT * FROM journal_kept; DROP TABLE journal_kept;")
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let live: (bool, bool) = sqlx::query_as(
        "SELECT e.source_deleted_at IS NULL, g.source_deleted_at IS NULL \
         FROM course_enrollments e JOIN grades g ON g.enrollment_id = e.id AND g.kind = 'interim' \
         WHERE e.legacy_id = 102",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(live, (true, true));
    fixture.close().await
}
