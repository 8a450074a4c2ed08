//! The server's Prometheus endpoint: requests by method and code, where
//! reads come from, and the pools of every endpoint.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use lms_data::{Database, schema};
use lms_grpc::auth::hash_token;
use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use lms_testkit::{Scrape, TestDatabase, TestRedis, free_local_address};
use tokio::process::Command;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

const TOKEN: &str = "metrics-test-reader";

async fn connect(address: std::net::SocketAddr) -> anyhow::Result<Channel> {
    let started = Instant::now();
    loop {
        match Endpoint::from_shared(format!("http://{address}"))?
            .connect()
            .await
        {
            Ok(channel) => return Ok(channel),
            Err(error) if started.elapsed() > Duration::from_secs(30) => return Err(error.into()),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

fn with_token<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}

#[tokio::test]
async fn metrics_count_requests_by_method_and_code() -> anyhow::Result<()> {
    let lms_db = TestDatabase::create("srvmetricslms").await?;
    let legacy_db = TestDatabase::create("srvmetricsedu").await?;
    let redis = TestRedis::new("srvmetrics");
    let db = Database::connect(lms_db.url(), &lms_pg::PoolConfig::small("metrics-test")).await?;
    schema::upgrade(&db).await?;
    db.pool().close().await;
    let legacy =
        lms_pg::connect(legacy_db.url(), &lms_pg::PoolConfig::small("metrics-test")).await?;
    sqlx::raw_sql(lms_legacy::LEGACY_SCHEMA_SQL)
        .execute(&legacy)
        .await?;
    legacy.close().await;

    let grpc = free_local_address()?;
    let metrics = free_local_address()?;
    let mut config = tempfile::NamedTempFile::with_suffix(".toml")?;
    write!(
        config,
        "[[auth.tokens]]\nname = \"reader\"\nsha256 = \"{}\"\nscopes = [\"lms.read\"]\n",
        hash_token(TOKEN)
    )?;
    let mut server = Command::new(env!("CARGO_BIN_EXE_lms-server"))
        .arg("--config")
        .arg(config.path())
        .env_remove("LMS_CONFIG")
        .env("LMS_DATABASE__URL", lms_db.url().expose())
        .env("LMS_LEGACY__URL", legacy_db.url().expose())
        .env("LMS_REDIS__URL", redis.url())
        .env("LMS_REDIS__NAMESPACE", redis.namespace())
        .env("LMS_GRPC__LISTEN", grpc.to_string())
        .env("LMS_METRICS__LISTEN", metrics.to_string())
        .env("LMS_METRICS__REFRESH_INTERVAL", "100ms")
        .env("LMS_LOG__FILTER", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;

    let mut students = StudentServiceClient::new(connect(grpc).await?);
    let missing = students
        .get_student(with_token(
            pb::GetStudentRequest {
                name: "students/999999".into(),
            },
            TOKEN,
        )?)
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(missing, Some(Code::NotFound));
    for _ in 0..3 {
        students
            .list_students(with_token(pb::ListStudentsRequest::default(), TOKEN)?)
            .await?;
    }
    let refused = students
        .list_students(pb::ListStudentsRequest::default())
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(refused, Some(Code::Unauthenticated));

    let scrape = Scrape::fetch(metrics).await?;
    let list = "lms.v1.StudentService/ListStudents";
    let get = "lms.v1.StudentService/GetStudent";
    assert_eq!(
        scrape.sum(
            "lms_grpc_requests_total",
            &[("method", list), ("code", "OK")]
        ),
        3.0,
        "{scrape:?}"
    );
    assert_eq!(
        scrape.sum(
            "lms_grpc_requests_total",
            &[("method", list), ("code", "UNAUTHENTICATED")]
        ),
        1.0
    );
    assert_eq!(
        scrape.sum(
            "lms_grpc_requests_total",
            &[("method", get), ("code", "NOT_FOUND")]
        ),
        1.0
    );
    assert_eq!(
        scrape.sum(
            "lms_grpc_request_duration_seconds_count",
            &[("method", list), ("code", "OK")]
        ),
        3.0
    );
    // Reads come from the primary, and every endpoint's pool is reported.
    assert_eq!(scrape.sum("lms_data_source", &[("source", "primary")]), 1.0);
    assert_eq!(scrape.sum("lms_data_source", &[("source", "legacy")]), 0.0);
    for endpoint in ["primary", "legacy"] {
        assert!(
            scrape
                .find("lms_db_pool_connections", &[("endpoint", endpoint)])
                .next()
                .is_some(),
            "no pool gauge for {endpoint}: {scrape:?}"
        );
    }
    // The run gauges come from a query the refresh bounds in time; on a
    // slow machine the first may miss, and a later one records them.
    let started = Instant::now();
    while !Scrape::fetch(metrics)
        .await?
        .has("lms_migration_run_active")
    {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(30),
            "no run gauges after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    server.kill().await?;
    redis.clean().await?;
    lms_db.drop_now().await?;
    legacy_db.drop_now().await
}
