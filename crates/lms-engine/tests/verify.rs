//! `migrate verify`: the LMS reconciled against legacy by an independent
//! reading of the contract, with each difference explained or not.

mod support;

use lms_data::Database;
use lms_data::repo::Repository;
use lms_domain::LegacyEntity;
use lms_domain::model::{EnrollmentId, EnrollmentPatch};
use lms_domain::status::EnrollmentStatus;
use lms_engine::ConflictKind;
use lms_engine::ConflictPolicy::{KeepLms, TakeLegacy};
use lms_engine::verify::{
    DifferenceKind, EntityVerification, Explanation, VerifyOptions, VerifyReport, verify,
};
use lms_legacy::Scale;
use support::Fixture;
use support::school::{
    lms_value, migrated_school, school_with_a_student_whose_user_was_deleted_in_the_lms,
};

async fn verified(fixture: &Fixture, chunk_size: u32) -> anyhow::Result<VerifyReport> {
    let options = VerifyOptions {
        chunk_size,
        legacy_timezone: "UTC".to_owned(),
    };
    Ok(verify(fixture.lms(), fixture.legacy(), &options).await?)
}

fn table(report: &VerifyReport, entity: LegacyEntity) -> &EntityVerification {
    report
        .entities
        .iter()
        .find(|table| table.entity == entity)
        .unwrap_or_else(|| panic!("{entity:?} missing"))
}

/// (legacy id, kind, explained) of every difference listed for `entity`.
fn listed(
    report: &VerifyReport,
    entity: LegacyEntity,
) -> Vec<(i64, DifferenceKind, Option<Explanation>)> {
    table(report, entity)
        .samples
        .iter()
        .map(|difference| {
            (
                difference.legacy_id,
                difference.kind,
                difference.explanation,
            )
        })
        .collect()
}

#[tokio::test]
async fn rings_of_parents_verify_with_no_difference() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("verifyrings").await?;
    fixture
        .legacy_sql(
            "INSERT INTO organizations (id, parent_id, name) VALUES \
             (1, NULL, 'Root'), (3, 3, 'Itself'), (4, 5, 'Ring a'), (5, 6, 'Ring b'), \
             (6, 4, 'Ring c'), (7, 4, 'Branch'), (8, 9, 'Pair a'), (9, 8, 'Pair b')",
        )
        .await?;
    let report = fixture.migrate(2).await?;
    assert_eq!(
        report.status,
        lms_engine::RunStatus::Succeeded,
        "{:?}",
        report.error
    );

    let verification = verified(&fixture, 3).await?;

    let text = lms_engine::verify::table::to_table(&verification);
    assert_eq!(verification.unexplained(), 0, "{text}");
    fixture.close().await
}

#[tokio::test]
async fn a_clean_migration_verifies_with_no_difference() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("verifyclean", Scale::Small, 5).await?;
    let report = fixture.migrate(397).await?;
    assert_eq!(
        report.status,
        lms_engine::RunStatus::Succeeded,
        "{:?}",
        report.error
    );

    let verification = verified(&fixture, 500).await?;

    let text = lms_engine::verify::table::to_table(&verification);
    assert_eq!(verification.unexplained(), 0, "{text}");
    assert_eq!(verification.explained(), 0, "{text}");
    for table in &verification.entities {
        assert!(table.expected_rows > 0, "{:?}", table.entity);
        assert_eq!(
            (
                table.present_rows,
                table.matching_rows,
                table.differing_chunks
            ),
            (table.expected_rows, table.expected_rows, 0),
            "{:?}",
            table.entity
        );
    }
    assert_eq!(verification.academic.differing_lines(), 0, "{text}");
    assert!(!verification.academic.terms.is_empty());
    fixture.close().await
}

#[tokio::test]
async fn direct_sql_corruption_deletion_and_a_stray_row_are_unexplained() -> anyhow::Result<()> {
    let fixture = migrated_school("verifycorrupt").await?;
    // Straight into the LMS, past the API: a changed value, a row deleted
    // with the triggers off (so not even the deletion trigger notes it), and
    // a row carrying a legacy id legacy does not have.
    fixture
        .lms_sql(
            "UPDATE persons SET last_name = 'Corrupted' WHERE legacy_id = 2; \
             BEGIN; SET LOCAL session_replication_role = replica; \
             DELETE FROM assessment_submissions WHERE legacy_id = 301; COMMIT; \
             INSERT INTO persons (legacy_id, last_name) VALUES (999, 'Stray');",
        )
        .await?;

    let report = verified(&fixture, 2).await?;

    assert_eq!(
        listed(&report, LegacyEntity::Persons),
        [
            (2, DifferenceKind::Changed, None),
            (999, DifferenceKind::Unexpected, None)
        ]
    );
    assert_eq!(
        listed(&report, LegacyEntity::ExamResults),
        [(301, DifferenceKind::Missing, None)]
    );
    assert_eq!(report.unexplained(), 3);
    let changed = &table(&report, LegacyEntity::Persons).samples[0].fields;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].field, "last_name");
    assert_eq!(changed[0].legacy.as_deref(), Some("Petrova"));
    assert_eq!(changed[0].lms.as_deref(), Some("Corrupted"));
    assert_eq!(table(&report, LegacyEntity::Persons).differing_chunks, 2);
    fixture.close().await
}

