//! Rows deleted in the LMS and rows born there: a re-run never re-creates
//! the first, and never fails over the second.

mod support;

use lms_domain::LegacyEntity;
use lms_engine::ConflictKind;
use lms_engine::ConflictPolicy::{KeepLms, TakeLegacy};
use lms_engine::{RunOptions, RunStatus};
use sqlx::Row;
use support::school::{
    LEGACY_ROW_IN_THAT_COURSE, lms_born_enrollment, lms_value, migrated_school,
    school_with_a_student_whose_user_was_deleted_in_the_lms,
};
use support::{entity, ledger, run_until};

#[tokio::test]
async fn a_row_deleted_in_the_lms_is_not_created_again() -> anyhow::Result<()> {
    let fixture = migrated_school("deleted").await?;
    fixture
        .lms_sql("DELETE FROM course_enrollments WHERE legacy_id = 102")
        .await?;
    // Even a legacy change to it does not bring it back.
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 102")
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM course_enrollments WHERE legacy_id = 102")
            .fetch_one(fixture.lms())
            .await?;
    assert_eq!(count, 0);
    let row = ledger(fixture.lms(), "journal", 102).await?;
    assert_eq!(
        (row.outcome.as_str(), row.target_id, row.warnings),
        ("migrated", None, vec!["deleted_in_lms".to_owned()])
    );
    assert_eq!(entity(&report, "journal").warnings["deleted_in_lms"], 1);
    fixture.close().await
}

/// Student 11 removed in the LMS, as the API allows: its enrollments and
/// submissions first.
async fn delete_student_11_in_the_lms(fixture: &support::Fixture) -> anyhow::Result<()> {
    fixture
        .lms_sql(
            "DELETE FROM course_enrollments WHERE student_id = (SELECT id FROM students WHERE legacy_id = 11); \
             DELETE FROM assessment_submissions WHERE student_id = (SELECT id FROM students WHERE legacy_id = 11); \
             DELETE FROM students WHERE legacy_id = 11;",
        )
        .await
}

/// The legacy row `table`/`id` is rejected as an orphan whose reference
/// was deleted in the LMS.
async fn assert_orphan_of_a_row_deleted_in_the_lms(
    fixture: &support::Fixture,
    table: &str,
    id: i64,
) -> anyhow::Result<()> {
    let row = ledger(fixture.lms(), table, id).await?;
    assert_eq!(
        (row.outcome.as_str(), row.reason.as_deref()),
        ("rejected", Some("orphan_reference")),
        "{table} {id}"
    );
    assert!(
        row.detail
            .as_deref()
            .is_some_and(|detail| detail.contains("deleted in the LMS")),
        "{table} {id}: {:?}",
        row.detail
    );
    Ok(())
}

#[tokio::test]
async fn rows_that_reference_a_row_deleted_in_the_lms_are_orphans() -> anyhow::Result<()> {
    let fixture = migrated_school("deletedref").await?;
    delete_student_11_in_the_lms(&fixture).await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    assert_eq!(
        ledger(fixture.lms(), "students", 11).await?.warnings,
        vec!["deleted_in_lms".to_owned()]
    );
    for (table, id) in [("journal", 102), ("journal", 103), ("exam_results", 301)] {
        assert_orphan_of_a_row_deleted_in_the_lms(&fixture, table, id).await?;
    }
    let remaining: i64 = sqlx::query_scalar("SELECT count(*) FROM students WHERE legacy_id = 11")
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(remaining, 0, "not created again");
    fixture.close().await
}

