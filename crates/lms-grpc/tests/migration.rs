//! `lms.migration.v1.MigrationService` through a real tonic client, with a
//! worker running the chunks: start, idempotency, watch, report, ledger
//! queries, explain, dry runs, cancellation and retrying rejected rows;
//! and the cap on a run's chunks (`migration.max_chunks`).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use lms_grpc::pb::lms::migration::v1 as pb;
use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
use sqlx::Row;
use support::{ADMIN, Authed, Data, TestApp, spawn_app, spawn_app_with};
use tonic::Code;
use uuid::Uuid;

type Client = MigrationServiceClient<Authed>;

/// Follows a run to its end and returns every event seen.
async fn watch_to_end(client: &mut Client, name: &str) -> anyhow::Result<Vec<pb::Run>> {
    let mut stream = client
        .watch_run(pb::WatchRunRequest {
            name: name.to_owned(),
        })
        .await?
        .into_inner();
    let mut events = Vec::new();
    let watched = tokio::time::timeout(Duration::from_secs(240), async {
        while let Some(event) = stream.message().await? {
            assert_eq!(
                event.snapshot,
                events.is_empty(),
                "the first event and only the first is a snapshot"
            );
            events.push(
                event
                    .run
                    .ok_or_else(|| anyhow::anyhow!("event without a run"))?,
            );
        }
        anyhow::Ok(())
    })
    .await;
    anyhow::ensure!(watched.is_ok(), "run {name} did not end in time");
    watched??;
    Ok(events)
}

fn ended(run: &pb::Run) -> bool {
    matches!(
        run.status(),
        pb::RunStatus::Succeeded | pb::RunStatus::Failed | pb::RunStatus::Cancelled
    )
}

fn start(request_id: &str) -> pb::StartRunRequest {
    pb::StartRunRequest {
        entities: Vec::new(),
        chunk_size: 2_000,
        dry_run: false,
        request_id: request_id.to_owned(),
        on_conflict: pb::ConflictPolicy::Unspecified.into(),
        ..Default::default()
    }
}

fn run_uuid(run: &pb::Run) -> anyhow::Result<Uuid> {
    Ok(Uuid::parse_str(
        run.name
            .strip_prefix("runs/")
            .ok_or_else(|| anyhow::anyhow!("run name {}", run.name))?,
    )?)
}

/// Every ledger row of a table, page by page.
async fn all_outcomes(
    client: &mut Client,
    request: pb::ListRowOutcomesRequest,
) -> anyhow::Result<Vec<pb::RowOutcome>> {
    let mut rows = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_row_outcomes(pb::ListRowOutcomesRequest {
                page_token: token.clone(),
                ..request.clone()
            })
            .await?
            .into_inner();
        anyhow::ensure!(page.row_outcomes.len() <= request.page_size.max(1) as usize);
        rows.extend(page.row_outcomes);
        if page.next_page_token.is_empty() {
            return Ok(rows);
        }
        token = page.next_page_token;
    }
}

async fn ledger_count(app: &TestApp) -> anyhow::Result<i64> {
    Ok(sqlx::query("SELECT count(*) FROM migration.ledger")
        .fetch_one(&app.lms)
        .await?
        .get(0))
}

