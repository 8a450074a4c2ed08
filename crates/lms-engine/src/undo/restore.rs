//! Puts back the before-images of every row a run wrote, in an order the
//! foreign keys accept: rows it left in place are parked out of the unique
//! indexes; rows it deleted come back, parents first; rows it updated are
//! set back; rows it inserted go, children first.

use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use super::tables::{BOOKKEEPING_TABLES, DOMAIN_TABLES, LoggedTable};
use crate::error::{DatabaseContext, EngineError};
use crate::sql_template::render;

const PARK: &str = include_str!("sql/park.sql");
const REINSERT: &str = include_str!("sql/reinsert.sql");
const RESTORE: &str = include_str!("sql/restore.sql");
const REMOVE: &str = include_str!("sql/remove.sql");
const COLUMNS: &str = include_str!("sql/columns.sql");

/// Restores every logged row of `run_id`; returns how many rows were
/// written.
pub(super) async fn restore(tx: &mut PgConnection, run_id: Uuid) -> Result<u64, EngineError> {
    let mut written = 0;
    // Parked rows carry no legacy id: removing them notes no LMS deletion.
    for table in DOMAIN_TABLES.iter().filter(|table| table.parks) {
        run(tx, PARK, table, &[], run_id).await?;
    }
    for tables in [&DOMAIN_TABLES[..], &BOOKKEEPING_TABLES[..]] {
        for table in tables {
            written += run(tx, REINSERT, table, &[], run_id).await?;
        }
        for table in tables {
            let (columns, image_columns) = set_back_columns(tx, table).await?;
            written += run(
                tx,
                RESTORE,
                table,
                &[
                    ("columns", &columns),
                    ("image_columns", &image_columns),
                    ("key_matches_image", &table.key_matches_image()),
                ],
                run_id,
            )
            .await?;
        }
        for table in tables.iter().rev() {
            written += run(tx, REMOVE, table, &[], run_id).await?;
        }
    }
    Ok(written)
}

/// The columns an image sets back (all but the key and identity columns),
/// as the UPDATE's target list and as the image's values.
async fn set_back_columns(
    tx: &mut PgConnection,
    table: &LoggedTable,
) -> Result<(String, String), EngineError> {
    let rows = sqlx::query(COLUMNS)
        .bind(table.name)
        .fetch_all(&mut *tx)
        .await
        .lms()?;
    let mut names = Vec::with_capacity(rows.len());
    for row in rows {
        let name: String = row.try_get("name").lms()?;
        if !table.is_key(&name) {
            names.push(format!("\"{}\"", name.replace('"', "\"\"")));
        }
    }
    if names.is_empty() {
        return Err(EngineError::Invariant(format!(
            "{} has no column to set back",
            table.name
        )));
    }
    let image: Vec<String> = names.iter().map(|name| format!("r.{name}")).collect();
    Ok((names.join(", "), image.join(", ")))
}

/// Fills `template` for `table` and runs it for the run; rows affected.
async fn run(
    tx: &mut PgConnection,
    template: &str,
    table: &LoggedTable,
    extra: &[(&str, &str)],
    run_id: Uuid,
) -> Result<u64, EngineError> {
    let key_matches_log = table.key_matches_log();
    let mut holes: Vec<(&str, &str)> = vec![("table", table.name)];
    if template.contains("{{key_matches_log}}") {
        holes.push(("key_matches_log", &key_matches_log));
    }
    holes.extend_from_slice(extra);
    let statement = render(template, &holes)?;
    Ok(sqlx::query(AssertSqlSafe(statement))
        .bind(run_id)
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected())
}
