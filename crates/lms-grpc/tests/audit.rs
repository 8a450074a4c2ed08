//! Idempotent creates (AIP-155 request ids) and the audit trail, through a
//! real server: retries, concurrent twins, a reused id, and the events
//! every write and control call leaves, read back with ListAuditEvents.

mod support;

use lms_grpc::pb::lms::migration::v1 as mpb;
use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::course_service_client::CourseServiceClient;
use lms_grpc::pb::lms::v1::enrollment_service_client::EnrollmentServiceClient;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use support::{ADMIN, Authed, Data, ROOT, TestApp, WRITER, spawn_app};
use tonic::Code;
use tonic_types::StatusExt;

const CREATE_MATERIAL: &str = "/lms.v1.CourseService/CreateCourseMaterial";

/// A server over an empty LMS with one course; its name.
async fn app_with_course(purpose: &str) -> anyhow::Result<(TestApp, String)> {
    let app = spawn_app(purpose, Data::Empty, false).await?;
    let course: i64 = sqlx::query_scalar(
        "WITH subject AS (INSERT INTO subjects (name) VALUES ('Algebra') RETURNING id) \
         INSERT INTO courses (subject_id, academic_year, semester) \
         SELECT id, '2026-2027', 1 FROM subject RETURNING id",
    )
    .fetch_one(&app.lms)
    .await?;
    Ok((app, format!("courses/{course}")))
}

fn material(course: &str, title: &str, request_id: &str) -> pb::CreateCourseMaterialRequest {
    pb::CreateCourseMaterialRequest {
        parent: course.to_owned(),
        course_material: Some(pb::CourseMaterial {
            title: title.to_owned(),
            kind: pb::MaterialKind::Text.into(),
            body: "notes".into(),
            ..Default::default()
        }),
        request_id: request_id.to_owned(),
    }
}

async fn courses(app: &TestApp, token: &str) -> anyhow::Result<CourseServiceClient<Authed>> {
    Ok(CourseServiceClient::new(app.authed(Some(token)).await?))
}

async fn count(app: &TestApp, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(&app.lms).await?)
}

async fn audit_events(
    app: &TestApp,
    request: mpb::ListAuditEventsRequest,
) -> anyhow::Result<mpb::ListAuditEventsResponse> {
    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    Ok(admin.list_audit_events(request).await?.into_inner())
}

#[tokio::test]
async fn a_retried_create_returns_the_first_response_and_writes_one_row() -> anyhow::Result<()> {
    let (app, course) = app_with_course("auditretry").await?;
    let mut writer = courses(&app, WRITER).await?;
    let request = material(&course, "Week 1", "0b6c6f3e-retry");
    let first = writer
        .create_course_material(request.clone())
        .await?
        .into_inner();
    // The reply is as good as lost: the row changes before the retry, and
    // the retry still gets the first response, not a second row.
    sqlx::query("UPDATE course_materials SET title = 'Renamed'")
        .execute(&app.lms)
        .await?;
    let retried = writer.create_course_material(request).await?.into_inner();
    assert_eq!(retried, first);
    assert_eq!(
        count(&app, "SELECT count(*) FROM course_materials").await?,
        1
    );
    app.close().await
}

#[tokio::test]
async fn concurrent_twins_create_exactly_one_row() -> anyhow::Result<()> {
    let (app, course) = app_with_course("audittwins").await?;
    let request = material(&course, "Week 1", "twins");
    let mut calls = Vec::new();
    for _ in 0..8 {
        let mut writer = courses(&app, WRITER).await?;
        let request = request.clone();
        calls.push(tokio::spawn(async move {
            writer.create_course_material(request).await
        }));
    }
    let mut names = Vec::new();
    for call in calls {
        names.push(call.await??.into_inner().name);
    }
    names.dedup();
    assert_eq!(names.len(), 1, "every twin got the one material: {names:?}");
    assert_eq!(
        count(&app, "SELECT count(*) FROM course_materials").await?,
        1
    );
    let created = count(
        &app,
        "SELECT count(*) FROM api.audit_events WHERE code = 0 AND method LIKE '%/CreateCourseMaterial'",
    )
    .await?;
    assert_eq!(created, 1, "one audited create");
    app.close().await
}

