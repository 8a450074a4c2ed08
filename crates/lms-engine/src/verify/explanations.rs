//! Whether a difference is explained. Verification never takes the
//! engine's ledger as evidence that a row is right, but a difference the
//! engine recorded on purpose is not an error: an open conflict (the LMS
//! kept its values under the run's policy), a row deleted in the LMS, or a
//! row written through the API since the migration last wrote it or its
//! baseline (the audit trail, `api.audit_events`). A change made past the API is recorded
//! nowhere and counts as unexplained (docs/contract.md).

use std::collections::HashMap;

use lms_domain::LegacyEntity;
use lms_domain::outcome::WarningCode;
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row as _};

use crate::conflict::ConflictKind;
use crate::error::{DatabaseContext as _, EngineError};

/// What accounts for a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Explanation {
    /// An open conflict of the three-way delta: the LMS row keeps its own
    /// values (or its key) under the delta policy.
    Conflict { conflict: ConflictKind },
    /// The LMS row was deleted in the LMS.
    DeletedInLms,
    /// A row it references was deleted in the LMS, so the engine rejected
    /// it, or gave it a provisioned account (`user_provisioned`) or no
    /// person (`dangling_person`) in that row's place.
    ReferenceDeletedInLms,
    /// The audit trail has a committed API write of the row (or, for an
    /// enrollment, of one of its grades) since the migration last wrote it
    /// or its baseline (`ledger.written_at`).
    WrittenThroughApi,
}

impl Explanation {
    /// In a few words, for tables.
    pub fn label(self) -> String {
        match self {
            Explanation::Conflict { conflict } => {
                format!("conflict {conflict} (kept under the delta policy)")
            }
            Explanation::DeletedInLms => "deleted in the LMS".to_owned(),
            Explanation::ReferenceDeletedInLms => {
                "a row it references was deleted in the LMS".to_owned()
            }
            Explanation::WrittenThroughApi => "written through the API".to_owned(),
        }
    }
}

/// The warnings of a migrated row whose reference the engine replaced (an
/// account provisioned, no person) because the row it named had no LMS row.
const REFERENCE_REPLACED: [WarningCode; 2] =
    [WarningCode::UserProvisioned, WarningCode::DanglingPerson];

/// The explanations the engine's records give for `legacy_ids` of `entity`.
pub async fn explanations(
    lms: &PgPool,
    entity: LegacyEntity,
    legacy_ids: &[i64],
) -> Result<HashMap<i64, Explanation>, EngineError> {
    if legacy_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(include_str!("sql/explanations.sql"))
        .bind(entity.as_str())
        .bind(legacy_ids)
        .bind(entity.target_table())
        .bind(api_collection(entity))
        .bind(REFERENCE_REPLACED.map(WarningCode::as_str))
        .fetch_all(lms)
        .await
        .lms()?;
    let mut found = HashMap::new();
    for row in &rows {
        let legacy_id: i64 = row.try_get("legacy_id").lms()?;
        let conflict: Option<String> = row.try_get("conflict").lms()?;
        let explanation = if let Some(conflict) = conflict {
            let conflict = conflict.parse().map_err(EngineError::Invariant)?;
            Some(Explanation::Conflict { conflict })
        } else if row.try_get::<bool, _>("deleted_in_lms").lms()? {
            Some(Explanation::DeletedInLms)
        } else if row
            .try_get::<Option<bool>, _>("reference_deleted_in_lms")
            .lms()?
            .unwrap_or(false)
        {
            Some(Explanation::ReferenceDeletedInLms)
        } else if row
            .try_get::<Option<bool>, _>("written_through_api")
            .lms()?
            .unwrap_or(false)
        {
            Some(Explanation::WrittenThroughApi)
        } else {
            None
        };
        if let Some(explanation) = explanation {
            found.insert(legacy_id, explanation);
        }
    }
    Ok(found)
}

/// The API's collection of the LMS rows `entity` becomes, for the tables
/// the API writes (its resource names, AIP-122: "students/12"); None for
/// the tables it only reads.
fn api_collection(entity: LegacyEntity) -> Option<&'static str> {
    match entity {
        LegacyEntity::Students => Some("students"),
        LegacyEntity::Journal => Some("enrollments"),
        LegacyEntity::Organizations
        | LegacyEntity::Persons
        | LegacyEntity::Users
        | LegacyEntity::Groups
        | LegacyEntity::Subjects
        | LegacyEntity::Teachers
        | LegacyEntity::Exams
        | LegacyEntity::ExamResults => None,
    }
}
