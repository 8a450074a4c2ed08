//! The hold on mass changes as operators meet it: `migrate run --wait`
//! exits 4 with the preview, `status` shows it, `approve` lets the run
//! apply, and the threshold comes from the config unless the run sets one.

mod support;

use lms_engine::run_worker;
use lms_engine::setup::{connect_engine, connect_queue, worker_config};
use support::{Cli, text};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// `lmsctl migrate run --wait`'s exit code for a held run.
const HELD: i32 = 4;

/// One legacy person renamed: one update in one table.
const ONE_CHANGE: &str = "UPDATE persons SET last_name = last_name || '-renamed' WHERE id = (SELECT min(id) FROM persons)";

/// A small legacy database, migrated once, then changed in one row.
async fn migrated_with_a_change(purpose: &str, seed: &str) -> anyhow::Result<Cli> {
    let cli = Cli::new(purpose).await?;
    for args in [
        &["legacy", "seed", "--scale", "small", "--seed", seed][..],
        &["db", "up"],
        &["migrate", "run", "--inline", "--chunk-size", "2000"],
    ] {
        cli.run_ok(args).await?;
    }
    let legacy = lms_pg::connect(cli.legacy.url(), &lms_pg::PoolConfig::small("test")).await?;
    sqlx::raw_sql(ONE_CHANGE).execute(&legacy).await?;
    legacy.close().await;
    Ok(cli)
}

/// A worker in this process, serving the queue the CLI pushes to.
async fn worker(
    cli: &Cli,
) -> anyhow::Result<(oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>)> {
    let settings = cli.settings()?;
    let engine = connect_engine(&settings, "hold-test-worker".to_owned(), 2).await?;
    let queue = connect_queue(&settings).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        run_worker(
            engine,
            queue,
            worker_config(&settings, "hold-test-worker".to_owned()),
            async {
                let _ = stopped.await;
            },
        )
        .await?;
        anyhow::Ok(())
    });
    Ok((stop, handle))
}

/// The run id of "Started run <id> (...)".
fn started_run(stdout: &str) -> anyhow::Result<String> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("Started run "))
        .and_then(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no run id in {stdout}"))
}

const PAST_ANY_CHANGE: [&str; 4] = ["--hold-percent", "0", "--hold-min-rows", "0"];

#[tokio::test]
async fn run_wait_exits_4_on_a_held_run_and_prints_its_preview() -> anyhow::Result<()> {
    let cli = migrated_with_a_change("cliholdwait", "11").await?;
    let (stop, handle) = worker(&cli).await?;

    let mut args = vec!["migrate", "run", "--wait"];
    args.extend(PAST_ANY_CHANGE);
    let held = cli.run(&args).await?;

    let stdout = text(&held.stdout);
    assert_eq!(
        held.status.code(),
        Some(HELD),
        "{stdout}{}",
        text(&held.stderr)
    );
    assert!(stdout.contains("Hold preview"), "{stdout}");
    let persons = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("persons") && line.contains("legacy rows"))
        .unwrap_or_default();
    assert!(persons.contains("1 updates"), "{stdout}");
    assert!(persons.contains("HOLDS THE RUN"), "{stdout}");
    let status = cli.run_ok(&["migrate", "status"]).await?;
    assert!(
        text(&status.stdout).contains("is held"),
        "{}",
        text(&status.stdout)
    );
    let json = cli
        .run_ok(&["migrate", "report", "--format", "json"])
        .await?;
    let report: serde_json::Value = serde_json::from_slice(&json.stdout)?;
    assert_eq!(report["status"], "held");
    let tables = report["hold"]["tables"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let persons = tables.iter().find(|table| table["entity"] == "persons");
    assert_eq!(
        persons.map(|table| table["updates"].clone()),
        Some(1.into()),
        "{report}"
    );
    let _ = stop.send(());
    handle.await??;
    cli.close().await
}

#[tokio::test]
async fn approve_lets_a_held_run_apply() -> anyhow::Result<()> {
    let cli = migrated_with_a_change("cliholdapprove", "12").await?;
    let (stop, handle) = worker(&cli).await?;
    let mut args = vec!["migrate", "run", "--wait"];
    args.extend(PAST_ANY_CHANGE);
    let held = cli.run(&args).await?;
    assert_eq!(held.status.code(), Some(HELD), "{}", text(&held.stderr));
    let run_id = started_run(&text(&held.stdout))?;

    let approved = cli.run(&["migrate", "approve", &run_id, "--wait"]).await?;

    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}{}",
        text(&approved.stdout),
        text(&approved.stderr)
    );
    let lms = lms_pg::connect(cli.lms.url(), &lms_pg::PoolConfig::small("test")).await?;
    let renamed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM persons WHERE last_name LIKE '%-renamed'")
            .fetch_one(&lms)
            .await?;
    lms.close().await;
    assert_eq!(renamed, 1);
    let _ = stop.send(());
    handle.await??;
    cli.close().await
}

