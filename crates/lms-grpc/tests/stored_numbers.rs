//! Numbers written into the LMS by SQL, behind the migration's back, read
//! back over gRPC as a value, never INTERNAL (docs/contract.md, "Numbers
//! read back"): a `NaN` maximum score reads as the contract's default 100, a
//! `NaN` score as unset, and a `NaN` in a column the API does not serve
//! (`subjects.credits`) fails no read. The infinities and values too large
//! for `numeric(6,2)` cannot be written at all.

mod support;

use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::assessment_service_client::AssessmentServiceClient;
use lms_grpc::pb::lms::v1::course_service_client::CourseServiceClient;
use sqlx::{AssertSqlSafe, PgPool};
use support::{Data, READER, TestApp, spawn_app};

/// The LMS ids of one subject, its course, an assessment of it and one
/// submission to that assessment, written by SQL.
struct Rows {
    subject: i64,
    course: i64,
    assessment: i64,
    submission: i64,
}

async fn rows(lms: &PgPool) -> anyhow::Result<Rows> {
    let subject: i64 = sqlx::query_scalar(
        "INSERT INTO subjects (name, credits) VALUES ('Algebra', 4.5) RETURNING id",
    )
    .fetch_one(lms)
    .await?;
    let course: i64 = sqlx::query_scalar(
        "INSERT INTO courses (subject_id, academic_year, semester) VALUES ($1, '2026-2027', 1) \
         RETURNING id",
    )
    .bind(subject)
    .fetch_one(lms)
    .await?;
    let assessment: i64 = sqlx::query_scalar(
        "INSERT INTO assessments (subject_id, title, max_score) VALUES ($1, 'Midterm', 20) RETURNING id",
    )
    .bind(subject)
    .fetch_one(lms)
    .await?;
    let submission: i64 = sqlx::query_scalar(
        "WITH p AS (INSERT INTO persons (last_name) VALUES ('Abai') RETURNING id), \
              u AS (INSERT INTO users (person_id, login, role) SELECT id, 'abai', 'student' FROM p RETURNING id, person_id), \
              s AS (INSERT INTO students (person_id, user_id) SELECT person_id, id FROM u RETURNING id) \
         INSERT INTO assessment_submissions (assessment_id, student_id, score) \
         SELECT $1, id, 15 FROM s RETURNING id",
    )
    .bind(assessment)
    .fetch_one(lms)
    .await?;
    Ok(Rows {
        subject,
        course,
        assessment,
        submission,
    })
}

async fn set(lms: &PgPool, table: &str, column: &str, id: i64, value: &str) -> sqlx::Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "UPDATE {table} SET {column} = $2::numeric WHERE id = $1"
    )))
    .bind(id)
    .bind(value)
    .execute(lms)
    .await
    .map(|_| ())
}

async fn assessments(app: &TestApp) -> anyhow::Result<AssessmentServiceClient<support::Authed>> {
    Ok(AssessmentServiceClient::new(
        app.authed(Some(READER)).await?,
    ))
}

#[tokio::test]
async fn a_nan_maximum_score_reads_as_the_default_100() -> anyhow::Result<()> {
    let app = spawn_app("nanmaxscore", Data::Empty, false).await?;
    let rows = rows(&app.lms).await?;
    set(&app.lms, "assessments", "max_score", rows.assessment, "NaN").await?;
    let mut client = assessments(&app).await?;
    let found = client
        .get_assessment(pb::GetAssessmentRequest {
            name: format!("assessments/{}", rows.assessment),
        })
        .await?
        .into_inner();
    assert_eq!(found.max_score, "100");
    let listed = client
        .list_assessments(pb::ListAssessmentsRequest {
            filter: format!("subject = \"subjects/{}\"", rows.subject),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(listed.assessments, vec![found]);
    app.close().await
}

#[tokio::test]
async fn a_nan_score_reads_as_unset() -> anyhow::Result<()> {
    let app = spawn_app("nanscore", Data::Empty, false).await?;
    let rows = rows(&app.lms).await?;
    set(
        &app.lms,
        "assessment_submissions",
        "score",
        rows.submission,
        "NaN",
    )
    .await?;
    let mut client = assessments(&app).await?;
    let found = client
        .get_submission(pb::GetSubmissionRequest {
            name: format!("submissions/{}", rows.submission),
        })
        .await?
        .into_inner();
    assert_eq!(found.score, "");
    let listed = client
        .list_submissions(pb::ListSubmissionsRequest {
            filter: format!("assessment = \"assessments/{}\"", rows.assessment),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(listed.submissions, vec![found]);
    app.close().await
}

#[tokio::test]
async fn a_nan_in_credits_fails_no_course_read() -> anyhow::Result<()> {
    let app = spawn_app("nancredits", Data::Empty, false).await?;
    let rows = rows(&app.lms).await?;
    set(&app.lms, "subjects", "credits", rows.subject, "NaN").await?;
    let mut client = CourseServiceClient::new(app.authed(Some(READER)).await?);
    let found = client
        .get_course(pb::GetCourseRequest {
            name: format!("courses/{}", rows.course),
        })
        .await?
        .into_inner();
    assert_eq!(found.subject_title, "Algebra");
    let listed = client
        .list_courses(pb::ListCoursesRequest::default())
        .await?
        .into_inner();
    assert_eq!(listed.courses, vec![found]);
    app.close().await
}

#[tokio::test]
async fn infinities_and_huge_values_cannot_be_stored() -> anyhow::Result<()> {
    let app = spawn_app("infscore", Data::Empty, false).await?;
    let rows = rows(&app.lms).await?;
    let columns = [
        ("assessments", "max_score", rows.assessment),
        ("assessment_submissions", "score", rows.submission),
        ("subjects", "credits", rows.subject),
    ];
    for (table, column, id) in columns {
        for value in ["Infinity", "-Infinity", "1e9", "-1e30"] {
            let refused = set(&app.lms, table, column, id, value).await;
            let code = refused.err().and_then(|error| {
                error
                    .as_database_error()
                    .and_then(|db| db.code())
                    .map(|c| c.into_owned())
            });
            // 22003: numeric_value_out_of_range ("numeric field overflow").
            assert_eq!(code.as_deref(), Some("22003"), "{table}.{column} = {value}");
        }
    }
    // What was there before reads back unchanged.
    let mut client = assessments(&app).await?;
    let found = client
        .get_assessment(pb::GetAssessmentRequest {
            name: format!("assessments/{}", rows.assessment),
        })
        .await?
        .into_inner();
    assert_eq!(found.max_score, "20.00");
    app.close().await
}