#[tokio::test]
async fn an_api_edit_kept_as_a_conflict_is_explained() -> anyhow::Result<()> {
    let fixture = migrated_school("verifyconflict").await?;
    let db = Database::connect(fixture.lms_db.url(), &lms_pg::PoolConfig::small("test")).await?;
    let enrollment: i64 =
        sqlx::query_scalar("SELECT id FROM course_enrollments WHERE legacy_id = 100")
            .fetch_one(fixture.lms())
            .await?;
    Repository::new(&db)
        .update_enrollment(
            EnrollmentId(enrollment),
            EnrollmentPatch {
                status: Some(EnrollmentStatus::Dropped),
                ..EnrollmentPatch::default()
            },
        )
        .await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;

    let report = verified(&fixture, 2).await?;

    let conflict = Some(Explanation::Conflict {
        conflict: ConflictKind::LmsEdited,
    });
    assert_eq!(
        listed(&report, LegacyEntity::Journal),
        [(100, DifferenceKind::Changed, conflict)]
    );
    let fields = &table(&report, LegacyEntity::Journal).samples[0].fields;
    assert_eq!(fields[0].field, "status");
    assert_eq!(
        (fields[0].legacy.as_deref(), fields[0].lms.as_deref()),
        (Some("completed"), Some("dropped"))
    );
    assert_eq!((report.unexplained(), report.explained()), (0, 1));
    db.pool().close().await;
    fixture.close().await
}

/// Sets enrollment 100 (legacy id) to dropped, through the repository:
/// as the API does (with `call`, recorded in the audit trail) or not.
async fn drop_enrollment_100(
    fixture: &Fixture,
    call: Option<&lms_domain::audit::Call>,
) -> anyhow::Result<()> {
    let db = Database::connect(fixture.lms_db.url(), &lms_pg::PoolConfig::small("test")).await?;
    let enrollment: i64 =
        sqlx::query_scalar("SELECT id FROM course_enrollments WHERE legacy_id = 100")
            .fetch_one(fixture.lms())
            .await?;
    let repo = Repository::new(&db);
    let patch = EnrollmentPatch {
        status: Some(EnrollmentStatus::Dropped),
        ..EnrollmentPatch::default()
    };
    let id = EnrollmentId(enrollment);
    match call {
        Some(call) => repo.audited(call).update_enrollment(id, patch).await?,
        None => repo.update_enrollment(id, patch).await?,
    };
    db.pool().close().await;
    Ok(())
}

/// The call recorded when the registrar drops enrollment 100 through the
/// API.
async fn registrar_call(fixture: &Fixture) -> anyhow::Result<lms_domain::audit::Call> {
    Ok(lms_domain::audit::Call {
        actor: "registrar".into(),
        method: "/lms.v1.EnrollmentService/UpdateEnrollment".into(),
        resource: Some(format!(
            "enrollments/{}",
            sqlx::query_scalar::<_, i64>("SELECT id FROM course_enrollments WHERE legacy_id = 100")
                .fetch_one(fixture.lms())
                .await?
        )),
        key: None,
    })
}

#[tokio::test]
async fn an_audited_api_edit_is_explained() -> anyhow::Result<()> {
    let fixture = migrated_school("verifyaudited").await?;
    drop_enrollment_100(&fixture, Some(&registrar_call(&fixture).await?)).await?;

    let report = verified(&fixture, 2).await?;

    assert_eq!(
        listed(&report, LegacyEntity::Journal),
        [(
            100,
            DifferenceKind::Changed,
            Some(Explanation::WrittenThroughApi)
        )]
    );
    assert_eq!(report.unexplained(), 0);
    fixture.close().await
}

