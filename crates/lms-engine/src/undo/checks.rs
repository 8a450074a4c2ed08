//! What refuses an undo once the run is one that can be undone: rows it
//! wrote that changed since, and rows it did not write that now reference
//! a row it created.

use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use super::tables::{self, DOMAIN_TABLES};
use crate::error::{DatabaseContext, EngineError};
use crate::sql_template::render;

/// How long an undo waits for the LMS's writers in progress to finish.
const WRITERS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// How many rows a refusal names.
const NAMED_ROWS: i64 = 20;

const DRIFTED: &str = include_str!("sql/drifted.sql");
const FOREIGN_KEYS: &str = include_str!("sql/foreign_keys.sql");
const REFERRERS: &str = include_str!("sql/referrers.sql");

/// Makes every writer of the LMS tables, and of the tables that reference
/// them, wait until the undo commits (reads go on): the checks then see
/// every write committed before it, and none lands after them. Without it,
/// an API edit committing during an undo was overwritten by the restore,
/// and a grade added to an enrollment the undo removed went with it.
pub(super) async fn hold_writers(tx: &mut PgConnection) -> Result<(), EngineError> {
    // Parents first, as the LMS's own writes (and cascades) take them, then
    // the other tables that reference them; a writer that holds on longer
    // than the timeout fails the undo, which can be tried again, rather
    // than stall every other writer behind it.
    let names: Vec<&str> = DOMAIN_TABLES.iter().map(|table| table.name).collect();
    let mut tables: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
    for key in sqlx::query(FOREIGN_KEYS)
        .bind(&names)
        .fetch_all(&mut *tx)
        .await
        .lms()?
    {
        let referencing: String = key.try_get("referencing_table").lms()?;
        if !tables.contains(&referencing) {
            tables.push(referencing);
        }
    }
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{}ms'; LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE",
        WRITERS_WAIT.as_millis(),
        tables.join(", ")
    )))
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}

/// A row named in a refusal.
struct NamedRow {
    text: String,
}

/// Refuses the undo where a row the run wrote is no longer as it left it:
/// a later run or an LMS edit changed it.
pub(super) async fn rows_as_left(tx: &mut PgConnection, run_id: Uuid) -> Result<(), EngineError> {
    let mut named = Vec::new();
    let mut total = 0;
    for table in tables::all() {
        let statement = render(
            DRIFTED,
            &[
                ("table", table.name),
                ("first_key", table.first_key_column()),
                ("key_matches_log", &table.key_matches_log()),
            ],
        )?;
        let rows = sqlx::query(AssertSqlSafe(statement))
            .bind(run_id)
            .bind(NAMED_ROWS)
            .fetch_all(&mut *tx)
            .await
            .lms()?;
        if let Some(first) = rows.first() {
            total += first.try_get::<i64, _>("total").lms()?;
        }
        for row in rows {
            let key: String = row.try_get("row_key").lms()?;
            let legacy_id: Option<i64> = row.try_get("legacy_id").lms()?;
            let how: String = row.try_get("how").lms()?;
            named.push(NamedRow {
                text: format!("{} {key}{} {how}", table.name, legacy_suffix(legacy_id)),
            });
        }
    }
    refuse_naming(
        run_id,
        "rows it wrote are no longer as it left them (a later run or an LMS edit changed them)",
        total_of(&named, total),
        &named,
    )
}

/// Refuses the undo where a row the run did not write references a row it
/// inserted, which the undo would remove.
pub(super) async fn no_new_references(
    tx: &mut PgConnection,
    run_id: Uuid,
) -> Result<(), EngineError> {
    let names: Vec<&str> = DOMAIN_TABLES.iter().map(|table| table.name).collect();
    let keys = sqlx::query(FOREIGN_KEYS)
        .bind(&names)
        .fetch_all(&mut *tx)
        .await
        .lms()?;
    let mut named = Vec::new();
    let mut total = 0;
    for key in keys {
        let referencing: String = key.try_get("referencing_table").lms()?;
        let column: String = key.try_get("referencing_column").lms()?;
        let referenced: String = key.try_get("referenced_table").lms()?;
        let statement = render(
            REFERRERS,
            &[
                ("referencing", &quoted_table(&referencing)),
                ("referencing_name", &referencing),
                ("referenced", &referenced),
                ("column", &quoted(&column)),
            ],
        )?;
        let rows = sqlx::query(AssertSqlSafe(statement))
            .bind(run_id)
            .bind(NAMED_ROWS)
            .fetch_all(&mut *tx)
            .await
            .lms()?;
        if let Some(first) = rows.first() {
            total += first.try_get::<i64, _>("total").lms()?;
        }
        for row in rows {
            let id: i64 = row.try_get("id").lms()?;
            let legacy_id: Option<i64> = row.try_get("legacy_id").lms()?;
            let referenced_id: i64 = row.try_get("referenced_id").lms()?;
            named.push(NamedRow {
                text: format!(
                    "{referencing} id {id}{} references {referenced} id {referenced_id}, which the run created",
                    legacy_suffix(legacy_id)
                ),
            });
        }
    }
    refuse_naming(
        run_id,
        "rows it did not write reference rows it created, which undo would remove",
        total_of(&named, total),
        &named,
    )
}

fn legacy_suffix(legacy_id: Option<i64>) -> String {
    legacy_id.map_or_else(String::new, |id| format!(" (legacy id {id})"))
}

/// At least the rows named (each query counts its own table's rows).
fn total_of(named: &[NamedRow], counted: i64) -> i64 {
    counted.max(i64::try_from(named.len()).unwrap_or(i64::MAX))
}

fn refuse_naming(
    run_id: Uuid,
    why: &str,
    total: i64,
    named: &[NamedRow],
) -> Result<(), EngineError> {
    if named.is_empty() {
        return Ok(());
    }
    let shown: Vec<&str> = named
        .iter()
        .take(usize::try_from(NAMED_ROWS).unwrap_or(usize::MAX))
        .map(|row| row.text.as_str())
        .collect();
    let more = total - i64::try_from(shown.len()).unwrap_or(i64::MAX);
    let more = if more > 0 {
        format!("; and {more} more")
    } else {
        String::new()
    };
    Err(EngineError::UndoRefused(format!(
        "run {run_id} cannot be undone: {why}: {}{more}; nothing was changed",
        shown.join("; ")
    )))
}

/// `"name"`, quoted as an SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A table name as `regclass::text` gives it (`schema.table` outside the
/// search path), quoted part by part.
fn quoted_table(name: &str) -> String {
    name.split('.').map(quoted).collect::<Vec<_>>().join(".")
}
