//! Many streams at once: 1,000 on one connection, bounded by the limit the
//! server announces, and 100 `WatchRun` watchers of a migration while
//! writes go on.

use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{Data, spawn_app_with};

#[tokio::test]
async fn a_thousand_streams_on_one_connection_are_bounded_by_the_announced_limit()
-> anyhow::Result<()> {
    const LIMIT: u32 = 16;
    const STREAMS: usize = 1_000;
    let app = spawn_app_with("hostilestreams", Data::Empty, false, |settings| {
        settings.grpc.max_concurrent_streams = LIMIT;
    })
    .await?;
    // Health watches never end: each holds its stream open.
    let connection = app.channel().await?;
    let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut watchers = tokio::task::JoinSet::new();
    for _ in 0..STREAMS {
        let mut client = HealthClient::new(connection.clone());
        let opened = opened.clone();
        watchers.spawn(async move {
            let request = HealthCheckRequest {
                service: String::new(),
            };
            if let Ok(mut stream) = client.watch(request).await.map(tonic::Response::into_inner)
                && let Ok(Some(_)) = stream.message().await
            {
                opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Hold the stream until the test ends.
                std::future::pending::<()>().await;
            }
        });
    }
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    // The server answers others at once meanwhile.
    let started = std::time::Instant::now();
    let mut health = HealthClient::new(app.channel().await?);
    let answer = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    assert_eq!(answer.into_inner().status, ServingStatus::Serving as i32);
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert_eq!(
        opened.load(std::sync::atomic::Ordering::SeqCst),
        LIMIT as usize
    );
    watchers.abort_all();
    app.close().await
}

// WatchRun under load (issue 11, items 2 and 6).

mod run_watchers {
    use std::time::{Duration, Instant};

    use lms_grpc::pb::lms::migration::v1 as migration;
    use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
    use lms_grpc::pb::lms::v1 as lms;
    use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
    use tokio::task::JoinSet;
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    use crate::support::{ADMIN, Authed, Data, WRITER, spawn_app};

    const WATCHERS: usize = 100;
    /// The longest the run, and so the test, may take.
    const RUN_LIMIT: Duration = Duration::from_secs(300);

    /// Follows the run to its end; its last state.
    async fn watch_to_end(
        mut client: MigrationServiceClient<Authed>,
        name: String,
    ) -> anyhow::Result<migration::Run> {
        let mut stream = client
            .watch_run(migration::WatchRunRequest { name })
            .await?
            .into_inner();
        let mut last = None;
        while let Some(event) = stream.message().await? {
            last = event.run;
        }
        last.ok_or_else(|| anyhow::anyhow!("the stream ended without an event"))
    }

    fn ended(run: &migration::Run) -> bool {
        matches!(
            run.status(),
            migration::RunStatus::Succeeded
                | migration::RunStatus::Failed
                | migration::RunStatus::Cancelled
        )
    }

    /// 100 watchers follow a re-run of the migration while a writer creates
    /// students and a prober checks health: every write succeeds, health
    /// answers within 1 s throughout, every watcher sees the run end.
    #[tokio::test]
    async fn a_hundred_watchers_of_a_run_leave_writes_and_health_answering() -> anyhow::Result<()> {
        let app = spawn_app("hostilewatchers", Data::Migrated, true).await?;
        let (person, user): (i64, i64) =
            sqlx::query_as("SELECT person_id, user_id FROM students ORDER BY id LIMIT 1")
                .fetch_one(&app.lms)
                .await?;
        let mut runs = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
        // Small chunks: a re-run of many chunks, each one a notification.
        let run = runs
            .start_run(migration::StartRunRequest {
                chunk_size: 100,
                ..Default::default()
            })
            .await?
            .into_inner();
        let watching = app.authed(Some(ADMIN)).await?;
        let mut watchers = JoinSet::new();
        for _ in 0..WATCHERS {
            let client = MigrationServiceClient::new(watching.clone());
            watchers.spawn(watch_to_end(client, run.name.clone()));
        }

        let mut students = StudentServiceClient::new(app.authed(Some(WRITER)).await?);
        let mut health = HealthClient::new(app.channel().await?);
        let deadline = Instant::now() + RUN_LIMIT;
        let (mut writes, mut slowest_write, mut slowest_health) =
            (0_u32, Duration::ZERO, Duration::ZERO);
        let mut seen_end = 0;
        while seen_end < WATCHERS {
            anyhow::ensure!(Instant::now() < deadline, "the run did not end in time");
            let started = Instant::now();
            let answer = health
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await?;
            slowest_health = slowest_health.max(started.elapsed());
            assert_eq!(answer.into_inner().status(), ServingStatus::Serving);
            assert!(
                slowest_health < Duration::from_secs(1),
                "{slowest_health:?}"
            );

            let started = Instant::now();
            students
                .create_student(lms::CreateStudentRequest {
                    student: Some(lms::Student {
                        person: format!("persons/{person}"),
                        user: format!("users/{user}"),
                        admission_year: 2026,
                        record_book_number: format!("ЗК-WATCH-{writes}"),
                        ..Default::default()
                    }),
                    request_id: String::new(),
                })
                .await?;
            slowest_write = slowest_write.max(started.elapsed());
            writes += 1;

            while let Some(watched) = watchers.try_join_next() {
                let last = watched??;
                assert!(ended(&last), "a stream ended before its run: {last:?}");
                seen_end += 1;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        println!(
            "{WATCHERS} watchers: {writes} writes, slowest {slowest_write:?}; \
             slowest health check {slowest_health:?}"
        );
        assert!(writes >= 2, "the run ended before the writes began");
        app.close().await
    }
}
