//! A key group whose survivor leaves it hands its LMS row to the next
//! survivor: the enrollment, submission or student users know stays the
//! same row, with what they did to it, and the new survivor's values reach
//! it as any legacy change does (docs/contract.md, "Deletions and
//! re-runs").

mod support;

use std::collections::BTreeMap;

use lms_domain::LegacyEntity;
use lms_engine::ConflictPolicy::KeepLms;
use lms_engine::explain::explain;
use lms_engine::undo::undo_run;
use lms_engine::{CoverageReport, RunStatus};
use proptest::prelude::*;
use support::journal_rows::{edit, first_state, journal_row, journal_sql, second_state};
use support::school::{lms_value, migrated_school};
use support::{Fixture, cancel_a_run_before, ledger};

/// As `UpdateEnrollment` does: a new status, stamped now.
const EDIT_IN_LMS: &str =
    "UPDATE course_enrollments SET status = 'dropped', updated_at = now() WHERE legacy_id = 100";

/// Legacy deletes row 100, the survivor of its group.
const SURVIVOR_100_LEAVES: &str = "DELETE FROM journal WHERE id = 100";

/// Chunk sizes and parallel chunks the hand-over is run at.
const SHAPES: [(u32, usize); 3] = [(1, 1), (2, 2), (1_000, 2)];

/// The school, migrated, with row 104 added with row 100's key (student
/// 10, Math, semester 1) and `status` and `mark`, and migrated again: 104
/// is merged into 100.
async fn school_with_a_duplicate_of_100(
    purpose: &str,
    status: &str,
    mark: &str,
) -> anyhow::Result<Fixture> {
    let fixture = migrated_school(purpose).await?;
    fixture
        .legacy_sql(&format!(
            "INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final) \
             VALUES (104, 10, 1, 1, 20, '2024-2025', 1, '{status}', '{mark}')"
        ))
        .await?;
    let report = fixture.rerun(2, KeepLms, 2).await?;
    anyhow::ensure!(report.status == RunStatus::Succeeded, "{:?}", report.error);
    anyhow::ensure!(ledger(fixture.lms(), "journal", 104).await?.survivor == Some(100));
    Ok(fixture)
}

/// The LMS id of the row a legacy row's LMS row has now (by its legacy id).
async fn lms_id(fixture: &Fixture, table: &str, legacy_id: i64) -> anyhow::Result<Option<i64>> {
    Ok(lms_value(fixture.lms(), table, "id", legacy_id)
        .await?
        .map(|id| id.parse())
        .transpose()?)
}

/// Runs again, at `shape`; the run must succeed.
async fn rerun(
    fixture: &Fixture,
    (chunk_size, parallelism): (u32, usize),
) -> anyhow::Result<CoverageReport> {
    let report = fixture.rerun(chunk_size, KeepLms, parallelism).await?;
    anyhow::ensure!(report.status == RunStatus::Succeeded, "{:?}", report.error);
    Ok(report)
}

/// Live enrollments of student 10 in Math, semester 1.
async fn live_enrollments_of_the_group(fixture: &Fixture) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM course_enrollments e \
         JOIN students s ON s.id = e.student_id JOIN courses c ON c.id = e.course_id \
         JOIN subjects j ON j.id = c.subject_id \
         WHERE s.legacy_id = 10 AND j.legacy_id = 1 AND c.semester = 1 AND e.source_deleted_at IS NULL",
    )
    .fetch_one(fixture.lms())
    .await?)
}

/// Asserts that the group of rows 100 and 104 has no live enrollment, and
/// that 104's ledger row says its row was deleted in the LMS.
async fn assert_the_group_stays_deleted(fixture: &Fixture) -> anyhow::Result<()> {
    assert_eq!(live_enrollments_of_the_group(fixture).await?, 0);
    let entry = ledger(fixture.lms(), "journal", 104).await?;
    assert_eq!(
        (entry.outcome.as_str(), entry.target_id),
        ("migrated", None)
    );
    assert!(
        entry.warnings.iter().any(|w| w == "deleted_in_lms"),
        "{entry:?}"
    );
    Ok(())
}

/// A legacy row's open conflict in the ledger.
async fn conflict_of(
    fixture: &Fixture,
    entity: &str,
    legacy_id: i64,
) -> anyhow::Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT conflict FROM migration.ledger WHERE entity = $1 AND legacy_id = $2",
    )
    .bind(entity)
    .bind(legacy_id)
    .fetch_one(fixture.lms())
    .await?)
}