/// A re-run that records the row again without writing its LMS row (legacy
/// changed only its `updated_at`, which the migration does not compare)
/// leaves the API's earlier edit explained.
#[tokio::test]
async fn an_audited_api_edit_stays_explained_after_a_rerun_records_its_row_again()
-> anyhow::Result<()> {
    let fixture = migrated_school("verifyauditedrerun").await?;
    drop_enrollment_100(&fixture, Some(&registrar_call(&fixture).await?)).await?;
    fixture
        .legacy_sql("UPDATE journal SET updated_at = '2030-01-01 08:00' WHERE id = 100")
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;
    let recorded_after_the_edit: bool = sqlx::query_scalar(
        "SELECT l.recorded_at > (SELECT max(at) FROM api.audit_events) \
         FROM migration.ledger l WHERE l.entity = 'journal' AND l.legacy_id = 100",
    )
    .fetch_one(fixture.lms())
    .await?;
    assert!(
        recorded_after_the_edit,
        "the re-run left the ledger row as it was"
    );

    let report = verified(&fixture, 2).await?;

    assert_eq!(
        listed(&report, LegacyEntity::Journal),
        [(
            100,
            DifferenceKind::Changed,
            Some(Explanation::WrittenThroughApi)
        )]
    );
    fixture.close().await
}

/// A take-legacy run that writes legacy's values over an API edit (the
/// baseline it writes is the one it had) makes that edit history: an
/// unaudited edit after it is not explained by the API's earlier write.
#[tokio::test]
async fn an_api_edit_a_take_legacy_run_overwrote_explains_no_later_edit() -> anyhow::Result<()> {
    let fixture = migrated_school("verifyoverwritten").await?;
    drop_enrollment_100(&fixture, Some(&registrar_call(&fixture).await?)).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id = 100")
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;
    fixture
        .legacy_sql("UPDATE journal SET status = 'active' WHERE id = 100")
        .await?;
    fixture.rerun(2, TakeLegacy, 2).await?;
    let status = lms_value(fixture.lms(), "course_enrollments", "status", 100).await?;
    assert_eq!(
        status.as_deref(),
        Some("active"),
        "take-legacy wrote legacy's"
    );
    fixture
        .lms_sql("UPDATE course_enrollments SET status = 'dropped' WHERE legacy_id = 100")
        .await?;

    let report = verified(&fixture, 2).await?;

    assert_eq!(
        listed(&report, LegacyEntity::Journal),
        [(100, DifferenceKind::Changed, None)]
    );
    fixture.close().await
}

/// A key group's row handed to its new survivor keeps what the API did to
/// it explained: the baseline's time goes with the baseline.
#[tokio::test]
async fn an_audited_api_edit_stays_explained_when_its_row_is_handed_over() -> anyhow::Result<()> {
    let fixture = migrated_school("verifyhandedover").await?;
    // A duplicate of journal row 100 (same student and course, same values).
    fixture
        .legacy_sql(
            "INSERT INTO journal (id, student_id, subject_id, group_id, teacher_id, academic_year, semester, status, mark_final) \
             VALUES (150, 10, 1, 1, 20, '2024-2025', 1, 'active', '5')",
        )
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;
    let call = registrar_call(&fixture).await?;
    drop_enrollment_100(&fixture, Some(&call)).await?;
    fixture
        .legacy_sql("DELETE FROM journal WHERE id = 100")
        .await?;
    fixture.rerun(2, KeepLms, 2).await?;
    let handed: Option<i64> = sqlx::query_scalar(
        "SELECT legacy_id FROM course_enrollments WHERE 'enrollments/' || id = $1",
    )
    .bind(call.resource.as_deref())
    .fetch_one(fixture.lms())
    .await?;
    assert_eq!(handed, Some(150), "the row went to the new survivor");

    let report = verified(&fixture, 2).await?;

    assert_eq!(
        listed(&report, LegacyEntity::Journal),
        [(
            150,
            DifferenceKind::Changed,
            Some(Explanation::WrittenThroughApi)
        )]
    );
    fixture.close().await
}

#[tokio::test]
async fn an_edit_the_audit_trail_does_not_know_is_unexplained() -> anyhow::Result<()> {
    let fixture = migrated_school("verifyunaudited").await?;
    drop_enrollment_100(&fixture, None).await?;

    let report = verified(&fixture, 2).await?;

    assert_eq!(
        listed(&report, LegacyEntity::Journal),
        [(100, DifferenceKind::Changed, None)]
    );
    assert_eq!(report.unexplained(), 1);
    fixture.close().await
}

