//! The resolve phase: the contract's rules that need a whole table at once.
//!
//! It runs once per table, after the table is staged and after every table
//! it references is finished. It records which rows will be merged or
//! rejected (`migration.resolutions`), settles renamed logins and duplicate
//! emails, creates the course offerings the journal needs, hands a key
//! group's LMS row to the group's new survivor when the old one leaves
//! (`hand_over`), and retires the target rows whose legacy row is gone or
//! no longer stands on its own and that no one took on: all
//! before any target row of the table is written, so that no chunk of the
//! apply phase can collide with a stale row.

mod hand_over;
mod journal;
mod outcomes;
mod references;
mod results;
pub mod scope;
mod users;

pub use outcomes::predicted_references;
pub use users::resolve as resolve_logins;

use lms_domain::LegacyEntity;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, PgConnection, Row};
use uuid::Uuid;

use crate::apply::{ApplyContext, apply_key_moves, regroup_apply_chunks};
use crate::bulk::LoadPath;
use crate::error::{DatabaseContext, EngineError};
use crate::plan::RunKind;
use crate::stage::stage_table;
use crate::statistics::{self, Locked};

/// A journal delta that staged more changed rows than this and a tenth of
/// the journal is resolved over every row.
pub const MASS_CHANGE_BASE: i64 = 1_000;

/// Which staged rows a table's resolve step runs the contract's rules over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RulesOver {
    /// Every staged row: the table's resolutions are computed afresh.
    EveryRow,
    /// A delta run over the journal, whose mirror, resolutions and ledger
    /// were in step but for the recorded changes: only the rows that
    /// changed, or point at a reference whose ledger changed since the
    /// journal last caught up (`journal_changed`), and every row of the key
    /// groups they were in or may be in now. The other key groups keep
    /// their members, so their resolutions stand (docs/contract.md, "A
    /// journal delta resolves what it touched").
    TouchedJournalRows,
}

impl RulesOver {
    /// The rows a delta run resolves: only the journal, the one table large
    /// enough for it to matter, resolves only what was touched, and only
    /// when its record of changes can be trusted, the rules' terms stand,
    /// and at most a tenth of it (and [`MASS_CHANGE_BASE`] rows) changed,
    /// in legacy or through what it references: more touches most key
    /// groups anyway, and resolving every row takes the staged rows'
    /// statistics again. A touched resolve finds its changed rows gathered
    /// here, in `journal_changed`.
    async fn for_run(
        tx: &mut PgConnection,
        apply: &ApplyContext<'_>,
        facts: Option<&scope::Facts>,
    ) -> Result<RulesOver, EngineError> {
        let Some(facts) = facts else {
            return Ok(RulesOver::EveryRow);
        };
        if apply.entity != LegacyEntity::Journal || !facts.in_step || facts.terms_changed {
            return Ok(RulesOver::EveryRow);
        }
        let changed = journal::gather_changed(tx, facts.references_seen, apply.on_conflict).await?;
        // Against the planner's count of staged rows, as autovacuum decides
        // to ANALYZE: a base, plus a tenth of the table.
        let mass_change: bool = sqlx::query_scalar(
            "SELECT $1 > $2 + (SELECT reltuples FROM pg_class WHERE oid = 'migration.stage_journal'::regclass) / 10",
        )
        .bind(changed)
        .bind(MASS_CHANGE_BASE)
        .fetch_one(&mut *tx)
        .await
        .lms()?;
        Ok(if mass_change {
            RulesOver::EveryRow
        } else {
            RulesOver::TouchedJournalRows
        })
    }

    /// The SQL condition on `{alias}.legacy_id` that keeps the rows this
    /// resolve looks at (`journal_scope` is gathered by the journal's rules).
    pub(crate) fn rows(self, alias: &str) -> String {
        match self {
            RulesOver::EveryRow => String::new(),
            RulesOver::TouchedJournalRows => {
                format!("AND {alias}.legacy_id IN (SELECT legacy_id FROM journal_scope)")
            }
        }
    }

