//! A run's request id names one request: given again with the same
//! request it answers with the run it started; with another (another
//! method, caller or option) it is refused, and no run is planned.

mod support;

use lms_engine::control::{RetryRequest, retry_rejected};
use lms_engine::{EngineError, RunKind, RunOptions, RunRequest, plan_run};
use support::Fixture;

const CALLER: &str = "operator";

fn options() -> RunOptions {
    RunOptions {
        chunk_size: 100,
        kind: RunKind::DryRun,
        ..RunOptions::default()
    }
}

fn asked(id: &str, caller: &str, options: RunOptions) -> RunOptions {
    RunOptions {
        request: Some(RunRequest::start(id.to_owned(), caller, &options)),
        ..options
    }
}

async fn runs(fixture: &Fixture) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM migration.runs")
        .fetch_one(fixture.lms())
        .await?)
}

fn is_reused(result: &Result<lms_engine::PlannedRun, EngineError>) -> bool {
    matches!(result, Err(EngineError::RequestIdReused { .. }))
}

#[tokio::test]
async fn the_same_request_again_gets_the_run_it_started() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqsame").await?;
    let first = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", CALLER, options()),
    )
    .await?;

    let again = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", CALLER, options()),
    )
    .await?;

    assert_eq!((again.run_id, again.created), (first.run_id, false));
    fixture.close().await
}

#[tokio::test]
async fn the_id_with_another_option_is_refused_and_plans_nothing() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqoption").await?;
    plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", CALLER, options()),
    )
    .await?;
    let larger_chunks = RunOptions {
        chunk_size: 200,
        ..options()
    };

    let again = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", CALLER, larger_chunks),
    )
    .await;

    assert!(is_reused(&again), "{again:?}");
    assert_eq!(runs(&fixture).await?, 1);
    fixture.close().await
}

#[tokio::test]
async fn the_id_from_another_caller_is_refused() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqcaller").await?;
    plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", CALLER, options()),
    )
    .await?;

    let again = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", "lmsctl", options()),
    )
    .await;

    assert!(is_reused(&again), "{again:?}");
    fixture.close().await
}

#[tokio::test]
async fn a_start_runs_id_given_to_a_retry_is_refused() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqretry").await?;
    plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", CALLER, options()),
    )
    .await?;
    let queue = lms_engine::setup::connect_queue(&fixture.settings).await?;

    let retry = retry_rejected(
        fixture.lms(),
        fixture.legacy(),
        &queue,
        RetryRequest {
            only: &[],
            chunk_size: 100,
            max_chunks: lms_config::MigrationSettings::DEFAULT_MAX_CHUNKS,
            request_id: Some("r-1".to_owned()),
            caller: CALLER,
        },
    )
    .await;

    assert!(is_reused(&retry), "{retry:?}");
    fixture.close().await
}

#[tokio::test]
async fn a_run_planned_before_requests_were_kept_answers_its_id_as_before() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqolder").await?;
    let first = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", CALLER, options()),
    )
    .await?;
    sqlx::query("UPDATE migration.runs SET request = NULL")
        .execute(fixture.lms())
        .await?;
    let other = RunOptions {
        chunk_size: 200,
        ..options()
    };

    let again = plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", CALLER, other),
    )
    .await?;

    assert_eq!(again.run_id, first.run_id);
    fixture.close().await
}
