//! The apply phase: one scope's target rows and ledger rows, written in one
//! transaction, so a scope is applied whole or not at all.
//!
//! Writes follow the three-way delta (`sql/decide.sql`): the contract's
//! proposal now, what the migration last wrote (the ledger's `written`),
//! what legacy last proposed (`proposed`), and the LMS row now. Legacy
//! unchanged: the LMS row is not touched, whatever it holds. Legacy changed
//! and the LMS row as last written: the change is applied, guarded in the
//! UPDATE's WHERE clause so that an API write racing the run is never
//! overwritten. Both changed: a conflict, settled by the run's policy.
//!
//! A scope is a chunk's id range, or (for tables with a natural unique
//! key) the rows whose key moves, which the table's resolve step applies in
//! one transaction before any chunk runs: see [`apply_key_moves`].

mod json;
mod provision;
pub mod specs;

use lms_domain::LegacyEntity;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::conflict::ConflictPolicy;
use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use crate::sql_template::render;
use json::Builders;
use specs::ApplySpec;

/// What one apply scope changed in the LMS, by legacy row: every row is
/// counted once, so `created + updated + unchanged + conflicts = rows`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Legacy rows in the scope.
    pub rows: i64,
    /// Rows new to the ledger, and rows that got an LMS row of their own.
    pub created: i64,
    /// Rows whose LMS row the run wrote, or whose outcome changed.
    pub updated: i64,
    /// Rows the run left as they were in the LMS (a legacy edit that
    /// changes no value the LMS holds is one of them).
    pub unchanged: i64,
    /// Rows with an open conflict: legacy's values wait while the LMS row
    /// keeps its own.
    #[serde(default)]
    pub conflicts: i64,
}

/// What an apply needs to know of its run.
#[derive(Debug, Clone, Copy)]
pub struct ApplyContext<'a> {
    pub run_id: Uuid,
    pub entity: LegacyEntity,
    /// The legacy `timestamp` columns' zone.
    pub legacy_timezone: &'a str,
    pub on_conflict: ConflictPolicy,
}

const PLAN: &str = include_str!("sql/plan.sql");
const GRADE_JOIN: &str = include_str!("sql/grade_join.sql");
const ADOPT: &str = include_str!("sql/adopt.sql");
const DECIDE: &str = include_str!("sql/decide.sql");
const DEFER_KEY_MOVES: &str = include_str!("sql/defer_key_moves.sql");
const KEY_MOVE_CANDIDATES: &str = include_str!("sql/key_move_candidates.sql");
const BLOCK_MOVES: &str = include_str!("sql/block_moves.sql");
const PARK: &str = include_str!("sql/park.sql");
const UPDATE_TARGETS: &str = include_str!("sql/update_targets.sql");
const INSERT_TARGETS: &str = include_str!("sql/insert_targets.sql");
const GRADES: &str = include_str!("sql/grades.sql");
const LEDGER: &str = include_str!("sql/ledger.sql");
const CHANGES: &str = include_str!("sql/changes.sql");

/// Applies the staged rows of the context's table in `range`.
pub async fn apply_range(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    range: IdRange,
) -> Result<Changes, EngineError> {
    let spec = ApplySpec::for_entity(ctx.entity);
    load_rows(tx, ctx, spec, &range).await?;
    match ctx.entity {
        LegacyEntity::Students => provision::provision_accounts(tx, provision::STUDENTS).await?,
        LegacyEntity::Teachers => provision::provision_accounts(tx, provision::TEACHERS).await?,
        _ => {}
    }
    let builders = Builders::load(tx, spec).await?;
    // Chunks own disjoint ranges of legacy ids, so every lookup of this
    // chunk's existing rows is bounded by its range: an index range scan,
    // however large the table has grown.
    plan(tx, ctx, spec, &builders, &range.predicate("t.legacy_id")).await?;
    if let Some(key) = spec.natural_key {
        let adopt = render(
            ADOPT,
            &[
                ("target", ctx.entity.target_table()),
                ("collides", key.collides),
                (
                    "current_x",
                    &builders.current("x", &builders.adopted_grade_id()),
                ),
                ("adopted_grade_id", &builders.adopted_grade_id()),
            ],
        )?;
        execute(tx, adopt).await?;
    }
    decide(tx, ctx).await?;
    if let Some(key) = spec.natural_key {
        let defer = render(
            DEFER_KEY_MOVES,
            &[
                ("target", ctx.entity.target_table()),
                ("key_t", &qualified("t", key.columns)),
                ("key_a", &qualified("a", key.columns)),
            ],
        )?;
        execute(tx, defer).await?;
    }
    write_targets(tx, ctx, spec, &builders).await?;
    write_ledger(tx, ctx).await?;
    changes(tx).await
}

