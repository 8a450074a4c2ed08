//! A hostile client against a real server: calls without a token, with a
//! token lacking the method's scope, and to methods the server does not
//! have. Each asserts the exact code.

mod support;

use http::uri::PathAndQuery;
use lms_grpc::access::{Access, METHODS, Scope};
use lms_grpc::pb::lms::v1::DeleteStudentRequest;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use support::{ADMIN, Data, READER, ROOT, TestApp, WRITER, spawn_app, spawn_app_with};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_prost::ProstCodec;

/// Calls `path` with an empty message and `token`, and returns the code the
/// server answered with (`Ok` when it answered at all without an error).
async fn call(app: &TestApp, path: &str, token: Option<&str>) -> anyhow::Result<Code> {
    let mut grpc = tonic::client::Grpc::new(app.channel().await?);
    grpc.ready().await?;
    let mut request = tonic::Request::new(());
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let path = PathAndQuery::try_from(path)?;
    let answer = grpc
        .unary::<(), (), _>(request, path, ProstCodec::default())
        .await;
    Ok(answer.map_or_else(|status| status.code(), |_| Code::Ok))
}

/// A test token that lacks `scope`.
fn token_without(scope: Scope) -> &'static str {
    match scope {
        Scope::LmsRead => ADMIN,
        Scope::LmsWrite => READER,
        Scope::MigrationAdmin => WRITER,
    }
}

#[tokio::test]
async fn every_guarded_method_refuses_a_call_without_a_token() -> anyhow::Result<()> {
    let app = spawn_app("hostilenotoken", Data::Empty, false).await?;
    for (path, access) in METHODS {
        if let Access::Needs(_) = access {
            assert_eq!(
                call(&app, path, None).await?,
                Code::Unauthenticated,
                "{path}"
            );
        }
    }
    app.close().await
}

#[tokio::test]
async fn every_guarded_method_refuses_a_token_without_its_scope() -> anyhow::Result<()> {
    let app = spawn_app("hostilescope", Data::Empty, false).await?;
    for (path, access) in METHODS {
        if let Access::Needs(scope) = access {
            let token = token_without(*scope);
            assert_eq!(
                call(&app, path, Some(token)).await?,
                Code::PermissionDenied,
                "{path}"
            );
        }
    }
    app.close().await
}

#[tokio::test]
async fn a_method_the_server_does_not_have_is_unimplemented_for_every_token() -> anyhow::Result<()>
{
    let app = spawn_app("hostileunlisted", Data::Empty, false).await?;
    for token in [None, Some(READER), Some(ROOT)] {
        assert_eq!(
            call(&app, "/lms.v1.StudentService/PromoteStudent", token).await?,
            Code::Unimplemented,
            "{token:?}"
        );
    }
    app.close().await
}

#[tokio::test]
async fn reflection_can_be_turned_off() -> anyhow::Result<()> {
    let app = spawn_app_with("hostilenoreflect", Data::Empty, false, |settings| {
        settings.grpc.reflection = false;
    })
    .await?;
    for version in ["v1", "v1alpha"] {
        let path = format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
        assert_eq!(
            call(&app, &path, None).await?,
            Code::Unimplemented,
            "{path}"
        );
    }
    app.close().await
}

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

/// SQLSTATE 25006: the primary's address now leads to a read-only server.
/// A write is UNAVAILABLE (retry elsewhere, later), never INTERNAL.
#[tokio::test]
async fn a_write_to_a_read_only_primary_is_unavailable() -> anyhow::Result<()> {
    let app = spawn_app("hostilereadonly", Data::Empty, false).await?;
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&app.lms)
        .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{database}\" SET default_transaction_read_only = on"
    )))
    .execute(&app.lms)
    .await?;
    // The server's pooled sessions started writable: end them, so that it
    // reconnects to a read-only database.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&app.lms)
    .await?;
    let mut students = StudentServiceClient::new(app.authed(Some(WRITER)).await?);
    let mut said_read_only = false;
    for _ in 0..20 {
        let request = DeleteStudentRequest {
            name: "students/1".to_owned(),
        };
        let status = match students.delete_student(request).await {
            Ok(_) => anyhow::bail!("a write succeeded on a read-only database"),
            Err(status) => status,
        };
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        if status.message().contains("read-only") {
            said_read_only = true;
            break;
        }
    }
    assert!(said_read_only, "no answer said the primary is read-only");
    app.close().await
}

/// The server's pools carry `grpc.statement_timeout`: a statement past it
/// is cancelled by PostgreSQL (57014), not left running.
#[tokio::test]
async fn the_servers_pools_cancel_a_statement_past_the_timeout() -> anyhow::Result<()> {
    let app = spawn_app_with("hostilestmt", Data::Empty, false, |settings| {
        settings.grpc.statement_timeout = std::time::Duration::from_millis(200);
    })
    .await?;
    let sources = lms_data::failover::DataSources::connect(&app.settings, "hostile-test").await?;
    let outcome = sqlx::query("SELECT pg_sleep(2)")
        .execute(sources.primary_pool())
        .await;
    let code = outcome.err().and_then(|error| {
        error
            .as_database_error()
            .and_then(|db| db.code())
            .map(|code| code.into_owned())
    });
    assert_eq!(code.as_deref(), Some("57014"));
    app.close().await
}

