//! The server's own limits: PostgreSQL's statement timeout on its pools,
//! the request timeout, the in-flight limit and the message size, each
//! answered with its code and an ErrorInfo; and the HTTP/2 limits that
//! act before tonic does: the header-list size (no handler runs) and the
//! connection age (the server closes the connection).

use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{ADMIN, Data, READER, TestApp, WRITER, spawn_app_with};

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
        Some("DATABASE_BUSY")
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
    // At once: well within the request timeout a queued request would
    // wait out, with room for a loaded machine.
    const AT_ONCE: Duration = Duration::from_secs(3);

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
    app.wait_for_lock_waiters(2).await?;

    let started = Instant::now();
    let status = students
        .clone()
        .get_student(get_student_one())
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a third request was served past the limit of 2"))?;
    assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
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
    assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());

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

/// A migration-control call goes on to its end after its deadline (so
/// that what it did is audited), and keeps its place in
/// `grpc.concurrency_limit` until then: calls cut off by their deadlines
/// cannot pile up work past the limit.
#[tokio::test]
async fn a_control_call_past_its_deadline_keeps_its_place_in_the_limit_until_it_ends()
-> anyhow::Result<()> {
    use lms_grpc::pb::lms::migration::v1::StartRunRequest;
    use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;

    let app = spawn_app_with("hostilecontrolplace", Data::Empty, false, |settings| {
        settings.grpc.concurrency_limit = 1;
        settings.grpc.request_timeout = std::time::Duration::from_millis(300);
    })
    .await?;
    // Planning reads the runs: the call waits on the lock past its deadline.
    let mut lock = app.lms.begin().await?;
    sqlx::query("LOCK TABLE migration.runs IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await?;
    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let cut_off = admin
        .start_run(StartRunRequest {
            dry_run: true,
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("the call ended before its deadline"))?;
    assert_eq!(cut_off.code(), Code::DeadlineExceeded, "{cut_off:?}");
    let mut students = StudentServiceClient::new(app.authed(Some(READER)).await?);

    let while_planning = students.get_student(get_student_one()).await.err();

    assert_eq!(
        while_planning
            .as_ref()
            .and_then(error_info)
            .map(|(reason, _)| reason)
            .as_deref(),
        Some("SERVER_OVERLOADED"),
        "{while_planning:?}"
    );
    lock.rollback().await?;
    let started = std::time::Instant::now();
    loop {
        let answer = students.get_student(get_student_one()).await.err();
        if answer.as_ref().map(tonic::Status::code) == Some(Code::NotFound) {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the control call's place was not given back: {answer:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
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

/// A person and a user account for a student, written straight into the
/// LMS database: what `CreateStudent` needs to write a row.
async fn person_and_user(app: &TestApp) -> anyhow::Result<(i64, i64)> {
    use sqlx::Row;
    let person: i64 = sqlx::query("INSERT INTO persons (last_name) VALUES ('Header') RETURNING id")
        .fetch_one(&app.lms)
        .await?
        .try_get(0)?;
    let user: i64 = sqlx::query(
        "INSERT INTO users (person_id, login, role) VALUES ($1, 'header', 'student') RETURNING id",
    )
    .bind(person)
    .fetch_one(&app.lms)
    .await?
    .try_get(0)?;
    Ok((person, user))
}

fn create_student(person: i64, user: i64) -> lms_grpc::pb::lms::v1::CreateStudentRequest {
    lms_grpc::pb::lms::v1::CreateStudentRequest {
        student: Some(lms_grpc::pb::lms::v1::Student {
            person: format!("persons/{person}"),
            user: format!("users/{user}"),
            admission_year: 2026,
            record_book_number: "ЗК-HEADER".to_owned(),
            ..Default::default()
        }),
        request_id: String::new(),
    }
}

/// `request` with one metadata header of `bytes` bytes.
fn with_padding<T>(request: T, bytes: usize) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(request);
    request
        .metadata_mut()
        .insert("x-padding", "p".repeat(bytes).parse()?);
    Ok(request)
}

/// Rows in `students` and in the audit trail: what a CreateStudent that
/// reached its handler leaves, whether it succeeded or failed.
async fn students_and_audit_rows(app: &TestApp) -> anyhow::Result<(i64, i64)> {
    use sqlx::Row;
    let row = sqlx::query(
        "SELECT (SELECT count(*) FROM students), (SELECT count(*) FROM api.audit_events)",
    )
    .fetch_one(&app.lms)
    .await?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Health and a write answer on `channel`, each within three seconds (a
/// request held by a limit would wait out the request timeout).
async fn health_and_a_write_answer_at_once(
    channel: &crate::support::Authed,
    person: i64,
    user: i64,
) -> anyhow::Result<()> {
    use std::time::{Duration, Instant};
    const AT_ONCE: Duration = Duration::from_secs(3);
    let started = Instant::now();
    let mut health = HealthClient::new(channel.clone());
    let answer = tokio::time::timeout(
        AT_ONCE,
        health.check(HealthCheckRequest {
            service: String::new(),
        }),
    )
    .await??;
    assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
    assert!(started.elapsed() < AT_ONCE);
    let started = Instant::now();
    let mut students = StudentServiceClient::new(channel.clone());
    tokio::time::timeout(
        AT_ONCE,
        students.create_student(create_student(person, user)),
    )
    .await??;
    assert!(started.elapsed() < AT_ONCE);
    Ok(())
}

/// Over `grpc.max_header_list_bytes` (but within four times it), h2
/// answers the stream itself with HTTP 431 and resets it: the request
/// never reaches tonic, so no handler runs, and the client sees no
/// grpc-status (tonic maps a bare 431 to UNKNOWN). Only the stream is reset.
#[tokio::test]
async fn a_header_list_over_the_limit_is_answered_431_before_any_handler() -> anyhow::Result<()> {
    let app = spawn_app_with("hostileheaders", Data::Empty, false, |settings| {
        settings.grpc.max_header_list_bytes = 1024;
    })
    .await?;
    let (person, user) = person_and_user(&app).await?;
    let channel = app.authed(Some(WRITER)).await?;
    let mut students = StudentServiceClient::new(channel.clone());
    let status = students
        .create_student(with_padding(create_student(person, user), 2 * 1024)?)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a request over the header limit was served"))?;
    assert_eq!(status.code(), Code::Unknown, "{status:?}");
    assert_eq!(
        status.message(),
        "grpc-status header missing, mapped from HTTP status code 431"
    );
    assert_eq!(students_and_audit_rows(&app).await?, (0, 0));

    health_and_a_write_answer_at_once(&channel, person, user).await?;
    assert_eq!(students_and_audit_rows(&app).await?, (1, 1));
    app.close().await
}

/// Past four times `grpc.max_header_list_bytes` h2 stops decoding and
/// closes the whole connection (GOAWAY, ENHANCE_YOUR_CALM), which tonic
/// reports as RESOURCE_EXHAUSTED; no handler runs. The client's channel
/// connects again and is served at once.
#[tokio::test]
async fn a_header_list_four_times_the_limit_closes_the_connection_before_any_handler()
-> anyhow::Result<()> {
    let app = spawn_app_with("hostileheadersabuse", Data::Empty, false, |settings| {
        settings.grpc.max_header_list_bytes = 1024;
    })
    .await?;
    let (person, user) = person_and_user(&app).await?;
    let channel = app.authed(Some(WRITER)).await?;
    let mut students = StudentServiceClient::new(channel.clone());
    let status = students
        .create_student(with_padding(create_student(person, user), 4 * 1024)?)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a request far over the header limit was served"))?;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let h2 =
        h2_error(&status).ok_or_else(|| anyhow::anyhow!("no HTTP/2 error behind {status:?}"))?;
    assert!(h2.is_go_away() && h2.is_remote(), "{h2:?}");
    assert_eq!(h2.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM));
    assert_eq!(students_and_audit_rows(&app).await?, (0, 0));

    health_and_a_write_answer_at_once(&channel, person, user).await?;
    assert_eq!(students_and_audit_rows(&app).await?, (1, 1));
    app.close().await
}

/// The HTTP/2 error somewhere behind a status the client made.
fn h2_error(status: &tonic::Status) -> Option<&h2::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(error) = cause {
        if let Some(h2) = error.downcast_ref::<h2::Error>() {
            return Some(h2);
        }
        cause = error.source();
    }
    None
}

/// A connection older than `grpc.max_connection_age` is closed by the
/// server once idle (GOAWAY, then the socket), without the client doing
/// anything; the client's next call on the same channel connects again.
#[tokio::test]
async fn the_server_closes_a_connection_past_its_maximum_age() -> anyhow::Result<()> {
    use std::time::{Duration, Instant};

    let age = Duration::from_secs(1);
    let app = spawn_app_with("hostileconnage", Data::Empty, false, |settings| {
        settings.grpc.max_connection_age = age;
    })
    .await?;
    let link = lms_testkit::SilentLink::to(app.address).await?;
    let connected = Instant::now();
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", link.address()))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?;
    let mut health = HealthClient::new(channel);
    let check = || HealthCheckRequest {
        service: String::new(),
    };
    health.check(check()).await?;
    assert_eq!(link.connections_accepted(), 1);
    assert_eq!(link.connections_open(), 1);

    // Bounded: the age, and a grace for the GOAWAY and the close.
    let deadline = connected + age + Duration::from_secs(5);
    while link.connections_open() > 0 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the connection was still open {:?} after it was made",
            connected.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        connected.elapsed() >= age,
        "closed after {:?}, before its age",
        connected.elapsed()
    );

    let answer = health.check(check()).await?;
    assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
    assert_eq!(link.connections_accepted(), 2);
    app.close().await
}
