//! One legacy table, both sides in canonical form (the LMS's as each row's
//! hash): a checksum per chunk of legacy ids on each side, compared chunk
//! by chunk; a chunk whose checksums differ is narrowed down to the ids
//! that differ, and how.

use std::collections::BTreeMap;

use xxhash_rust::xxh3::Xxh3;

use super::canonical::{CanonicalRow, row_hash};

/// How a row differs between what the contract expects and the LMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// The contract expects an LMS row and there is none.
    Missing,
    /// An LMS row carries a legacy id the contract expects no row for.
    Unexpected,
    /// Both have the row, with different values.
    Changed,
}

impl DifferenceKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::Missing => "missing",
            DifferenceKind::Unexpected => "unexpected",
            DifferenceKind::Changed => "changed",
        }
    }
}

/// One differing row, before it is classified.
#[derive(Debug)]
pub struct RowDifference<'a> {
    pub legacy_id: i64,
    pub kind: DifferenceKind,
    /// The expected row (`None`: the LMS row is unexpected). The LMS row's
    /// values are read again for the differences a report shows.
    pub expected: Option<&'a CanonicalRow>,
}

/// The comparison of one table.
#[derive(Debug, Default)]
pub struct Comparison<'a> {
    /// Chunks with a row on either side.
    pub chunks: u64,
    /// Chunks whose checksums differ.
    pub differing_chunks: u64,
    pub differences: Vec<RowDifference<'a>>,
}

/// One side's chunk: how many rows and the checksum over their ids and
/// row hashes, in id order.
struct ChunkSum {
    rows: u64,
    hasher: Xxh3,
}

fn chunk_of(legacy_id: i64, chunk_size: i64) -> i64 {
    legacy_id.div_euclid(chunk_size)
}

fn checksums(rows: impl Iterator<Item = (i64, u64)>, chunk_size: i64) -> BTreeMap<i64, (u64, u64)> {
    let mut sums: BTreeMap<i64, ChunkSum> = BTreeMap::new();
    for (id, hash) in rows {
        let sum = sums
            .entry(chunk_of(id, chunk_size))
            .or_insert_with(|| ChunkSum {
                rows: 0,
                hasher: Xxh3::new(),
            });
        sum.rows += 1;
        sum.hasher.update(&id.to_le_bytes());
        sum.hasher.update(&hash.to_le_bytes());
    }
    sums.into_iter()
        .map(|(chunk, sum)| (chunk, (sum.rows, sum.hasher.digest())))
        .collect()
}

/// Compares `expected` with the LMS's row hashes, `present`, in chunks of
/// `chunk_size` legacy ids.
pub fn compare<'a>(
    expected: &'a BTreeMap<i64, CanonicalRow>,
    present: &BTreeMap<i64, u64>,
    chunk_size: u32,
) -> Comparison<'a> {
    let size = i64::from(chunk_size.max(1));
    let wanted = checksums(expected.iter().map(|(id, row)| (*id, row_hash(row))), size);
    let found = checksums(present.iter().map(|(id, hash)| (*id, *hash)), size);
    let mut chunks: Vec<i64> = wanted.keys().chain(found.keys()).copied().collect();
    chunks.sort_unstable();
    chunks.dedup();
    let mut comparison = Comparison {
        chunks: chunks.len() as u64,
        ..Comparison::default()
    };
    for chunk in chunks {
        if wanted.get(&chunk) == found.get(&chunk) {
            continue;
        }
        comparison.differing_chunks += 1;
        let first = chunk.saturating_mul(size);
        let last = first.saturating_add(size - 1);
        narrow(
            expected.range(first..=last),
            present.range(first..=last),
            &mut comparison.differences,
        );
    }
    comparison
}

/// Walks one chunk's rows of both sides in id order.
fn narrow<'a, 'b>(
    expected: impl Iterator<Item = (&'a i64, &'a CanonicalRow)>,
    present: impl Iterator<Item = (&'b i64, &'b u64)>,
    out: &mut Vec<RowDifference<'a>>,
) {
    let mut expected = expected.peekable();
    let mut present = present.peekable();
    loop {
        let next_ids = (
            expected.peek().map(|(id, _)| **id),
            present.peek().map(|(id, _)| **id),
        );
        let difference = match next_ids {
            (None, None) => break,
            (Some(want_id), Some(have_id)) if want_id == have_id => {
                let want = expected.next().map(|(_, row)| row);
                let have = present.next().map(|(_, hash)| *hash);
                (want.map(|row| row_hash(row)) != have).then_some(RowDifference {
                    legacy_id: want_id,
                    kind: DifferenceKind::Changed,
                    expected: want,
                })
            }
            (Some(want_id), Some(have_id)) if want_id < have_id => {
                missing(want_id, expected.next())
            }
            (Some(want_id), None) => missing(want_id, expected.next()),
            (_, Some(have_id)) => {
                present.next();
                Some(RowDifference {
                    legacy_id: have_id,
                    kind: DifferenceKind::Unexpected,
                    expected: None,
                })
            }
        };
        out.extend(difference);
    }
}

fn missing<'a>(
    legacy_id: i64,
    row: Option<(&'a i64, &'a CanonicalRow)>,
) -> Option<RowDifference<'a>> {
    Some(RowDifference {
        legacy_id,
        kind: DifferenceKind::Missing,
        expected: row.map(|(_, row)| row),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(entries: &[(i64, &str)]) -> BTreeMap<i64, CanonicalRow> {
        entries
            .iter()
            .map(|(id, value)| (*id, vec![Some((*value).into())]))
            .collect()
    }

    fn hashes(rows: &BTreeMap<i64, CanonicalRow>) -> BTreeMap<i64, u64> {
        rows.iter().map(|(id, row)| (*id, row_hash(row))).collect()
    }

    #[test]
    fn equal_sides_have_no_differing_chunk() {
        let side = rows(&[(1, "a"), (5, "b"), (12, "c")]);
        let comparison = compare(&side, &hashes(&side), 4);
        assert_eq!((comparison.chunks, comparison.differing_chunks), (3, 0));
        assert!(comparison.differences.is_empty());
    }

    #[test]
    fn a_differing_chunk_is_narrowed_to_its_rows() {
        let expected = rows(&[(1, "a"), (2, "b"), (3, "c"), (9, "d"), (-7, "e")]);
        let present = rows(&[(1, "a"), (2, "x"), (4, "s"), (9, "d"), (-7, "e")]);
        let comparison = compare(&expected, &hashes(&present), 4);
        assert_eq!(comparison.differing_chunks, 2, "ids 0..3 and 4..7");
        let found: Vec<(i64, DifferenceKind)> = comparison
            .differences
            .iter()
            .map(|difference| (difference.legacy_id, difference.kind))
            .collect();
        assert_eq!(
            found,
            [
                (2, DifferenceKind::Changed),
                (3, DifferenceKind::Missing),
                (4, DifferenceKind::Unexpected)
            ]
        );
    }
}
