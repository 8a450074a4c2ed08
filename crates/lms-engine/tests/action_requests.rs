//! An approval, a cancel or an undo under a request id: the same request again is
//! answered with the run as it is now; the id with another request (caller,
//! run or action) is refused and does nothing; an action that was refused
//! leaves its id unused.

mod support;

use lms_engine::control::cancel_run;
use lms_engine::hold::{Approval, approve};
use lms_engine::inline::run_inline;
use lms_engine::undo::undo_run;
use lms_engine::{
    ActionRequest, ConflictPolicy, EngineError, HoldThreshold, RunOptions, RunStatus, plan_run,
    run_progress,
};
use support::school::migrated_school;
use support::{Fixture, wait_for_lock_waiters};
use uuid::Uuid;

const OPERATOR: &str = "operator";

fn request(id: &str, caller: &str) -> ActionRequest {
    ActionRequest::new(id.to_owned(), caller)
}

/// A legacy change to two journal rows, then a delta run over it, run to
/// its end; its id.
async fn succeeded_delta(fixture: &Fixture) -> anyhow::Result<Uuid> {
    fixture
        .legacy_sql("UPDATE journal SET status = 'completed' WHERE id IN (100, 101)")
        .await?;
    let report = fixture.rerun(2, ConflictPolicy::KeepLms, 2).await?;
    anyhow::ensure!(report.status == RunStatus::Succeeded, "{:?}", report.error);
    Ok(report.run_id)
}

/// A legacy change to two journal rows, then a delta run held past one
/// changed row; its id.
async fn held_delta(fixture: &Fixture) -> anyhow::Result<Uuid> {
    fixture
        .legacy_sql("UPDATE journal SET status = 'dropped' WHERE id IN (100, 101)")
        .await?;
    let options = RunOptions {
        chunk_size: 2,
        hold: Some(HoldThreshold {
            percent: 10,
            min_rows: 1,
        }),
        ..RunOptions::default()
    };
    let planned = plan_run(fixture.lms(), fixture.legacy(), &options).await?;
    run_inline(&fixture.engine, planned.run_id, 2).await?;
    let status = run_progress(fixture.lms(), planned.run_id).await?.status;
    anyhow::ensure!(status == RunStatus::Held, "the run ended {status}");
    Ok(planned.run_id)
}

/// The newest run's id.
async fn latest_run(fixture: &Fixture) -> anyhow::Result<Uuid> {
    Ok(
        sqlx::query_scalar("SELECT id FROM migration.runs ORDER BY id DESC LIMIT 1")
            .fetch_one(fixture.lms())
            .await?,
    )
}

async fn status(fixture: &Fixture, run: Uuid) -> anyhow::Result<RunStatus> {
    Ok(run_progress(fixture.lms(), run).await?.status)
}

fn is_reused<T: std::fmt::Debug>(result: &Result<T, EngineError>) -> bool {
    matches!(result, Err(EngineError::RequestIdReused { .. }))
}

#[tokio::test]
async fn an_undo_given_again_under_its_request_id_answers_with_the_undone_run() -> anyhow::Result<()>
{
    let fixture = migrated_school("actundoagain").await?;
    let run = succeeded_delta(&fixture).await?;
    undo_run(fixture.lms(), run, Some(&request("u-1", OPERATOR))).await?;

    let again = undo_run(fixture.lms(), run, Some(&request("u-1", OPERATOR))).await?;

    assert_eq!(again.status, RunStatus::Undone);
    fixture.close().await
}

#[tokio::test]
async fn an_undo_given_again_without_a_request_id_is_refused_as_undone_already()
-> anyhow::Result<()> {
    let fixture = migrated_school("actundonoid").await?;
    let run = succeeded_delta(&fixture).await?;
    undo_run(fixture.lms(), run, Some(&request("u-1", OPERATOR))).await?;

    let again = undo_run(fixture.lms(), run, None).await;

    assert!(
        matches!(&again, Err(EngineError::UndoRefused(why)) if why.contains("undone already")),
        "{again:?}"
    );
    fixture.close().await
}

#[tokio::test]
async fn an_undos_request_id_sent_by_another_caller_is_refused() -> anyhow::Result<()> {
    let fixture = migrated_school("actundocaller").await?;
    let run = succeeded_delta(&fixture).await?;
    undo_run(fixture.lms(), run, Some(&request("u-1", OPERATOR))).await?;

    let other = undo_run(fixture.lms(), run, Some(&request("u-1", "someone-else"))).await;

    assert!(is_reused(&other), "{other:?}");
    fixture.close().await
}

