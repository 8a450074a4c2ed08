//! Re-runs cost what changed. Before a table is resolved, the run decides
//! from the facts whether anything can have changed for it: rows staged
//! new, changed or gone since the ledger last caught up with staging,
//! referenced rows whose ledger changed since, LMS rows deleted in the
//! LMS, conflicts to try again. If nothing can have, the table is skipped:
//! its resolutions stand, its apply looks at no row. Otherwise it is
//! resolved (the journal only over its touched rows, `RulesOver`), and its
//! apply looks only at the rows that may have changed
//! (`migration.apply_scope`): for users, that includes those whose settled
//! login or email another user's change moved (`scope_settled_accounts.sql`).

use chrono::{DateTime, Utc};
use lms_domain::LegacyEntity;
use serde::Serialize;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::RulesOver;
use crate::apply::ApplyContext;
use crate::apply::specs::ORGANIZATION_PARENT_DANGLES;
use crate::bulk::loaded_tables;
use crate::error::{DatabaseContext, EngineError};
use crate::sql_template::render;
use crate::stage::stage_table;
use crate::statistics::{self, Locked};

/// The version of the contract's rules in this engine. Bump it with any
/// change that makes the contract propose other values for an unchanged
/// legacy row: the next run then looks at every row again.
///
/// Version 2: legacy logins, emails and academic years beyond the lengths
/// PostgreSQL can index (docs/contract.md).
/// Version 3: a login placeholder gives way to the legacy login it collides
/// with.
/// Version 4: a mark of any number of leading zeros is read past them
/// (`0000000005` is 5), and a bcrypt hash's cost must be one bcrypt accepts
/// (4 to 31, ASCII digits).
/// Version 5: a `NaN` score is `score_out_of_range`, and an exam's
/// resubmissions are ordered by `submitted_at` as legacy holds it
/// (`infinity` is the latest).
/// Version 6: a student's or teacher's user with no LMS row (deleted in the
/// LMS, or waiting on `key_taken`) is `user_provisioned`, and a user's
/// person with none is `dangling_person`, with a detail that says so.
///
/// (The organization tree's rings, `lms_data::organization_tree`, came
/// without a bump: every run judges every staged organization's link again,
/// `sql/scope_parent_links.sql`, and the finalize links every parent.)
pub const RULES_VERSION: u32 = 6;

/// The terms a run's proposals are computed under: rows proposed under
/// other terms may propose otherwise now, whatever legacy did.
pub fn terms(legacy_timezone: &str) -> String {
    format!("rules {RULES_VERSION}; legacy timezone {legacy_timezone}")
}

const SCOPE_CANDIDATES: &str = include_str!("sql/scope_candidates.sql");
const SCOPE_ADD: &str = include_str!("sql/scope_add.sql");
const FACTS: &str = include_str!("sql/facts.sql");
const DEPENDENT: &str = include_str!("sql/dependent.sql");
const SETTLED_ACCOUNTS: &str = include_str!("sql/scope_settled_accounts.sql");
const PARENT_LINKS: &str = include_str!("sql/scope_parent_links.sql");

/// What a delta run knows, before resolving a table, of what changed.
#[derive(Debug, Clone, Serialize)]
pub struct Facts {
    /// The mirror, the resolutions and the ledger were in step but for the
    /// rows recorded in `migration.stage_changes`.
    pub in_step: bool,
    /// The referenced tables' ledger as the table last caught up with it.
    pub references_seen: Option<DateTime<Utc>>,
    /// Rows staged new, changed or gone and not yet applied.
    pub staged_changes: bool,
    /// A referenced row's ledger changed since `references_seen`.
    pub references_changed: bool,
    /// Migrated LMS rows of the table deleted in the LMS, not yet noted.
    pub lms_deletions: bool,
    /// Open conflicts the run must look at again.
    pub conflicts_to_retry: bool,
    /// Rows a run that did not finish put in the apply scope: what it
    /// applied is not caught up yet (merged rows may still have to follow
    /// a survivor it applied), whatever consumed the change it came for (a
    /// conflict it settled).
    pub scope_left: bool,
    /// The ledger's proposals were computed under other terms (another
    /// rules version or legacy time zone): every row is looked at again.
    pub terms_changed: bool,
}

impl Facts {
    /// Whether nothing can have changed for the table in this run.
    pub fn nothing_changed(&self) -> bool {
        self.in_step
            && !self.staged_changes
            && !self.references_changed
            && !self.lms_deletions
            && !self.conflicts_to_retry
            && !self.scope_left
            && !self.terms_changed
    }
}