#[tokio::test]
async fn a_survivor_gone_from_legacy_hands_its_enrollment_to_the_next_duplicate()
-> anyhow::Result<()> {
    for shape in SHAPES {
        let fixture = school_with_a_duplicate_of_100("hand-over", "active", "5").await?;
        let enrollment = lms_id(&fixture, "course_enrollments", 100).await?;
        fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;

        rerun(&fixture, shape).await?;

        assert_eq!(
            lms_id(&fixture, "course_enrollments", 104).await?,
            enrollment,
            "{shape:?}"
        );
        assert_eq!(
            ledger(fixture.lms(), "journal", 104).await?.target_id,
            enrollment
        );
        assert_eq!(
            live_enrollments_of_the_group(&fixture).await?,
            1,
            "{shape:?}"
        );
        fixture.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn an_lms_edit_of_the_group_stays_when_its_survivor_leaves() -> anyhow::Result<()> {
    for shape in SHAPES {
        let fixture = school_with_a_duplicate_of_100("hand-over-edit", "active", "5").await?;
        fixture.lms_sql(EDIT_IN_LMS).await?;
        fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;

        let report = rerun(&fixture, shape).await?;

        let status = lms_value(fixture.lms(), "course_enrollments", "status", 104).await?;
        assert_eq!(status.as_deref(), Some("dropped"), "{shape:?}");
        assert_eq!(support::entity(&report, "journal").changes.conflicts, 0);
        fixture.close().await?;
    }
    Ok(())
}

#[tokio::test]
async fn the_next_survivors_own_values_reach_the_row_as_a_legacy_change() -> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-values", "completed", "4").await?;
    let grade = lms_id(&fixture, "grades", 100).await?;
    fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;

    rerun(&fixture, (2, 2)).await?;

    let status = lms_value(fixture.lms(), "course_enrollments", "status", 104).await?;
    assert_eq!(status.as_deref(), Some("completed"));
    assert_eq!(
        lms_id(&fixture, "grades", 104).await?,
        grade,
        "the final grade followed"
    );
    let mark = lms_value(fixture.lms(), "grades", "raw_mark", 104).await?;
    assert_eq!(mark.as_deref(), Some("4"));
    fixture.close().await
}

#[tokio::test]
async fn the_next_survivors_values_meeting_an_lms_edit_are_a_conflict() -> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-conflict", "completed", "4").await?;
    fixture.lms_sql(EDIT_IN_LMS).await?;
    fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;

    rerun(&fixture, (2, 2)).await?;

    let status = lms_value(fixture.lms(), "course_enrollments", "status", 104).await?;
    assert_eq!(status.as_deref(), Some("dropped"));
    assert_eq!(
        conflict_of(&fixture, "journal", 104).await?.as_deref(),
        Some("lms_edited")
    );
    fixture.close().await
}

#[tokio::test]
async fn a_group_deleted_in_the_lms_is_not_created_again_for_its_next_survivor()
-> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-deleted", "active", "5").await?;
    fixture
        .lms_sql("DELETE FROM course_enrollments WHERE legacy_id = 100")
        .await?;
    rerun(&fixture, (2, 2)).await?;
    fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;

    rerun(&fixture, (2, 2)).await?;

    assert_the_group_stays_deleted(&fixture).await?;
    fixture.close().await
}

#[tokio::test]
async fn a_group_deleted_in_the_lms_before_any_run_saw_it_is_not_created_again()
-> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-deleted-unseen", "active", "5").await?;
    fixture
        .lms_sql("DELETE FROM course_enrollments WHERE legacy_id = 100")
        .await?;
    fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;

    rerun(&fixture, (2, 2)).await?;

    assert_the_group_stays_deleted(&fixture).await?;
    fixture.close().await
}

