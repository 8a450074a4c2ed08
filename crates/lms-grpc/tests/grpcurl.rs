//! The server as an operator meets it: through the real grpcurl, with no
//! proto files, only reflection. Lists the services, checks health, starts
//! a migration, watches it to the end, reads the report and a page of
//! enrollments, and is refused without a token.
//!
//! grpcurl comes from `scripts/install-tools.sh` (`make test` runs it and
//! sets GRPCURL).

mod support;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use serde_json::Value;
use support::{ADMIN, Data, READER, TestApp, spawn_app};

fn grpcurl_path() -> anyhow::Result<PathBuf> {
    let path = match std::env::var_os("GRPCURL") {
        Some(path) => PathBuf::from(path),
        None => {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/python/bin/grpcurl")
        }
    };
    anyhow::ensure!(
        path.exists(),
        "grpcurl not found at {}: run scripts/install-tools.sh (make test does) or set GRPCURL",
        path.display()
    );
    Ok(path)
}

/// Runs grpcurl against the app with `args` before the address and
/// `call` (a method, or `list`, `describe ...`) after it.
async fn grpcurl(
    app: &TestApp,
    args: &[&str],
    call: &[&str],
    timeout: Duration,
) -> anyhow::Result<Output> {
    let mut command = tokio::process::Command::new(grpcurl_path()?);
    command
        .arg("-plaintext")
        .args(args)
        .arg(app.address.to_string());
    command.args(call);
    command.kill_on_drop(true);
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .map_err(|_| {
            anyhow::anyhow!("grpcurl {args:?} {call:?} did not finish in {timeout:?}")
        })??;
    Ok(output)
}