/// The legacy columns of a staged table that reference another table.
fn references(entity: LegacyEntity) -> &'static [(&'static str, LegacyEntity)] {
    use LegacyEntity::*;
    match entity {
        Organizations | Persons => &[],
        Users => &[("person_legacy_id", Persons)],
        Teachers => &[
            ("person_legacy_id", Persons),
            ("user_legacy_id", Users),
            ("organization_legacy_id", Organizations),
        ],
        Groups => &[
            ("organization_legacy_id", Organizations),
            ("curator_legacy_id", Teachers),
        ],
        Subjects => &[("organization_legacy_id", Organizations)],
        Students => &[
            ("person_legacy_id", Persons),
            ("user_legacy_id", Users),
            ("organization_legacy_id", Organizations),
            ("group_legacy_id", Groups),
        ],
        Journal => &[
            ("student_legacy_id", Students),
            ("subject_legacy_id", Subjects),
            ("group_legacy_id", Groups),
            ("teacher_legacy_id", Teachers),
        ],
        Exams => &[
            ("subject_legacy_id", Subjects),
            ("group_legacy_id", Groups),
            ("teacher_legacy_id", Teachers),
        ],
        ExamResults => &[("exam_legacy_id", Exams), ("student_legacy_id", Students)],
    }
}

/// Gathers the facts for `ctx.entity`.
pub async fn facts(tx: &mut PgConnection, ctx: &ApplyContext<'_>) -> Result<Facts, EngineError> {
    let entity = ctx.entity;
    let state = sqlx::query(
        "SELECT in_step, references_seen, proposed_under FROM migration.stage_state WHERE entity = $1",
    )
    .bind(entity.as_str())
    .fetch_optional(&mut *tx)
    .await
    .lms()?;
    let (in_step, references_seen, proposed_under): (bool, Option<DateTime<Utc>>, Option<String>) =
        match &state {
            Some(row) => (
                row.try_get("in_step").lms()?,
                row.try_get("references_seen").lms()?,
                row.try_get("proposed_under").lms()?,
            ),
            None => (false, None, None),
        };
    let referenced: Vec<&str> = references(entity)
        .iter()
        .map(|(_, referenced)| referenced.as_str())
        .collect();
    let row = sqlx::query(FACTS)
        .bind(entity.as_str())
        .bind(&referenced)
        .bind(references_seen)
        .bind(loaded_tables(entity))
        .bind(ctx.on_conflict.as_str())
        .fetch_one(&mut *tx)
        .await
        .lms()?;
    Ok(Facts {
        in_step,
        references_seen,
        staged_changes: row.try_get("staged_changes").lms()?,
        references_changed: row.try_get("references_changed").lms()? && !referenced.is_empty(),
        lms_deletions: row.try_get("lms_deletions").lms()?,
        conflicts_to_retry: row.try_get("conflicts_to_retry").lms()?,
        scope_left: row.try_get("scope_left").lms()?,
        terms_changed: proposed_under.as_deref() != Some(terms(ctx.legacy_timezone).as_str()),
    })
}