#[tokio::test]
async fn an_undo_refused_after_it_recorded_leaves_its_request_id_unused() -> anyhow::Result<()> {
    let fixture = migrated_school("actundorefused").await?;
    let run = succeeded_delta(&fixture).await?;
    // An LMS edit of a row the run wrote: the undo records its id, then
    // refuses over the row.
    let mark: Option<String> =
        sqlx::query_scalar("SELECT current_mark FROM course_enrollments WHERE legacy_id = 100")
            .fetch_one(fixture.lms())
            .await?;
    fixture
        .lms_sql("UPDATE course_enrollments SET current_mark = 'edited' WHERE legacy_id = 100")
        .await?;
    let refused = undo_run(fixture.lms(), run, Some(&request("u-1", OPERATOR))).await;
    assert!(
        matches!(&refused, Err(EngineError::UndoRefused(why)) if why.contains("course_enrollments")),
        "{refused:?}"
    );
    sqlx::query("UPDATE course_enrollments SET current_mark = $1 WHERE legacy_id = 100")
        .bind(mark)
        .execute(fixture.lms())
        .await?;

    let undone = undo_run(fixture.lms(), run, Some(&request("u-1", OPERATOR))).await?;

    assert_eq!(undone.status, RunStatus::Undone);
    fixture.close().await
}

#[tokio::test]
async fn an_undos_request_id_given_for_another_run_is_refused_and_undoes_nothing()
-> anyhow::Result<()> {
    let fixture = migrated_school("actundorun").await?;
    let first = succeeded_delta(&fixture).await?;
    undo_run(fixture.lms(), first, Some(&request("u-1", OPERATOR))).await?;
    let second = succeeded_delta(&fixture).await?;

    let other = undo_run(fixture.lms(), second, Some(&request("u-1", OPERATOR))).await;

    assert!(is_reused(&other), "{other:?}");
    assert_eq!(status(&fixture, second).await?, RunStatus::Succeeded);
    fixture.close().await
}

#[tokio::test]
async fn an_approval_given_again_under_its_request_id_queues_nothing_more() -> anyhow::Result<()> {
    let fixture = migrated_school("actapproveagain").await?;
    let run = held_delta(&fixture).await?;
    let first = approve(fixture.lms(), run, Some(&request("a-1", OPERATOR))).await?;
    assert!(
        matches!(&first, Approval::Approved { queued } if !queued.is_empty()),
        "{first:?}"
    );

    let again = approve(fixture.lms(), run, Some(&request("a-1", OPERATOR))).await?;

    assert_eq!(again, Approval::Replayed);
    assert_eq!(status(&fixture, run).await?, RunStatus::Running);
    fixture.close().await
}

#[tokio::test]
async fn an_approval_given_again_without_a_request_id_is_refused_as_not_held() -> anyhow::Result<()>
{
    let fixture = migrated_school("actapprovenoid").await?;
    let run = held_delta(&fixture).await?;
    approve(fixture.lms(), run, Some(&request("a-1", OPERATOR))).await?;

    let again = approve(fixture.lms(), run, None).await;

    assert!(
        matches!(again, Err(EngineError::NotHeld { .. })),
        "{again:?}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_cancel_given_again_under_its_request_id_answers_with_the_cancelled_run()
-> anyhow::Result<()> {
    let fixture = migrated_school("actcancelagain").await?;
    let run = held_delta(&fixture).await?;
    cancel_run(fixture.lms(), run, Some(&request("c-1", OPERATOR))).await?;

    let again = cancel_run(fixture.lms(), run, Some(&request("c-1", OPERATOR))).await?;

    assert_eq!(again.status, RunStatus::Cancelled);
    fixture.close().await
}

#[tokio::test]
async fn an_undos_request_id_given_to_an_approval_is_refused_and_approves_nothing()
-> anyhow::Result<()> {
    let fixture = migrated_school("actcross").await?;
    let undone = succeeded_delta(&fixture).await?;
    undo_run(fixture.lms(), undone, Some(&request("x-1", OPERATOR))).await?;
    let held = held_delta(&fixture).await?;

    let approval = approve(fixture.lms(), held, Some(&request("x-1", OPERATOR))).await;

    assert!(is_reused(&approval), "{approval:?}");
    assert_eq!(status(&fixture, held).await?, RunStatus::Held);
    fixture.close().await
}

#[tokio::test]
async fn an_id_a_racing_action_records_first_is_refused_and_approves_nothing() -> anyhow::Result<()>
{
    let fixture = migrated_school("actrace").await?;
    let first_load = latest_run(&fixture).await?;
    let held = held_delta(&fixture).await?;
    // Another action under the same id, on another run, not yet committed:
    // the approval does not see it when it looks, and meets it when it
    // records.
    let mut racing = fixture.lms().begin().await?;
    sqlx::query(
        "INSERT INTO migration.run_action_requests (request_id, run_id, request) \
         VALUES ('r-1', $1, jsonb_build_object('action', 'undo', 'caller', 'someone-else'))",
    )
    .bind(first_load)
    .execute(&mut *racing)
    .await?;
    let lms = fixture.lms().clone();
    let approval =
        tokio::spawn(async move { approve(&lms, held, Some(&request("r-1", OPERATOR))).await });
    wait_for_lock_waiters(fixture.lms(), 1, std::slice::from_ref(&approval)).await?;
    racing.commit().await?;

    let approval = approval.await?;

    assert!(is_reused(&approval), "{approval:?}");
    assert_eq!(status(&fixture, held).await?, RunStatus::Held);
    fixture.close().await
}
