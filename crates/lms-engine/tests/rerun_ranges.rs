//! A re-run with the same chunk size stages over the ranges the last run
//! staged while they still fit, instead of reading every id to cut them
//! again; a tail that grew past twice the chunk size is cut again.

mod support;

use lms_engine::RunStatus;
use lms_legacy::Scale;
use support::{Fixture, entity};
use uuid::Uuid;

const CHUNK_SIZE: u32 = 400;

type Bounds = (Option<i64>, Option<i64>);

/// The journal's stage ranges in a run, in order.
async fn journal_ranges(fixture: &Fixture, run_id: Uuid) -> anyhow::Result<Vec<Bounds>> {
    Ok(sqlx::query_as(
        "SELECT c.first_legacy_id, c.last_legacy_id FROM migration.chunks c \
         JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.entity = 'journal' AND s.phase = 'stage' \
         ORDER BY c.first_legacy_id NULLS FIRST",
    )
    .bind(run_id)
    .fetch_all(fixture.lms())
    .await?)
}

/// The legacy journal rows within `bounds`.
async fn legacy_rows_in(fixture: &Fixture, (first, last): Bounds) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM journal \
         WHERE ($1::bigint IS NULL OR id >= $1) AND ($2::bigint IS NULL OR id <= $2)",
    )
    .bind(first)
    .bind(last)
    .fetch_one(fixture.legacy())
    .await?)
}

#[tokio::test]
async fn a_rerun_stages_over_the_last_runs_ranges() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("rangeskept", Scale::Small, 31).await?;
    let first = fixture.migrate(CHUNK_SIZE).await?;
    assert_eq!(first.status, RunStatus::Succeeded);
    // Cut afresh, the ranges would now end elsewhere.
    fixture
        .legacy_sql("DELETE FROM journal WHERE id IN (SELECT id FROM journal ORDER BY id LIMIT 50)")
        .await?;

    let second = fixture.migrate(CHUNK_SIZE).await?;

    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!(
        journal_ranges(&fixture, second.run_id).await?,
        journal_ranges(&fixture, first.run_id).await?
    );
    assert_eq!(entity(&second, "journal").unexplained, 0);
    fixture.close().await
}

#[tokio::test]
async fn a_tail_grown_past_twice_the_chunk_size_is_cut_again() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("rangestail", Scale::Small, 32).await?;
    let first = fixture.migrate(CHUNK_SIZE).await?;
    assert_eq!(first.status, RunStatus::Succeeded);
    let before = journal_ranges(&fixture, first.run_id).await?;
    fixture
        .legacy_sql(
            "CREATE TEMP TABLE appended AS SELECT * FROM journal ORDER BY id LIMIT 1000; \
             UPDATE appended SET id = id + (SELECT max(id) FROM journal); \
             INSERT INTO journal SELECT * FROM appended; \
             DROP TABLE appended;",
        )
        .await?;

    let second = fixture.migrate(CHUNK_SIZE).await?;

    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    let after = journal_ranges(&fixture, second.run_id).await?;
    let (tail, kept) = before.split_last().expect("at least one range");
    assert_eq!(&after[..kept.len()], kept, "the closed ranges are kept");
    assert_eq!(after[kept.len()].0, tail.0, "the tail starts where it did");
    let cut = &after[kept.len()..];
    assert!(cut.len() > 1, "the tail is cut again: {cut:?}");
    for (index, bounds) in cut.iter().enumerate() {
        let rows = legacy_rows_in(&fixture, *bounds).await?;
        if index + 1 < cut.len() {
            assert_eq!(rows, i64::from(CHUNK_SIZE), "{bounds:?}");
        } else {
            assert!(rows <= i64::from(CHUNK_SIZE), "{bounds:?}: {rows}");
        }
    }
    assert_eq!(entity(&second, "journal").unexplained, 0);
    fixture.close().await
}