#[tokio::test]
async fn a_journal_only_run_rejects_a_row_of_a_student_deleted_in_the_lms() -> anyhow::Result<()> {
    let fixture = migrated_school("deletedrefjournal").await?;
    delete_student_11_in_the_lms(&fixture).await?;
    fixture
        .legacy_sql(
            "INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status) \
             VALUES (104, 11, 2, 1, 20, '2025-2026', 1, 'active'); \
             INSERT INTO exam_results (id, exam_id, student_id, score, submitted_at, status) \
             VALUES (302, 30, 11, 90, '2025-06-10 11:00', 'graded')",
        )
        .await?;

    // The students' table is not in the run: its ledger still maps 11.
    let report = fixture
        .migrate_using(
            RunOptions {
                entities: vec![LegacyEntity::Journal, LegacyEntity::ExamResults],
                chunk_size: 2,
                ..RunOptions::default()
            },
            2,
        )
        .await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    for (table, id) in [("journal", 104), ("exam_results", 302)] {
        assert_orphan_of_a_row_deleted_in_the_lms(&fixture, table, id).await?;
    }
    fixture.close().await
}

#[tokio::test]
async fn a_new_legacy_row_adopts_the_lms_row_that_holds_its_key() -> anyhow::Result<()> {
    let fixture = migrated_school("adopt").await?;
    fixture.lms_sql(&lms_born_enrollment("active")).await?;
    fixture.legacy_sql(LEGACY_ROW_IN_THAT_COURSE).await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let adopted: (i64, i64) = sqlx::query_as(
        "SELECT e.id, count(*) OVER () FROM course_enrollments e JOIN courses c ON c.id = e.course_id \
         WHERE c.semester = 2 AND c.derived_from_legacy = false",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(adopted.1, 1, "one enrollment, not two");
    let row = ledger(fixture.lms(), "journal", 104).await?;
    assert_eq!(row.target_id, Some(adopted.0));
    let linked = lms_value(fixture.lms(), "course_enrollments", "id", 104).await?;
    assert_eq!(linked, Some(adopted.0.to_string()));
    assert!(
        entity(&report, "journal").open_conflicts.is_empty(),
        "same values"
    );
    fixture.close().await
}

#[tokio::test]
async fn an_adopted_lms_row_with_other_values_is_a_conflict_under_the_policy() -> anyhow::Result<()>
{
    let fixture = migrated_school("adoptconflict").await?;
    fixture.lms_sql(&lms_born_enrollment("dropped")).await?;
    fixture.legacy_sql(LEGACY_ROW_IN_THAT_COURSE).await?;

    let kept = fixture.rerun(2, KeepLms, 2).await?;
    let conflicts = &entity(&kept, "journal").open_conflicts;
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        (conflicts[0].legacy_id, conflicts[0].kind),
        (104, ConflictKind::LmsEdited)
    );
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 104).await?;
    assert_eq!(status.as_deref(), Some("dropped"));

    fixture.rerun(2, TakeLegacy, 2).await?;
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 104).await?;
    assert_eq!(status.as_deref(), Some("active"));
    fixture.close().await
}

#[tokio::test]
async fn a_final_grade_born_in_the_lms_is_adopted_by_a_legacy_mark() -> anyhow::Result<()> {
    let fixture = migrated_school("adoptgrade").await?;
    // Journal row 102 has no mark; a teacher grades its enrollment in the LMS.
    fixture
        .lms_sql(
            "INSERT INTO grades (enrollment_id, kind, raw_mark, scale, value, points, graded_at) \
             SELECT id, 'final', '5', 'five_point', '5', 5, now() FROM course_enrollments WHERE legacy_id = 102",
        )
        .await?;
    fixture
        .legacy_sql("UPDATE journal SET mark_final = '4' WHERE id = 102")
        .await?;

    let kept = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(kept.status, RunStatus::Succeeded, "{:?}", kept.error);
    let grades: Vec<(Option<i64>, String)> = sqlx::query_as(
        "SELECT g.legacy_id, g.raw_mark FROM grades g JOIN course_enrollments e ON e.id = g.enrollment_id \
         WHERE e.legacy_id = 102 AND g.source_deleted_at IS NULL",
    )
    .fetch_all(fixture.lms())
    .await?;
    assert_eq!(
        grades,
        vec![(Some(102), "5".to_owned())],
        "adopted, LMS mark kept"
    );
    assert_eq!(entity(&kept, "journal").changes.conflicts, 1);

    fixture.rerun(2, TakeLegacy, 2).await?;
    let mark = lms_value(fixture.lms(), "grades", "raw_mark", 102).await?;
    assert_eq!(mark.as_deref(), Some("4"));
    fixture.close().await
}

