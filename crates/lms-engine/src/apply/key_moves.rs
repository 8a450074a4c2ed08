//! Key moves: the rows whose natural key moves, applied together in the
//! table's resolve transaction before any chunk.

use lms_domain::LegacyEntity;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::owned::Owned;
use super::specs::ApplySpec;
use super::{
    ApplyContext, Grades, Scoped, decide, execute, load_rows, plan, qualified, write_ledger,
    write_targets,
};
use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use crate::sql_template::render;

const KEY_MOVE_CANDIDATES: &str = include_str!("sql/key_move_candidates.sql");
const BLOCK_MOVES: &str = include_str!("sql/block_moves.sql");
const PARK: &str = include_str!("sql/park.sql");

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
    let scoped: bool =
        sqlx::query("SELECT EXISTS (SELECT 1 FROM migration.apply_scope WHERE entity = $1)")
            .bind(ctx.entity.as_str())
            .fetch_one(&mut *tx)
            .await
            .lms()?
            .try_get(0)
            .lms()?;
    if !has_rows || !scoped {
        return Ok(());
    }
    let lock = if ctx.entity == LegacyEntity::Journal {
        "LOCK TABLE course_enrollments, grades IN SHARE ROW EXCLUSIVE MODE".to_owned()
    } else {
        format!("LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
    };
    execute(tx, lock).await?;
    load_rows(tx, ctx, spec, &IdRange::ALL, Scoped::InScope).await?;
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
    let owned = Owned::load(tx, ctx.entity).await?;
    plan(tx, ctx, &owned, "true").await?;
    decide(tx, ctx).await?;
    let block = render(
        BLOCK_MOVES,
        &[
            ("target", target),
            ("collides", key.collides),
            ("current_x", &owned.current("x", "g")),
            ("adopted_grade_join", Grades::of(ctx.entity).adopted_join),
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
    write_targets(tx, ctx, spec, &owned).await?;
    write_ledger(tx, ctx).await?;
    execute(tx, "DROP TABLE apply_plan, apply_rows".to_owned()).await
}