#[tokio::test]
async fn a_request_id_reused_with_another_body_is_invalid_argument() -> anyhow::Result<()> {
    let (app, course) = app_with_course("auditreused").await?;
    let mut writer = courses(&app, WRITER).await?;
    writer
        .create_course_material(material(&course, "Week 1", "same-id"))
        .await?;
    let status = writer
        .create_course_material(material(&course, "Week 2", "same-id"))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a reused id was accepted"))?;
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default();
    assert_eq!(fields, ["request_id"]);
    let reason = status.get_details_error_info().map(|info| info.reason);
    assert_eq!(reason.as_deref(), Some("REQUEST_ID_REUSED"));
    assert_eq!(
        count(&app, "SELECT count(*) FROM course_materials").await?,
        1
    );
    app.close().await
}

#[tokio::test]
async fn request_ids_are_scoped_to_the_token() -> anyhow::Result<()> {
    let (app, course) = app_with_course("auditscoped").await?;
    let request = material(&course, "Week 1", "shared-id");
    let by_writer = courses(&app, WRITER)
        .await?
        .create_course_material(request.clone())
        .await?
        .into_inner();
    let by_root = courses(&app, ROOT)
        .await?
        .create_course_material(request)
        .await?
        .into_inner();
    assert_ne!(by_writer.name, by_root.name);
    app.close().await
}

/// A create with request id `id` that fails (its course does not exist).
async fn fail_a_create_with_id(app: &TestApp, id: &str) -> anyhow::Result<()> {
    let status = courses(app, WRITER)
        .await?
        .create_course_material(material("courses/987654", "Week 1", id))
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a material of a missing course was created"))?;
    anyhow::ensure!(status.code() == Code::NotFound, "{status:?}");
    Ok(())
}

#[tokio::test]
async fn a_failed_create_leaves_its_request_id_free() -> anyhow::Result<()> {
    let (app, _course) = app_with_course("auditfailed").await?;
    fail_a_create_with_id(&app, "failed-id").await?;
    assert_eq!(
        count(&app, "SELECT count(*) FROM api.idempotency_keys").await?,
        0
    );
    app.close().await
}

#[tokio::test]
async fn a_failed_creates_audit_event_names_its_request_id() -> anyhow::Result<()> {
    let (app, _course) = app_with_course("auditfailedid").await?;
    fail_a_create_with_id(&app, "failed-id").await?;
    let page = audit_events(
        &app,
        mpb::ListAuditEventsRequest {
            method: CREATE_MATERIAL.into(),
            ..Default::default()
        },
    )
    .await?;
    let seen: Vec<(i32, &str)> = page
        .audit_events
        .iter()
        .map(|event| (event.code, event.request_id.as_str()))
        .collect();
    assert_eq!(seen, [(Code::NotFound as i32, "failed-id")]);
    app.close().await
}

