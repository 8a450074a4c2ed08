//! A delta's apply chunks, planned again once the table's resolve step
//! knows the scope.
//!
//! A run is planned before it knows what changed, so its apply step has one
//! chunk per stage range. On a delta most ranges hold a few rows of the
//! scope, and a chunk's fixed cost (its transaction, temporary tables,
//! statistics and plans: about 200 ms of a worker's time) outweighs them:
//! 5,102 changed journal rows spread over 21 chunks of about 250. The
//! resolve step, in its own transaction, joins consecutive ranges into one
//! chunk per worker process that staged the run, of about equal scoped rows
//! (more chunks where a share would exceed the run's chunk size), so that
//! every worker pays the fixed cost once and they finish together. Ranges
//! are never split: a chunk holds its share and at most one range more.
//! Worker processes stand for the cores: a chunk's work is PostgreSQL's,
//! and a process's concurrency slots share its machine.
//!
//! A joined chunk's range is the union of whole stage ranges: its staged
//! rows are its stage chunks' (`bulk::recorded_stage_rows`), and a crash's
//! loss is found and staged again stage chunk by stage chunk
//! (`bulk::ensure_staged`).

use std::ops::Range;

use lms_domain::LegacyEntity;
use serde::Serialize;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::{DatabaseContext, EngineError};
use crate::state::ChunkState;

/// How the apply step's chunks were joined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Regrouped {
    /// Chunks the run planned (one per stage range).
    pub planned: usize,
    /// Chunks the apply step runs.
    pub chunks: usize,
    /// Rows in the apply scope.
    pub scoped: i64,
    /// Worker processes that staged the run.
    pub workers: i64,
}

/// One planned apply chunk: its id and range.
struct PlannedChunk {
    id: i64,
    first: Option<i64>,
    last: Option<i64>,
}

/// Joins the run's waiting apply chunks of `entity` by the scope the
/// resolve step recorded (`migration.apply_scope`). Returns `None` when the
/// step is not as planned (a chunk already left `waiting`, or the ranges
/// are not consecutive), and leaves it as it is.
pub async fn regroup_apply_chunks(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
) -> Result<Option<Regrouped>, EngineError> {
    let step = sqlx::query(
        "SELECT s.id, r.chunk_size FROM migration.run_steps s JOIN migration.runs r ON r.id = s.run_id \
         WHERE s.run_id = $1 AND s.entity = $2 AND s.phase = 'apply'",
    )
    .bind(run_id)
    .bind(entity.as_str())
    .fetch_optional(&mut *tx)
    .await
    .lms()?;
    let Some(step) = step else {
        return Ok(None);
    };
    let step_id: i64 = step.try_get("id").lms()?;
    let chunk_size: i32 = step.try_get("chunk_size").lms()?;
    // Locked, so that a cancel either changed them first (and the step is
    // left as it is) or finds them locked and leaves them to the claim, as
    // it does chunks a finishing step readies. The step's row is written
    // before the run's row is locked (`progress::complete_step`); no other
    // transaction locks an apply step before its resolve step is done.
    let rows = sqlx::query(
        "SELECT id, first_legacy_id, last_legacy_id, state FROM migration.chunks \
         WHERE step_id = $1 ORDER BY first_legacy_id NULLS FIRST FOR UPDATE",
    )
    .bind(step_id)
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    let mut chunks = Vec::with_capacity(rows.len());
    for row in &rows {
        if row.try_get::<ChunkState, _>("state").lms()? != ChunkState::Waiting {
            return Ok(None);
        }
        chunks.push(PlannedChunk {
            id: row.try_get("id").lms()?,
            first: row.try_get("first_legacy_id").lms()?,
            last: row.try_get("last_legacy_id").lms()?,
        });
    }
    let Some(lower_bounds) = consecutive_lower_bounds(&chunks) else {
        return Ok(None);
    };
    let scoped = scope_by_range(tx, entity, &lower_bounds, chunks.len()).await?;
    let total: i64 = scoped.iter().sum();
    let workers = staging_workers(tx, run_id).await?;
    let groups = join_ranges(
        &scoped,
        apply_chunk_count(total, workers, i64::from(chunk_size), chunks.len()),
    );
    let regrouped = Regrouped {
        planned: chunks.len(),
        chunks: groups.len(),
        scoped: total,
        workers,
    };
    if groups.len() == chunks.len() {
        return Ok(Some(regrouped));
    }
    let (mut kept, mut lasts, mut dropped) = (Vec::new(), Vec::new(), Vec::new());
    for group in groups {
        if let Some((head, rest)) = chunks[group].split_first() {
            kept.push(head.id);
            lasts.push(rest.last().unwrap_or(head).last);
            dropped.extend(rest.iter().map(|chunk| chunk.id));
        }
    }
    sqlx::query(
        "UPDATE migration.chunks c SET last_legacy_id = g.last \
         FROM unnest($1::bigint[], $2::bigint[]) AS g(id, last) WHERE c.id = g.id",
    )
    .bind(&kept)
    .bind(&lasts)
    .execute(&mut *tx)
    .await
    .lms()?;
    sqlx::query("DELETE FROM migration.chunks WHERE id = ANY($1)")
        .bind(&dropped)
        .execute(&mut *tx)
        .await
        .lms()?;
    sqlx::query("UPDATE migration.run_steps SET chunks_total = $2 WHERE id = $1")
        .bind(step_id)
        .bind(i32::try_from(kept.len()).unwrap_or(i32::MAX))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(Some(regrouped))
}

