//! A re-run's ranges: the ones the last run staged, while they still fit.
//!
//! Planning from scratch streams every id of every legacy table to cut it
//! into ranges of `chunk_size` rows: for the seed-scale journal that is
//! 510,269 ids, about a third of a second before a re-run can start. But
//! any ranges that follow one another without a gap, from an open start to
//! an open end, cover every id, so reusing the last run's is always
//! correct; only their sizes drift as legacy changes. A re-run with the
//! same chunk size keeps them while they still fit:
//! - the last run staged every range, and each closed range held between
//!   half and twice the chunk size (at most twice for the open last one);
//! - the rows past the last closed bound are counted now (at most twice the
//!   chunk size plus one are read), and a tail longer than that is cut
//!   again by reading its ids alone.
//!
//! A range that drifts out of bounds through deletions or inserts in the
//! middle of legacy is seen when it is next staged, and the run after that
//! plans from scratch.

use lms_domain::LegacyEntity;
use sqlx::{AssertSqlSafe, PgPool, Row};

use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use crate::state::ChunkState;

const LAST_STAGED_RANGES: &str = include_str!("previous_ranges/last_staged_ranges.sql");

/// One range of an earlier run's stage step, as it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StagedRange {
    pub range: IdRange,
    /// The chunk was staged (its row count is what legacy held then).
    pub done: bool,
    /// The legacy rows its stage read.
    pub rows: i64,
}

