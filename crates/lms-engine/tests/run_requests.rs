//! A run's request id names one request: given again with the same
//! request it answers with the run it started; with another (another
//! method, caller or option) it is refused, and no run is planned.

mod support;

use lms_engine::control::{RetryRequest, retry_rejected};
use lms_engine::{AskedRun, EngineError, RunKind, RunOptions, RunRequest, plan_run};
use support::Fixture;

const CALLER: &str = "operator";

fn options() -> RunOptions {
    RunOptions {
        chunk_size: 100,
        kind: RunKind::DryRun,
        ..RunOptions::default()
    }
}

/// `options` asked for under `id` by `caller`, its chunk size given.
fn asked(id: &str, caller: &str, options: RunOptions) -> RunOptions {
    let asked = AskedRun {
        entities: &options.entities,
        chunk_size: Some(options.chunk_size),
        dry_run: options.kind == RunKind::DryRun,
        on_conflict: options.on_conflict,
        hold_percent: options.hold.map(|hold| hold.percent),
        hold_min_rows: options.hold.map(|hold| hold.min_rows),
        no_hold: options.hold.is_none(),
    };
    RunOptions {
        request: Some(RunRequest::start(id.to_owned(), caller, &asked)),
        ..options
    }
}

/// Plans `options` as asked under id `r-1` by `caller`.
async fn plan(
    fixture: &Fixture,
    caller: &str,
    options: RunOptions,
) -> Result<lms_engine::PlannedRun, EngineError> {
    plan_run(
        fixture.lms(),
        fixture.legacy(),
        &asked("r-1", caller, options),
    )
    .await
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
    let first = plan(&fixture, CALLER, options()).await?;

    let again = plan(&fixture, CALLER, options()).await?;

    assert_eq!((again.run_id, again.created), (first.run_id, false));
    fixture.close().await
}

#[tokio::test]
async fn the_id_with_another_option_is_refused_and_plans_nothing() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqoption").await?;
    plan(&fixture, CALLER, options()).await?;
    let larger_chunks = RunOptions {
        chunk_size: 200,
        ..options()
    };

    let again = plan(&fixture, CALLER, larger_chunks).await;

    assert!(is_reused(&again), "{again:?}");
    assert_eq!(runs(&fixture).await?, 1);
    fixture.close().await
}

#[tokio::test]
async fn the_id_from_another_caller_is_refused() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqcaller").await?;
    plan(&fixture, CALLER, options()).await?;

    let again = plan(&fixture, "lmsctl", options()).await;

    assert!(is_reused(&again), "{again:?}");
    fixture.close().await
}

#[tokio::test]
async fn a_start_runs_id_given_to_a_retry_is_refused() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqretry").await?;
    plan(&fixture, CALLER, options()).await?;
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
    let first = plan(&fixture, CALLER, options()).await?;
    sqlx::query("UPDATE migration.runs SET request = NULL")
        .execute(fixture.lms())
        .await?;
    let other = RunOptions {
        chunk_size: 200,
        ..options()
    };

    let again = plan(&fixture, CALLER, other).await?;

    assert_eq!(again.run_id, first.run_id);
    fixture.close().await
}

/// Two requests with one id planned at the same moment: the run written
/// first is the id's, and the other request is refused once it commits.
#[tokio::test]
async fn two_requests_with_one_id_at_once_give_one_run_and_one_refusal() -> anyhow::Result<()> {
    let fixture = Fixture::empty_legacy("reqrace").await?;
    // Reads pass, inserts wait: both plans get as far as writing their run.
    let mut lock = fixture.lms().begin().await?;
    sqlx::query("LOCK TABLE migration.runs IN EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await?;
    let plans = [
        asked("r-1", CALLER, options()),
        asked(
            "r-1",
            CALLER,
            RunOptions {
                chunk_size: 200,
                ..options()
            },
        ),
    ]
    .map(|options| {
        let (lms, legacy) = (fixture.lms().clone(), fixture.legacy().clone());
        tokio::spawn(async move { plan_run(&lms, &legacy, &options).await })
    });
    support::wait_for_lock_waiters(fixture.lms(), 2, &plans).await?;

    lock.rollback().await?;
    let mut results = Vec::new();
    for plan in plans {
        results.push(plan.await?);
    }

    let created = results
        .iter()
        .filter(|result| matches!(result, Ok(run) if run.created))
        .count();
    let refused = results.iter().filter(|result| is_reused(result)).count();
    assert_eq!((created, refused), (1, 1), "{results:?}");
    assert_eq!(runs(&fixture).await?, 1);
    fixture.close().await
}