fn stdout(output: &Output) -> anyhow::Result<String> {
    anyhow::ensure!(
        output.status.success(),
        "grpcurl failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout.clone())?)
}

/// grpcurl prints a stream as JSON objects one after another.
fn json_stream(text: &str) -> anyhow::Result<Vec<Value>> {
    Ok(serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()?)
}

fn bearer(token: &str) -> String {
    format!("authorization: Bearer {token}")
}

const QUICK: Duration = Duration::from_secs(30);

#[tokio::test]
async fn grpcurl_drives_a_migration_through_reflection() -> anyhow::Result<()> {
    let app = spawn_app("grpcurl", Data::Seeded, true).await?;

    let services = stdout(&grpcurl(&app, &[], &["list"], QUICK).await?)?;
    for service in [
        "lms.v1.StudentService",
        "lms.v1.EnrollmentService",
        "lms.migration.v1.MigrationService",
        "grpc.health.v1.Health",
    ] {
        assert!(services.lines().any(|line| line == service), "{services}");
    }
    let described = stdout(
        &grpcurl(
            &app,
            &[],
            &["describe", "lms.migration.v1.StartRunRequest"],
            QUICK,
        )
        .await?,
    )?;
    assert!(described.contains("request_id"), "{described}");

    let health = stdout(
        &grpcurl(
            &app,
            &["-d", r#"{"service": "lms.migration.v1.MigrationService"}"#],
            &["grpc.health.v1.Health/Check"],
            QUICK,
        )
        .await?,
    )?;
    assert!(health.contains("SERVING"), "{health}");

    // Without a token the migration service refuses.
    let refused = grpcurl(
        &app,
        &["-d", r#"{"request_id": "grpcurl-1"}"#],
        &["lms.migration.v1.MigrationService/StartRun"],
        QUICK,
    )
    .await?;
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Unauthenticated"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    let admin = bearer(ADMIN);
    let started = stdout(
        &grpcurl(
            &app,
            &[
                "-H",
                &admin,
                "-d",
                r#"{"request_id": "grpcurl-1", "chunk_size": 2000}"#,
            ],
            &["lms.migration.v1.MigrationService/StartRun"],
            QUICK,
        )
        .await?,
    )?;
    let run: Value = serde_json::from_str(&started)?;
    let name = run["name"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no run name in {started}"))?
        .to_owned();

    let watched = stdout(
        &grpcurl(
            &app,
            &["-H", &admin, "-d", &format!(r#"{{"name": "{name}"}}"#)],
            &["lms.migration.v1.MigrationService/WatchRun"],
            Duration::from_secs(240),
        )
        .await?,
    )?;
    let events = json_stream(&watched)?;
    assert_eq!(
        events.first().map(|event| &event["snapshot"]),
        Some(&Value::Bool(true))
    );
    let last = events
        .last()
        .ok_or_else(|| anyhow::anyhow!("WatchRun sent nothing"))?;
    assert_eq!(last["run"]["status"], "RUN_STATUS_SUCCEEDED", "{watched}");

    let report = stdout(
        &grpcurl(
            &app,
            &["-H", &admin, "-d", &format!(r#"{{"name": "{name}"}}"#)],
            &["lms.migration.v1.MigrationService/GetCoverageReport"],
            QUICK,
        )
        .await?,
    )?;
    let report: Value = serde_json::from_str(&report)?;
    let entities = report["entities"]
        .as_array()
        .ok_or_else(|| anyhow::anyhow!("no entities in the report"))?;
    assert_eq!(entities.len(), 10);
    // proto3 JSON leaves zero out: a clean run shows no `unexplained`.
    assert!(
        entities
            .iter()
            .all(|entity| entity.get("unexplained").is_none())
    );

    let page = stdout(
        &grpcurl(
            &app,
            &["-H", &bearer(READER), "-d", r#"{"page_size": 5}"#],
            &["lms.v1.EnrollmentService/ListEnrollments"],
            QUICK,
        )
        .await?,
    )?;
    let page: Value = serde_json::from_str(&page)?;
    assert_eq!(
        page["enrollments"].as_array().map(Vec::len),
        Some(5),
        "{page}"
    );
    assert!(
        page["nextPageToken"]
            .as_str()
            .is_some_and(|token| !token.is_empty())
    );

    // A reader may not start runs.
    let denied = grpcurl(
        &app,
        &["-H", &bearer(READER), "-d", "{}"],
        &["lms.migration.v1.MigrationService/StartRun"],
        QUICK,
    )
    .await?;
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("PermissionDenied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    app.close().await
}

/// grpcurl 1.8.6 asks for reflection v1alpha; newer clients ask for v1.
#[tokio::test]
async fn reflection_v1_lists_both_packages() -> anyhow::Result<()> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let app = spawn_app("grpcreflect", Data::Empty, false).await?;
    let mut client = ServerReflectionClient::new(app.channel().await?);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter([request]))
        .await?
        .into_inner();
    let response = responses
        .message()
        .await?
        .ok_or_else(|| anyhow::anyhow!("no reflection response"))?;
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        anyhow::bail!("unexpected reflection response {response:?}");
    };
    let names: Vec<String> = list
        .service
        .into_iter()
        .map(|service| service.name)
        .collect();
    assert!(
        names.iter().any(|name| name == "lms.v1.CourseService"),
        "{names:?}"
    );
    assert!(
        names
            .iter()
            .any(|name| name == "lms.migration.v1.MigrationService"),
        "{names:?}"
    );
    app.close().await
}

/// A status's details are google.rpc messages; reflection serves their
/// descriptors, so grpcurl prints them decoded instead of "not recognized".
#[tokio::test]
async fn grpcurl_prints_error_details_decoded() -> anyhow::Result<()> {
    let app = spawn_app("grpcdetails", Data::Empty, false).await?;
    let output = grpcurl(
        &app,
        &["-H", &bearer(READER), "-d", r#"{"page_size": -1}"#],
        &["lms.v1.StudentService/ListStudents"],
        QUICK,
    )
    .await?;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{printed}");
    assert!(printed.contains("InvalidArgument"), "{printed}");
    assert!(printed.contains("google.rpc.BadRequest"), "{printed}");
    assert!(printed.contains("page_size"), "{printed}");
    assert!(!printed.contains("not recognized"), "{printed}");
    app.close().await
}