/// The stage ranges of the latest run that staged `entity` whole with
/// `chunk_size`, in order; empty if there is none.
pub(crate) async fn last_staged(
    lms: &PgPool,
    entity: LegacyEntity,
    chunk_size: u32,
) -> Result<Vec<StagedRange>, EngineError> {
    let Ok(chunk_size) = i32::try_from(chunk_size) else {
        return Ok(Vec::new());
    };
    let rows = sqlx::query(LAST_STAGED_RANGES)
        .bind(entity.as_str())
        .bind(chunk_size)
        .fetch_all(lms)
        .await
        .lms()?;
    rows.iter()
        .map(|row| {
            let state: ChunkState = row.try_get("state")?;
            Ok(StagedRange {
                range: IdRange {
                    first: row.try_get("first_legacy_id")?,
                    last: row.try_get("last_legacy_id")?,
                },
                done: state == ChunkState::Done,
                rows: row.try_get::<Option<i64>, _>("rows")?.unwrap_or(-1),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .lms()
}

/// The ranges to keep, if the last run's still fit `chunk_size` (see the
/// module's doc); the last of them is open-ended, and its rows must still
/// be counted against [`tail_limit`].
pub(crate) fn reusable(staged: &[StagedRange], chunk_size: u32) -> Option<Vec<IdRange>> {
    let size = i64::from(chunk_size);
    let (last, closed) = staged.split_last()?;
    // From an open start, each range beginning where the one before ended,
    // every closed one non-empty, to an open end.
    let mut next_first = None;
    for range in closed.iter().map(|staged| staged.range) {
        let end = range.last?;
        if range.first != next_first || range.first.is_some_and(|first| end < first) {
            return None;
        }
        next_first = Some(end.checked_add(1)?);
    }
    if last.range.first != next_first || last.range.last.is_some() {
        return None;
    }
    let staged_all = staged.iter().all(|staged| staged.done);
    let closed_fit = closed
        .iter()
        .all(|staged| staged.rows >= (size + 1) / 2 && staged.rows <= size.saturating_mul(2));
    let last_fits = (0..=tail_limit(chunk_size)).contains(&last.rows);
    (staged_all && closed_fit && last_fits)
        .then(|| staged.iter().map(|staged| staged.range).collect())
}

/// The most rows the open last range may hold now and still be kept.
pub(crate) fn tail_limit(chunk_size: u32) -> i64 {
    i64::from(chunk_size).saturating_mul(2)
}

/// How many legacy rows lie in `tail` (an open-ended range), counting at
/// most `limit + 1`.
pub(crate) async fn tail_rows(
    legacy: &PgPool,
    entity: LegacyEntity,
    tail: IdRange,
    limit: i64,
) -> Result<i64, EngineError> {
    let statement = format!(
        "SELECT count(*) AS rows FROM (SELECT 1 FROM {} WHERE {} LIMIT $1) AS tail",
        entity.as_str(),
        tail.predicate("id")
    );
    sqlx::query_scalar(AssertSqlSafe(statement))
        .bind(limit.saturating_add(1))
        .fetch_one(legacy)
        .await
        .legacy()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn staged(first: Option<i64>, last: Option<i64>, rows: i64) -> StagedRange {
        StagedRange {
            range: IdRange { first, last },
            done: true,
            rows,
        }
    }

    /// Ranges as a first plan cuts them: `sizes` rows each, ids 1, 2, ...
    fn planned(sizes: &[i64]) -> Vec<StagedRange> {
        let mut ranges = Vec::new();
        let (mut first, mut upper) = (None, 0);
        for (index, rows) in sizes.iter().enumerate() {
            upper += rows;
            let last = (index + 1 < sizes.len()).then_some(upper);
            ranges.push(staged(first, last, *rows));
            first = Some(upper + 1);
        }
        ranges
    }

    #[test]
    fn ranges_as_planned_are_kept() {
        let ranges = planned(&[100, 100, 37]);
        let kept = reusable(&ranges, 100).expect("they fit");
        assert_eq!(kept, ranges.iter().map(|r| r.range).collect::<Vec<_>>());
    }

    #[test]
    fn one_open_range_is_kept_while_the_table_is_small() {
        assert!(reusable(&[staged(None, None, 150)], 100).is_some());
        assert!(reusable(&[staged(None, None, 201)], 100).is_none());
    }

    #[test]
    fn no_earlier_run_keeps_nothing() {
        assert_eq!(reusable(&[], 100), None);
    }

    #[test]
    fn a_range_that_grew_past_twice_the_chunk_size_plans_again() {
        assert!(reusable(&planned(&[100, 201, 10]), 100).is_none());
    }

    #[test]
    fn a_range_that_shrank_below_half_the_chunk_size_plans_again() {
        assert!(reusable(&planned(&[100, 49, 10]), 100).is_none());
        assert!(reusable(&planned(&[100, 50, 10]), 100).is_some());
    }

    #[test]
    fn a_range_not_staged_plans_again() {
        let mut ranges = planned(&[100, 100, 10]);
        ranges[1].done = false;
        assert!(reusable(&ranges, 100).is_none());
    }

    #[test]
    fn ranges_with_a_gap_or_a_closed_end_plan_again() {
        let mut gap = planned(&[100, 100, 10]);
        gap[1].range.first = gap[1].range.first.map(|first| first + 1);
        assert!(reusable(&gap, 100).is_none());
        let mut closed_end = planned(&[100, 100, 10]);
        closed_end[2].range.last = Some(1_000);
        assert!(reusable(&closed_end, 100).is_none());
        let mut closed_start = planned(&[100, 10]);
        closed_start[0].range.first = Some(0);
        assert!(reusable(&closed_start, 100).is_none());
    }

    #[test]
    fn a_range_ending_at_the_largest_id_cannot_be_followed() {
        let ranges = [
            staged(None, Some(i64::MAX), 100),
            staged(Some(i64::MIN), None, 10),
        ];
        assert!(reusable(&ranges, 100).is_none());
    }

    proptest! {
        /// Whatever is kept covers every id exactly once: from an open
        /// start to an open end, each range beginning after the last.
        /// Ranges as planned, some with one bound moved.
        #[test]
        fn what_is_kept_covers_every_id_once(
            sizes in proptest::collection::vec(0_i64..500, 1..6),
            moved in proptest::option::of((0_usize..6, -2_i64..3, any::<bool>())),
            chunk_size in 1_u32..300,
        ) {
            let mut ranges = planned(&sizes);
            if let Some((index, by, first)) = moved
                && let Some(staged) = ranges.get_mut(index)
            {
                let bound = if first { &mut staged.range.first } else { &mut staged.range.last };
                *bound = bound.map(|id| id + by);
            }
            if let Some(kept) = reusable(&ranges, chunk_size) {
                prop_assert_eq!(kept.first().and_then(|range| range.first), None);
                prop_assert_eq!(kept.last().and_then(|range| range.last), None);
                for pair in kept.windows(2) {
                    let last = pair[0].last;
                    prop_assert!(last.is_some());
                    prop_assert_eq!(pair[1].first, last.and_then(|last| last.checked_add(1)));
                }
                for range in &kept {
                    if let (Some(first), Some(last)) = (range.first, range.last) {
                        prop_assert!(first <= last);
                    }
                }
            }
        }
    }
}