#[tokio::test]
async fn a_row_that_handed_its_enrollment_on_gets_its_own_when_it_stands_alone_again()
-> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-alone", "active", "5").await?;
    // Row 99 (a lower id) in Physics; then row 100 joins it there, and its
    // Math enrollment goes to 104.
    fixture
        .legacy_sql(
            "INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status) \
             VALUES (99, 10, 2, 1, 20, '2024-2025', 1, 'active')",
        )
        .await?;
    rerun(&fixture, (2, 2)).await?;
    fixture
        .legacy_sql("UPDATE journal SET subject_id = 2 WHERE id = 100")
        .await?;
    rerun(&fixture, (2, 2)).await?;
    // Now row 100 moves to semester 2 of Physics, where no one else is.
    fixture
        .legacy_sql("UPDATE journal SET semester = 2 WHERE id = 100")
        .await?;

    rerun(&fixture, (2, 2)).await?;

    let live: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM course_enrollments WHERE legacy_id = 100 AND source_deleted_at IS NULL)",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert!(live, "row 100 has a live enrollment of its own");
    let entry = ledger(fixture.lms(), "journal", 100).await?;
    assert!(
        !entry.warnings.iter().any(|w| w == "deleted_in_lms"),
        "{entry:?}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_hand_over_whose_run_stopped_before_the_apply_is_completed_by_the_next_run()
-> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-cancelled", "completed", "4").await?;
    let enrollment = lms_id(&fixture, "course_enrollments", 100).await?;
    fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;
    cancel_a_run_before(&fixture, "journal", "apply").await?;
    let taken_over = ledger(fixture.lms(), "journal", 104).await?;
    assert_eq!(
        (taken_over.outcome.as_str(), taken_over.target_id),
        ("migrated", enrollment),
        "the ledger says who owns the row while the run is stopped"
    );

    rerun(&fixture, (2, 2)).await?;

    assert_eq!(
        lms_id(&fixture, "course_enrollments", 104).await?,
        enrollment
    );
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 104).await?;
    assert_eq!(status.as_deref(), Some("completed"));
    fixture.close().await
}

#[tokio::test]
async fn explain_names_the_row_an_enrollment_was_handed_to() -> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-explain", "active", "5").await?;
    fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;
    rerun(&fixture, (2, 2)).await?;

    let explanation = explain(fixture.lms(), fixture.legacy(), LegacyEntity::Journal, 100).await?;

    assert!(
        explanation.text.contains("handed to journal 104"),
        "{}",
        explanation.text
    );
    fixture.close().await
}

#[tokio::test]
async fn undoing_a_hand_over_gives_the_row_back_to_the_old_survivor() -> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-undo", "completed", "4").await?;
    let enrollment = lms_id(&fixture, "course_enrollments", 100).await?;
    fixture.legacy_sql(SURVIVOR_100_LEAVES).await?;
    let report = rerun(&fixture, (2, 2)).await?;
    assert_eq!(
        lms_id(&fixture, "course_enrollments", 104).await?,
        enrollment
    );

    undo_run(fixture.lms(), report.run_id, None).await?;

    assert_eq!(
        lms_id(&fixture, "course_enrollments", 100).await?,
        enrollment
    );
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(status.as_deref(), Some("active"));
    assert_eq!(
        ledger(fixture.lms(), "journal", 104).await?.survivor,
        Some(100)
    );
    fixture.close().await
}

/// Student 10 sits exam 30 again, a day after result 300: 300 is merged
/// into the later 302.
const RESUBMISSION_OF_300: &str = "INSERT INTO exam_results (id, exam_id, student_id, score, submitted_at, status, answers) \
     VALUES (302, 30, 10, 90, '2025-01-11 10:00', 'graded', '{\"q\": 2}')";

#[tokio::test]
async fn a_later_resubmission_takes_over_the_submission_with_its_lms_grading() -> anyhow::Result<()>
{
    let fixture = migrated_school("hand-over-resubmission").await?;
    let submission = lms_id(&fixture, "assessment_submissions", 300).await?;
    fixture
        .lms_sql("UPDATE assessment_submissions SET score = 85 WHERE legacy_id = 300")
        .await?;
    fixture.legacy_sql(RESUBMISSION_OF_300).await?;

    rerun(&fixture, (2, 2)).await?;

    assert_eq!(
        lms_id(&fixture, "assessment_submissions", 302).await?,
        submission
    );
    let score = lms_value(fixture.lms(), "assessment_submissions", "score", 302).await?;
    assert_eq!(score.as_deref(), Some("85.00"), "the LMS's grading stays");
    let conflict = conflict_of(&fixture, "exam_results", 302).await?;
    assert_eq!(conflict.as_deref(), Some("lms_edited"));
    fixture.close().await
}

#[tokio::test]
async fn a_later_resubmission_reaches_a_submission_not_edited_in_the_lms() -> anyhow::Result<()> {
    let fixture = migrated_school("hand-over-resubmitted").await?;
    let submission = lms_id(&fixture, "assessment_submissions", 300).await?;
    fixture.legacy_sql(RESUBMISSION_OF_300).await?;

    rerun(&fixture, (2, 2)).await?;

    assert_eq!(
        lms_id(&fixture, "assessment_submissions", 302).await?,
        submission
    );
    let score = lms_value(fixture.lms(), "assessment_submissions", "score", 302).await?;
    assert_eq!(score.as_deref(), Some("90.00"));
    assert_eq!(
        ledger(fixture.lms(), "exam_results", 300).await?.target_id,
        submission
    );
    fixture.close().await
}