#[tokio::test]
async fn a_deletion_the_lms_noted_is_explained() -> anyhow::Result<()> {
    let fixture = migrated_school("verifydeleted").await?;
    // As the API's delete does: the deletion trigger notes it.
    fixture
        .lms_sql("DELETE FROM assessment_submissions WHERE legacy_id = 301")
        .await?;

    let report = verified(&fixture, 2).await?;

    assert_eq!(
        listed(&report, LegacyEntity::ExamResults),
        [(
            301,
            DifferenceKind::Missing,
            Some(Explanation::DeletedInLms)
        )]
    );
    assert_eq!(report.unexplained(), 0);
    fixture.close().await
}

#[tokio::test]
async fn legacy_times_are_compared_in_the_legacy_time_zone() -> anyhow::Result<()> {
    let mut fixture = Fixture::empty_legacy("verifyzone").await?;
    fixture.engine.legacy_timezone = "Europe/Moscow".to_owned();
    fixture.legacy_sql(support::school::SCHOOL).await?;
    let report = fixture.migrate(2).await?;
    assert_eq!(
        report.status,
        lms_engine::RunStatus::Succeeded,
        "{:?}",
        report.error
    );

    let in_zone = verify(
        fixture.lms(),
        fixture.legacy(),
        &VerifyOptions {
            chunk_size: 2,
            legacy_timezone: "Europe/Moscow".to_owned(),
        },
    )
    .await?;
    assert_eq!(in_zone.unexplained(), 0);

    // Read in another zone, every submission's instant differs.
    let as_utc = verified(&fixture, 2).await?;
    let submissions = listed(&as_utc, LegacyEntity::ExamResults);
    assert_eq!(
        submissions,
        [
            (300, DifferenceKind::Changed, None),
            (301, DifferenceKind::Changed, None)
        ]
    );
    let field = &table(&as_utc, LegacyEntity::ExamResults).samples[0].fields[0];
    assert_eq!(field.field, "submitted_at");
    assert_eq!(field.legacy.as_deref(), Some("2025-01-10T10:00:00.000000Z"));
    assert_eq!(field.lms.as_deref(), Some("2025-01-10T07:00:00.000000Z"));
    fixture.close().await
}

/// Dropped before it ends (its client gone, its deadline past), a
/// verification stops reading the LMS instead of going on for nobody.
#[tokio::test]
async fn a_dropped_verification_stops_reading_the_lms() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("verifydropped", Scale::Small, 5).await?;
    // The LMS side reads students first, then every other table.
    let mut students = fixture.lms().begin().await?;
    sqlx::query("LOCK TABLE students IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *students)
        .await?;
    let verifying = {
        let (lms, legacy) = (fixture.lms().clone(), fixture.legacy().clone());
        tokio::spawn(async move {
            let options = VerifyOptions {
                chunk_size: 500,
                legacy_timezone: "UTC".to_owned(),
            };
            verify(&lms, &legacy, &options).await.map(drop)
        })
    };
    wait_for_lock_waiters(fixture.lms(), 1).await?;
    verifying.abort();
    assert!(verifying.await.is_err_and(|ended| ended.is_cancelled()));

    let mut enrollments = fixture.lms().begin().await?;
    sqlx::query("LOCK TABLE course_enrollments IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *enrollments)
        .await?;
    students.rollback().await?;
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let waiting = lock_waiters(fixture.lms()).await?;
    enrollments.rollback().await?;
    assert_eq!(
        waiting, 0,
        "the dropped verification went on to read course_enrollments"
    );
    fixture.close().await
}

async fn lock_waiters(lms: &sqlx::PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
    .fetch_one(lms)
    .await?)
}

/// Waits (at most 10 s) until `count` sessions wait for a lock.
async fn wait_for_lock_waiters(lms: &sqlx::PgPool, count: i64) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    while lock_waiters(lms).await? < count {
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "no verification read waits for the students lock"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_account_provisioned_for_a_user_deleted_in_the_lms_is_explained() -> anyhow::Result<()> {
    let fixture =
        school_with_a_student_whose_user_was_deleted_in_the_lms("verifyprovisioned").await?;
    // Student 12 gets an account provisioned in its deleted user's place.
    fixture.rerun(2, KeepLms, 2).await?;

    let report = verified(&fixture, 2).await?;

    let students: Vec<(i64, Option<Explanation>)> = listed(&report, LegacyEntity::Students)
        .into_iter()
        .map(|(legacy_id, _, explanation)| (legacy_id, explanation))
        .collect();
    assert_eq!(students, [(12, Some(Explanation::ReferenceDeletedInLms))]);
    fixture.close().await
}