/// Applies, in the table's resolve transaction, every row whose natural
/// key moves (or that comes back from retirement into the unique indexes):
/// moving keys leave the unique indexes together and come back with their
/// new values, so any permutation of keys applies, at any chunk size. A row
/// whose new key stays held by a row that does not move (an LMS-born row,
/// or one whose conflict kept its values) keeps its old key, as a conflict.
///
/// API writes to the table wait for the few moments this takes, so that no
/// decision here can be overtaken by one.
pub async fn apply_key_moves(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
) -> Result<(), EngineError> {
    let spec = ApplySpec::for_entity(ctx.entity);
    let Some(key) = spec.natural_key else {
        return Ok(());
    };
    let target = ctx.entity.target_table();
    let has_rows: bool = sqlx::query(AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM {target} WHERE legacy_id IS NOT NULL)"
    )))
    .fetch_one(&mut *tx)
    .await
    .lms()?
    .try_get(0)
    .lms()?;
    if !has_rows {
        return Ok(());
    }
    let lock = if ctx.entity == LegacyEntity::Journal {
        "LOCK TABLE course_enrollments, grades IN SHARE ROW EXCLUSIVE MODE".to_owned()
    } else {
        format!("LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
    };
    execute(tx, lock).await?;
    load_rows(tx, ctx, spec, &IdRange::ALL).await?;
    let candidates = render(
        KEY_MOVE_CANDIDATES,
        &[
            ("target", target),
            ("key_t", &qualified("t", key.columns)),
            ("key_a", &qualified("a", key.columns)),
        ],
    )?;
    let moving = sqlx::raw_sql(AssertSqlSafe(candidates))
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected();
    tracing::debug!(entity = %ctx.entity, not_moving = moving, "key move candidates chosen");
    let builders = Builders::load(tx, spec).await?;
    plan(tx, ctx, spec, &builders, "true").await?;
    decide(tx, ctx).await?;
    let block = render(
        BLOCK_MOVES,
        &[
            ("target", target),
            ("collides", key.collides),
            (
                "current_x",
                &builders.current("x", &builders.adopted_grade_id()),
            ),
        ],
    )?;
    // Each round blocks at least one more row or ends; rows are finite.
    loop {
        let blocked = sqlx::raw_sql(AssertSqlSafe(block.clone()))
            .execute(&mut *tx)
            .await
            .lms()?
            .rows_affected();
        if blocked == 0 {
            break;
        }
    }
    execute(tx, render(PARK, &[("target", target)])?).await?;
    write_targets(tx, ctx, spec, &builders).await?;
    write_ledger(tx, ctx).await?;
    execute(tx, "DROP TABLE apply_plan, apply_rows".to_owned()).await
}

/// `apply_rows`: the scope's proposal, one row per staged legacy row, in
/// the target's columns. Legacy timestamps carry no zone: they are read in
/// the configured one; everything after compares in UTC.
async fn load_rows(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    spec: &ApplySpec,
    range: &IdRange,
) -> Result<(), EngineError> {
    set_timezone(tx, ctx.legacy_timezone).await?;
    let create = format!(
        "CREATE TEMP TABLE apply_rows ON COMMIT DROP AS {}",
        (spec.rows)(range)
    );
    execute(tx, create).await?;
    execute(tx, "ANALYZE apply_rows".to_owned()).await?;
    set_timezone(tx, "UTC").await
}

