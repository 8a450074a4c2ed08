//! What the LMS holds: every row with a legacy id and not flagged
//! `source_deleted_at`, in canonical form, read straight from the domain
//! tables (never from staging or the ledger).
//!
//! Verification keeps of it only each row's hash and the academic tally,
//! taken as the rows stream past ([`LmsSide`]); the values of the few rows
//! a report shows are read again by id ([`lms_rows_by_id`]).

use std::collections::BTreeMap;

use lms_domain::LegacyEntity;
use sqlx::PgPool;

use super::academic::{Tally, enrollment_student, organization_of, submission_student};
use super::canonical::{CanonicalRow, FieldText, json, row_hash};
use super::copy_rows::{IdRow, Side, for_each_row};
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

/// The LMS as verification keeps it.
#[derive(Debug, Default)]
pub struct LmsSide {
    /// Per legacy table, each LMS row's hash ([`row_hash`]) by legacy id.
    pub hashes: BTreeMap<LegacyEntity, BTreeMap<i64, u64>>,
    /// The registrar's figures of the LMS's enrollments and submissions.
    pub academic: Tally,
}

/// Reads every legacy table's LMS rows, all tables at once (the students
/// first: the academic tally finds each row's organization through them).
pub async fn lms_side(lms: &PgPool) -> Result<LmsSide, EngineError> {
    let students = lms_rows(lms, LegacyEntity::Students).await?;
    let reads = LegacyEntity::ALL.into_iter().map(|entity| {
        let students = &students;
        async move {
            let mut hashes = BTreeMap::new();
            let mut academic = Tally::default();
            if entity == LegacyEntity::Students {
                hashes = students
                    .iter()
                    .map(|(id, row)| (*id, row_hash(row)))
                    .collect();
            } else {
                for_each_lms_row(lms, entity, None, |(id, row)| {
                    match entity {
                        LegacyEntity::Journal => academic
                            .enrollment(organization_of(students, enrollment_student(&row)), &row),
                        LegacyEntity::ExamResults => {
                            academic.submission(organization_of(students, submission_student(&row)))
                        }
                        _ => {}
                    }
                    hashes.insert(id, row_hash(&row));
                    Ok(())
                })
                .await?;
            }
            Ok::<_, EngineError>((entity, hashes, academic))
        }
    });
    let mut side = LmsSide::default();
    for (entity, hashes, academic) in futures::future::try_join_all(reads).await? {
        side.hashes.insert(entity, hashes);
        side.academic = std::mem::take(&mut side.academic).merge(academic);
    }
    Ok(side)
}

/// One legacy table's LMS rows, by legacy id.
pub async fn lms_rows(
    lms: &PgPool,
    entity: LegacyEntity,
) -> Result<BTreeMap<i64, CanonicalRow>, EngineError> {
    let mut rows = BTreeMap::new();
    for_each_lms_row(lms, entity, None, |(id, row)| {
        rows.insert(id, row);
        Ok(())
    })
    .await?;
    Ok(rows)
}

/// The LMS rows of one legacy table that carry one of `ids`, by legacy id.
pub async fn lms_rows_by_id(
    lms: &PgPool,
    entity: LegacyEntity,
    ids: &[i64],
) -> Result<BTreeMap<i64, CanonicalRow>, EngineError> {
    let mut rows = BTreeMap::new();
    if ids.is_empty() {
        return Ok(rows);
    }
    for_each_lms_row(lms, entity, Some(ids), |(id, row)| {
        rows.insert(id, row);
        Ok(())
    })
    .await?;
    Ok(rows)
}

/// Streams one legacy table's LMS rows in canonical form (those of `only`,
/// when given) to `each`.
async fn for_each_lms_row(
    lms: &PgPool,
    entity: LegacyEntity,
    only: Option<&[i64]>,
    mut each: impl FnMut(IdRow) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut sql = select(entity).replace("{{instant}}", INSTANT_FORMAT);
    if let Some(ids) = only {
        // Integers only: nothing here can be read as SQL.
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        sql = format!(
            "SELECT * FROM ({sql}) AS lms_row WHERE legacy_id IN ({})",
            list.join(", ")
        );
    }
    for_each_row(lms, Side::Lms, &sql, |(id, mut row)| {
        if entity == LegacyEntity::ExamResults
            && let Some(answers) = row.get_mut(ANSWERS_FIELD)
        {
            *answers = answers.as_deref().and_then(json).map(FieldText::from);
        }
        each((id, row))
    })
    .await
}