#[tokio::test]
async fn a_student_gone_from_legacy_hands_its_lms_student_and_enrollments_to_its_duplicate()
-> anyhow::Result<()> {
    let fixture = migrated_school("hand-over-student").await?;
    // Student 12 is student 10 again (same person and organization).
    fixture
        .legacy_sql(
            "INSERT INTO students (id, user_id, person_id, organization_id, group_id, status) \
             VALUES (12, 1, 1, 1, 1, 'active')",
        )
        .await?;
    rerun(&fixture, (2, 2)).await?;
    let student = lms_id(&fixture, "students", 10).await?;
    let enrollment = lms_id(&fixture, "course_enrollments", 100).await?;
    // Legacy drops student 10 and points its rows at 12.
    fixture
        .legacy_sql(
            "UPDATE journal SET student_id = 12 WHERE student_id = 10; \
             UPDATE exam_results SET student_id = 12 WHERE student_id = 10; \
             DELETE FROM students WHERE id = 10",
        )
        .await?;

    rerun(&fixture, (2, 2)).await?;

    assert_eq!(lms_id(&fixture, "students", 12).await?, student);
    assert_eq!(
        lms_id(&fixture, "course_enrollments", 100).await?,
        enrollment
    );
    let retired = lms_value(
        fixture.lms(),
        "course_enrollments",
        "source_deleted_at",
        100,
    )
    .await?;
    assert_eq!(retired, None, "the enrollment stays live");
    fixture.close().await
}

#[tokio::test]
async fn a_row_deleted_and_added_again_under_a_new_id_takes_its_enrollment_back()
-> anyhow::Result<()> {
    let fixture = migrated_school("hand-over-readded").await?;
    let enrollment = lms_id(&fixture, "course_enrollments", 100).await?;
    fixture.lms_sql(EDIT_IN_LMS).await?;
    // Legacy's editing screen deletes row 100 and writes it anew.
    fixture
        .legacy_sql(
            "DELETE FROM journal WHERE id = 100; \
             INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final) \
             VALUES (110, 10, 1, 1, 20, '2024-2025', 1, 'active', '5')",
        )
        .await?;

    rerun(&fixture, (2, 2)).await?;

    assert_eq!(
        lms_id(&fixture, "course_enrollments", 110).await?,
        enrollment
    );
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 110).await?;
    assert_eq!(status.as_deref(), Some("dropped"));
    assert_eq!(live_enrollments_of_the_group(&fixture).await?, 1);
    fixture.close().await
}

#[tokio::test]
async fn a_duplicate_that_left_the_group_does_not_take_its_row() -> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_of_100("hand-over-stayer", "active", "5").await?;
    fixture
        .legacy_sql(
            "INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final) \
             VALUES (105, 10, 1, 1, 20, '2024-2025', 1, 'active', '5')",
        )
        .await?;
    rerun(&fixture, (2, 2)).await?;
    let enrollment = lms_id(&fixture, "course_enrollments", 100).await?;
    // Row 100 goes; 104, the next lowest id, moves to Physics at once;
    // 105 stays in the group.
    fixture
        .legacy_sql(
            "DELETE FROM journal WHERE id = 100; UPDATE journal SET subject_id = 2 WHERE id = 104",
        )
        .await?;

    rerun(&fixture, (2, 2)).await?;

    assert_eq!(
        lms_id(&fixture, "course_enrollments", 105).await?,
        enrollment
    );
    assert_eq!(live_enrollments_of_the_group(&fixture).await?, 1);
    fixture.close().await
}

/// The school, migrated, with student 12 added as student 10 again (same
/// person and organization), both without a legacy user, and migrated
/// again: 12 is merged into 10, which has a provisioned account.
async fn school_with_a_duplicate_student_without_a_login(purpose: &str) -> anyhow::Result<Fixture> {
    let fixture = migrated_school(purpose).await?;
    fixture
        .legacy_sql(
            "UPDATE students SET user_id = NULL WHERE id = 10; \
             INSERT INTO students (id, user_id, person_id, organization_id, group_id, status) \
             VALUES (12, NULL, 1, 1, 1, 'active')",
        )
        .await?;
    rerun(&fixture, (2, 2)).await?;
    Ok(fixture)
}

/// Legacy drops student 10 and points its rows at student 12.
const STUDENT_10_LEAVES: &str = "UPDATE journal SET student_id = 12 WHERE student_id = 10; \
     UPDATE exam_results SET student_id = 12 WHERE student_id = 10; \
     DELETE FROM students WHERE id = 10";

