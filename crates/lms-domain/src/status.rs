//! Status vocabularies: students, enrollments and submissions.
//!
//! Each is `lower(trim(status))` within a fixed set; NULL or blank becomes
//! the default without a warning, anything else the default with
//! `unknown_status`.

use serde::{Deserialize, Serialize};

use crate::outcome::{Repaired, WarningCode};
use crate::text::{clean_opt, lower};

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident default $default:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the LMS's own spelling.
            pub fn parse(text: &str) -> Option<$name> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The contract's rule for the legacy free-text status.
            pub fn from_legacy(raw: Option<&str>) -> Repaired<$name> {
                match clean_opt(raw) {
                    None => Repaired::clean($name::$default),
                    Some(text) => match $name::parse(&lower(text)) {
                        Some(status) => Repaired::clean(status),
                        None => Repaired::warned($name::$default, WarningCode::UnknownStatus),
                    },
                }
            }
        }
    };
}

status_enum!(
    /// Where a student stands.
    StudentStatus default Active {
        Active => "active",
        Expelled => "expelled",
        Graduated => "graduated",
        AcademicLeave => "academic_leave",
    }
);

status_enum!(
    /// Where an enrollment in a course stands.
    EnrollmentStatus default Active {
        Active => "active",
        Dropped => "dropped",
        Completed => "completed",
    }
);

status_enum!(
    /// Where an assessment submission stands. The contract only says that
    /// annulled stays annulled; NULL and unknown values become `submitted`
    /// (docs/contract.md).
    SubmissionStatus default Submitted {
        Submitted => "submitted",
        Graded => "graded",
        Annulled => "annulled",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_contract() {
        assert_eq!(
            StudentStatus::from_legacy(Some(" Academic_Leave ")),
            Repaired::clean(StudentStatus::AcademicLeave)
        );
        assert_eq!(
            StudentStatus::from_legacy(None),
            Repaired::clean(StudentStatus::Active)
        );
        assert_eq!(
            StudentStatus::from_legacy(Some("   ")),
            Repaired::clean(StudentStatus::Active)
        );
        assert_eq!(
            StudentStatus::from_legacy(Some("отчислен")),
            Repaired::warned(StudentStatus::Active, WarningCode::UnknownStatus)
        );
        assert_eq!(
            EnrollmentStatus::from_legacy(Some("ACTIVE")),
            Repaired::clean(EnrollmentStatus::Active)
        );
        assert_eq!(
            EnrollmentStatus::from_legacy(Some("expelled")),
            Repaired::warned(EnrollmentStatus::Active, WarningCode::UnknownStatus)
        );
        assert_eq!(
            SubmissionStatus::from_legacy(Some("Annulled")),
            Repaired::clean(SubmissionStatus::Annulled)
        );
    }
}