    /// The SQL condition on `{alias}.legacy_id` that keeps the rows that may
    /// have left legacy: over touched rows, those staging recorded as gone
    /// (the record is trusted, and rows gone before it were retired when
    /// they went).
    fn maybe_gone(self, alias: &str) -> String {
        match self {
            RulesOver::EveryRow => String::new(),
            // Only the journal resolves its touched rows.
            RulesOver::TouchedJournalRows => format!(
                "AND {alias}.legacy_id IN (SELECT c.legacy_id FROM migration.stage_changes c \
                 WHERE c.entity = 'journal' AND c.kind = 'gone')"
            ),
        }
    }
}

/// Resolves one table; returns the step's statistics.
pub async fn resolve_entity(
    tx: &mut PgConnection,
    apply: &ApplyContext<'_>,
    kind: RunKind,
) -> Result<Value, EngineError> {
    let (run_id, entity) = (apply.run_id, apply.entity);
    let dry_run = kind == RunKind::DryRun;
    let delta = !dry_run && apply.load_path == LoadPath::Delta;
    let facts = if delta {
        Some(scope::facts(tx, apply).await?)
    } else {
        None
    };
    if let Some(facts) = facts.as_ref().filter(|facts| facts.nothing_changed()) {
        // Nothing can have changed, and no unfinished run left rows in the
        // scope: the resolutions stand, the apply looks at no row (in one
        // chunk), and the run moves on.
        let apply_chunks = regroup_apply_chunks(tx, run_id, entity).await?;
        return Ok(json!({ "skipped": true, "facts": facts, "apply_chunks": apply_chunks }));
    }
    let rules_over = RulesOver::for_run(tx, apply, facts.as_ref()).await?;
    if rules_over == RulesOver::EveryRow {
        sqlx::query("DELETE FROM migration.resolutions WHERE entity = $1")
            .bind(entity.as_str())
            .execute(&mut *tx)
            .await
            .lms()?;
        // The staging table may have been emptied and filled: without fresh
        // statistics the planner picks nested loops over half a million
        // rows. (A delta touches too few rows to move them.)
        statistics::analyze_bookkeeping(tx, &stage_table(entity), Locked::Wait).await?;
    }
    let ledger = outcomes::reference_outcomes(tx, run_id, entity, dry_run).await?;
    let mut resolved_again = None;
    match entity {
        LegacyEntity::Users => users::resolve(tx).await?,
        LegacyEntity::Students => references::resolve_students(tx, ledger).await?,
        LegacyEntity::Teachers => references::resolve_teachers(tx, ledger).await?,
        LegacyEntity::Exams => references::resolve_exams(tx, ledger).await?,
        LegacyEntity::Journal => {
            resolved_again = journal::resolve(tx, ledger, dry_run, rules_over).await?;
        }
        LegacyEntity::ExamResults => results::resolve(tx, ledger).await?,
        LegacyEntity::Organizations
        | LegacyEntity::Persons
        | LegacyEntity::Groups
        | LegacyEntity::Subjects => {}
    }
    // The rows the apply must look at, decided before anything is retired
    // or moved below (both look at that scope).
    let scoped = match &facts {
        Some(facts) => Some(scope::record(tx, apply, facts, rules_over).await?),
        None => None,
    };
    if dry_run {
        scope::out_of_step(tx, entity).await?;
    }
    // Key groups whose survivor leaves hand their LMS row on first, so that
    // what is retired below is only what no one takes on. (A bulk load
    // writes into empty tables: nothing is handed.)
    let handed_over = if !dry_run && apply.load_path == LoadPath::Delta {
        hand_over::hand_over_survivors(tx, apply, rules_over).await?
    } else {
        0
    };
    // A dry run only reports; it retires nothing.
    let source_deleted = if dry_run {
        0
    } else {
        retire_deleted(tx, run_id, entity, rules_over).await?
    };
    if !dry_run {
        retire_superseded(tx, entity, rules_over).await?;
        // Before any chunk writes: rows whose natural key moves are applied
        // here, together, so that no chunk meets a key still held. (A bulk
        // load writes into empty tables: nothing moves.)
        if apply.load_path == LoadPath::Delta {
            apply_key_moves(tx, apply).await?;
        }
    }
    if rules_over == RulesOver::EveryRow {
        statistics::analyze_bookkeeping(tx, "migration.resolutions", Locked::Wait).await?;
        if entity == LegacyEntity::Journal {
            sqlx::raw_sql("ANALYZE courses")
                .execute(&mut *tx)
                .await
                .lms()?;
        }
    }
    // The scope is known: a delta's apply runs in as few chunks as it allows.
    let apply_chunks = if delta {
        regroup_apply_chunks(tx, run_id, entity).await?
    } else {
        None
    };
    let counts = sqlx::query(
        "SELECT count(*) FILTER (WHERE outcome = 'merged') AS merged, \
                count(*) FILTER (WHERE outcome = 'rejected') AS rejected \
         FROM migration.resolutions WHERE entity = $1",
    )
    .bind(entity.as_str())
    .fetch_one(&mut *tx)
    .await
    .lms()?;
    Ok(json!({
        "source_deleted": source_deleted,
        "handed_over": handed_over,
        "merged": counts.try_get::<i64, _>("merged").lms()?,
        "rejected": counts.try_get::<i64, _>("rejected").lms()?,
        "scope": scoped,
        "resolved_again": resolved_again,
        "facts": facts,
        "apply_chunks": apply_chunks,
    }))
}