#[tokio::test]
async fn a_handed_over_student_keeps_its_provisioned_account() -> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_student_without_a_login("hand-over-account").await?;
    let account: i64 = sqlx::query_scalar("SELECT user_id FROM students WHERE legacy_id = 10")
        .fetch_one(fixture.lms())
        .await?;
    fixture.legacy_sql(STUDENT_10_LEAVES).await?;

    rerun(&fixture, (2, 2)).await?;

    let now: i64 = sqlx::query_scalar("SELECT user_id FROM students WHERE legacy_id = 12")
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(now, account, "the account the student may have activated");
    let provisioned: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE provisioned_for IS NOT NULL")
            .fetch_one(fixture.lms())
            .await?;
    assert_eq!(provisioned, 1, "no second account");
    fixture.close().await
}

#[tokio::test]
async fn a_student_the_lms_moved_to_another_organization_is_handed_over_all_the_same()
-> anyhow::Result<()> {
    let fixture = school_with_a_duplicate_student_without_a_login("hand-over-moved").await?;
    let student = lms_id(&fixture, "students", 10).await?;
    fixture
        .lms_sql(
            "INSERT INTO organizations (name) VALUES ('Branch'); \
             UPDATE students SET organization_id = (SELECT id FROM organizations WHERE name = 'Branch') \
             WHERE legacy_id = 10",
        )
        .await?;
    fixture.legacy_sql(STUDENT_10_LEAVES).await?;

    rerun(&fixture, (2, 2)).await?;

    assert_eq!(lms_id(&fixture, "students", 12).await?, student);
    fixture.close().await
}

#[tokio::test]
async fn a_new_user_with_a_gone_users_login_never_takes_that_account() -> anyhow::Result<()> {
    let fixture = migrated_school("hand-over-users").await?;
    let account = lms_id(&fixture, "users", 2).await?;
    fixture
        .legacy_sql(
            "UPDATE students SET user_id = NULL WHERE user_id = 2; DELETE FROM users WHERE id = 2; \
             INSERT INTO users (id, login, email, person_id, role) VALUES (9, 'beta', 'beta@mail.kz', 2, 'student')",
        )
        .await?;

    rerun(&fixture, (2, 2)).await?;

    let taken_by_9 = lms_id(&fixture, "users", 9).await?;
    assert!(taken_by_9.is_some(), "user 9 has an account");
    assert_ne!(taken_by_9, account);
    fixture.close().await
}

/// The live enrollments' statuses by (student, course).
async fn statuses_by_key(fixture: &Fixture) -> anyhow::Result<BTreeMap<(i64, i64), String>> {
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "SELECT student_id, course_id, status FROM course_enrollments WHERE source_deleted_at IS NULL",
    )
    .fetch_all(fixture.lms())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(student, course, status)| ((student, course), status))
        .collect())
}

proptest! {
    // PROPTEST_CASES runs more cases than the 6 a `make test` affords.
    #![proptest_config(ProptestConfig { cases: support::proptest_cases(6), ..ProptestConfig::default() })]

    /// Whatever legacy does to the journal's rows (deletes, rewrites under
    /// new ids, moves between keys), an enrollment edited in the LMS keeps
    /// its edit for as long as its key group lives on in legacy, at any
    /// chunk size and number of parallel chunks.
    #[test]
    fn an_lms_edit_outlives_any_change_of_its_groups_survivor(
        before in prop::collection::vec(journal_row(), 12),
        edits in prop::collection::vec(edit(), 12),
        added in prop::collection::vec(journal_row(), 0..4),
        shape in prop::sample::select(vec![(1_u32, 2_usize), (3, 2), (1_000, 1)]),
    ) {
        let first = first_state(before);
        let second = second_state(&first, &edits, added);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime.block_on(async {
            let fixture = migrated_school("hand-over-any").await?;
            fixture.legacy_sql(&journal_sql(&first)).await?;
            rerun(&fixture, shape).await?;
            fixture
                .lms_sql("UPDATE course_enrollments SET status = 'dropped', updated_at = now()")
                .await?;
            let edited = statuses_by_key(&fixture).await?;
            fixture.legacy_sql(&journal_sql(&second)).await?;

            rerun(&fixture, shape).await?;

            for (key, status) in statuses_by_key(&fixture).await? {
                anyhow::ensure!(
                    !edited.contains_key(&key) || status == "dropped",
                    "the enrollment {key:?}, edited in the LMS, lost its edit"
                );
            }
            fixture.close().await
        }).map_err(|error| TestCaseError::fail(format!("{error:#}")))?;
    }
}
