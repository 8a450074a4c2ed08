//! The tables a delta run's change log covers (the row triggers of
//! migration `m20261202_000012_run_undo`), parents before the tables that
//! reference them, and how a logged row's key finds its row.

/// One table whose rows a run's chunks write.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoggedTable {
    /// Its name, as the change log records it (`migration.run_changes.table_name`).
    pub name: &'static str,
    /// The primary key's columns and their SQL types.
    pub key: &'static [(&'static str, &'static str)],
    /// Whether its rows carry `legacy_id` and `source_deleted_at`: the undo
    /// parks them out of the unique indexes while it puts keys back.
    pub parks: bool,
}

const ID: &[(&str, &str)] = &[("id", "bigint")];

const fn domain(name: &'static str, parks: bool) -> LoggedTable {
    LoggedTable {
        name,
        key: ID,
        parks,
    }
}

/// The LMS tables, parents first: a row is put back after the rows it
/// references and removed before them.
pub(super) const DOMAIN_TABLES: [LoggedTable; 12] = [
    domain("organizations", true),
    domain("persons", true),
    domain("users", true),
    domain("staff_members", true),
    domain("student_groups", true),
    domain("subjects", true),
    domain("students", true),
    domain("courses", false),
    domain("course_enrollments", true),
    domain("grades", true),
    domain("assessments", true),
    domain("assessment_submissions", true),
];

/// The migration's own tables the log covers; nothing references them.
pub(super) const BOOKKEEPING_TABLES: [LoggedTable; 2] = [
    LoggedTable {
        name: "migration.ledger",
        key: &[("entity", "text"), ("legacy_id", "bigint")],
        parks: false,
    },
    LoggedTable {
        name: "migration.lms_deletions",
        key: &[("target_table", "text"), ("target_id", "bigint")],
        parks: false,
    },
];

/// Every logged table.
pub(super) fn all() -> impl Iterator<Item = &'static LoggedTable> {
    DOMAIN_TABLES.iter().chain(BOOKKEEPING_TABLES.iter())
}

impl LoggedTable {
    /// `t` (the table's row) is the row the change log's `c.row_key` names.
    pub fn key_matches_log(&self) -> String {
        self.key
            .iter()
            .map(|(column, sql_type)| {
                format!("t.{column} = (c.row_key ->> '{column}')::{sql_type}")
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// `t` is the row `r` (an image read back into the table's type) names.
    pub fn key_matches_image(&self) -> String {
        self.key
            .iter()
            .map(|(column, _)| format!("t.{column} = r.{column}"))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The key's first column: NULL in `t` when no row matched.
    pub fn first_key_column(&self) -> &'static str {
        self.key.first().map_or("id", |(column, _)| column)
    }

    pub fn is_key(&self, column: &str) -> bool {
        self.key.iter().any(|(key, _)| *key == column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_appears_once() {
        let mut names: Vec<&str> = all().map(|table| table.name).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count);
    }

    #[test]
    fn a_ledger_row_is_found_by_its_table_and_legacy_id() {
        assert_eq!(
            BOOKKEEPING_TABLES[0].key_matches_log(),
            "t.entity = (c.row_key ->> 'entity')::text AND t.legacy_id = (c.row_key ->> 'legacy_id')::bigint"
        );
    }
}
