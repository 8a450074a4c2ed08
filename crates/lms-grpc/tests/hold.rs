//! The hold on mass changes over gRPC, with a worker running the chunks:
//! a held run's preview on `Run.hold` (GetRun, WatchRun), StartRun refused
//! while it is held, ApproveRun and its audit event, and a per-run
//! threshold over the server's.

mod support;

use std::time::Duration;

use lms_grpc::pb::lms::migration::v1 as pb;
use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
use support::{ADMIN, Authed, Data, TestApp, spawn_app, spawn_app_with};
use tonic::Code;

type Client = MigrationServiceClient<Authed>;

/// One legacy person renamed: one update in one table.
const ONE_CHANGE: &str = "UPDATE persons SET last_name = last_name || '-renamed' WHERE id = (SELECT min(id) FROM persons)";

/// A delta run held past any change at all.
fn held_past_any_change() -> pb::StartRunRequest {
    pb::StartRunRequest {
        chunk_size: 2_000,
        hold_percent: Some(0),
        hold_min_rows: Some(0),
        ..Default::default()
    }
}

async fn migrated_with_a_change(purpose: &str) -> anyhow::Result<(TestApp, Client)> {
    let app = spawn_app(purpose, Data::Migrated, true).await?;
    sqlx::raw_sql(ONE_CHANGE).execute(&app.legacy).await?;
    let client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);
    Ok((app, client))
}