#[tokio::test]
async fn a_new_legacy_user_adopts_the_lms_account_with_its_login() -> anyhow::Result<()> {
    let fixture = migrated_school("adoptuser").await?;
    fixture
        .lms_sql(
            "INSERT INTO users (login, email, role) VALUES ('delta', 'delta@mail.kz', 'student')",
        )
        .await?;
    fixture
        .legacy_sql(
            "INSERT INTO persons (id, last_name) VALUES (4, 'Delta'); \
             INSERT INTO users (id, login, email, person_id, role) VALUES (4, 'Delta', 'delta@mail.kz', 4, 'student')",
        )
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let accounts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE lower(login) = 'delta' AND source_deleted_at IS NULL",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(accounts, 1);
    let row = ledger(fixture.lms(), "users", 4).await?;
    let id: i64 = sqlx::query_scalar("SELECT id FROM users WHERE legacy_id = 4")
        .fetch_one(fixture.lms())
        .await?;
    assert_eq!(row.target_id, Some(id));
    assert!(!row.warnings.contains(&"email_duplicate".to_owned()));
    // The login differs in case and the person is new: the LMS keeps its values.
    assert_eq!(entity(&report, "users").changes.conflicts, 1);
    fixture.close().await
}

#[tokio::test]
async fn a_provisioned_login_taken_twice_gets_the_legacy_id_as_often_as_needed()
-> anyhow::Result<()> {
    let fixture = migrated_school("provision").await?;
    fixture
        .legacy_sql(
            "INSERT INTO persons (id, last_name) VALUES (5, 'Noone'), (6, 'Taken'); \
             INSERT INTO users (id, login, person_id, role) VALUES \
                 (6, 'student.12', 6, 'student'), (7, 'STUDENT.12.12', 6, 'student'); \
             INSERT INTO students (id, user_id, person_id, organization_id, group_id) VALUES (12, NULL, 5, 1, 1);",
        )
        .await?;

    let report = fixture.rerun(1, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let login: String = sqlx::query_scalar(
        "SELECT u.login FROM students s JOIN users u ON u.id = s.user_id WHERE s.legacy_id = 12",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(login, "student.12.12.12");
    fixture.close().await
}

#[tokio::test]
async fn a_survivor_re_elected_through_a_referenced_row_is_a_change() -> anyhow::Result<()> {
    let fixture = migrated_school("reelect").await?;
    // Student 12, a student of its own (person 3) with an LMS row, then
    // duplicates student 10 (same person and organization): merged, its
    // LMS row retired.
    fixture
        .legacy_sql(
            "INSERT INTO students (id, user_id, person_id, organization_id, group_id) VALUES (12, 1, 3, 1, 1); \
             INSERT INTO journal (id, student_id, subject_id, group_id, academic_year, semester, status) \
                 VALUES (105, 12, 2, 1, '2024-2025', 2, 'active');",
        )
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;
    fixture
        .legacy_sql("UPDATE students SET person_id = 1 WHERE id = 12")
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;
    let before = lms_value(fixture.lms(), "course_enrollments", "student_id", 105).await?;
    // Student 10 leaves legacy: 12 survives on its own, and its own LMS row
    // comes back (a row with an LMS row of its own is not handed 10's).
    fixture
        .legacy_sql(
            "DELETE FROM exam_results WHERE student_id = 10; DELETE FROM students WHERE id = 10",
        )
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let after = lms_value(fixture.lms(), "course_enrollments", "student_id", 105).await?;
    let own: i64 = sqlx::query("SELECT id FROM students WHERE legacy_id = 12")
        .fetch_one(fixture.lms())
        .await?
        .get(0);
    assert_ne!(before, after);
    assert_eq!(after, Some(own.to_string()));
    // Rows 100 and 101 are now orphans; row 105 moved to its own student.
    assert_eq!(entity(&report, "journal").changes.updated, 3);
    let written_by: uuid::Uuid = sqlx::query_scalar(
        "SELECT run_id FROM migration.ledger WHERE entity = 'journal' AND legacy_id = 105",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(written_by, report.run_id);
    fixture.close().await
}

#[tokio::test]
async fn a_deletion_committed_while_a_run_resolves_is_taken_up_by_the_next_run()
-> anyhow::Result<()> {
    use sqlx::Connection;
    let fixture = migrated_school("deletedrace").await?;
    // A legacy change, so that the re-run resolves the journal at all.
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;
    let options = RunOptions {
        chunk_size: 2,
        ..RunOptions::default()
    };
    let planned = lms_engine::plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    // An API transaction deletes an enrollment before the journal is
    // resolved, and commits while the resolve waits for the table (after
    // it decided what to look at): that resolve does not see it.
    let mut api = sqlx::PgConnection::connect(fixture.settings.database.url.expose()).await?;
    sqlx::raw_sql("BEGIN; DELETE FROM course_enrollments WHERE legacy_id = 102")
        .execute(&mut api)
        .await?;
    let run = {
        let engine = fixture.engine.clone();
        tokio::spawn(async move { run_until(&engine, planned.run_id, |_, _| false).await })
    };
    let waited = support::waits_on_a_lock(fixture.lms(), &run).await?;
    sqlx::raw_sql("COMMIT").execute(&mut api).await?;
    run.await??;
    assert!(waited, "the run waited for the deleting transaction");
    assert_eq!(
        fixture.report(planned.run_id).await?.status,
        RunStatus::Succeeded
    );

    let next = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    let row = ledger(fixture.lms(), "journal", 102).await?;
    assert_eq!(
        (row.outcome.as_str(), row.target_id, row.warnings),
        ("migrated", None, vec!["deleted_in_lms".to_owned()])
    );
    fixture.close().await
}

#[tokio::test]
async fn a_student_whose_user_was_deleted_in_the_lms_gets_an_account_and_says_why()
-> anyhow::Result<()> {
    let fixture = school_with_a_student_whose_user_was_deleted_in_the_lms("deleteduser").await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let student = ledger(fixture.lms(), "students", 12).await?;
    assert_eq!(student.warnings, vec!["user_provisioned".to_owned()]);
    assert!(
        student
            .detail
            .as_deref()
            .is_some_and(|detail| detail.contains("user_id 4 points at a user deleted in the LMS")),
        "{:?}",
        student.detail
    );
    fixture.close().await
}

#[tokio::test]
async fn a_user_whose_person_was_deleted_in_the_lms_warns_that_it_dangles() -> anyhow::Result<()> {
    let fixture = migrated_school("deletedperson").await?;
    // A legacy person nobody points at yet, migrated, then deleted in the LMS.
    fixture
        .legacy_sql(
            "INSERT INTO persons (id, last_name, first_name) VALUES (5, 'Sadykov', 'Arman')",
        )
        .await?;
    assert_eq!(
        fixture.rerun(2, KeepLms, 2).await?.status,
        RunStatus::Succeeded
    );
    fixture
        .lms_sql("DELETE FROM persons WHERE legacy_id = 5")
        .await?;
    fixture
        .legacy_sql(
            "INSERT INTO users (id, login, person_id, role) VALUES (5, 'epsilon', 5, 'parent')",
        )
        .await?;

    let report = fixture.rerun(2, KeepLms, 2).await?;

    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let user = ledger(fixture.lms(), "users", 5).await?;
    assert_eq!(user.warnings, vec!["dangling_person".to_owned()]);
    assert!(
        user.detail.as_deref().is_some_and(
            |detail| detail.contains("person_id 5 points at a person deleted in the LMS")
        ),
        "{:?}",
        user.detail
    );
    fixture.close().await
}
