//! Graceful shutdown: a request in flight when shutdown begins still gets
//! its answer, a WatchRun stream ends with UNAVAILABLE and a health Watch
//! with NOT_SERVING instead of holding the server open, and then the
//! server stops; a stream a client keeps open holds it no longer than
//! `grpc.request_timeout` and a moment.

mod support;

use std::time::Duration;

use lms_grpc::pb::lms::migration::v1 as migration;
use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use support::{ADMIN, Data, READER, TestApp, spawn_app, spawn_app_with};
use tonic::Code;
use tonic_types::StatusExt;

#[tokio::test]
async fn shutdown_finishes_requests_in_flight_and_ends_streams() -> anyhow::Result<()> {
    // No worker: the run started below stays running, so its stream stays open.
    let mut app = spawn_app("grpcshutdown", Data::Migrated, false).await?;
    let student: i64 = sqlx::query_scalar("SELECT min(id) FROM students")
        .fetch_one(&app.lms)
        .await?;

    let mut runs = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let run = runs
        .start_run(migration::StartRunRequest {
            entities: vec!["organizations".into()],
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut stream = runs
        .watch_run(migration::WatchRunRequest {
            name: run.name.clone(),
        })
        .await?
        .into_inner();
    let snapshot = stream.message().await?;
    assert!(snapshot.is_some_and(|event| event.snapshot));

    // Hold the students table so that GetStudent is still running when the
    // shutdown begins.
    let mut blocker = app.lms.begin().await?;
    sqlx::query("LOCK TABLE students IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await?;
    let mut students = StudentServiceClient::new(app.authed(Some(READER)).await?);
    let in_flight = tokio::spawn(async move {
        students
            .get_student(pb::GetStudentRequest {
                name: format!("students/{student}"),
            })
            .await
    });
    app.wait_for_lock_waiters(1).await?;
    assert!(
        !in_flight.is_finished(),
        "the request is waiting on the lock"
    );

    app.begin_shutdown();
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message()).await?;
    let ended = ended.map(|_| ()).unwrap_err();
    assert_eq!(ended.code(), Code::Unavailable);
    assert_eq!(
        ended.get_details_error_info().map(|info| info.reason),
        Some("SERVER_SHUTTING_DOWN".to_owned())
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !app.server_stopped(),
        "the server waits for the request in flight"
    );

    blocker.commit().await?;
    let answered = tokio::time::timeout(Duration::from_secs(10), in_flight).await??;
    assert_eq!(answered?.into_inner().name, format!("students/{student}"));
    for _ in 0..100 {
        if app.server_stopped() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        app.server_stopped(),
        "the server stopped once the request was answered"
    );
    app.close().await
}

#[tokio::test]
async fn a_health_watch_sees_not_serving_and_ends_at_shutdown() -> anyhow::Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let mut app = spawn_app("grpcshutdownhealth", Data::Empty, false).await?;
    let mut health = HealthClient::new(app.channel().await?);
    let mut watches = Vec::new();
    for service in ["", "lms.data"] {
        let mut watch = health
            .watch(HealthCheckRequest {
                service: service.to_owned(),
            })
            .await?
            .into_inner();
        let first = watch.message().await?.map(|answer| answer.status);
        assert_eq!(first, Some(ServingStatus::Serving as i32), "{service:?}");
        watches.push(watch);
    }

    app.begin_shutdown();
    for mut watch in watches {
        let mut seen = Vec::new();
        while let Some(answer) =
            tokio::time::timeout(Duration::from_secs(10), watch.message()).await??
        {
            seen.push(answer.status);
        }
        assert_eq!(seen.last(), Some(&(ServingStatus::NotServing as i32)));
    }
    wait_until_stopped(&app, Duration::from_secs(10)).await?;
    app.close().await
}

#[tokio::test]
async fn a_stream_its_client_keeps_open_holds_the_shutdown_only_past_the_request_timeout()
-> anyhow::Result<()> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;

    let mut app = spawn_app_with("grpcshutdowndrain", Data::Empty, false, |settings| {
        settings.grpc.request_timeout = Duration::from_secs(2);
    })
    .await?;
    let mut reflection = ServerReflectionClient::new(app.channel().await?);
    let (asks, asked) = tokio::sync::mpsc::channel(1);
    asks.send(ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    })
    .await?;
    let mut answers = reflection
        .server_reflection_info(tokio_stream::wrappers::ReceiverStream::new(asked))
        .await?
        .into_inner();
    assert!(answers.message().await?.is_some(), "reflection answered");

    app.begin_shutdown();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !app.server_stopped(),
        "the open stream is drained for grpc.request_timeout and a moment"
    );
    wait_until_stopped(&app, Duration::from_secs(10)).await?;
    drop(asks);
    app.close().await
}

/// Waits at most `limit` for the server to stop serving.
async fn wait_until_stopped(app: &TestApp, limit: Duration) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    while !app.server_stopped() {
        anyhow::ensure!(
            started.elapsed() < limit,
            "the server still serves {limit:?} after shutdown began"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