/// Records the rows the apply must look at; returns how many it added.
///
/// The scope is only ever added to, until the table catches up: rows a run
/// that did not finish put in scope are still there, and may still differ
/// from the ledger. So while the table stays in step, the scope holds every
/// row any run applied since it last caught up (the finalize's merged
/// targets rely on it); a row in it that has not changed since is applied
/// as unchanged.
pub async fn record(
    tx: &mut PgConnection,
    ctx: &ApplyContext<'_>,
    facts: &Facts,
    rules_over: RulesOver,
) -> Result<u64, EngineError> {
    let stage = stage_table(ctx.entity);
    let mut table_candidates = String::new();
    for (column, referenced) in references(ctx.entity) {
        table_candidates.push_str(&render(
            DEPENDENT,
            &[
                ("stage", &stage),
                ("referenced", referenced.as_str()),
                ("column", column),
            ],
        )?);
    }
    match ctx.entity {
        LegacyEntity::Users => table_candidates.push_str(SETTLED_ACCOUNTS),
        LegacyEntity::Organizations => table_candidates.push_str(&render(
            PARENT_LINKS,
            &[("parent_dangles", ORGANIZATION_PARENT_DANGLES)],
        )?),
        _ => {}
    }
    let candidates = render(
        SCOPE_CANDIDATES,
        &[
            ("stage", &stage),
            ("table_candidates", &table_candidates),
            ("resolved_r", &rules_over.rows("r")),
            ("resolved_l", &rules_over.rows("l")),
        ],
    )?;
    // Never caught up: every referenced row counts as changed.
    let references_seen = facts.references_seen;
    // The deletions this run sees are its own to consume (see caught_up).
    sqlx::query(
        "UPDATE migration.lms_deletions SET claimed_by = $1 \
         WHERE target_table = ANY($2) AND claimed_by IS DISTINCT FROM $1",
    )
    .bind(ctx.run_id)
    .bind(loaded_tables(ctx.entity))
    .execute(&mut *tx)
    .await
    .lms()?;
    // The candidates are gathered and counted first: estimated in one
    // statement, the planner took a delta's 5,102 candidates for 288,800
    // and hashed the whole staging table to check them (330 ms of 350 ms).
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS pg_temp.scope_candidates; \
         CREATE TEMP TABLE scope_candidates (legacy_id bigint NOT NULL) ON COMMIT DROP",
    )
    .execute(&mut *tx)
    .await
    .lms()?;
    sqlx::query(AssertSqlSafe(candidates))
        .bind(ctx.entity.as_str())
        .bind(facts.in_step)
        .bind(references_seen)
        .bind(ctx.on_conflict.as_str())
        .bind(loaded_tables(ctx.entity))
        .bind(facts.terms_changed)
        .execute(&mut *tx)
        .await
        .lms()?;
    sqlx::raw_sql("ANALYZE pg_temp.scope_candidates")
        .execute(&mut *tx)
        .await
        .lms()?;
    let inserted = sqlx::query(AssertSqlSafe(render(SCOPE_ADD, &[("stage", &stage)])?))
        .bind(ctx.entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected();
    // The apply reads the scope by joining it: over statistics from before
    // the scope was filled (the table is emptied as each run catches up),
    // the planner took a delta's 5,102 rows for 34 and looked every
    // reference up row by row (74-194 ms to load the rows to apply, 48-58 ms
    // after this). One resolve at a time analyzes it, holding its lock
    // until it commits: another table's resolve meanwhile skips it (its
    // plans keep the older statistics) rather than wait, and says nothing;
    // PostgreSQL warns only when something else (a VACUUM) holds the lock.
    let analyzing: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext('migration.apply_scope'))")
            .fetch_one(&mut *tx)
            .await
            .lms()?;
    if analyzing {
        statistics::analyze_bookkeeping(tx, "migration.apply_scope", Locked::Skip).await?;
    }
    Ok(inserted)
}

/// Forgets the table's scope: a table caught up has no row left to apply.
async fn clear(tx: &mut PgConnection, entity: LegacyEntity) -> Result<(), EngineError> {
    sqlx::query("DELETE FROM migration.apply_scope WHERE entity = $1")
        .bind(entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}

/// Brings the table's record in step once its run applied everything
/// (its finalize): staged changes, the apply scope and the deletions its
/// resolve step claimed are consumed, and the referenced tables' ledger is
/// seen as it is now.
pub async fn caught_up(tx: &mut PgConnection, ctx: &ApplyContext<'_>) -> Result<(), EngineError> {
    let (run_id, entity) = (ctx.run_id, ctx.entity);
    sqlx::query("DELETE FROM migration.stage_changes WHERE entity = $1")
        .bind(entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    clear(tx, entity).await?;
    sqlx::query(
        "DELETE FROM migration.lms_deletions WHERE target_table = ANY($1) AND claimed_by = $2",
    )
    .bind(loaded_tables(entity))
    .bind(run_id)
    .execute(&mut *tx)
    .await
    .lms()?;
    sqlx::query(
        "INSERT INTO migration.stage_state (entity, in_step, references_seen, proposed_under) \
         VALUES ($1, true, now(), $2) \
         ON CONFLICT (entity) DO UPDATE \
         SET in_step = true, references_seen = now(), proposed_under = EXCLUDED.proposed_under",
    )
    .bind(entity.as_str())
    .bind(terms(ctx.legacy_timezone))
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}

/// Whether the table's mirror, resolutions and ledger are in step but for
/// the recorded changes (`migration.stage_state`).
pub async fn in_step(tx: &mut PgConnection, entity: LegacyEntity) -> Result<bool, EngineError> {
    sqlx::query_scalar(
        "SELECT coalesce((SELECT in_step FROM migration.stage_state WHERE entity = $1), false)",
    )
    .bind(entity.as_str())
    .fetch_one(&mut *tx)
    .await
    .lms()
}

/// After a dry run resolved `entity` (over its predictions), the next real
/// run cannot trust the resolutions or the record of changes.
pub async fn out_of_step(tx: &mut PgConnection, entity: LegacyEntity) -> Result<(), EngineError> {
    sqlx::query(
        "INSERT INTO migration.stage_state (entity, in_step) VALUES ($1, false) \
         ON CONFLICT (entity) DO UPDATE SET in_step = false",
    )
    .bind(entity.as_str())
    .execute(&mut *tx)
    .await
    .lms()?;
    Ok(())
}
