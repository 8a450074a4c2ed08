//! What became of a legacy row, and the codes that explain it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The one outcome every legacy row ends a run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It became a target row.
    Migrated,
    /// It duplicates a surviving legacy row and shares that row's target.
    Merged,
    /// It cannot become a target row; a [`RejectReason`] says why.
    Rejected,
}

/// Why a row was rejected. The contract allows exactly these two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// A required reference points at nothing, or at a rejected row.
    OrphanReference,
    /// A required field is unusable.
    InvalidValue,
}

/// A value that had to be repaired or dropped on the way in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    DanglingParent,
    UnparseableBirthDate,
    LoginRenamed,
    EmailInvalid,
    EmailDuplicate,
    DanglingPerson,
    UnknownRole,
    PasswordResetRequired,
    UserProvisioned,
    UnknownStatus,
    UnparseableMark,
    ScoreOutOfRange,
    InvalidAnswersJson,
    /// Not in the contract: a required name was blank in a table whose rows
    /// must all migrate, so a placeholder name was given (docs/contract.md).
    NameMissing,
    /// Not in the contract: a number the LMS cannot hold (`NaN`, or outside
    /// the target column's range or CHECK) became NULL, or the contract's
    /// default (docs/contract.md).
    InvalidNumber,
    /// Not in the contract: the row's LMS row was deleted in the LMS; a
    /// re-run does not create it again (docs/contract.md).
    DeletedInLms,
}

/// A parsed value with the warning its repair earned, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaired<T> {
    pub value: T,
    pub warning: Option<WarningCode>,
}

impl<T> Repaired<T> {
    /// A value taken as it was.
    pub fn clean(value: T) -> Self {
        Repaired {
            value,
            warning: None,
        }
    }

    /// A value that had to be repaired.
    pub fn warned(value: T, warning: WarningCode) -> Self {
        Repaired {
            value,
            warning: Some(warning),
        }
    }
}

macro_rules! code_enum {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable code stored in the ledger and shown in reports.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownCode;

            fn from_str(code: &str) -> Result<Self, Self::Err> {
                match code {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownCode {
                        kind: stringify!($name),
                        code: code.to_owned(),
                    }),
                }
            }
        }
    };
}

code_enum!(Outcome {
    Migrated => "migrated",
    Merged => "merged",
    Rejected => "rejected",
});

code_enum!(RejectReason {
    OrphanReference => "orphan_reference",
    InvalidValue => "invalid_value",
});

code_enum!(WarningCode {
    DanglingParent => "dangling_parent",
    UnparseableBirthDate => "unparseable_birth_date",
    LoginRenamed => "login_renamed",
    EmailInvalid => "email_invalid",
    EmailDuplicate => "email_duplicate",
    DanglingPerson => "dangling_person",
    UnknownRole => "unknown_role",
    PasswordResetRequired => "password_reset_required",
    UserProvisioned => "user_provisioned",
    UnknownStatus => "unknown_status",
    UnparseableMark => "unparseable_mark",
    ScoreOutOfRange => "score_out_of_range",
    InvalidAnswersJson => "invalid_answers_json",
    NameMissing => "name_missing",
    InvalidNumber => "invalid_number",
    DeletedInLms => "deleted_in_lms",
});

/// A code read back from storage or a request that this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} code {code:?}")]
pub struct UnknownCode {
    pub kind: &'static str,
    pub code: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in WarningCode::ALL {
            assert_eq!(code.as_str().parse::<WarningCode>(), Ok(*code));
        }
        for reason in RejectReason::ALL {
            assert_eq!(reason.as_str().parse::<RejectReason>(), Ok(*reason));
        }
        assert!("lost".parse::<Outcome>().is_err());
    }
}