#[tokio::test]
async fn a_start_runs_audit_event_names_its_request_id() -> anyhow::Result<()> {
    let app = spawn_app("auditstartid", Data::Empty, false).await?;
    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let run = admin
        .start_run(mpb::StartRunRequest {
            dry_run: true,
            request_id: "cutover-1".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let page = audit_events(
        &app,
        mpb::ListAuditEventsRequest {
            resource: run.name.clone(),
            ..Default::default()
        },
    )
    .await?;
    let seen: Vec<&str> = page
        .audit_events
        .iter()
        .map(|event| event.request_id.as_str())
        .collect();
    assert_eq!(seen, ["cutover-1"]);
    app.close().await
}

#[tokio::test]
async fn writes_are_audited_with_caller_method_and_resource() -> anyhow::Result<()> {
    let (app, course) = app_with_course("auditwrites").await?;
    let mut writer = courses(&app, WRITER).await?;
    let created = writer
        .create_course_material(material(&course, "Week 1", ""))
        .await?
        .into_inner();
    writer
        .delete_course_material(pb::DeleteCourseMaterialRequest {
            name: created.name.clone(),
        })
        .await?;
    let page = audit_events(
        &app,
        mpb::ListAuditEventsRequest {
            resource: created.name.clone(),
            ..Default::default()
        },
    )
    .await?;
    let seen: Vec<(&str, &str, i32)> = page
        .audit_events
        .iter()
        .map(|event| (event.actor.as_str(), event.method.as_str(), event.code))
        .collect();
    assert_eq!(
        seen,
        [
            ("writer", "/lms.v1.CourseService/DeleteCourseMaterial", 0),
            ("writer", CREATE_MATERIAL, 0),
        ]
    );
    assert!(page.audit_events.iter().all(|event| event.time.is_some()));
    app.close().await
}

#[tokio::test]
async fn a_failed_write_is_audited_with_its_code() -> anyhow::Result<()> {
    let app = spawn_app("auditfailure", Data::Empty, false).await?;
    let mut students = StudentServiceClient::new(app.authed(Some(WRITER)).await?);
    let status = students
        .delete_student(pb::DeleteStudentRequest {
            name: "students/424242".into(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a missing student was deleted"))?;
    assert_eq!(status.code(), Code::NotFound);
    let page = audit_events(
        &app,
        mpb::ListAuditEventsRequest {
            method: "/lms.v1.StudentService/DeleteStudent".into(),
            ..Default::default()
        },
    )
    .await?;
    let event = page
        .audit_events
        .first()
        .ok_or_else(|| anyhow::anyhow!("no event"))?;
    assert_eq!(event.resource, "students/424242");
    assert_eq!(event.code, i32::from(Code::NotFound));
    app.close().await
}

#[tokio::test]
async fn a_write_whose_audit_row_cannot_be_written_does_not_commit() -> anyhow::Result<()> {
    let (app, course) = app_with_course("auditatomic").await?;
    // The audit table refuses this method's rows: its writes must not land.
    sqlx::query(
        "ALTER TABLE api.audit_events ADD CONSTRAINT refuse \
         CHECK (method <> '/lms.v1.CourseService/CreateCourseMaterial')",
    )
    .execute(&app.lms)
    .await?;
    let result = courses(&app, WRITER)
        .await?
        .create_course_material(material(&course, "Week 1", "atomic"))
        .await;
    assert!(result.is_err());
    assert_eq!(
        count(&app, "SELECT count(*) FROM course_materials").await?,
        0
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM api.idempotency_keys").await?,
        0
    );
    app.close().await
}

#[tokio::test]
async fn migration_control_calls_are_audited() -> anyhow::Result<()> {
    let app = spawn_app("auditcontrol", Data::Empty, false).await?;
    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let run = admin
        .start_run(mpb::StartRunRequest {
            dry_run: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let missing = "runs/01930000-0000-7000-8000-000000000000";
    let status = admin
        .cancel_run(mpb::CancelRunRequest {
            name: missing.into(),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an unknown run was cancelled"))?;
    assert_eq!(status.code(), Code::NotFound);
    let page = audit_events(&app, mpb::ListAuditEventsRequest::default()).await?;
    let seen: Vec<(&str, &str, &str, i32)> = page
        .audit_events
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.method.as_str(),
                e.resource.as_str(),
                e.code,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "admin",
                "/lms.migration.v1.MigrationService/CancelRun",
                missing,
                i32::from(Code::NotFound)
            ),
            (
                "admin",
                "/lms.migration.v1.MigrationService/StartRun",
                run.name.as_str(),
                0
            ),
        ]
    );
    app.close().await
}

#[tokio::test]
async fn a_control_call_cut_off_by_its_deadline_after_committing_is_still_audited()
-> anyhow::Result<()> {
    // The server gives up on a call after 2 s (grpc.request_timeout).
    let app = support::spawn_app_with("auditdeadline", Data::Empty, false, |settings| {
        settings.grpc.request_timeout = std::time::Duration::from_secs(2);
    })
    .await?;
    // The audit table is locked: the run is planned and committed, and its
    // audit row waits, past the client's deadline.
    let mut lock = app.lms.begin().await?;
    sqlx::query("LOCK TABLE api.audit_events IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await?;
    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let status = admin
        .start_run(mpb::StartRunRequest {
            dry_run: true,
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("the call ended before its deadline"))?;
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    lock.rollback().await?;

    let mut audited = 0;
    for _ in 0..200 {
        audited = count(
            &app,
            "SELECT count(*) FROM api.audit_events \
             WHERE method = '/lms.migration.v1.MigrationService/StartRun' AND code = 0",
        )
        .await?;
        if audited > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(audited, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM migration.runs").await?, 1);
    app.close().await
}

#[tokio::test]
async fn audit_pages_are_bound_to_their_filter() -> anyhow::Result<()> {
    let (app, course) = app_with_course("auditpaging").await?;
    let mut writer = courses(&app, WRITER).await?;
    for title in ["Week 1", "Week 2", "Week 3"] {
        writer
            .create_course_material(material(&course, title, ""))
            .await?;
    }
    let by_method = mpb::ListAuditEventsRequest {
        method: CREATE_MATERIAL.into(),
        page_size: 2,
        ..Default::default()
    };
    let first = audit_events(&app, by_method.clone()).await?;
    assert_eq!(first.audit_events.len(), 2);
    let second = audit_events(
        &app,
        mpb::ListAuditEventsRequest {
            page_token: first.next_page_token.clone(),
            ..by_method.clone()
        },
    )
    .await?;
    assert_eq!(second.audit_events.len(), 1);
    assert!(second.next_page_token.is_empty());
    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let misuse = admin
        .list_audit_events(mpb::ListAuditEventsRequest {
            page_token: first.next_page_token,
            method: "/lms.v1.CourseService/DeleteCourseMaterial".into(),
            ..by_method
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a token was replayed under another filter"))?;
    assert_eq!(misuse.code(), Code::InvalidArgument);
    app.close().await
}

#[tokio::test]
async fn every_create_takes_a_request_id() -> anyhow::Result<()> {
    // Students, enrollments and grades share the materials' path; this
    // checks each handler hashes its own request and replays its own type.
    let app = spawn_app("auditcreates", Data::Migrated, false).await?;
    let (student, course): (i64, i64) = sqlx::query_as(
        "SELECT s.id, (SELECT min(c.id) FROM courses c WHERE NOT EXISTS \
           (SELECT 1 FROM course_enrollments e WHERE e.course_id = c.id AND e.student_id = s.id)) \
         FROM students s ORDER BY s.id LIMIT 1",
    )
    .fetch_one(&app.lms)
    .await?;
    let mut enrollments = EnrollmentServiceClient::new(app.authed(Some(WRITER)).await?);
    let enroll = pb::CreateEnrollmentRequest {
        enrollment: Some(pb::Enrollment {
            student: format!("students/{student}"),
            course: format!("courses/{course}"),
            ..Default::default()
        }),
        request_id: "enroll-1".into(),
    };
    let enrolled = enrollments
        .create_enrollment(enroll.clone())
        .await?
        .into_inner();
    assert_eq!(
        enrollments.create_enrollment(enroll).await?.into_inner(),
        enrolled
    );
    let grade = pb::CreateGradeRequest {
        grade: Some(pb::Grade {
            enrollment: enrolled.name.clone(),
            raw_mark: "5".into(),
            ..Default::default()
        }),
        request_id: "grade-1".into(),
    };
    let graded = enrollments.create_grade(grade.clone()).await?.into_inner();
    assert_eq!(enrollments.create_grade(grade).await?.into_inner(), graded);
    let enrollment: i64 = enrolled.name.trim_start_matches("enrollments/").parse()?;
    let grades: i64 = sqlx::query_scalar("SELECT count(*) FROM grades WHERE enrollment_id = $1")
        .bind(enrollment)
        .fetch_one(&app.lms)
        .await?;
    assert_eq!(grades, 1);
    let (person, user): (i64, i64) = sqlx::query_as(
        "WITH person AS (INSERT INTO persons (last_name) VALUES ('New') RETURNING id) \
         INSERT INTO users (person_id, login, role) SELECT id, 'audit-new', 'student' FROM person \
         RETURNING person_id, id",
    )
    .fetch_one(&app.lms)
    .await?;
    let mut students = StudentServiceClient::new(app.authed(Some(WRITER)).await?);
    let admit = pb::CreateStudentRequest {
        student: Some(pb::Student {
            person: format!("persons/{person}"),
            user: format!("users/{user}"),
            ..Default::default()
        }),
        request_id: "admit-1".into(),
    };
    let admitted = students.create_student(admit.clone()).await?.into_inner();
    assert_eq!(students.create_student(admit).await?.into_inner(), admitted);
    app.close().await
}

#[tokio::test]
async fn an_audit_filter_time_before_year_one_is_invalid() -> anyhow::Result<()> {
    let (app, _) = app_with_course("auditancient").await?;
    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);

    // 5000 BC: chrono holds it, PostgreSQL's timestamptz does not.
    let refused = admin
        .list_audit_events(mpb::ListAuditEventsRequest {
            start_time: Some(prost_types::Timestamp {
                seconds: -219_923_078_400,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a time before year 1 was accepted"))?;

    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    app.close().await
}

#[tokio::test]
async fn an_audit_window_that_ends_before_it_starts_is_invalid() -> anyhow::Result<()> {
    let (app, _) = app_with_course("auditwindow").await?;
    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });

    // 2026-01-02 to 2026-01-01.
    let refused = admin
        .list_audit_events(mpb::ListAuditEventsRequest {
            start_time: at(1_767_312_000),
            end_time: at(1_767_225_600),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a window ending before it starts was accepted"))?;

    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("end_time"), "{refused:?}");
    app.close().await
}