/// Every error carries AIP-193's ErrorInfo: a stable reason and the
/// server's domain.
#[tokio::test]
async fn errors_carry_an_error_info_with_a_stable_reason() -> anyhow::Result<()> {
    use lms_grpc::pb::lms::v1::GetStudentRequest;
    use tonic_types::StatusExt;

    let app = spawn_app("hostileinfo", Data::Empty, false).await?;
    let reason = |status: tonic::Status| {
        status
            .get_details_error_info()
            .map(|info| (info.reason, info.domain))
    };
    let get = |name: &str| GetStudentRequest {
        name: name.to_owned(),
    };
    let mut anonymous = StudentServiceClient::new(app.authed(None).await?);
    let mut reader = StudentServiceClient::new(app.authed(Some(READER)).await?);
    let cases = [
        (
            anonymous.get_student(get("students/1")).await,
            "TOKEN_MISSING_OR_INVALID",
        ),
        (
            reader.get_student(get("students/1")).await,
            "RESOURCE_NOT_FOUND",
        ),
        (reader.get_student(get("teachers/1")).await, "INVALID_FIELD"),
        (
            reader
                .delete_student(DeleteStudentRequest {
                    name: "students/1".to_owned(),
                })
                .await
                .map(|_| tonic::Response::new(Default::default())),
            "SCOPE_MISSING",
        ),
    ];
    for (answer, expected) in cases {
        let status = answer
            .err()
            .ok_or_else(|| anyhow::anyhow!("{expected}: no error"))?;
        assert_eq!(
            reason(status),
            Some((
                expected.to_owned(),
                lms_grpc::error::ERROR_DOMAIN.to_owned()
            )),
            "{expected}"
        );
    }
    app.close().await
}

// ---- A read flood while the primary is stopped ----

/// 2,000 reads, 64 at a time, against a server whose only database is
/// stopped. Every read is UNAVAILABLE in the domain's words (no host, port
/// or driver text), and the server's health check answers within a second
/// throughout.
#[tokio::test]
async fn a_read_flood_while_the_primary_is_stopped_is_unavailable_and_the_server_answers()
-> anyhow::Result<()> {
    use std::time::{Duration, Instant};

    use futures::StreamExt;
    use lms_grpc::pb::lms::v1::GetStudentRequest;
    use lms_testkit::TempCluster;
    use tonic_types::StatusExt;

    const READS: usize = 2_000;
    const AT_ONCE: usize = 64;
    let primary = TempCluster::primary("hostileflood").await?;
    let admin = lms_pg::connect(
        &primary.url("postgres")?,
        &lms_pg::PoolConfig::small("hostile-test"),
    )
    .await?;
    sqlx::query("CREATE DATABASE lms").execute(&admin).await?;
    admin.close().await;
    let db = lms_data::Database::connect(
        &primary.url("lms")?,
        &lms_pg::PoolConfig::small("hostile-test"),
    )
    .await?;
    lms_data::schema::upgrade(&db).await?;
    db.pool().close().await;
    let mut settings = lms_config::Settings::default();
    settings.database.url = primary.url("lms")?;
    settings.database.connect_timeout = Duration::from_secs(1);
    settings.database.acquire_timeout = Duration::from_secs(1);
    settings.failover.probe_interval = Duration::from_millis(500);
    settings.failover.probe_timeout = Duration::from_millis(400);
    settings.failover.legacy_reads = false;
    let server = support::RunningServer::start(settings).await?;
    let reader = StudentServiceClient::new(server.authed(READER).await?);
    let get = || GetStudentRequest {
        name: "students/1".to_owned(),
    };
    let warm = reader.clone().get_student(get()).await;
    assert_eq!(warm.map(drop).err().map(|s| s.code()), Some(Code::NotFound));

    primary.stop().await?;
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let health = {
        let flooding = flooding.clone();
        let mut health = HealthClient::new(server.authed(READER).await?);
        tokio::spawn(async move {
            let mut slowest = Duration::ZERO;
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                let started = Instant::now();
                let request = HealthCheckRequest {
                    service: String::new(),
                };
                let answered =
                    tokio::time::timeout(Duration::from_secs(1), health.check(request)).await;
                anyhow::ensure!(
                    matches!(answered, Ok(Ok(_))),
                    "the health check did not answer within 1 s: {answered:?}"
                );
                slowest = slowest.max(started.elapsed());
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(slowest)
        })
    };
    let outcomes: Vec<Result<(), tonic::Status>> = futures::stream::iter(0..READS)
        .map(|_| {
            let mut reader = reader.clone();
            async move { reader.get_student(get()).await.map(drop) }
        })
        .buffer_unordered(AT_ONCE)
        .collect()
        .await;
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    let slowest = health.await??;

    let port = primary.port().to_string();
    for outcome in outcomes {
        let status = outcome
            .err()
            .ok_or_else(|| anyhow::anyhow!("a read succeeded with the primary stopped"))?;
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        let message = status.message();
        for leak in ["127.0.0.1", port.as_str(), "refused", "error communicating"] {
            assert!(!message.contains(leak), "{message}");
        }
        let reason = status.get_details_error_info().map(|info| info.reason);
        assert_eq!(reason.as_deref(), Some("DATABASE_UNAVAILABLE"));
    }
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    server.stop().await?;
    drop(primary);
    Ok(())
}

// ---- The server's own limits answer with an ErrorInfo ----

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
    tokio::time::sleep(Duration::from_millis(500)).await;

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
        settings.grpc.max_message_bytes = 1024;
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

    use super::support::{ADMIN, Authed, Data, WRITER, spawn_app};

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
