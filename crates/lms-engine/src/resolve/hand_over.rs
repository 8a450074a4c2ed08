//! A key group's LMS row, handed to its new survivor when the old one leaves.
//!
//! Legacy duplicates are one LMS row: the enrollment of a student in a
//! course, the submission of a student to an assessment, the student of a
//! person in an organization. When the survivor of such a group leaves it
//! (gone from legacy, or now merged into a later submission, or rejected),
//! the group's LMS row is still the same row to the people who use it: the
//! surviving row that proposes the group's key takes it on, with the
//! leaving row's baselines, and its own values reach it as any legacy
//! change does (three-way: an edit made in the LMS stays, or is a
//! conflict). Without this, the old row was retired and a fresh one
//! inserted from legacy, and what users had done to the old one was gone
//! from their view. See `sql/hand_over_survivors.sql`.

use lms_domain::LegacyEntity;
use sqlx::{AssertSqlSafe, PgConnection, Row};

use super::RulesOver;
use crate::apply::specs::ApplySpec;
use crate::apply::{ApplyContext, load_scope_rows, owned_type};
use crate::error::{DatabaseContext, EngineError};
use crate::sql_template::render;
use crate::stage::stage_table;

const LEAVING_OWNERS: &str = include_str!("sql/leaving_owners.sql");
const HAND_OVER_SURVIVORS: &str = include_str!("sql/hand_over_survivors.sql");

/// The journal's final grade follows its enrollment to the new survivor.
const JOURNAL_GRADES: &str = ",
grades_handed AS (
    UPDATE grades g
    SET legacy_id = h.new_id
    FROM chosen h
    WHERE g.legacy_id = h.old_id
)";

/// A student's provisioned account (`users.provisioned_for`, which its
/// apply looks up by the student's legacy id) follows the student row, so
/// that the new survivor keeps the account its student may have activated
/// rather than being given a new one. (Unless it has one of its own.)
const PROVISIONED_ACCOUNTS: &str = ",
accounts_handed AS (
    UPDATE users u
    SET provisioned_for = '{{entity}}:' || h.new_id
    FROM chosen h
    WHERE u.provisioned_for = '{{entity}}:' || h.old_id
      AND NOT EXISTS (SELECT 1 FROM users v WHERE v.provisioned_for = '{{entity}}:' || h.new_id)
)";

/// A journal successor with a grade of its own keeps it; the group's row is
/// not handed to it.
const JOURNAL_GRADED: &str = "AND NOT EXISTS (SELECT 1 FROM grades g WHERE g.legacy_id = c.new_id)";

/// Hands the LMS rows of the key groups whose survivor left them to their
/// new survivors (before the resolve retires what left, which then finds
/// those rows no longer its own); returns how many groups changed hands.
/// Tables without key groups (`ApplySpec::group_key`) hand nothing.
pub(super) async fn hand_over_survivors(
    tx: &mut PgConnection,
    apply: &ApplyContext<'_>,
    rules_over: RulesOver,
) -> Result<i64, EngineError> {
    let entity = apply.entity;
    let Some(group_key) = ApplySpec::for_entity(entity).group_key else {
        return Ok(0);
    };
    let target = entity.target_table();
    let leaving = render(
        LEAVING_OWNERS,
        &[
            ("target", target),
            ("stage", &stage_table(entity)),
            ("gone_rows", &rules_over.maybe_gone("l")),
            ("superseded_rows", &rules_over.rows("r")),
        ],
    )?;
    let owners = sqlx::query(AssertSqlSafe(leaving))
        .bind(entity.as_str())
        .execute(&mut *tx)
        .await
        .lms()?
        .rows_affected();
    if owners == 0 {
        drop_scratch(tx, "leaving_owners").await?;
        return Ok(0);
    }
    // The proposals of the scope: the new survivors among them.
    load_scope_rows(tx, apply).await?;
    let journal = entity == LegacyEntity::Journal;
    let accounts = match entity {
        LegacyEntity::Students => render(PROVISIONED_ACCOUNTS, &[("entity", entity.as_str())])?,
        _ => String::new(),
    };
    let statement = render(
        HAND_OVER_SURVIVORS,
        &[
            ("group_key", group_key),
            ("target", target),
            ("owned", &owned_type(entity)),
            ("graded", if journal { JOURNAL_GRADED } else { "" }),
            ("grades", if journal { JOURNAL_GRADES } else { "" }),
            ("accounts", &accounts),
        ],
    )?;
    let handed: i64 = sqlx::query(AssertSqlSafe(statement))
        .bind(entity.as_str())
        .fetch_one(&mut *tx)
        .await
        .lms()?
        .try_get("handed")
        .lms()?;
    if handed > 0 {
        tracing::info!(%entity, handed, "key groups handed to their new survivors");
    }
    drop_scratch(tx, "leaving_owners, apply_rows").await?;
    Ok(handed)
}

async fn drop_scratch(tx: &mut PgConnection, tables: &str) -> Result<(), EngineError> {
    sqlx::raw_sql(AssertSqlSafe(format!("DROP TABLE {tables}")))
        .execute(&mut *tx)
        .await
        .lms()?;
    Ok(())
}