/// Rows gone from the legacy table: their ledger rows are marked
/// `source_deleted` and their target rows flagged, never deleted.
async fn retire_deleted(
    tx: &mut PgConnection,
    run_id: Uuid,
    entity: LegacyEntity,
    rules_over: RulesOver,
) -> Result<i64, EngineError> {
    let target = entity.target_table();
    let also_grades = if entity == LegacyEntity::Journal {
        ", grades AS (UPDATE grades g SET source_deleted_at = now() FROM flagged f \
           WHERE g.enrollment_id = f.id AND g.source_deleted_at IS NULL RETURNING g.id)"
    } else {
        ""
    };
    let statement = format!(
        "WITH gone AS ( \
             UPDATE migration.ledger l SET source_deleted_at = now(), run_id = $2, recorded_at = now() \
             WHERE l.entity = $1 AND l.source_deleted_at IS NULL \
               AND NOT EXISTS (SELECT 1 FROM {stage} s WHERE s.legacy_id = l.legacy_id) {rows} \
             RETURNING l.legacy_id), \
         flagged AS ( \
             UPDATE {target} t SET source_deleted_at = now() FROM gone \
             WHERE t.legacy_id = gone.legacy_id AND t.source_deleted_at IS NULL RETURNING t.id) \
         {also_grades} \
         SELECT count(*) FROM gone",
        stage = stage_table(entity),
        rows = rules_over.maybe_gone("l"),
    );
    let count: i64 = sqlx::query(AssertSqlSafe(statement))
        .bind(entity.as_str())
        .bind(run_id)
        .fetch_one(&mut *tx)
        .await
        .lms()?
        .try_get(0)
        .lms()?;
    Ok(count)
}

/// Rows that are now merged or rejected but had a target row of their own
/// (from an earlier run): that target row is flagged too. (Over touched
/// rows only: the others' resolutions are as the last run left them.)
async fn retire_superseded(
    tx: &mut PgConnection,
    entity: LegacyEntity,
    rules_over: RulesOver,
) -> Result<(), EngineError> {
    let rows = rules_over.rows("r");
    let target = entity.target_table();
    let also_grades = if entity == LegacyEntity::Journal {
        ", grades AS (UPDATE grades g SET source_deleted_at = now() FROM flagged f \
           WHERE g.enrollment_id = f.id AND g.source_deleted_at IS NULL RETURNING g.id)"
    } else {
        ""
    };
    // The resolutions first, on their own: a few thousand rows that the
    // target's unique index finds, not a join the planner may hash whole.
    let statement = format!(
        "WITH superseded AS MATERIALIZED ( \
             SELECT r.legacy_id FROM migration.resolutions r WHERE r.entity = $1 {rows}), \
         flagged AS ( \
             UPDATE {target} t SET source_deleted_at = now() FROM superseded r \
             WHERE t.legacy_id = r.legacy_id AND t.source_deleted_at IS NULL RETURNING t.id) \
         {also_grades} \
         SELECT count(*) FROM flagged"
    );
    sqlx::query(AssertSqlSafe(statement))
        .bind(entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}
