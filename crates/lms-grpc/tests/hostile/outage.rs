//! The services going away: a primary that turned read-only, a read flood
//! while the only database is stopped, and Redis absent when the server
//! starts.

use lms_grpc::pb::lms::v1::DeleteStudentRequest;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::support::{ADMIN, Data, READER, TestApp, WRITER, spawn_app, spawn_app_with};

/// SQLSTATE 25006: the primary's address now leads to a read-only server.
/// A write is UNAVAILABLE (retry elsewhere, later), never INTERNAL, and
/// makes the server probe the primary.
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
    let probes_before = primary_probes(&app);
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
    assert!(
        primary_probes(&app) > probes_before,
        "the read-only answer did not make the server probe the primary"
    );
    app.close().await
}

/// Probes of the server's primary since it started.
fn primary_probes(app: &TestApp) -> u64 {
    app.sources
        .status()
        .first()
        .map_or(0, |primary| primary.probes)
}

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
    lms_pg::admin::ensure_database(&primary.url("lms")?).await?;
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
    let server = crate::support::RunningServer::start(settings).await?;
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

/// Only the job queue lives in Redis: the server starts without it, the
/// domain API answers, and a run started meanwhile is planned (a worker's
/// sweeper queues its chunks once Redis is back).
#[tokio::test]
async fn without_redis_the_server_starts_and_plans_runs() -> anyhow::Result<()> {
    use lms_grpc::pb::lms::migration::v1::StartRunRequest;
    use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;

    let nothing_listens = lms_config::RedisUrl::parse("redis://127.0.0.1:1")
        .map_err(|error| anyhow::anyhow!(error))?;
    let app = spawn_app_with("hostilenoredis", Data::Empty, false, move |settings| {
        settings.redis.url = nothing_listens;
    })
    .await?;
    let mut students = StudentServiceClient::new(app.authed(Some(READER)).await?);
    let absent = students
        .get_student(lms_grpc::pb::lms::v1::GetStudentRequest {
            name: "students/1".to_owned(),
        })
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(absent, Some(Code::NotFound));

    let mut admin = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    admin
        .start_run(StartRunRequest {
            entities: vec!["organizations".into()],
            ..Default::default()
        })
        .await?;
    let planned: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM migration.chunks c JOIN migration.runs r ON r.id = c.run_id \
         WHERE r.status = 'running' AND c.state = 'queued'",
    )
    .fetch_one(&app.lms)
    .await?;
    assert!(planned > 0, "no chunk of the run waits in PostgreSQL");
    app.close().await
}
