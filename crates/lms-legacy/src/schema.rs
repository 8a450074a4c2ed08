//! The legacy schema, byte for byte `docs/edu-legacy/schema.sql`.

use sqlx::{AssertSqlSafe, PgConnection, Row};

/// The DDL of the legacy database as production has it.
pub const LEGACY_SCHEMA_SQL: &str = include_str!("../../../docs/edu-legacy/schema.sql");

/// The legacy tables, in the order the schema creates them.
pub const LEGACY_TABLES: [&str; 10] = [
    "organizations",
    "persons",
    "users",
    "groups",
    "students",
    "teachers",
    "subjects",
    "journal",
    "exams",
    "exam_results",
];

/// Creates the legacy tables.
pub async fn create(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(LEGACY_SCHEMA_SQL).execute(conn).await?;
    Ok(())
}

/// Every table in the database outside the system schemas, as `schema.table`.
pub async fn user_tables(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT schemaname || '.' || tablename FROM pg_tables \
         WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .fetch_all(conn)
    .await?;
    rows.iter().map(|row| row.try_get::<String, _>(0)).collect()
}

/// Drops the legacy tables (and only those) if they exist.
pub async fn drop_legacy_tables(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let statement = format!("DROP TABLE IF EXISTS {} CASCADE", LEGACY_TABLES.join(", "));
    sqlx::raw_sql(AssertSqlSafe(statement))
        .execute(conn)
        .await?;
    Ok(())
}

/// Row counts of the legacy tables, in [`LEGACY_TABLES`] order.
pub async fn row_counts(conn: &mut PgConnection) -> Result<Vec<(&'static str, i64)>, sqlx::Error> {
    let mut counts = Vec::with_capacity(LEGACY_TABLES.len());
    for table in LEGACY_TABLES {
        let statement = format!("SELECT count(*) FROM {table}");
        let count: i64 = sqlx::query(AssertSqlSafe(statement))
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
        counts.push((table, count));
    }
    Ok(counts)
}
