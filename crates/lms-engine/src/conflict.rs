//! Conflicts of the three-way delta: legacy changed a row and the LMS row
//! was edited since the migration last wrote it (or its natural key is held
//! by a row the run leaves alone). Which side wins is the run's policy.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which side wins a conflict in one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// The LMS row keeps its values; the conflict stays open, with both
    /// sides recorded, until legacy agrees or a `take-legacy` run.
    #[default]
    KeepLms,
    /// Legacy's values are written over the LMS row's, and the conflict
    /// closes.
    TakeLegacy,
}

impl ConflictPolicy {
    pub const ALL: [ConflictPolicy; 2] = [ConflictPolicy::KeepLms, ConflictPolicy::TakeLegacy];

    /// As stored on the run and bound into the apply SQL.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConflictPolicy::KeepLms => "keep_lms",
            ConflictPolicy::TakeLegacy => "take_legacy",
        }
    }

    /// As operators type it (`keep-lms`, `take-legacy`).
    pub const fn flag(self) -> &'static str {
        match self {
            ConflictPolicy::KeepLms => "keep-lms",
            ConflictPolicy::TakeLegacy => "take-legacy",
        }
    }
}

impl fmt::Display for ConflictPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.flag())
    }
}

/// A policy name that is neither.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown conflict policy {0:?}; expected keep-lms or take-legacy")]
pub struct UnknownPolicy(pub String);

impl FromStr for ConflictPolicy {
    type Err = UnknownPolicy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ConflictPolicy::ALL
            .into_iter()
            .find(|policy| text == policy.flag() || text == policy.as_str())
            .ok_or_else(|| UnknownPolicy(text.to_owned()))
    }
}

/// Why a row's legacy proposal is not in its LMS row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// Legacy changed the row and the LMS row was edited since the
    /// migration last wrote it.
    LmsEdited,
    /// The row's natural key (a login, an enrollment's student and course,
    /// a submission's assessment and student) is held by another LMS row
    /// that keeps it: a row born in the LMS the row cannot adopt, or a row
    /// whose own conflict kept its values.
    KeyTaken,
    /// The LMS row changed between the run reading it and writing it.
    EditedDuringRun,
}

impl ConflictKind {
    pub const ALL: [ConflictKind; 3] = [
        ConflictKind::LmsEdited,
        ConflictKind::KeyTaken,
        ConflictKind::EditedDuringRun,
    ];

    /// As stored in the ledger.
    pub const fn as_str(self) -> &'static str {
        match self {
            ConflictKind::LmsEdited => "lms_edited",
            ConflictKind::KeyTaken => "key_taken",
            ConflictKind::EditedDuringRun => "edited_during_run",
        }
    }

    /// What it means, in a sentence for the report.
    pub const fn explanation(self) -> &'static str {
        match self {
            ConflictKind::LmsEdited => {
                "legacy changed the row and its LMS row was edited since the migration wrote it"
            }
            ConflictKind::KeyTaken => "its natural key is held by another LMS row, which keeps it",
            ConflictKind::EditedDuringRun => "its LMS row changed while the run was writing it",
        }
    }
}

impl fmt::Display for ConflictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ConflictKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        ConflictKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| format!("unknown conflict kind {text:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_as_flags_and_as_stored() {
        for policy in ConflictPolicy::ALL {
            assert_eq!(policy.flag().parse(), Ok(policy));
            assert_eq!(policy.as_str().parse(), Ok(policy));
        }
        assert!("keep".parse::<ConflictPolicy>().is_err());
        for kind in ConflictKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
    }
}
