//! `lmsctl migrate verify` and `VerifyRun`: the LMS reconciled against the
//! legacy database without trusting the engine's own bookkeeping.
//!
//! Both databases are read directly: legacy whole (`legacy_tables`), the
//! LMS's domain tables (`lms_rows`). What the contract says each legacy
//! row becomes is computed a second time, independently of the engine's
//! SQL (`oracle`, `expected`: the one sanctioned exception to "one rule,
//! one place"); staging and the ledger's outcomes are never taken as
//! evidence. Per legacy table both sides are brought to one canonical form
//! (`canonical`; of the LMS's rows only their hashes are kept, and the
//! values of the differing rows a report lists are read again),
//! checksummed per chunk of legacy ids and narrowed to the rows that
//! differ (`compare`); a difference the engine recorded on
//! purpose (an open conflict, a deletion in the LMS) is explained
//! (`explanations`), any other is not. `academic` is the registrar's
//! sheet, `table` the text rendering.

pub mod academic;
pub mod canonical;
pub mod compare;
mod copy_rows;
pub mod expected;
pub mod explanations;
pub mod legacy_tables;
pub mod lms_rows;
pub mod oracle;
pub mod table;
mod timestamp_order;

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{DateTime, Utc};
use lms_domain::LegacyEntity;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

pub use academic::AcademicSheet;
pub use compare::DifferenceKind;
pub use explanations::Explanation;

use crate::error::EngineError;
use canonical::CanonicalRow;
use legacy_tables::LegacyTables;
use oracle::Oracle;

/// The exit code of `lmsctl migrate verify` when any difference is
/// unexplained (1 stays "the command failed").
pub const UNEXPLAINED_EXIT_CODE: u8 = 3;

/// How many differences per table a report lists.
pub const SAMPLE_LIMIT: usize = 20;

/// What a verification is run with.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Legacy ids per checksum chunk.
    pub chunk_size: u32,
    /// The zone legacy timestamps are read in (`legacy.timezone`).
    pub legacy_timezone: String,
}

/// One field of a differing row, on both sides (NULL: `None`; a side
/// without the row has `None` everywhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldValues {
    pub field: String,
    pub legacy: Option<String>,
    pub lms: Option<String>,
}

/// One differing row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    pub legacy_id: i64,
    pub kind: DifferenceKind,
    /// What accounts for it; `None`: unexplained.
    pub explanation: Option<Explanation>,
    /// The fields that differ (when a side has no row, every field the
    /// other has a value in).
    pub fields: Vec<FieldValues>,
}

/// One legacy table's verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityVerification {
    pub entity: LegacyEntity,
    pub target_table: String,
    pub legacy_rows: u64,
    /// The LMS rows the contract says there should be (legacy rows that
    /// migrate; merged and rejected rows have none of their own).
    pub expected_rows: u64,
    /// The LMS rows that carry a legacy id and are not flagged deleted in
    /// legacy.
    pub present_rows: u64,
    /// Expected rows present with the expected values.
    pub matching_rows: u64,
    pub chunks: u64,
    pub differing_chunks: u64,
    pub explained: u64,
    pub unexplained: u64,
    /// Up to [`SAMPLE_LIMIT`], unexplained first, by legacy id.
    pub samples: Vec<Difference>,
}

/// A whole verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyReport {
    pub checked_at: DateTime<Utc>,
    pub elapsed_seconds: f64,
    pub chunk_size: u32,
    pub entities: Vec<EntityVerification>,
    pub academic: AcademicSheet,
}

impl VerifyReport {
    pub fn unexplained(&self) -> u64 {
        self.entities.iter().map(|entity| entity.unexplained).sum()
    }

    pub fn explained(&self) -> u64 {
        self.entities.iter().map(|entity| entity.explained).sum()
    }
}

/// Reconciles the LMS in `lms` against the legacy database in `legacy`.
pub async fn verify(
    lms: &PgPool,
    legacy: &PgPool,
    options: &VerifyOptions,
) -> Result<VerifyReport, EngineError> {
    crate::setup::check_legacy_timezone(legacy, &options.legacy_timezone, EngineError::Legacy)
        .await?;
    let started = Instant::now();
    let checked_at = Utc::now();
    // The LMS is read while legacy is read and the contract applied to it
    // (the LMS's joins are the slower read; the contract is CPU only).
    // In a set, so that the read is aborted with this future when it is
    // dropped (a client gone, a deadline past), instead of going on to
    // hold the LMS's connections for nobody.
    let mut lms_reads = tokio::task::JoinSet::new();
    {
        let lms = lms.clone();
        lms_reads.spawn(async move { lms_rows::lms_side(&lms).await });
    }
    let computed = async {
        let tables = LegacyTables::load(legacy, &options.legacy_timezone).await?;
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "verify: legacy read"
        );
        tokio::task::spawn_blocking(move || {
            let oracle = Oracle::over(&tables);
            tracing::debug!(
                seconds = started.elapsed().as_secs_f64(),
                "verify: the outcomes decided"
            );
            let expected = expected::expected_rows(&tables, &oracle);
            let counts = legacy_row_counts(&tables);
            free_off_path((tables, oracle));
            (counts, expected)
        })
        .await
        .map_err(|error| EngineError::Invariant(format!("applying the contract: {error}")))
    }
    .await;
    let (legacy_rows, expected) = match computed {
        Ok(computed) => computed,
        Err(error) => return Err(error),
    };
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "verify: the contract applied"
    );
    let present = lms_reads
        .join_next()
        .await
        .ok_or_else(|| EngineError::Invariant("the LMS read was not started".to_owned()))?
        .map_err(|error| EngineError::Invariant(format!("reading the LMS: {error}")))??;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "verify: the LMS read"
    );
    let (empty_rows, empty_hashes) = (BTreeMap::new(), BTreeMap::new());
    let mut entities = Vec::new();
    for entity in LegacyEntity::ALL {
        entities.push(
            verify_entity(
                lms,
                entity,
                expected.get(&entity).unwrap_or(&empty_rows),
                present.hashes.get(&entity).unwrap_or(&empty_hashes),
                legacy_rows.get(&entity).copied().unwrap_or(0),
                options.chunk_size,
            )
            .await?,
        );
    }
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "verify: tables compared"
    );
    let academic = academic::reconcile(&expected, &present.academic);
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "verify: the academic sheet tallied"
    );
    free_off_path((expected, present));
    Ok(VerifyReport {
        checked_at,
        elapsed_seconds: started.elapsed().as_secs_f64(),
        chunk_size: options.chunk_size,
        entities,
        academic,
    })
}

