//! The organization tree's one rule beyond DATA.md's: a parent link that
//! would close a loop (an organization its own parent, or a ring of them)
//! is broken at the ring's lowest legacy id, whose parent then points
//! nowhere (NULL, warning `dangling_parent`; docs/contract.md). The rest
//! of the ring hangs from it.
//!
//! The engine judges the staged mirror of legacy and the degraded reads
//! judge legacy itself, so the rule is one SQL template, filled in with
//! each side's table and column names.

/// A boolean SQL expression: whether the organization `$row` (alias) is
/// the lowest legacy id of a ring of parent links in `$table`, whose rows
/// have the legacy id in `$id` and the parent's in `$parent`. The walk up
/// from `$row`'s parent stops where it comes back to `$row`, at a parent
/// that is NULL or has no row, or at a ring `$row` is not part of
/// (`CYCLE`).
#[macro_export]
macro_rules! parent_closes_ring {
    ($table:literal, $id:literal, $parent:literal, $row:literal) => {
        concat!(
            "coalesce(",
            $row,
            ".",
            $id,
            " = ( \
               WITH RECURSIVE walk(id) AS ( \
                 SELECT ",
            $row,
            ".",
            $parent,
            " \
                 UNION ALL \
                 SELECT up.",
            $parent,
            " FROM walk JOIN ",
            $table,
            " up ON up.",
            $id,
            " = walk.id \
                 WHERE walk.id <> ",
            $row,
            ".",
            $id,
            " AND up.",
            $parent,
            " IS NOT NULL \
               ) CYCLE id SET looped USING path \
               SELECT CASE WHEN bool_or(id = ",
            $row,
            ".",
            $id,
            ") THEN min(id) END \
               FROM walk WHERE NOT looped), false)"
        )
    };
}