#[tokio::test]
async fn a_run_is_started_watched_reported_and_explained() -> anyhow::Result<()> {
    let app = spawn_app("grpcmigrate", Data::Seeded, true).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);

    // A dry run first: it reports and writes nothing.
    let dry = client
        .start_run(pb::StartRunRequest {
            dry_run: true,
            ..start("dry-1")
        })
        .await?
        .into_inner();
    assert_eq!(dry.kind(), pb::RunKind::DryRun);
    let dry_events = watch_to_end(&mut client, &dry.name).await?;
    let dry_end = dry_events.last().cloned().unwrap_or_default();
    assert_eq!(dry_end.status(), pb::RunStatus::Succeeded, "{dry_end:?}");
    let preview = client
        .get_coverage_report(pb::GetCoverageReportRequest {
            name: dry.name.clone(),
        })
        .await?
        .into_inner();
    assert!(preview.entities.iter().any(|entity| entity.migrated > 0));
    assert_eq!(ledger_count(&app).await?, 0, "a dry run writes no ledger");
    let students: i64 = sqlx::query("SELECT count(*) FROM students")
        .fetch_one(&app.lms)
        .await?
        .get(0);
    assert_eq!(students, 0, "a dry run writes no LMS rows");

    // The real run; the same request id gives the same run.
    let run = client.start_run(start("full-1")).await?.into_inner();
    assert_eq!(run.kind(), pb::RunKind::Full);
    assert_eq!(run.request_id, "full-1");
    let again = client.start_run(start("full-1")).await?.into_inner();
    assert_eq!(again.name, run.name);
    let refused = client.start_run(start("full-2")).await;
    if let Err(status) = &refused {
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert!(
            status.message().contains("another migration run is active"),
            "{}",
            status.message()
        );
    } else {
        // The run may already have finished on a fast machine; then a second
        // start is allowed and the refusal cannot be observed here.
        let second = refused?.into_inner();
        watch_to_end(&mut client, &second.name).await?;
    }

    let events = watch_to_end(&mut client, &run.name).await?;
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last.status(), pb::RunStatus::Succeeded, "{last:?}");
    assert!(events[..events.len() - 1].iter().all(|run| !ended(run)));
    // Reconnecting after the end gives the final state as a snapshot.
    let rewatched = watch_to_end(&mut client, &run.name).await?;
    assert_eq!(rewatched.len(), 1);
    assert_eq!(rewatched[0], last);
    let fetched = client
        .get_run(pb::GetRunRequest {
            name: run.name.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(fetched, last);

    // The report is the CLI's JSON report, field for field.
    let report = client
        .get_coverage_report(pb::GetCoverageReportRequest {
            name: run.name.clone(),
        })
        .await?
        .into_inner();
    let expected = lms_engine::report::build(&app.lms, run_uuid(&run)?).await?;
    assert_eq!(report.entities.len(), expected.entities.len());
    for (got, want) in report.entities.iter().zip(&expected.entities) {
        assert_eq!(got.entity, want.entity);
        assert_eq!(got.legacy_rows, want.legacy_rows);
        assert_eq!(got.migrated, want.migrated);
        assert_eq!(got.merged, want.merged);
        assert_eq!(got.unexplained, 0);
        assert_eq!(got.target_rows, want.target_rows);
        let rejected: BTreeMap<_, _> = got.rejected.clone().into_iter().collect();
        assert_eq!(rejected, want.rejected);
        let warnings: BTreeMap<_, _> = got.warnings.clone().into_iter().collect();
        assert_eq!(warnings, want.warnings);
        let derived: BTreeMap<_, _> = got.derived.clone().into_iter().collect();
        assert_eq!(derived, want.derived);
        let changes = got.changes.unwrap_or_default();
        assert_eq!(changes.created, want.changes.created);
    }
    // The dry run predicted the real run's outcome.
    for (predicted, actual) in preview.entities.iter().zip(&report.entities) {
        assert_eq!(predicted.entity, actual.entity);
        assert_eq!(
            (predicted.migrated, predicted.merged, &predicted.rejected),
            (actual.migrated, actual.merged, &actual.rejected),
            "{}",
            actual.entity
        );
    }
    // The latest run's report when no name is given.
    let latest = client
        .get_coverage_report(pb::GetCoverageReportRequest::default())
        .await?
        .into_inner();
    assert_eq!(latest.run, run.name);

    // The ledger, filtered and paged.
    let students_report = report
        .entities
        .iter()
        .find(|entity| entity.entity == "students")
        .cloned()
        .unwrap_or_default();
    let rejected_students = all_outcomes(
        &mut client,
        pb::ListRowOutcomesRequest {
            entity: "students".into(),
            outcome: "rejected".into(),
            page_size: 10,
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(
        rejected_students.len() as i64,
        students_report.rejected.values().sum::<i64>()
    );
    assert!(
        rejected_students
            .windows(2)
            .all(|pair| pair[0].legacy_id < pair[1].legacy_id)
    );
    let journal_report = report
        .entities
        .iter()
        .find(|entity| entity.entity == "journal")
        .cloned()
        .unwrap_or_default();
    let orphans = all_outcomes(
        &mut client,
        pb::ListRowOutcomesRequest {
            entity: "journal".into(),
            reason: "orphan_reference".into(),
            page_size: 1_000,
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(
        Some(&(orphans.len() as i64)),
        journal_report.rejected.get("orphan_reference")
    );
    let warned = all_outcomes(
        &mut client,
        pb::ListRowOutcomesRequest {
            entity: "users".into(),
            warning: "email_duplicate".into(),
            page_size: 1_000,
            ..Default::default()
        },
    )
    .await?;
    let users_report = report
        .entities
        .iter()
        .find(|entity| entity.entity == "users")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        Some(&(warned.len() as i64)),
        users_report.warnings.get("email_duplicate")
    );
    assert!(
        warned
            .iter()
            .all(|row| row.warnings.contains(&"email_duplicate".to_owned()))
    );
    // Every migrated student, seven at a time.
    let migrated_students = all_outcomes(
        &mut client,
        pb::ListRowOutcomesRequest {
            entity: "students".into(),
            outcome: "migrated".into(),
            page_size: 7,
            ..Default::default()
        },
    )
    .await?;
    assert!(migrated_students.len() > 7 * 3);
    assert_eq!(migrated_students.len() as i64, students_report.migrated);
    // A page token only works with the filter it was issued for.
    let first_page = client
        .list_row_outcomes(pb::ListRowOutcomesRequest {
            entity: "students".into(),
            outcome: "migrated".into(),
            page_size: 1,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(!first_page.next_page_token.is_empty(), "{first_page:?}");
    let misused = client
        .list_row_outcomes(pb::ListRowOutcomesRequest {
            entity: "students".into(),
            outcome: "rejected".into(),
            page_size: 1,
            page_token: first_page.next_page_token,
            ..Default::default()
        })
        .await;
    assert_eq!(
        misused.map(|_| ()).unwrap_err().code(),
        Code::InvalidArgument
    );

    // Explain one rejected row, and a row no run has seen.
    let rejected = rejected_students
        .first()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("the seed has rejected students"))?;
    let explained = client
        .explain_row(pb::ExplainRowRequest {
            entity: "students".into(),
            legacy_id: Some(rejected.legacy_id),
        })
        .await?
        .into_inner();
    assert_eq!(explained.outcome, "rejected");
    assert_eq!(explained.reason, rejected.reason);
    assert!(
        explained
            .explanation
            .contains(&rejected.legacy_id.to_string())
    );
    let unseen = client
        .explain_row(pb::ExplainRowRequest {
            entity: "students".into(),
            legacy_id: Some(999_999_999),
        })
        .await;
    assert_eq!(unseen.map(|_| ()).unwrap_err().code(), Code::NotFound);

    // Runs, newest first, one per page.
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_runs(pb::ListRunsRequest {
                page_size: 1,
                page_token: token,
            })
            .await?
            .into_inner();
        names.extend(page.runs.into_iter().map(|run| run.name));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert!(names.len() >= 2, "{names:?}");
    assert!(names.contains(&run.name), "{names:?}");
    assert_eq!(names.last(), Some(&dry.name), "the oldest run comes last");
    app.close().await
}

#[tokio::test]
async fn cancel_leaves_nothing_half_written_and_retry_moves_fixed_rows() -> anyhow::Result<()> {
    let app = spawn_app("grpccancel", Data::Seeded, true).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);

    // Small chunks, so the run is still going when the cancel arrives.
    let run = client
        .start_run(pb::StartRunRequest {
            chunk_size: 150,
            ..start("")
        })
        .await?
        .into_inner();
    let cancelling = client
        .cancel_run(pb::CancelRunRequest {
            name: run.name.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(
        matches!(
            cancelling.status(),
            pb::RunStatus::Cancelling | pb::RunStatus::Cancelled
        ),
        "{cancelling:?}"
    );
    let events = watch_to_end(&mut client, &run.name).await?;
    let last = events.last().cloned().unwrap_or_default();
    assert_eq!(last.status(), pb::RunStatus::Cancelled, "{last:?}");
    let unfinished: i64 = sqlx::query(
        "SELECT count(*) FROM migration.chunks WHERE run_id = $1 AND state NOT IN ('done', 'cancelled')",
    )
    .bind(run_uuid(&run)?)
    .fetch_one(&app.lms)
    .await?
    .get(0);
    assert_eq!(unfinished, 0, "no chunk is left in flight");
    // Whatever was written, was written whole: every migrated ledger row has
    // its target, and every target from legacy has its ledger row.
    let mismatched: i64 = sqlx::query(
        "SELECT (SELECT count(*) FROM students WHERE legacy_id IS NOT NULL) \
              - (SELECT count(*) FROM migration.ledger WHERE entity = 'students' AND outcome = 'migrated')",
    )
    .fetch_one(&app.lms)
    .await?
    .get(0);
    assert_eq!(mismatched, 0);
    let cancelled_again = client
        .cancel_run(pb::CancelRunRequest {
            name: run.name.clone(),
            ..Default::default()
        })
        .await;
    assert_eq!(
        cancelled_again.map(|_| ()).unwrap_err().code(),
        Code::FailedPrecondition
    );

    // A full run afterwards finishes the job.
    let full = client.start_run(start("after-cancel")).await?.into_inner();
    let last = watch_to_end(&mut client, &full.name)
        .await?
        .pop()
        .unwrap_or_default();
    assert_eq!(last.status(), pb::RunStatus::Succeeded, "{last:?}");

    // Someone fixes a student whose person pointed nowhere: it now points at
    // a person who is nobody's student yet.
    let orphan = all_outcomes(
        &mut client,
        pb::ListRowOutcomesRequest {
            entity: "students".into(),
            reason: "orphan_reference".into(),
            page_size: 100,
            ..Default::default()
        },
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| anyhow::anyhow!("the seed has orphaned students"))?;
    let free_person: i64 = {
        let migrated: Vec<i64> =
            sqlx::query("SELECT legacy_id::int8 FROM persons WHERE legacy_id IS NOT NULL")
                .fetch_all(&app.lms)
                .await?
                .iter()
                .map(|row| row.get::<i64, _>(0))
                .collect();
        let taken: Vec<i64> = sqlx::query(
            "SELECT DISTINCT person_id::int8 FROM students WHERE person_id IS NOT NULL",
        )
        .fetch_all(&app.legacy)
        .await?
        .iter()
        .map(|row| row.get::<i64, _>(0))
        .collect();
        migrated
            .into_iter()
            .find(|id| !taken.contains(id))
            .ok_or_else(|| anyhow::anyhow!("no free person"))?
    };
    sqlx::query("UPDATE students SET person_id = $1 WHERE id = $2")
        .bind(i32::try_from(free_person)?)
        .bind(i32::try_from(orphan.legacy_id)?)
        .execute(&app.legacy)
        .await?;
    let rejected_before: i64 = sqlx::query(
        "SELECT count(*) FROM migration.ledger WHERE entity = 'students' AND outcome = 'rejected'",
    )
    .fetch_one(&app.lms)
    .await?
    .get(0);

    let retry = client
        .retry_rejected(pb::RetryRejectedRequest {
            entities: vec!["students".into()],
            request_id: "retry-1".into(),
        })
        .await?
        .into_inner();
    assert_eq!(retry.kind(), pb::RunKind::RetryRejected);
    assert!(retry.entities.contains(&"students".to_owned()));
    assert!(retry.entities.contains(&"journal".to_owned()));
    assert!(!retry.entities.contains(&"persons".to_owned()));
    let last = watch_to_end(&mut client, &retry.name)
        .await?
        .pop()
        .unwrap_or_default();
    assert_eq!(last.status(), pb::RunStatus::Succeeded, "{last:?}");
    let fixed = client
        .explain_row(pb::ExplainRowRequest {
            entity: "students".into(),
            legacy_id: Some(orphan.legacy_id),
        })
        .await?
        .into_inner();
    assert_eq!(fixed.outcome, "migrated", "{fixed:?}");
    assert_eq!(fixed.run, retry.name);
    let rejected_after: i64 = sqlx::query(
        "SELECT count(*) FROM migration.ledger WHERE entity = 'students' AND outcome = 'rejected'",
    )
    .fetch_one(&app.lms)
    .await?
    .get(0);
    assert_eq!(rejected_after, rejected_before - 1);
    // Only the fixed row changed among students: it got an LMS row.
    let report = client
        .get_coverage_report(pb::GetCoverageReportRequest {
            name: retry.name.clone(),
        })
        .await?
        .into_inner();
    let students = report
        .entities
        .iter()
        .find(|entity| entity.entity == "students")
        .and_then(|entity| entity.changes)
        .unwrap_or_default();
    assert_eq!((students.created, students.updated), (1, 0), "{students:?}");
    app.close().await
}

/// A digest of the row versions of every table a migration writes: it
/// changes when any row is written again, even to the same values.
async fn row_versions(lms: &sqlx::PgPool) -> anyhow::Result<String> {
    let digest: String = sqlx::query_scalar(
        "SELECT md5(string_agg(v, ',')) FROM ( \
             SELECT 'e' || xmin::text || ctid::text AS v FROM course_enrollments \
             UNION ALL SELECT 'g' || xmin::text || ctid::text FROM grades \
             UNION ALL SELECT 's' || xmin::text || ctid::text FROM students \
             UNION ALL SELECT 'u' || xmin::text || ctid::text FROM users \
             UNION ALL SELECT 'x' || xmin::text || ctid::text FROM assessment_submissions \
             UNION ALL SELECT 'l' || xmin::text || ctid::text FROM migration.ledger \
             ORDER BY 1) rows",
    )
    .fetch_one(lms)
    .await?;
    Ok(digest)
}

#[tokio::test]
async fn a_rerun_after_edits_through_the_api_rewrites_nothing() -> anyhow::Result<()> {
    use lms_grpc::pb::lms::v1 as lms;
    use lms_grpc::pb::lms::v1::enrollment_service_client::EnrollmentServiceClient;
    use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
    let app = spawn_app("grpcapiedits", Data::Migrated, true).await?;
    let mut enrollments = EnrollmentServiceClient::new(app.authed(Some(support::WRITER)).await?);
    let mut students = StudentServiceClient::new(app.authed(Some(support::WRITER)).await?);
    let (enrollment, student): (i64, i64) = sqlx::query_as(
        "SELECT e.id, e.student_id FROM course_enrollments e WHERE e.legacy_id IS NOT NULL \
         AND e.status <> 'dropped' ORDER BY e.id LIMIT 1",
    )
    .fetch_one(&app.lms)
    .await?;
    enrollments
        .update_enrollment(lms::UpdateEnrollmentRequest {
            enrollment: Some(lms::Enrollment {
                name: format!("enrollments/{enrollment}"),
                status: lms::EnrollmentStatus::Dropped.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".into()],
            }),
        })
        .await?;
    students
        .update_student(lms::UpdateStudentRequest {
            student: Some(lms::Student {
                name: format!("students/{student}"),
                status: lms::StudentStatus::AcademicLeave.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".into()],
            }),
        })
        .await?;
    let before = row_versions(&app.lms).await?;

    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let run = client
        .start_run(start("after-api-edits"))
        .await?
        .into_inner();
    let last = watch_to_end(&mut client, &run.name)
        .await?
        .pop()
        .unwrap_or_default();
    assert_eq!(last.status(), pb::RunStatus::Succeeded, "{last:?}");
    assert_eq!(last.on_conflict(), pb::ConflictPolicy::KeepLms);

    assert_eq!(
        before,
        row_versions(&app.lms).await?,
        "no row was written again"
    );
    let report = client
        .get_coverage_report(pb::GetCoverageReportRequest { name: run.name })
        .await?
        .into_inner();
    for entity in &report.entities {
        let changes = entity.changes.unwrap_or_default();
        assert_eq!(
            (changes.created, changes.updated, changes.conflicts),
            (0, 0, 0),
            "{}",
            entity.entity
        );
        assert_eq!(changes.unchanged, entity.legacy_rows, "{}", entity.entity);
    }
    let status: String = sqlx::query_scalar("SELECT status FROM course_enrollments WHERE id = $1")
        .bind(enrollment)
        .fetch_one(&app.lms)
        .await?;
    assert_eq!(status, "dropped", "the API's edit stands");
    app.close().await
}

/// A legacy student's status changed, and a delta run over it to its end;
/// the student's LMS id, legacy id and the run.
async fn delta_changing_a_student(
    app: &TestApp,
    client: &mut Client,
    request_id: &str,
) -> anyhow::Result<(i64, i64, pb::Run)> {
    let (id, legacy_id): (i64, i64) = sqlx::query_as(
        "SELECT id, legacy_id::bigint FROM students WHERE legacy_id IS NOT NULL AND status = 'active' \
         ORDER BY legacy_id LIMIT 1",
    )
    .fetch_one(&app.lms)
    .await?;
    sqlx::query("UPDATE students SET status = 'graduated' WHERE id = $1")
        .bind(i32::try_from(legacy_id)?)
        .execute(&app.legacy)
        .await?;
    let run = client.start_run(start(request_id)).await?.into_inner();
    let last = watch_to_end(client, &run.name)
        .await?
        .pop()
        .unwrap_or_default();
    assert_eq!(last.status(), pb::RunStatus::Succeeded, "{last:?}");
    let status: String = sqlx::query_scalar("SELECT status FROM students WHERE id = $1")
        .bind(id)
        .fetch_one(&app.lms)
        .await?;
    assert_eq!(status, "graduated", "the delta changed the student");
    Ok((id, legacy_id, run))
}

#[tokio::test]
async fn undo_run_restores_the_rows_and_is_audited() -> anyhow::Result<()> {
    let app = spawn_app("grpcundo", Data::Migrated, true).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let (id, _, run) = delta_changing_a_student(&app, &mut client, "undo-me").await?;
    let undone = client
        .undo_run(pb::UndoRunRequest {
            name: run.name.clone(),
            request_id: "undo-audited".into(),
        })
        .await?
        .into_inner();
    assert_eq!(undone.status(), pb::RunStatus::Undone);
    let status: String = sqlx::query_scalar("SELECT status FROM students WHERE id = $1")
        .bind(id)
        .fetch_one(&app.lms)
        .await?;
    assert_eq!(status, "active", "the student as before the run");
    let audited: (String, Option<String>, i16, Option<String>) = sqlx::query_as(
        "SELECT actor, resource, code, request_id FROM api.audit_events \
         WHERE method = '/lms.migration.v1.MigrationService/UndoRun'",
    )
    .fetch_one(&app.lms)
    .await?;
    assert_eq!(
        audited,
        (
            "admin".to_owned(),
            Some(run.name),
            0,
            Some("undo-audited".to_owned())
        )
    );
    app.close().await
}

#[tokio::test]
async fn undo_run_given_again_under_its_request_id_answers_with_the_undone_run()
-> anyhow::Result<()> {
    let app = spawn_app("grpcundoagain", Data::Migrated, true).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let (_, _, run) = delta_changing_a_student(&app, &mut client, "undo-again").await?;
    let undo = pb::UndoRunRequest {
        name: run.name.clone(),
        request_id: "undo-once".into(),
    };
    client.undo_run(undo.clone()).await?;

    let again = client.undo_run(undo).await?.into_inner();

    assert_eq!(again.status(), pb::RunStatus::Undone);
    app.close().await
}

#[tokio::test]
async fn undo_run_is_refused_naming_a_row_edited_through_the_api() -> anyhow::Result<()> {
    use lms_grpc::pb::lms::v1 as lms;
    use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
    let app = spawn_app("grpcundoedit", Data::Migrated, true).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let (id, legacy_id, run) = delta_changing_a_student(&app, &mut client, "undo-edited").await?;
    let mut students = StudentServiceClient::new(app.authed(Some(support::WRITER)).await?);
    students
        .update_student(lms::UpdateStudentRequest {
            student: Some(lms::Student {
                name: format!("students/{id}"),
                status: lms::StudentStatus::AcademicLeave.into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".into()],
            }),
        })
        .await?;
    let refused = client
        .undo_run(pb::UndoRunRequest {
            name: run.name,
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("undo went ahead over an API edit"))?;
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains(&format!(
            "students id {id} (legacy id {legacy_id}) was changed"
        )),
        "{}",
        refused.message()
    );
    app.close().await
}

#[tokio::test]
async fn undo_run_of_an_unknown_run_is_not_found() -> anyhow::Result<()> {
    let app = spawn_app("grpcundounknown", Data::Empty, false).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let status = client
        .undo_run(pb::UndoRunRequest {
            name: "runs/01930000-0000-7000-8000-000000000000".into(),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an unknown run was undone"))?;
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    app.close().await
}

/// A hold StartRun cannot take is refused on the field at fault, before
/// anything is planned.
#[tokio::test]
async fn a_hold_start_run_cannot_take_is_invalid_on_its_field() -> anyhow::Result<()> {
    let app = spawn_app("grpcholdfields", Data::Empty, false).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let refused = [
        (
            "no_hold",
            pb::StartRunRequest {
                no_hold: true,
                hold_min_rows: Some(5),
                ..start("")
            },
        ),
        (
            "hold_percent",
            pb::StartRunRequest {
                hold_percent: Some(101),
                ..start("")
            },
        ),
        (
            "hold_min_rows",
            pb::StartRunRequest {
                hold_min_rows: Some(u64::MAX),
                ..start("")
            },
        ),
    ];
    for (field, request) in refused {
        let status = client
            .start_run(request)
            .await
            .err()
            .ok_or_else(|| anyhow::anyhow!("a run was started with a bad {field}"))?;
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        assert_eq!(violations_of(&status, field).len(), 1, "{status:?}");
    }
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM migration.runs")
        .fetch_one(&app.lms)
        .await?;
    assert_eq!(runs, 0);
    app.close().await
}

/// A chunk cap far below what a chunk size of 1 plans over the seeded
/// legacy database (thousands of rows), and above its ten tables.
const SMALL_CHUNK_CAP: usize = 100;

fn start_with_chunk_size(chunk_size: i32) -> pb::StartRunRequest {
    pb::StartRunRequest {
        chunk_size,
        ..start("")
    }
}

/// The chunk size a refusal names as the smallest that fits.
fn smallest_named(text: &str) -> Option<i32> {
    text.rsplit_once("use a chunk size of at least ")?
        .1
        .trim()
        .parse()
        .ok()
}

/// The descriptions of the field violations on `field`.
fn violations_of(status: &tonic::Status, field: &str) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .filter(|violation| violation.field == field)
                .map(|violation| violation.description)
                .collect()
        })
        .unwrap_or_default()
}

/// A client's chunk size that would plan more than `migration.max_chunks`
/// is its own field's fault: INVALID_ARGUMENT on `chunk_size`, naming the
/// smallest size that fits; one less is refused too, and that size is
/// accepted.
#[tokio::test]
async fn a_chunk_size_past_the_chunk_cap_is_invalid_and_names_the_smallest_that_fits()
-> anyhow::Result<()> {
    let app = spawn_app_with("grpcchunkcap", Data::Seeded, false, |settings| {
        settings.migration.max_chunks = SMALL_CHUNK_CAP;
    })
    .await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);

    let status = client
        .start_run(start_with_chunk_size(1))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a chunk size of 1 was planned past the cap"))?;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let described = violations_of(&status, "chunk_size");
    assert_eq!(described.len(), 1, "{status:?}");
    assert!(
        described[0].contains(&format!("more than the {SMALL_CHUNK_CAP} a run may have")),
        "{described:?}"
    );
    let smallest = smallest_named(&described[0])
        .ok_or_else(|| anyhow::anyhow!("no chunk size named in {described:?}"))?;
    assert!(smallest > 1, "{smallest}");

    let one_less = client
        .start_run(start_with_chunk_size(smallest - 1))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a size below the one named was planned"))?;
    assert_eq!(one_less.code(), Code::InvalidArgument, "{one_less:?}");
    assert_eq!(
        violations_of(&one_less, "chunk_size")
            .first()
            .and_then(|text| smallest_named(text)),
        Some(smallest)
    );

    let run = client
        .start_run(start_with_chunk_size(smallest))
        .await?
        .into_inner();
    assert_eq!(run.chunk_size, smallest, "{run:?}");
    assert_eq!(run.status(), pb::RunStatus::Running, "{run:?}");
    app.close().await
}

/// With the server's own chunk size (`migration.chunk_size`) past the cap
/// the client is not at fault: FAILED_PRECONDITION, no field violation.
#[tokio::test]
async fn the_servers_default_chunk_size_past_the_chunk_cap_is_a_failed_precondition()
-> anyhow::Result<()> {
    let app = spawn_app_with("grpcchunkcapdefault", Data::Seeded, false, |settings| {
        settings.migration.max_chunks = SMALL_CHUNK_CAP;
        settings.migration.chunk_size = 1;
    })
    .await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let status = client
        .start_run(start_with_chunk_size(0))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("the default size of 1 was planned past the cap"))?;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        violations_of(&status, "chunk_size").is_empty(),
        "{status:?}"
    );
    assert!(
        status.message().contains("(migration.max_chunks)"),
        "{status:?}"
    );
    assert!(
        smallest_named(status.message()).is_some_and(|size| size > 1),
        "{status:?}"
    );
    app.close().await
}

/// A cap below one chunk per table fits no chunk size: FAILED_PRECONDITION
/// even where the client chose the size, since no other size would do.
#[tokio::test]
async fn a_chunk_cap_below_one_chunk_per_table_is_a_failed_precondition() -> anyhow::Result<()> {
    let app = spawn_app_with("grpcchunkcaptiny", Data::Seeded, false, |settings| {
        settings.migration.max_chunks = 5;
    })
    .await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let status = client
        .start_run(start_with_chunk_size(1_000_000))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("ten tables were planned in five chunks"))?;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(
        violations_of(&status, "chunk_size").is_empty(),
        "{status:?}"
    );
    assert!(
        status.message().contains("no chunk size fits"),
        "{status:?}"
    );
    app.close().await
}

/// A StartRun's request id given again with another request is the
/// client's mistake: INVALID_ARGUMENT on `request_id`, and no second run.
#[tokio::test]
async fn a_start_runs_request_id_sent_with_another_request_is_invalid() -> anyhow::Result<()> {
    let app = spawn_app("grpcreqreused", Data::Empty, false).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let dry_run = pb::StartRunRequest {
        dry_run: true,
        ..start("reused-1")
    };
    client.start_run(dry_run).await?;

    let status = client
        .start_run(start("reused-1"))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a real run was answered with the dry run's id"))?;

    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(violations_of(&status, "request_id").len(), 1, "{status:?}");
    assert_eq!(
        tonic_types::StatusExt::get_details_error_info(&status).map(|info| info.reason),
        Some("REQUEST_ID_REUSED".to_owned())
    );
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM migration.runs")
        .fetch_one(&app.lms)
        .await?;
    assert_eq!(runs, 1);
    app.close().await
}

/// A field sent as its default and the same field left unset are one
/// request: KEEP_LMS spelled out gets the run started without a policy.
#[tokio::test]
async fn a_start_runs_request_id_with_the_default_policy_spelled_out_gets_its_run()
-> anyhow::Result<()> {
    let app = spawn_app("grpcreqdefault", Data::Empty, false).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let unset = pb::StartRunRequest {
        dry_run: true,
        ..start("default-1")
    };
    let first = client.start_run(unset.clone()).await?.into_inner();

    let spelled_out = pb::StartRunRequest {
        on_conflict: pb::ConflictPolicy::KeepLms.into(),
        ..unset
    };
    let again = client.start_run(spelled_out).await?.into_inner();

    assert_eq!(again.name, first.name);
    app.close().await
}