/// Polls GetRun until the run leaves RUNNING.
async fn settled(client: &mut Client, name: &str) -> anyhow::Result<pb::Run> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let run = client
            .get_run(pb::GetRunRequest {
                name: name.to_owned(),
            })
            .await?
            .into_inner();
        if run.status() != pb::RunStatus::Running {
            return Ok(run);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "run {name} still running"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn persons(run: &pb::Run) -> Option<&pb::TablePreview> {
    run.hold
        .as_ref()
        .and_then(|hold| hold.tables.iter().find(|table| table.entity == "persons"))
}

#[tokio::test]
async fn a_held_run_shows_its_preview_on_watch_run() -> anyhow::Result<()> {
    let (app, mut client) = migrated_with_a_change("grpcholdwatch").await?;
    let run = client.start_run(held_past_any_change()).await?.into_inner();

    let mut stream = client
        .watch_run(pb::WatchRunRequest {
            name: run.name.clone(),
        })
        .await?
        .into_inner();
    let held = tokio::time::timeout(Duration::from_secs(240), async {
        while let Some(event) = stream.message().await? {
            if let Some(run) = event.run.filter(|run| run.status() == pb::RunStatus::Held) {
                return anyhow::Ok(run);
            }
        }
        anyhow::bail!("the stream ended before the run was held")
    })
    .await??;

    let table = persons(&held).ok_or_else(|| anyhow::anyhow!("no preview: {held:?}"))?;
    assert_eq!(
        (table.creates, table.updates, table.deletes, table.threshold),
        (0, 1, 0, 0)
    );
    assert!(table.exceeds);
    app.close().await
}

#[tokio::test]
async fn start_run_is_refused_while_a_run_is_held() -> anyhow::Result<()> {
    let (app, mut client) = migrated_with_a_change("grpcholdblocks").await?;
    let run = client.start_run(held_past_any_change()).await?.into_inner();
    assert_eq!(
        settled(&mut client, &run.name).await?.status(),
        pb::RunStatus::Held
    );

    let refused = client
        .start_run(pb::StartRunRequest {
            no_hold: true,
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a second run started beside a held one"))?;

    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(
        refused
            .message()
            .contains(run.name.trim_start_matches("runs/")),
        "{}",
        refused.message()
    );
    app.close().await
}

#[tokio::test]
async fn approve_run_applies_the_held_run_and_is_audited() -> anyhow::Result<()> {
    let (app, mut client) = migrated_with_a_change("grpcholdapprove").await?;
    let run = client.start_run(held_past_any_change()).await?.into_inner();
    assert_eq!(
        settled(&mut client, &run.name).await?.status(),
        pb::RunStatus::Held
    );

    let approved = client
        .approve_run(pb::ApproveRunRequest {
            name: run.name.clone(),
            ..Default::default()
        })
        .await?
        .into_inner();

    assert_eq!(approved.status(), pb::RunStatus::Running);
    let ended = settled(&mut client, &run.name).await?;
    assert_eq!(ended.status(), pb::RunStatus::Succeeded, "{}", ended.error);
    let renamed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM persons WHERE last_name LIKE '%-renamed'")
            .fetch_one(&app.lms)
            .await?;
    assert_eq!(renamed, 1);
    let audit = client
        .list_audit_events(pb::ListAuditEventsRequest {
            method: "/lms.migration.v1.MigrationService/ApproveRun".to_owned(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let seen: Vec<(&str, &str, i32)> = audit
        .audit_events
        .iter()
        .map(|event| (event.actor.as_str(), event.resource.as_str(), event.code))
        .collect();
    assert_eq!(seen, [("admin", run.name.as_str(), 0)]);
    app.close().await
}

#[tokio::test]
async fn approve_run_given_again_under_its_request_id_answers_with_the_run() -> anyhow::Result<()> {
    let (app, mut client) = migrated_with_a_change("grpcholdagain").await?;
    let run = client.start_run(held_past_any_change()).await?.into_inner();
    settled(&mut client, &run.name).await?;
    let approval = pb::ApproveRunRequest {
        name: run.name.clone(),
        request_id: "approve-once".into(),
    };
    client.approve_run(approval.clone()).await?;
    settled(&mut client, &run.name).await?;

    let again = client.approve_run(approval).await?.into_inner();

    assert_eq!(again.status(), pb::RunStatus::Succeeded);
    app.close().await
}

#[tokio::test]
async fn cancel_run_given_again_under_its_request_id_answers_with_the_cancelled_run()
-> anyhow::Result<()> {
    let (app, mut client) = migrated_with_a_change("grpcholdcancel").await?;
    let run = client.start_run(held_past_any_change()).await?.into_inner();
    settled(&mut client, &run.name).await?;
    let cancel = pb::CancelRunRequest {
        name: run.name.clone(),
        request_id: "cancel-once".into(),
    };
    client.cancel_run(cancel.clone()).await?;

    let again = client.cancel_run(cancel).await?.into_inner();

    assert_eq!(again.status(), pb::RunStatus::Cancelled);
    app.close().await
}

#[tokio::test]
async fn undo_run_under_an_approvals_request_id_is_an_invalid_argument() -> anyhow::Result<()> {
    let (app, mut client) = migrated_with_a_change("grpcholdreused").await?;
    let run = client.start_run(held_past_any_change()).await?.into_inner();
    settled(&mut client, &run.name).await?;
    client
        .approve_run(pb::ApproveRunRequest {
            name: run.name.clone(),
            request_id: "shared".into(),
        })
        .await?;
    settled(&mut client, &run.name).await?;

    let undo = client
        .undo_run(pb::UndoRunRequest {
            name: run.name.clone(),
            request_id: "shared".into(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an undo went ahead under an approval's request id"))?;

    assert_eq!(undo.code(), Code::InvalidArgument, "{undo:?}");
    assert!(
        undo.message().starts_with("request_id:"),
        "{}",
        undo.message()
    );
    app.close().await
}

#[tokio::test]
async fn approve_run_of_a_run_not_held_is_a_failed_precondition() -> anyhow::Result<()> {
    let (app, mut client) = migrated_with_a_change("grpcholdnotheld").await?;
    let run = client
        .start_run(pb::StartRunRequest {
            no_hold: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(
        settled(&mut client, &run.name).await?.status(),
        pb::RunStatus::Succeeded
    );

    let refused = client
        .approve_run(pb::ApproveRunRequest {
            name: run.name.clone(),
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a finished run was approved"))?;

    assert_eq!(refused.code(), Code::FailedPrecondition);
    app.close().await
}

#[tokio::test]
async fn a_per_run_threshold_overrides_the_servers() -> anyhow::Result<()> {
    let app = spawn_app_with("grpcholdoverride", Data::Migrated, true, |settings| {
        settings.migration.hold_percent = 0;
        settings.migration.hold_min_rows = 0;
    })
    .await?;
    sqlx::raw_sql(ONE_CHANGE).execute(&app.legacy).await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);

    let run = client
        .start_run(pb::StartRunRequest {
            hold_min_rows: Some(1),
            ..Default::default()
        })
        .await?
        .into_inner();

    let ended = settled(&mut client, &run.name).await?;
    assert_eq!(ended.status(), pb::RunStatus::Succeeded, "{}", ended.error);
    let table = persons(&ended).ok_or_else(|| anyhow::anyhow!("no preview: {ended:?}"))?;
    assert_eq!(
        (table.updates, table.threshold, table.exceeds),
        (1, 1, false)
    );
    app.close().await
}