/// Frees `value` on a thread of its own: a million rows take a fifth of a
/// second to free, and nothing waits for that (a process that exits first
/// frees them with itself). Were no thread to be had, it is freed here.
fn free_off_path<T: Send + 'static>(value: T) {
    let _freeing = std::thread::Builder::new()
        .name("verify-free".to_owned())
        .spawn(move || drop(value));
}

/// One legacy table's verification: its expected rows against the LMS's
/// row hashes, the differences explained where the ledger or the audit
/// trail accounts for them, and the values of the ones listed read again.
async fn verify_entity(
    lms: &PgPool,
    entity: LegacyEntity,
    wanted: &BTreeMap<i64, CanonicalRow>,
    found: &BTreeMap<i64, u64>,
    legacy_rows: u64,
    chunk_size: u32,
) -> Result<EntityVerification, EngineError> {
    let comparison = compare::compare(wanted, found, chunk_size);
    let ids: Vec<i64> = comparison
        .differences
        .iter()
        .map(|difference| difference.legacy_id)
        .collect();
    let explained_by = explanations::explanations(lms, entity, &ids).await?;
    let explained = comparison
        .differences
        .iter()
        .filter(|difference| explained_by.contains_key(&difference.legacy_id))
        .count() as u64;
    let failing_expected = comparison
        .differences
        .iter()
        .filter(|difference| difference.kind != DifferenceKind::Unexpected)
        .count() as u64;
    let mut listed: Vec<_> = comparison.differences.iter().collect();
    listed.sort_by_key(|difference| {
        (
            explained_by.contains_key(&difference.legacy_id),
            difference.legacy_id,
        )
    });
    listed.truncate(SAMPLE_LIMIT);
    // The LMS's values of the rows listed, read again after the comparison
    // (a row written since shows its newer values).
    let listed_ids: Vec<i64> = listed
        .iter()
        .filter(|difference| difference.kind != DifferenceKind::Missing)
        .map(|difference| difference.legacy_id)
        .collect();
    let present = lms_rows::lms_rows_by_id(lms, entity, &listed_ids).await?;
    let samples = listed
        .into_iter()
        .map(|difference| Difference {
            legacy_id: difference.legacy_id,
            kind: difference.kind,
            explanation: explained_by.get(&difference.legacy_id).copied(),
            fields: differing_fields(
                entity,
                difference.expected,
                present.get(&difference.legacy_id),
            ),
        })
        .collect();
    Ok(EntityVerification {
        entity,
        target_table: entity.target_table().to_owned(),
        legacy_rows,
        expected_rows: wanted.len() as u64,
        present_rows: found.len() as u64,
        matching_rows: (wanted.len() as u64).saturating_sub(failing_expected),
        chunks: comparison.chunks,
        differing_chunks: comparison.differing_chunks,
        explained,
        unexplained: comparison.differences.len() as u64 - explained,
        samples,
    })
}

fn legacy_row_counts(tables: &LegacyTables) -> BTreeMap<LegacyEntity, u64> {
    [
        (LegacyEntity::Organizations, &tables.organizations),
        (LegacyEntity::Persons, &tables.persons),
        (LegacyEntity::Users, &tables.users),
        (LegacyEntity::Groups, &tables.groups),
        (LegacyEntity::Subjects, &tables.subjects),
        (LegacyEntity::Students, &tables.students),
        (LegacyEntity::Teachers, &tables.teachers),
        (LegacyEntity::Journal, &tables.journal),
        (LegacyEntity::Exams, &tables.exams),
        (LegacyEntity::ExamResults, &tables.exam_results),
    ]
    .into_iter()
    .map(|(entity, rows)| (entity, rows.len() as u64))
    .collect()
}

/// The fields that differ (when one side has no row, every field the other
/// side has a value in).
fn differing_fields(
    entity: LegacyEntity,
    expected: Option<&CanonicalRow>,
    present: Option<&CanonicalRow>,
) -> Vec<FieldValues> {
    let value = |row: Option<&CanonicalRow>, index: usize| {
        row.and_then(|row| row.get(index))
            .and_then(|value| value.as_deref())
            .map(str::to_owned)
    };
    canonical::fields(entity)
        .iter()
        .enumerate()
        .map(|(index, field)| FieldValues {
            field: (*field).to_owned(),
            legacy: value(expected, index),
            lms: value(present, index),
        })
        .filter(|values| values.legacy != values.lms)
        .collect()
}
