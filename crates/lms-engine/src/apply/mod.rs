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

mod bulk_load;
mod key_moves;
mod owned;
mod provision;
mod regroup;
pub mod specs;

pub use bulk_load::apply_bulk;
pub use key_moves::apply_key_moves;
pub use owned::owned_type;
pub use regroup::{Regrouped, regroup_apply_chunks};

use lms_domain::LegacyEntity;
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::bulk::LoadPath;
use crate::conflict::ConflictPolicy;
use crate::error::{DatabaseContext, EngineError};
use crate::plan::IdRange;
use crate::sql_template::render;
use owned::Owned;
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
    pub load_path: LoadPath,
}

const PLAN: &str = include_str!("sql/plan.sql");
const GRADE_JOIN: &str = include_str!("sql/grade_join.sql");
const ADOPT: &str = include_str!("sql/adopt.sql");
const DECIDE: &str = include_str!("sql/decide.sql");
const DEFER_KEY_MOVES: &str = include_str!("sql/defer_key_moves.sql");
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
    let outside = outside_scope(tx, ctx, &range).await?;
    if outside.scoped == 0 {
        // Nothing in this range may have changed.
        return Ok(outside.changes(Changes::default()));
    }
    load_rows(tx, ctx, spec, &range, Scoped::InScope).await?;
    match ctx.entity {
        LegacyEntity::Students => provision::provision_accounts(tx, provision::STUDENTS).await?,
        LegacyEntity::Teachers => provision::provision_accounts(tx, provision::TEACHERS).await?,
        _ => {}
    }
    let owned = Owned::load(tx, ctx.entity).await?;
    // Chunks own disjoint ranges of legacy ids, so every lookup of this
    // chunk's existing rows is bounded by its range: an index range scan,
    // however large the table has grown.
    plan(tx, ctx, &owned, &range.predicate("t.legacy_id")).await?;
    if let Some(key) = spec.natural_key {
        let grades = Grades::of(ctx.entity);
        let adopt = render(
            ADOPT,
            &[
                ("target", ctx.entity.target_table()),
                ("collides", key.collides),
                ("current_x", &owned.current("x", "g")),
                ("adopted_grade_id", grades.adopted_id),
                ("adopted_grade_join", grades.adopted_join),
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
    write_targets(tx, ctx, spec, &owned).await?;
    write_ledger(tx, ctx).await?;
    Ok(outside.changes(changes(tx).await?))
}

/// `apply_rows` for the whole apply scope of the context's table, in the
/// table's resolve transaction (its hand-over of key groups reads it); the
/// caller drops it.
pub(crate) async fn load_scope_rows(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
) -> Result<(), EngineError> {
    let spec = ApplySpec::for_entity(ctx.entity);
    load_rows(tx, ctx, spec, &IdRange::ALL, Scoped::InScope).await
}

const OUTSIDE_SCOPE: &str = include_str!("sql/outside_scope.sql");

/// A range's rows the apply does not look at: unchanged, or (an open
/// conflict) still conflicting.
#[derive(Debug, Clone, Copy)]
struct OutsideScope {
    /// Staged rows in the range.
    rows: i64,
    /// Of them, in the scope.
    scoped: i64,
    /// Of the others, with an open conflict.
    conflicts: i64,
}

impl OutsideScope {
    /// The range's changes: the scope's, and the rest unchanged or in conflict.
    fn changes(self, scoped: Changes) -> Changes {
        let conflicts = scoped.conflicts + self.conflicts;
        Changes {
            rows: self.rows,
            created: scoped.created,
            updated: scoped.updated,
            unchanged: self.rows - scoped.created - scoped.updated - conflicts,
            conflicts,
        }
    }
}

async fn outside_scope(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    range: &IdRange,
) -> Result<OutsideScope, EngineError> {
    // The chunk's range is whole stage ranges, whose chunks recorded their rows.
    let rows = crate::bulk::recorded_stage_rows(tx, ctx.run_id, ctx.entity, *range).await?;
    let statement = render(
        OUTSIDE_SCOPE,
        &[
            ("stage_range", &range.predicate("s.legacy_id")),
            ("ledger_range", &range.predicate("l.legacy_id")),
        ],
    )?;
    let row = sqlx::query(AssertSqlSafe(statement))
        .bind(ctx.entity.as_str())
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    Ok(OutsideScope {
        rows,
        scoped: row.try_get("scoped").lms()?,
        conflicts: row.try_get("conflicts").lms()?,
    })
}

/// Which staged rows an apply looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scoped {
    /// Every row (a bulk load: every row is new).
    AllRows,
    /// Those the resolve step put in `migration.apply_scope`.
    InScope,
}

/// `apply_rows`: the scope's proposal, one row per staged legacy row, in
/// the target's columns. Legacy timestamps carry no zone: they are read in
/// the configured one; everything after compares in UTC.
async fn load_rows(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    spec: &ApplySpec,
    range: &IdRange,
    scoped: Scoped,
) -> Result<(), EngineError> {
    let selection = match scoped {
        Scoped::AllRows => range.predicate("s.legacy_id"),
        Scoped::InScope => {
            let scope = format!(
                "SELECT legacy_id FROM migration.apply_scope WHERE entity = '{}' AND {}",
                ctx.entity.as_str(),
                range.predicate("legacy_id")
            );
            if *range == IdRange::ALL {
                // The whole table's scope (key moves), which may be every
                // row: left to the planner.
                format!("s.legacy_id IN ({scope})")
            } else {
                // An apply chunk's scope (at most about two chunks' worth,
                // `regroup`) as an array of ids, in the base scan's
                // condition, so that staging is read by key, one lookup per
                // id. (As `IN (SELECT …)` the planner merged the scope with
                // the chunk's whole range of staging: on a seed-scale 1%
                // journal delta, 235,000 staged rows read for 2,341 in
                // scope, 139 ms against 45 ms.)
                format!(
                    "{} AND s.legacy_id = ANY (ARRAY({scope}))",
                    range.predicate("s.legacy_id")
                )
            }
        }
    };
    gather_rows(tx, ctx, spec, &selection).await?;
    // Every later step joins on legacy_id; with an index, no estimate can
    // turn a join into a scan per row.
    execute(
        tx,
        "CREATE INDEX ON apply_rows (legacy_id); ANALYZE apply_rows".to_owned(),
    )
    .await
}

/// `apply_rows` as a plain temporary table of the staged rows `selection`
/// picks: read in legacy's zone, the session back on UTC after. (The bulk
/// path reads it once, in order; `load_rows` indexes it for joins.)
async fn gather_rows(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    spec: &ApplySpec,
    selection: &str,
) -> Result<(), EngineError> {
    set_timezone(tx, ctx.legacy_timezone).await?;
    let create = format!(
        "CREATE TEMP TABLE apply_rows ON COMMIT DROP AS {}",
        (spec.rows)(selection)
    );
    execute(tx, create).await?;
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
    owned: &Owned,
    in_range: &str,
) -> Result<(), EngineError> {
    let grades = Grades::of(ctx.entity);
    let statement = render(
        PLAN,
        &[
            ("proposal", &owned.proposal()),
            ("written", &owned.read_baseline("l.written")),
            ("proposed", &owned.read_proposed("l.proposed")),
            ("grade_id", grades.plan_id),
            ("current", &owned.current("t", "g")),
            ("target", ctx.entity.target_table()),
            ("in_range", in_range),
            ("grade_join", grades.plan_join),
        ],
    )?;
    sqlx::query(AssertSqlSafe(statement))
        .bind(ctx.run_id)
        .bind(ctx.entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    execute(
        tx,
        "CREATE INDEX ON apply_plan (legacy_id); CREATE INDEX ON apply_plan (target_id); ANALYZE apply_plan"
            .to_owned(),
    )
    .await
}

/// How a table's rows meet their final grades: only the journal has any.
#[derive(Debug, Clone, Copy)]
struct Grades {
    /// The plan's lateral join finding a row's grade (as `g`).
    plan_join: &'static str,
    /// The grade's id in the plan.
    plan_id: &'static str,
    /// The final grade born in the LMS of an LMS row `x` a row takes on.
    adopted_id: &'static str,
    /// That grade, joined as `g`.
    adopted_join: &'static str,
    /// The grade the plan found, joined as `g` in the guarded write.
    guard_join: &'static str,
    /// Locks the rows to apply and their grades, before the guarded write.
    guard_lock: &'static str,
}

impl Grades {
    fn of(entity: LegacyEntity) -> Grades {
        if entity == LegacyEntity::Journal {
            Grades {
                plan_join: GRADE_JOIN,
                plan_id: "g.id",
                adopted_id: "(SELECT ag.id FROM grades ag WHERE ag.enrollment_id = x.id AND ag.legacy_id IS NULL \
                              AND ag.kind = 'final' AND ag.source_deleted_at IS NULL LIMIT 1)",
                adopted_join: "LEFT JOIN grades g ON g.id = (SELECT ag.id FROM grades ag \
                               WHERE ag.enrollment_id = x.id AND ag.legacy_id IS NULL \
                               AND ag.kind = 'final' AND ag.source_deleted_at IS NULL LIMIT 1)",
                guard_join: "LEFT JOIN grades g ON g.id = p.grade_id \
                             AND (g.source_deleted_at IS NULL OR p.retired)",
                guard_lock: "SELECT 1 FROM course_enrollments t JOIN apply_plan p ON t.id = p.target_id \
                             WHERE p.action = 'apply' ORDER BY t.id FOR NO KEY UPDATE OF t; \
                             SELECT 1 FROM grades g JOIN apply_plan p ON g.id = p.grade_id \
                             WHERE p.action = 'apply' ORDER BY g.id FOR NO KEY UPDATE OF g;",
            }
        } else {
            Grades {
                plan_join: "",
                plan_id: "NULL::bigint",
                adopted_id: "NULL::bigint",
                adopted_join: "",
                guard_join: "",
                guard_lock: "",
            }
        }
    }
}

async fn decide(tx: &mut PgConnection, ctx: &ApplyContext<'_>) -> Result<(), EngineError> {
    sqlx::query(DECIDE)
        .bind(ctx.on_conflict.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    // The plan was analyzed before any row had an action: every statement
    // after this one picks its rows by action, and over a one-row estimate
    // the guarded update's anti-join against the rows it applied nests
    // loops (thousands of rows squared, seconds per chunk).
    execute(tx, "ANALYZE apply_plan".to_owned()).await
}

/// Updates the rows decided `apply`, inserts the new ones, and (journal)
/// their grades.
async fn write_targets(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    spec: &ApplySpec,
    owned: &Owned,
) -> Result<(), EngineError> {
    let target = ctx.entity.target_table();
    let columns: Vec<&str> = owned
        .main_columns()
        .chain(spec.derived.iter().copied())
        .collect();
    let values: Vec<String> = columns.iter().map(|column| format!("a.{column}")).collect();
    let (columns, values) = (columns.join(", "), values.join(", "));
    let update = render(
        UPDATE_TARGETS,
        &[
            ("target", target),
            ("columns", &columns),
            ("values", &values),
            ("grade_join", Grades::of(ctx.entity).guard_join),
            ("lock_rows", Grades::of(ctx.entity).guard_lock),
            ("current_t", &owned.current("t", "g")),
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
        let written = || part.owned.iter().chain(part.derived);
        let grade_columns: Vec<&str> = written().map(|(column, _)| *column).collect();
        let grade_values: Vec<String> = written().map(|(_, from)| format!("a.{from}")).collect();
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
