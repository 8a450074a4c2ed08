//! The domain API over data the engine migrated: reads, pagination,
//! writes, errors and auth, through a real tonic client.

mod support;

use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::course_service_client::CourseServiceClient;
use lms_grpc::pb::lms::v1::enrollment_service_client::EnrollmentServiceClient;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use sqlx::Row;
use support::{ADMIN, Data, READER, WRITER, spawn_app};
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn reads_pages_and_lookups_over_migrated_data() -> anyhow::Result<()> {
    let app = spawn_app("grpcreads", Data::Migrated, false).await?;
    let mut students = StudentServiceClient::new(app.authed(Some(READER)).await?);
    let legacy_id: i64 = sqlx::query("SELECT min(legacy_id)::bigint FROM students")
        .fetch_one(&app.lms)
        .await?
        .get(0);
    let found = students
        .lookup_student(pb::LookupStudentRequest {
            legacy_id: Some(legacy_id),
        })
        .await?
        .into_inner();
    assert_eq!(
        found.legacy.as_ref().map(|legacy| legacy.legacy_id),
        Some(legacy_id)
    );
    let again = students
        .get_student(pb::GetStudentRequest {
            name: found.name.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(again, found);
    let missing = students
        .get_student(pb::GetStudentRequest {
            name: "students/999999999".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Page sizes: 50 by default, at most 1000.
    let mut enrollments = EnrollmentServiceClient::new(app.authed(Some(READER)).await?);
    let first = enrollments
        .list_enrollments(pb::ListEnrollmentsRequest::default())
        .await?
        .into_inner();
    assert_eq!(first.enrollments.len(), 50);
    assert!(!first.next_page_token.is_empty());
    let big = enrollments
        .list_enrollments(pb::ListEnrollmentsRequest {
            page_size: 5000,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(big.enrollments.len(), 1000);

    // Filters, and tokens bound to them.
    let student = found.name.clone();
    let by_student = pb::ListEnrollmentsRequest {
        page_size: 3,
        filter: format!("student = \"{student}\""),
        ..Default::default()
    };
    let page = enrollments
        .list_enrollments(by_student.clone())
        .await?
        .into_inner();
    assert!(
        page.enrollments
            .iter()
            .all(|enrollment| enrollment.student == student)
    );
    let misuse = enrollments
        .list_enrollments(pb::ListEnrollmentsRequest {
            page_token: page.next_page_token.clone(),
            filter: "status = active".into(),
            ..by_student.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(misuse.code(), Code::InvalidArgument);

    // Keyset pages stay stable while rows are added between them.
    let total: i64 = sqlx::query("SELECT count(*) FROM course_enrollments WHERE student_id = $1")
        .bind(student.trim_start_matches("students/").parse::<i64>()?)
        .fetch_one(&app.lms)
        .await?
        .get(0);
    let mut seen = Vec::new();
    let mut request = by_student.clone();
    let mut writer = EnrollmentServiceClient::new(app.authed(Some(WRITER)).await?);
    let mut added = None;
    loop {
        let page = enrollments
            .list_enrollments(request.clone())
            .await?
            .into_inner();
        seen.extend(
            page.enrollments
                .iter()
                .map(|enrollment| enrollment.name.clone()),
        );
        if added.is_none() {
            let course: i64 = sqlx::query(
                "SELECT min(c.id) FROM courses c WHERE NOT EXISTS \
                 (SELECT 1 FROM course_enrollments e WHERE e.course_id = c.id AND e.student_id = $1)",
            )
            .bind(student.trim_start_matches("students/").parse::<i64>()?)
            .fetch_one(&app.lms)
            .await?
            .get(0);
            let created = writer
                .create_enrollment(pb::CreateEnrollmentRequest {
                    enrollment: Some(pb::Enrollment {
                        student: student.clone(),
                        course: format!("courses/{course}"),
                        ..Default::default()
                    }),
                    ..Default::default()
                })
                .await?
                .into_inner();
            added = Some(created.name);
        }
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "no enrollment appears twice");
    assert_eq!(
        i64::try_from(seen.len())?,
        total + 1,
        "every enrollment appears, the new one last"
    );
    assert_eq!(seen.last(), added.as_ref());
    app.close().await
}

#[tokio::test]
async fn auth_refuses_missing_and_out_of_scope_tokens() -> anyhow::Result<()> {
    let app = spawn_app("grpcauth", Data::Empty, false).await?;
    let request = || pb::GetStudentRequest {
        name: "students/1".into(),
    };
    let anonymous = StudentServiceClient::new(app.authed(None).await?)
        .get_student(request())
        .await
        .unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let forged = StudentServiceClient::new(app.authed(Some("not-a-token")).await?)
        .get_student(request())
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
    let admin = StudentServiceClient::new(app.authed(Some(ADMIN)).await?)
        .get_student(request())
        .await
        .unwrap_err();
    assert_eq!(admin.code(), Code::PermissionDenied);
    let reader_writes = StudentServiceClient::new(app.authed(Some(READER)).await?)
        .delete_student(pb::DeleteStudentRequest {
            name: "students/1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(reader_writes.code(), Code::PermissionDenied);
    let reader_reads = StudentServiceClient::new(app.authed(Some(READER)).await?)
        .get_student(request())
        .await
        .unwrap_err();
    assert_eq!(
        reader_reads.code(),
        Code::NotFound,
        "the reader gets through to the handler"
    );
    // Health is open.
    let mut health = tonic_health::pb::health_client::HealthClient::new(app.channel().await?);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "lms.v1.StudentService".into(),
        })
        .await?
        .into_inner();
    assert_eq!(
        serving.status(),
        tonic_health::pb::health_check_response::ServingStatus::Serving
    );
    app.close().await
}

#[tokio::test]
async fn writes_and_their_errors() -> anyhow::Result<()> {
    let app = spawn_app("grpcwrites", Data::Migrated, false).await?;
    let mut students = StudentServiceClient::new(app.authed(Some(WRITER)).await?);
    let row = sqlx::query("SELECT person_id, user_id FROM students ORDER BY id LIMIT 1")
        .fetch_one(&app.lms)
        .await?;
    let (person, user): (i64, i64) = (row.get(0), row.get(1));
    let created = students
        .create_student(pb::CreateStudentRequest {
            student: Some(pb::Student {
                person: format!("persons/{person}"),
                user: format!("users/{user}"),
                admission_year: 2026,
                record_book_number: "ЗК-2026-1".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(created.status(), pb::StudentStatus::Active);
    assert!(created.legacy.is_none(), "born in the LMS");
    let updated = students
        .update_student(pb::UpdateStudentRequest {
            student: Some(pb::Student {
                name: created.name.clone(),
                status: pb::StudentStatus::AcademicLeave.into(),
                record_book_number: String::new(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["status".into(), "record_book_number".into()],
            }),
        })
        .await?
        .into_inner();
    assert_eq!(updated.status(), pb::StudentStatus::AcademicLeave);
    assert_eq!(
        updated.record_book_number, "",
        "an empty value clears the field"
    );
    assert_eq!(updated.admission_year, 2026, "fields outside the mask stay");

    let invalid = students
        .create_student(pb::CreateStudentRequest {
            student: Some(pb::Student {
                person: "users/1".into(),
                admission_year: 1066,
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);
    let violations = invalid
        .get_details_bad_request()
        .expect("field violations")
        .field_violations;
    assert_eq!(violations[0].field, "student.person");

    // A student with enrollments cannot be deleted; one without can.
    let busy: i64 = sqlx::query("SELECT student_id FROM course_enrollments LIMIT 1")
        .fetch_one(&app.lms)
        .await?
        .get(0);
    let refused = students
        .delete_student(pb::DeleteStudentRequest {
            name: format!("students/{busy}"),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    students
        .delete_student(pb::DeleteStudentRequest {
            name: created.name.clone(),
        })
        .await?;
    let gone = students
        .get_student(pb::GetStudentRequest {
            name: created.name.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);

    // Enrollments and grades.
    let mut enrollments = EnrollmentServiceClient::new(app.authed(Some(WRITER)).await?);
    let existing = sqlx::query("SELECT student_id, course_id FROM course_enrollments LIMIT 1")
        .fetch_one(&app.lms)
        .await?;
    let duplicate = enrollments
        .create_enrollment(pb::CreateEnrollmentRequest {
            enrollment: Some(pb::Enrollment {
                student: format!("students/{}", existing.get::<i64, _>(0)),
                course: format!("courses/{}", existing.get::<i64, _>(1)),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);
    let enrollment: i64 = sqlx::query(
        "SELECT e.id FROM course_enrollments e WHERE NOT EXISTS (SELECT 1 FROM grades g WHERE g.enrollment_id = e.id) LIMIT 1",
    )
    .fetch_one(&app.lms)
    .await?
    .get(0);
    let grade = enrollments
        .create_grade(pb::CreateGradeRequest {
            grade: Some(pb::Grade {
                enrollment: format!("enrollments/{enrollment}"),
                raw_mark: "Зачет".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(
        (grade.scale(), grade.value.as_str(), grade.kind()),
        (pb::GradeScale::PassFail, "pass", pb::GradeKind::Final)
    );
    let regraded = enrollments
        .update_grade(pb::UpdateGradeRequest {
            grade: Some(pb::Grade {
                name: grade.name.clone(),
                raw_mark: "4".into(),
                ..Default::default()
            }),
            update_mask: Some(prost_types::FieldMask {
                paths: vec!["raw_mark".into()],
            }),
        })
        .await?
        .into_inner();
    assert_eq!(
        (regraded.scale(), regraded.points),
        (pb::GradeScale::FivePoint, 4)
    );
    enrollments
        .delete_grade(pb::DeleteGradeRequest {
            name: grade.name.clone(),
        })
        .await?;

    // Course materials.
    let mut courses = CourseServiceClient::new(app.authed(Some(WRITER)).await?);
    let course: i64 = sqlx::query("SELECT min(id) FROM courses")
        .fetch_one(&app.lms)
        .await?
        .get(0);
    let parent = format!("courses/{course}");
    let material = courses
        .create_course_material(pb::CreateCourseMaterialRequest {
            parent: parent.clone(),
            course_material: Some(pb::CourseMaterial {
                title: "Syllabus".into(),
                kind: pb::MaterialKind::Link.into(),
                url: "https://lms.example/syllabus".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert!(material.name.starts_with(&format!("{parent}/materials/")));
    let no_url = courses
        .create_course_material(pb::CreateCourseMaterialRequest {
            parent: parent.clone(),
            course_material: Some(pb::CourseMaterial {
                title: "Broken".into(),
                kind: pb::MaterialKind::Link.into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(no_url.code(), Code::InvalidArgument);
    let listed = courses
        .list_course_materials(pb::ListCourseMaterialsRequest {
            parent: parent.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(listed.course_materials, vec![material.clone()]);
    courses
        .delete_course_material(pb::DeleteCourseMaterialRequest {
            name: material.name.clone(),
        })
        .await?;
    app.close().await
}

#[tokio::test]
async fn internal_errors_carry_a_correlation_id() -> anyhow::Result<()> {
    let app = spawn_app("grpcinternal", Data::Empty, false).await?;
    // A row the domain cannot read: an enrollment status outside its enum.
    sqlx::raw_sql(
        "ALTER TABLE students DROP CONSTRAINT students_status_check; \
         INSERT INTO persons (last_name) VALUES ('X'); \
         INSERT INTO users (login, role) VALUES ('x', 'student'); \
         INSERT INTO students (person_id, user_id, status) SELECT min(p.id), min(u.id), 'on the moon' FROM persons p, users u;",
    )
    .execute(&app.lms)
    .await?;
    let id: i64 = sqlx::query("SELECT id FROM students")
        .fetch_one(&app.lms)
        .await?
        .get(0);
    let error = StudentServiceClient::new(app.authed(Some(READER)).await?)
        .get_student(pb::GetStudentRequest {
            name: format!("students/{id}"),
        })
        .await
        .unwrap_err();
    assert_eq!(error.code(), Code::Internal);
    let correlation = error
        .metadata()
        .get("x-correlation-id")
        .expect("a correlation id")
        .to_str()?
        .to_owned();
    assert!(error.message().contains(&correlation));
    assert!(
        !error.message().contains("on the moon"),
        "details stay in the logs"
    );
    app.close().await
}

#[tokio::test]
async fn a_course_filter_by_a_blank_academic_year_is_invalid() -> anyhow::Result<()> {
    let app = spawn_app("grpcblankyear", Data::Empty, false).await?;
    let mut courses = CourseServiceClient::new(app.authed(Some(READER)).await?);

    let refused = courses
        .list_courses(pb::ListCoursesRequest {
            filter: r#"academic_year = " ""#.into(),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a blank academic year was accepted"))?;

    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("academic_year"), "{refused:?}");
    app.close().await
}
