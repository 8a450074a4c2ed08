//! Runs listed a page at a time, newest first, each as `run_progress`
//! reads it alone.

mod support;

use lms_engine::control::list_runs;
use lms_engine::progress_view::{run_progress, runs_progress};
use lms_engine::{ConflictPolicy, EngineError};
use support::school::migrated_school;
use support::{Fixture, wait_for_lock_waiters};
use uuid::Uuid;

/// Three finished runs over the school, oldest first: its first load,
/// then re-runs in chunks of 1 and of 3, so that each run's steps count
/// other chunks.
async fn three_runs(fixture: &Fixture) -> anyhow::Result<Vec<Uuid>> {
    let first: Uuid = sqlx::query_scalar("SELECT id FROM migration.runs ORDER BY id DESC LIMIT 1")
        .fetch_one(fixture.lms())
        .await?;
    let mut ids = vec![first];
    for chunk_size in [1, 3] {
        let report = fixture
            .rerun(chunk_size, ConflictPolicy::KeepLms, 2)
            .await?;
        ids.push(report.run_id);
    }
    Ok(ids)
}

#[tokio::test]
async fn a_page_of_runs_is_each_runs_own_progress_newest_first() -> anyhow::Result<()> {
    let fixture = migrated_school("listpage").await?;
    let ids = three_runs(&fixture).await?;

    let (page, next) = list_runs(fixture.lms(), 2, None).await?;

    let mut expected = Vec::new();
    for id in [ids[2], ids[1]] {
        expected.push(run_progress(fixture.lms(), id).await?);
    }
    assert_eq!(page, expected);
    assert_eq!(next, Some(ids[1]));
    fixture.close().await
}

#[tokio::test]
async fn the_last_page_holds_the_oldest_run_and_no_cursor() -> anyhow::Result<()> {
    let fixture = migrated_school("listlast").await?;
    let ids = three_runs(&fixture).await?;

    let (page, next) = list_runs(fixture.lms(), 2, Some(ids[1])).await?;

    assert_eq!(page, vec![run_progress(fixture.lms(), ids[0]).await?]);
    assert_eq!(next, None);
    fixture.close().await
}

#[tokio::test]
async fn progress_of_several_runs_names_one_that_does_not_exist() -> anyhow::Result<()> {
    let fixture = migrated_school("listunknown").await?;
    let ids = three_runs(&fixture).await?;
    let unknown = Uuid::now_v7();

    let read = runs_progress(fixture.lms(), &[ids[0], unknown]).await;

    assert!(
        matches!(read, Err(EngineError::UnknownRun(id)) if id == unknown),
        "{read:?}"
    );
    fixture.close().await
}

#[tokio::test]
async fn a_runs_status_and_its_steps_are_read_as_of_one_moment() -> anyhow::Result<()> {
    let fixture = migrated_school("listsnapshot").await?;
    let run: Uuid = sqlx::query_scalar("SELECT id FROM migration.runs ORDER BY id DESC LIMIT 1")
        .fetch_one(fixture.lms())
        .await?;
    let before = run_progress(fixture.lms(), run).await?;

    // The read gets past the run's row and waits for its steps, while the
    // run changes (status and steps) in one transaction.
    let mut change = fixture.lms().begin().await?;
    sqlx::raw_sql("LOCK TABLE migration.run_steps IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *change)
        .await?;
    let lms = fixture.lms().clone();
    let read = tokio::spawn(async move { run_progress(&lms, run).await });
    wait_for_lock_waiters(fixture.lms(), 1, std::slice::from_ref(&read)).await?;
    sqlx::raw_sql(
        "UPDATE migration.runs SET status = 'failed', error = 'changed mid-read'; \
         UPDATE migration.run_steps SET chunks_done = 0",
    )
    .execute(&mut *change)
    .await?;
    change.commit().await?;

    assert_eq!(read.await??, before);
    fixture.close().await
}