/// How many chunks a scope of `scoped` rows is applied in: one per worker
/// that staged the run (each chunk's fixed cost is paid once per worker,
/// in parallel), or more where a share would hold more scoped rows than the
/// run's chunk size; one for a scope of no row; never more than `ranges`.
fn apply_chunk_count(scoped: i64, workers: i64, chunk_size: i64, ranges: usize) -> usize {
    let by_size = scoped.div_euclid(chunk_size.max(1)) + i64::from(scoped % chunk_size.max(1) != 0);
    let wanted = workers.max(1).min(scoped).max(by_size).max(1);
    usize::try_from(wanted)
        .unwrap_or(usize::MAX)
        .min(ranges.max(1))
}

/// The worker processes that ran the run's stage chunks: the workers the
/// run has, as far as the run itself shows.
async fn staging_workers(tx: &mut PgConnection, run_id: Uuid) -> Result<i64, EngineError> {
    sqlx::query_scalar(
        "SELECT count(DISTINCT c.worker) FROM migration.chunks c JOIN migration.run_steps s ON s.id = c.step_id \
         WHERE c.run_id = $1 AND s.phase = 'stage'",
    )
    .bind(run_id)
    .fetch_one(&mut *tx)
    .await
    .lms()
}

/// The chunks' lower bounds but the first's, when the ranges follow one
/// another without gap from an open start (as `plan::chunk_ranges` plans
/// them); `None` otherwise.
fn consecutive_lower_bounds(chunks: &[PlannedChunk]) -> Option<Vec<i64>> {
    let (head, rest) = chunks.split_first()?;
    if head.first.is_some() {
        return None;
    }
    let mut bounds = Vec::with_capacity(rest.len());
    let mut previous_last = head.last;
    for chunk in rest {
        let first = chunk.first?;
        if previous_last?.checked_add(1) != Some(first) {
            return None;
        }
        bounds.push(first);
        previous_last = chunk.last;
    }
    Some(bounds)
}

/// The scope's rows in each of `ranges` consecutive ranges, whose lower
/// bounds but the first's are `lower_bounds` (`width_bucket` numbers them
/// from 0).
async fn scope_by_range(
    tx: &mut PgConnection,
    entity: LegacyEntity,
    lower_bounds: &[i64],
    ranges: usize,
) -> Result<Vec<i64>, EngineError> {
    let rows = sqlx::query(
        "SELECT width_bucket(legacy_id, $2::bigint[]) AS range_index, count(*) AS scoped \
         FROM migration.apply_scope WHERE entity = $1 GROUP BY 1",
    )
    .bind(entity.as_str())
    .bind(lower_bounds)
    .fetch_all(&mut *tx)
    .await
    .lms()?;
    let mut scoped = vec![0; ranges];
    for row in rows {
        let index: i32 = row.try_get("range_index").lms()?;
        let slot = usize::try_from(index)
            .ok()
            .and_then(|index| scoped.get_mut(index))
            .ok_or_else(|| {
                EngineError::Invariant(format!("width_bucket gave range {index} of {ranges}"))
            })?;
        *slot = row.try_get("scoped").lms()?;
    }
    Ok(scoped)
}

