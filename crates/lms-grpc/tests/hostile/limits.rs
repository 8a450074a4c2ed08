//! The server's own limits: PostgreSQL's statement timeout on its pools,
//! the request timeout, the in-flight limit and the message size, each
//! answered with its code and an ErrorInfo.

use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{Data, READER, TestApp, WRITER, spawn_app_with};

/// The server's pools carry `grpc.statement_timeout`: a read stuck past
/// it is cancelled by PostgreSQL (57014) and answered UNAVAILABLE, in the
/// server's words, before the request timeout.
#[tokio::test]
async fn a_read_past_the_statement_timeout_is_unavailable_and_says_so() -> anyhow::Result<()> {
    let app = spawn_app_with("hostilestmt", Data::Empty, false, |settings| {
        settings.grpc.statement_timeout = std::time::Duration::from_millis(200);
        settings.grpc.request_timeout = std::time::Duration::from_secs(10);
    })
    .await?;
    let lock = lock_students(&app).await?;
    let mut students = StudentServiceClient::new(app.authed(Some(READER)).await?);
    let status = students
        .get_student(get_student_one())
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a read of a locked table answered"))?;
    lock.rollback().await?;
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        error_info(&status).map(|(reason, _)| reason).as_deref(),
        Some("DATABASE_UNAVAILABLE")
    );
    assert!(
        status.message().contains("grpc.statement_timeout"),
        "{}",
        status.message()
    );
    app.close().await
}

/// Holds the students table locked until dropped, so that every read of it
/// waits: a request that takes as long as a test needs.
async fn lock_students(
    app: &TestApp,
) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    let mut lock = app.lms.begin().await?;
    sqlx::query("LOCK TABLE students IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await?;
    Ok(lock)
}

/// Waits (at most 10 s) until `count` sessions wait for a lock, i.e. that
/// many requests are held inside the server.
async fn wait_for_lock_waiters(app: &TestApp, count: i64) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(&app.lms)
        .await?;
        if waiting >= count {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{waiting} requests wait for the lock, not {count}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn error_info(status: &tonic::Status) -> Option<(String, String)> {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|info| (info.reason, info.domain))
}

fn get_student_one() -> lms_grpc::pb::lms::v1::GetStudentRequest {
    lms_grpc::pb::lms::v1::GetStudentRequest {
        name: "students/1".to_owned(),
    }
}

#[tokio::test]
async fn a_request_past_the_request_timeout_is_deadline_exceeded_with_its_reason()
-> anyhow::Result<()> {
    let app = spawn_app_with("hostiletimeout", Data::Empty, false, |settings| {
        settings.grpc.request_timeout = std::time::Duration::from_millis(300);
    })
    .await?;
    let lock = lock_students(&app).await?;
    let mut students = StudentServiceClient::new(app.authed(Some(READER)).await?);
    let status = students
        .get_student(get_student_one())
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a read of a locked table answered"))?;
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    assert_eq!(
        error_info(&status),
        Some((
            "REQUEST_TIMEOUT".to_owned(),
            lms_grpc::error::ERROR_DOMAIN.to_owned()
        ))
    );
    lock.rollback().await?;
    app.close().await
}

#[tokio::test]
async fn past_the_concurrency_limit_a_request_is_refused_at_once_and_health_answers()
-> anyhow::Result<()> {
    use std::time::{Duration, Instant};

    let app = spawn_app_with("hostileshed", Data::Empty, false, |settings| {
        settings.grpc.concurrency_limit = 2;
    })
    .await?;
    let lock = lock_students(&app).await?;
    let students = StudentServiceClient::new(app.authed(Some(READER)).await?);
    let mut waiting = tokio::task::JoinSet::new();
    for _ in 0..2 {
        let mut students = students.clone();
        waiting.spawn(async move { students.get_student(get_student_one()).await.map(drop) });
    }
    wait_for_lock_waiters(&app, 2).await?;

    let started = Instant::now();
    let status = students
        .clone()
        .get_student(get_student_one())
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a third request was served past the limit of 2"))?;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(
        error_info(&status).map(|(reason, _)| reason).as_deref(),
        Some("SERVER_OVERLOADED")
    );
    let started = Instant::now();
    let mut health = HealthClient::new(app.channel().await?);
    let answer = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
    assert!(started.elapsed() < Duration::from_secs(1));

    lock.rollback().await?;
    while let Some(served) = waiting.join_next().await {
        let answer = served?;
        assert_eq!(
            answer.err().map(|status| status.code()),
            Some(Code::NotFound)
        );
    }
    app.close().await
}

#[tokio::test]
async fn a_request_over_the_message_size_limit_carries_an_error_info() -> anyhow::Result<()> {
    use lms_grpc::pb::lms::v1::course_service_client::CourseServiceClient;
    use lms_grpc::pb::lms::v1::{CourseMaterial, CreateCourseMaterialRequest};

    let app = spawn_app_with("hostileoversize", Data::Empty, false, |settings| {
        settings.grpc.max_message_bytes = 4 * 1024;
    })
    .await?;
    let mut courses = CourseServiceClient::new(app.authed(Some(WRITER)).await?);
    let status = courses
        .create_course_material(CreateCourseMaterialRequest {
            parent: "courses/1".to_owned(),
            course_material: Some(CourseMaterial {
                title: "big".to_owned(),
                body: "x".repeat(8 * 1024),
                ..Default::default()
            }),
            request_id: String::new(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an oversized request was served"))?;
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert_eq!(
        error_info(&status),
        Some((
            "OUT_OF_RANGE".to_owned(),
            lms_grpc::error::ERROR_DOMAIN.to_owned()
        ))
    );
    app.close().await
}
