//! The organization tree's rule: a parent that points nowhere becomes
//! NULL, warning `dangling_parent` (DATA.md). It points nowhere when no
//! organization has its id, and also (docs/contract.md) when the link
//! would close a loop, an organization its own parent or a ring of them, at
//! the ring's lowest legacy id: the rest of the ring hangs from it.
//!
//! The engine judges the staged mirror of legacy and the degraded reads
//! judge legacy itself, so the rule is SQL templates filled in with each
//! side's table and column names: `$table` holds the organizations, `$id`
//! is a row's legacy id and `$parent` its parent's, and `$row` is the alias
//! of the organization judged. They use nothing newer than PostgreSQL 9.4,
//! since the degraded reads run them on the legacy server.

/// A boolean SQL expression: whether the organization `$row` has a parent
/// id that no organization in `$table` has.
#[macro_export]
macro_rules! parent_missing {
    ($table:literal, $id:literal, $parent:literal, $row:literal) => {
        concat!(
            "(",
            $row,
            ".",
            $parent,
            " IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ",
            $table,
            " missing WHERE missing.",
            $id,
            " = ",
            $row,
            ".",
            $parent,
            "))"
        )
    };
}

/// A boolean SQL expression: whether the organization `$row` is the lowest
/// legacy id of a ring of parent links. The walk up from its parent stops
/// where it comes back to `$row`, at a parent that is NULL or has no row,
/// or after as many steps as `$table` has rows (a ring `$row` hangs from
/// but is not part of).
#[macro_export]
macro_rules! parent_closes_ring {
    ($table:literal, $id:literal, $parent:literal, $row:literal) => {
        concat!(
            "coalesce(",
            $row,
            ".",
            $id,
            " = ( \
               WITH RECURSIVE walk(id, steps) AS ( \
                 SELECT ",
            $row,
            ".",
            $parent,
            ", 1::bigint \
                 UNION ALL \
                 SELECT up.",
            $parent,
            ", walk.steps + 1 FROM walk JOIN ",
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
                   AND walk.steps < (SELECT count(*) FROM ",
            $table,
            ") \
               ) \
               SELECT CASE WHEN bool_or(id = ",
            $row,
            ".",
            $id,
            ") THEN min(id) END FROM walk), false)"
        )
    };
}

/// A boolean SQL expression: whether the organization `$row`'s parent
/// points nowhere, by either half of the rule.
#[macro_export]
macro_rules! parent_points_nowhere {
    ($table:literal, $id:literal, $parent:literal, $row:literal) => {
        concat!(
            "(",
            $crate::parent_missing!($table, $id, $parent, $row),
            " OR ",
            $crate::parent_closes_ring!($table, $id, $parent, $row),
            ")"
        )
    };
}
