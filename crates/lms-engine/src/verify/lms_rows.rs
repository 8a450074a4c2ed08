//! What the LMS holds: every row with a legacy id and not flagged
//! `source_deleted_at`, in canonical form, read straight from the domain
//! tables (never from staging or the ledger).

use std::collections::BTreeMap;

use lms_domain::LegacyEntity;
use sqlx::PgPool;

use super::canonical::{CanonicalRow, FieldText, json};
use super::copy_rows::{Side, copy_rows};
use super::legacy_tables::INSTANT_FORMAT;
use crate::error::EngineError;

fn select(entity: LegacyEntity) -> &'static str {
    match entity {
        LegacyEntity::Organizations => include_str!("sql/organizations.sql"),
        LegacyEntity::Persons => include_str!("sql/persons.sql"),
        LegacyEntity::Users => include_str!("sql/users.sql"),
        LegacyEntity::Groups => include_str!("sql/groups.sql"),
        LegacyEntity::Subjects => include_str!("sql/subjects.sql"),
        LegacyEntity::Students => include_str!("sql/students.sql"),
        LegacyEntity::Teachers => include_str!("sql/teachers.sql"),
        LegacyEntity::Journal => include_str!("sql/journal.sql"),
        LegacyEntity::Exams => include_str!("sql/exams.sql"),
        LegacyEntity::ExamResults => include_str!("sql/exam_results.sql"),
    }
}

/// The index of the answers field of a submission (JSON, keys sorted here).
const ANSWERS_FIELD: usize = 5;

/// One legacy table's LMS rows, by legacy id.
pub async fn lms_rows(
    lms: &PgPool,
    entity: LegacyEntity,
) -> Result<BTreeMap<i64, CanonicalRow>, EngineError> {
    let sql = select(entity).replace("{{instant}}", INSTANT_FORMAT);
    let rows = copy_rows(lms, Side::Lms, &sql).await?;
    Ok(rows
        .into_iter()
        .map(|(id, mut row)| {
            if entity == LegacyEntity::ExamResults
                && let Some(answers) = row.get_mut(ANSWERS_FIELD)
            {
                *answers = answers.as_deref().and_then(json).map(FieldText::from);
            }
            (id, row)
        })
        .collect())
}