/// Joins consecutive ranges, given each one's scoped rows, into at most
/// `chunks` groups of about equal scoped rows: a group closes at the range
/// that takes the scope seen so far to its share. Ranges are never split,
/// and ranges after the last scoped row join the last group. Every range is
/// in exactly one group, in order.
fn join_ranges(scoped: &[i64], chunks: usize) -> Vec<Range<usize>> {
    let total: i128 = scoped.iter().map(|rows| i128::from(*rows)).sum();
    let shares = i128::try_from(chunks.max(1)).unwrap_or(i128::MAX);
    // Group `closing` closes once `seen` reaches closing / shares of the total.
    let reached = |seen: i128, closing: i128| seen * shares >= closing * total;
    let mut groups: Vec<Range<usize>> = Vec::new();
    let (mut start, mut seen, mut seen_at_start, mut closing) = (0, 0_i128, 0_i128, 1_i128);
    for (index, rows) in scoped.iter().enumerate() {
        seen += i128::from(*rows);
        if closing < shares && *rows > 0 && reached(seen, closing) {
            groups.push(start..index + 1);
            (start, seen_at_start) = (index + 1, seen);
            // A range may hold several shares: the next group takes the next.
            while closing < shares && reached(seen, closing) {
                closing += 1;
            }
        }
    }
    if start < scoped.len() {
        match groups.last_mut() {
            Some(last) if total == seen_at_start => last.end = scoped.len(),
            _ => groups.push(start..scoped.len()),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_scope_spread_thin_is_one_chunk_a_worker() {
        assert_eq!(apply_chunk_count(5_250, 2, 25_000, 21), 2);
    }

    #[test]
    fn ranges_join_into_equal_shares() {
        assert_eq!(join_ranges(&[250; 21], 2), vec![0..11, 11..21]);
    }

    #[test]
    fn an_empty_scope_is_one_chunk() {
        assert_eq!(apply_chunk_count(0, 2, 25_000, 5), 1);
    }

    #[test]
    fn one_share_takes_every_range() {
        assert_eq!(join_ranges(&[0; 5], 1), vec![0..5]);
    }

    #[test]
    fn a_share_holds_at_most_the_chunk_size_in_scoped_rows() {
        assert_eq!(apply_chunk_count(51_027, 2, 25_000, 205), 3);
        assert_eq!(apply_chunk_count(51_027, 2, 400, 20), 20);
    }

    #[test]
    fn a_scope_smaller_than_the_workers_is_not_split_further() {
        assert_eq!(apply_chunk_count(1, 4, 25_000, 21), 1);
    }

    #[test]
    fn a_range_holding_several_shares_closes_them_all() {
        assert_eq!(join_ranges(&[100, 1, 1, 1], 4), vec![0..1, 1..4]);
    }

    #[test]
    fn ranges_after_the_last_scoped_row_join_the_last_group() {
        assert_eq!(join_ranges(&[0, 5, 0, 5, 0, 0], 2), vec![0..2, 2..6]);
    }

    #[test]
    fn ranges_that_do_not_follow_one_another_are_not_joined() {
        let chunk = |id, first, last| PlannedChunk { id, first, last };
        let gap = [chunk(1, None, Some(10)), chunk(2, Some(12), None)];
        assert_eq!(consecutive_lower_bounds(&gap), None);
        let closed_start = [chunk(1, Some(1), Some(10)), chunk(2, Some(11), None)];
        assert_eq!(consecutive_lower_bounds(&closed_start), None);
        let planned = [
            chunk(1, None, Some(10)),
            chunk(2, Some(11), Some(20)),
            chunk(3, Some(21), None),
        ];
        assert_eq!(consecutive_lower_bounds(&planned), Some(vec![11, 21]));
    }

    proptest! {
        #[test]
        fn groups_cover_every_range_once_in_order(
            scoped in proptest::collection::vec(0_i64..5_000, 1..60),
            chunks in 1_usize..70,
        ) {
            let groups = join_ranges(&scoped, chunks);
            prop_assert!(!groups.is_empty() && groups.len() <= chunks);
            let mut next = 0;
            for group in &groups {
                prop_assert_eq!(group.start, next);
                prop_assert!(group.end > group.start);
                next = group.end;
            }
            prop_assert_eq!(next, scoped.len());
        }

        #[test]
        fn every_group_of_a_split_scope_holds_scoped_rows(
            scoped in proptest::collection::vec(0_i64..5_000, 1..60),
            chunks in 2_usize..70,
        ) {
            let groups = join_ranges(&scoped, chunks);
            if groups.len() > 1 {
                for group in &groups {
                    let rows: i64 = scoped[group.clone()].iter().sum();
                    prop_assert!(rows > 0, "{:?} in {:?}", group, groups);
                }
            }
        }

        #[test]
        fn no_group_holds_much_more_than_its_share(
            scoped in proptest::collection::vec(0_i64..5_000, 1..60),
            chunks in 1_usize..70,
        ) {
            // A group ends at the range that reaches its share: it holds at
            // most one share and the largest range more.
            let total: i64 = scoped.iter().sum();
            let largest = scoped.iter().copied().max().unwrap_or(0);
            let share = total / i64::try_from(chunks).unwrap_or(i64::MAX) + 1;
            for group in join_ranges(&scoped, chunks) {
                let rows: i64 = scoped[group].iter().sum();
                prop_assert!(rows <= share + largest);
            }
        }

        #[test]
        fn the_chunks_are_never_more_than_the_ranges_nor_fewer_than_one(
            scoped in 0_i64..10_000_000,
            workers in 0_i64..64,
            chunk_size in 0_i64..100_000,
            ranges in 0_usize..500,
        ) {
            let chunks = apply_chunk_count(scoped, workers, chunk_size, ranges);
            prop_assert!(chunks >= 1 && chunks <= ranges.max(1));
        }
    }
}
