//! The bulk path's apply: every row is new, and one statement inserts the
//! targets, their final grades and the ledger with its baselines.

use lms_domain::LegacyEntity;
use sqlx::{AssertSqlSafe, PgConnection};

use super::owned::Owned;
use super::specs::{self, ApplySpec};
use super::{ApplyContext, Changes, Scoped, gather_rows, load_rows, provision, set_timezone};
use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use crate::sql_template::render;

const BULK_INSERT: &str = include_str!("sql/bulk_insert.sql");
const BULK_GRADES: &str = include_str!("sql/bulk_grades.sql");
const LOOKUPS_BY_INDEX: &str = "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off";
const PLANNER_DEFAULTS: &str =
    "SET LOCAL enable_hashjoin TO DEFAULT; SET LOCAL enable_mergejoin TO DEFAULT";

/// Applies the staged rows of the context's table in `range` into empty
/// target tables (the bulk path): every row is new, so nothing is compared;
/// the target rows, their grades and the ledger (with what was written as
/// the baseline) are inserted by one statement.
pub async fn apply_bulk(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    range: IdRange,
) -> Result<Changes, EngineError> {
    let spec = ApplySpec::for_entity(ctx.entity);
    let owned = Owned::load(tx, ctx.entity).await?;
    // Accounts are provisioned into the rows first (students, teachers).
    let provisioning = match ctx.entity {
        LegacyEntity::Students => Some(provision::STUDENTS),
        LegacyEntity::Teachers => Some(provision::TEACHERS),
        _ => None,
    };
    // The rows are read with legacy's zone as the session's. A baseline
    // holding a timestamp is text in the session's zone, and must be in
    // UTC, as the delta path compares it: those rows get a table of their
    // own, gathered before the zone goes back to UTC (unindexed: the
    // insert reads it once). The others' rows feed the insert directly.
    let rows = if let Some(who) = provisioning {
        load_rows(tx, ctx, spec, &range, Scoped::AllRows).await?;
        provision::provision_accounts(tx, who).await?;
        String::new()
    } else if owned.holds_instants() {
        // Each row's lookups by key, as the CTE's below (the comment there).
        set_planner(tx, LOOKUPS_BY_INDEX).await?;
        gather_rows(tx, ctx, spec, &range.predicate("s.legacy_id")).await?;
        set_planner(tx, PLANNER_DEFAULTS).await?;
        String::new()
    } else {
        set_timezone(tx, ctx.legacy_timezone).await?;
        format!(
            "apply_rows AS MATERIALIZED ({}),",
            (spec.rows)(&range.predicate("s.legacy_id"))
        )
    };
    let columns: Vec<&str> = owned
        .main_columns()
        .chain(spec.derived.iter().copied())
        .collect();
    let values: Vec<String> = columns.iter().map(|column| format!("a.{column}")).collect();
    let grades = if ctx.entity == LegacyEntity::Journal {
        let part = &specs::GRADE_PART;
        let written = || part.owned.iter().chain(part.derived);
        let grade_columns: Vec<&str> = written().map(|(column, _)| *column).collect();
        let grade_values: Vec<String> = written().map(|(_, from)| format!("a.{from}")).collect();
        render(
            BULK_GRADES,
            &[
                ("grade_columns", &grade_columns.join(", ")),
                ("grade_values", &grade_values.join(", ")),
            ],
        )?
    } else {
        String::new()
    };
    let target = ctx.entity.target_table();
    let sequence: Option<String> =
        sqlx::query_scalar("SELECT quote_literal(pg_get_serial_sequence($1, 'id'))")
            .bind(target)
            .fetch_one(&mut *tx)
            .await
            .lms()?;
    let sequence = sequence
        .ok_or_else(|| EngineError::Invariant(format!("{target}.id has no identity sequence")))?;
    let statement = render(
        BULK_INSERT,
        &[
            ("rows", &rows),
            ("sequence", &sequence),
            ("target", target),
            ("columns", &columns.join(", ")),
            ("values", &values.join(", ")),
            ("grades", &grades),
            ("baseline", &owned.baseline(&owned.proposal())),
        ],
    )?;
    // Where the chunk's rows are a CTE of this statement (the tables whose
    // rows were not gathered above, the journal among them), each of its
    // joins is a lookup by key (the ledger's ids, the resolutions, the
    // courses' offering key), so each row is looked up by index. Left to
    // its estimates, the planner hashed or sorted whole tables for every
    // chunk instead: at 10x scale, for each 25,000-row journal chunk, all
    // 212,000 journal resolutions, 62,000 students and 242,000 courses, a
    // cost that grows with the table and so with the square of the load.
    set_planner(tx, LOOKUPS_BY_INDEX).await?;
    let rows = sqlx::query(AssertSqlSafe(statement))
        .bind(ctx.run_id)
        .bind(ctx.entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected();
    set_planner(tx, PLANNER_DEFAULTS).await?;
    // Whatever the chunk does after this reads times in UTC.
    set_timezone(tx, "UTC").await?;
    let rows = i64::try_from(rows).unwrap_or(i64::MAX);
    Ok(Changes {
        rows,
        created: rows,
        ..Changes::default()
    })
}

/// Runs `LOOKUPS_BY_INDEX` or `PLANNER_DEFAULTS`.
async fn set_planner(tx: &mut PgConnection, settings: &'static str) -> Result<(), EngineError> {
    sqlx::raw_sql(settings).execute(&mut *tx).await.lms()?;
    Ok(())
}