/// `migration.hold_percent` and `hold_min_rows` as the environment sets them.
const CONFIG_PAST_ANY_CHANGE: [(&str, &str); 2] = [
    ("LMS_MIGRATION__HOLD_PERCENT", "0"),
    ("LMS_MIGRATION__HOLD_MIN_ROWS", "0"),
];

#[tokio::test]
async fn the_configured_threshold_holds_a_run() -> anyhow::Result<()> {
    let cli = migrated_with_a_change("cliholdconfig", "13").await?;

    let held = cli
        .run_with(
            &["migrate", "run", "--inline"],
            &CONFIG_PAST_ANY_CHANGE,
            None,
        )
        .await?;

    assert_eq!(held.status.code(), Some(HELD), "{}", text(&held.stdout));
    cli.close().await
}

#[tokio::test]
async fn approve_inline_runs_the_approved_chunks_without_workers() -> anyhow::Result<()> {
    let cli = migrated_with_a_change("cliholdinline", "15").await?;
    let mut args = vec!["migrate", "run", "--inline"];
    args.extend(PAST_ANY_CHANGE);
    let held = cli.run(&args).await?;
    assert_eq!(held.status.code(), Some(HELD), "{}", text(&held.stdout));
    let run_id = started_run(&text(&held.stdout))?;

    let approved = cli
        .run(&["migrate", "approve", &run_id, "--inline"])
        .await?;

    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}{}",
        text(&approved.stdout),
        text(&approved.stderr)
    );
    assert!(
        text(&approved.stdout).contains("succeeded"),
        "{}",
        text(&approved.stdout)
    );
    cli.close().await
}

#[tokio::test]
async fn approve_given_again_with_its_request_id_says_it_was_approved_already() -> anyhow::Result<()>
{
    let cli = migrated_with_a_change("cliholdagain", "16").await?;
    let mut args = vec!["migrate", "run", "--inline"];
    args.extend(PAST_ANY_CHANGE);
    let held = cli.run(&args).await?;
    assert_eq!(held.status.code(), Some(HELD), "{}", text(&held.stdout));
    let run_id = started_run(&text(&held.stdout))?;
    let approve = [
        "migrate",
        "approve",
        &run_id,
        "--inline",
        "--request-id",
        "approve-1",
    ];
    cli.run_ok(&approve).await?;

    let again = cli.run_ok(&approve).await?;

    assert!(
        text(&again.stdout).contains("approved already under this request id"),
        "{}",
        text(&again.stdout)
    );
    cli.close().await
}

#[tokio::test]
async fn cancel_given_again_with_its_request_id_says_the_run_is_cancelled() -> anyhow::Result<()> {
    let cli = migrated_with_a_change("cliholdcancel", "17").await?;
    let mut args = vec!["migrate", "run", "--inline"];
    args.extend(PAST_ANY_CHANGE);
    let held = cli.run(&args).await?;
    assert_eq!(held.status.code(), Some(HELD), "{}", text(&held.stdout));
    let run_id = started_run(&text(&held.stdout))?;
    let cancel = [
        "migrate",
        "cancel",
        "--run",
        &run_id,
        "--request-id",
        "cancel-1",
    ];
    cli.run_ok(&cancel).await?;

    let again = cli.run_ok(&cancel).await?;

    assert!(
        text(&again.stdout).contains(&format!("Run {run_id} is cancelled")),
        "{}",
        text(&again.stdout)
    );
    cli.close().await
}

#[tokio::test]
async fn a_per_run_threshold_overrides_the_configured_one() -> anyhow::Result<()> {
    let cli = migrated_with_a_change("cliholdoverride", "14").await?;

    let ran = cli
        .run_with(
            &["migrate", "run", "--inline", "--hold-min-rows", "1"],
            &CONFIG_PAST_ANY_CHANGE,
            None,
        )
        .await?;

    assert_eq!(
        ran.status.code(),
        Some(0),
        "{}{}",
        text(&ran.stdout),
        text(&ran.stderr)
    );
    cli.close().await
}
