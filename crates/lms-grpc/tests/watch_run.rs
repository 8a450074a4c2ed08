//! `WatchRun`'s limits over real gRPC: a cap on watchers
//! (`grpc.max_run_watchers`), a maximum stream age
//! (`grpc.max_run_watch_age`), and one LISTEN connection however many
//! watch. No worker runs, so the run started here stays running and its
//! streams stay open.

mod support;

use std::time::{Duration, Instant};

use lms_grpc::pb::lms::migration::v1 as pb;
use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
use support::{ADMIN, Authed, Data, TestApp, spawn_app_with};
use tonic::Code;
use tonic::codec::Streaming;
use tonic_types::StatusExt;

type Client = MigrationServiceClient<Authed>;

/// A run that stays running: planned and queued, with no worker.
async fn start_running_run(client: &mut Client) -> anyhow::Result<String> {
    let run = client
        .start_run(pb::StartRunRequest {
            entities: vec!["organizations".into()],
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(run.name)
}

/// Opens a watcher and reads its snapshot.
async fn watch(client: &mut Client, name: &str) -> Result<Streaming<pb::RunEvent>, tonic::Status> {
    let mut stream = client
        .watch_run(pb::WatchRunRequest {
            name: name.to_owned(),
        })
        .await?
        .into_inner();
    let snapshot = stream.message().await?;
    assert!(snapshot.is_some_and(|event| event.snapshot));
    Ok(stream)
}

fn reason(status: &tonic::Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// Backends of the test's LMS database whose last statement was LISTEN.
async fn listening_backends(app: &TestApp) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(&app.lms)
    .await?)
}

#[tokio::test]
async fn a_watcher_past_the_cap_is_resource_exhausted() -> anyhow::Result<()> {
    let app = spawn_app_with("watchcap", Data::Seeded, false, |settings| {
        settings.grpc.max_run_watchers = 2;
    })
    .await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let name = start_running_run(&mut client).await?;
    let _first = watch(&mut client, &name).await?;
    let _second = watch(&mut client, &name).await?;
    let refused = watch(&mut client, &name)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a third watcher was served"))?;
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert_eq!(reason(&refused).as_deref(), Some("TOO_MANY_WATCHERS"));
    assert!(refused.message().contains("grpc.max_run_watchers"));
    app.close().await
}

#[tokio::test]
async fn a_closed_watcher_gives_its_slot_back() -> anyhow::Result<()> {
    let app = spawn_app_with("watchslot", Data::Seeded, false, |settings| {
        settings.grpc.max_run_watchers = 1;
    })
    .await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let name = start_running_run(&mut client).await?;
    drop(watch(&mut client, &name).await?);
    // The server notices the reset stream shortly after.
    let started = Instant::now();
    let mut answer = watch(&mut client, &name).await;
    while let Err(status) = &answer {
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "the slot was not given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        answer = watch(&mut client, &name).await;
    }
    app.close().await
}

#[tokio::test]
async fn a_stream_past_its_maximum_age_ends_with_unavailable() -> anyhow::Result<()> {
    let max_age = Duration::from_secs(1);
    let app = spawn_app_with("watchage", Data::Seeded, false, |settings| {
        settings.grpc.max_run_watch_age = max_age;
    })
    .await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let name = start_running_run(&mut client).await?;
    let started = Instant::now();
    let mut stream = watch(&mut client, &name).await?;
    let ended = tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await?
        .err()
        .ok_or_else(|| anyhow::anyhow!("the stream sent an event instead of ending"))?;
    assert!(started.elapsed() >= max_age);
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    assert_eq!(reason(&ended).as_deref(), Some("STREAM_MAX_AGE"));
    assert!(ended.message().contains("watch the run again"), "{ended:?}");
    // Watching again works, with a new snapshot.
    watch(&mut client, &name).await?;
    app.close().await
}

#[tokio::test]
async fn watchers_share_one_listen_connection() -> anyhow::Result<()> {
    const WATCHERS: usize = 10;
    let app = spawn_app_with("watchshare", Data::Seeded, false, |_| {}).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let name = start_running_run(&mut client).await?;
    let mut streams = Vec::new();
    for _ in 0..WATCHERS {
        streams.push(watch(&mut client, &name).await?);
    }
    // The listener connects in the background: wait for it, bounded.
    let started = Instant::now();
    while listening_backends(&app).await? == 0 && started.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(listening_backends(&app).await?, 1);
    drop(streams);
    app.close().await
}

/// Waits (bounded) until `count` backends listen; how many do.
async fn wait_for_listening(app: &TestApp, count: i64) -> anyhow::Result<i64> {
    let started = Instant::now();
    loop {
        let listening = listening_backends(app).await?;
        if listening == count || started.elapsed() > Duration::from_secs(10) {
            return Ok(listening);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_listen_connection_is_given_back_when_nobody_watches() -> anyhow::Result<()> {
    let app = spawn_app_with("watchidle", Data::Seeded, false, |_| {}).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let name = start_running_run(&mut client).await?;
    let stream = watch(&mut client, &name).await?;
    assert_eq!(wait_for_listening(&app, 1).await?, 1);
    drop(stream);
    assert_eq!(wait_for_listening(&app, 0).await?, 0);
    app.close().await
}

/// The pid of the backend whose last statement was LISTEN, if one.
async fn listening_pid(app: &TestApp) -> anyhow::Result<Option<i32>> {
    Ok(sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE datname = current_database() AND query ILIKE 'LISTEN%'",
    )
    .fetch_optional(&app.lms)
    .await?)
}

#[tokio::test]
async fn a_killed_listen_connection_is_made_again() -> anyhow::Result<()> {
    let app = spawn_app_with("watchrelisten", Data::Seeded, false, |_| {}).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    let name = start_running_run(&mut client).await?;
    let _stream = watch(&mut client, &name).await?;
    assert_eq!(wait_for_listening(&app, 1).await?, 1);
    let killed = listening_pid(&app)
        .await?
        .ok_or_else(|| anyhow::anyhow!("nothing listens"))?;
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(killed)
        .execute(&app.lms)
        .await?;
    let started = Instant::now();
    let mut listener = Some(killed);
    while listener == Some(killed) || listener.is_none() {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "nothing listens again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        listener = listening_pid(&app).await?;
    }
    app.close().await
}
