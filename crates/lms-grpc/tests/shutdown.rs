//! Graceful shutdown: a request in flight when shutdown begins still gets
//! its answer, a WatchRun stream ends with UNAVAILABLE instead of holding
//! the server open, and then the server stops.

mod support;

use std::time::Duration;

use lms_grpc::pb::lms::migration::v1 as migration;
use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use support::{ADMIN, Data, READER, spawn_app};
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
    tokio::time::sleep(Duration::from_millis(300)).await;
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