async fn set_timezone(tx: &mut PgConnection, zone: &str) -> Result<(), EngineError> {
    sqlx::query("SELECT set_config('TimeZone', $1, true)")
        .bind(zone)
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

async fn plan(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    spec: &ApplySpec,
    builders: &Builders,
    in_range: &str,
) -> Result<(), EngineError> {
    let journal = ctx.entity == LegacyEntity::Journal;
    let statement = render(
        PLAN,
        &[
            ("proposal", &builders.proposal()),
            ("grade_id", if journal { "g.id" } else { "NULL::bigint" }),
            ("current", &builders.current("t", "g.id")),
            ("target", spec.entity.target_table()),
            ("in_range", in_range),
            ("grade_join", if journal { GRADE_JOIN } else { "" }),
        ],
    )?;
    sqlx::query(AssertSqlSafe(statement))
        .bind(ctx.run_id)
        .bind(ctx.entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    execute(tx, "ANALYZE apply_plan".to_owned()).await
}

async fn decide(tx: &mut PgConnection, ctx: &ApplyContext<'_>) -> Result<(), EngineError> {
    sqlx::query(DECIDE)
        .bind(ctx.on_conflict.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

/// Updates the rows decided `apply`, inserts the new ones, and (journal)
/// their grades.
async fn write_targets(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    spec: &ApplySpec,
    builders: &Builders,
) -> Result<(), EngineError> {
    let target = ctx.entity.target_table();
    let columns: Vec<&str> = spec.written_columns().collect();
    let values: Vec<String> = columns.iter().map(|column| format!("a.{column}")).collect();
    let (columns, values) = (columns.join(", "), values.join(", "));
    let update = render(
        UPDATE_TARGETS,
        &[
            ("target", target),
            ("columns", &columns),
            ("values", &values),
            ("current_t", &builders.current("t", "p.grade_id")),
        ],
    )?;
    execute(tx, update).await?;
    let insert = render(
        INSERT_TARGETS,
        &[
            ("target", target),
            ("columns", &columns),
            ("values", &values),
        ],
    )?;
    execute(tx, insert).await?;
    if ctx.entity == LegacyEntity::Journal {
        let part = &specs::GRADE_PART;
        let grade_columns: Vec<&str> = part
            .owned
            .iter()
            .chain(part.derived)
            .map(|(column, _)| *column)
            .collect();
        let grade_values: Vec<String> = part
            .owned
            .iter()
            .chain(part.derived)
            .map(|(_, from)| json::from_apply_row(from))
            .collect();
        let grades = render(
            GRADES,
            &[
                ("grade_columns", &grade_columns.join(", ")),
                ("grade_values", &grade_values.join(", ")),
            ],
        )?;
        execute(tx, grades).await?;
    }
    Ok(())
}

async fn write_ledger(tx: &mut PgConnection, ctx: &ApplyContext<'_>) -> Result<(), EngineError> {
    sqlx::query(LEDGER)
        .bind(ctx.run_id)
        .bind(ctx.entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

async fn changes(tx: &mut PgConnection) -> Result<Changes, EngineError> {
    let row = sqlx::query(CHANGES).fetch_one(&mut *tx).await.lms()?;
    let rows: i64 = row.try_get("rows").lms()?;
    let created: i64 = row.try_get("created").lms()?;
    let updated: i64 = row.try_get("updated").lms()?;
    let conflicts: i64 = row.try_get("conflicts").lms()?;
    Ok(Changes {
        rows,
        created,
        updated,
        unchanged: rows - created - updated - conflicts,
        conflicts,
    })
}

/// `alias.column, ...` for a key's columns.
fn qualified(alias: &str, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|column| format!("{alias}.{column}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn execute(tx: &mut PgConnection, sql: String) -> Result<(), EngineError> {
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}
