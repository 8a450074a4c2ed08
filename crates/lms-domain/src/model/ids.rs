//! Typed ids: a student id cannot be passed where a course id is expected.

use std::fmt;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),+ $(,)?) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
            pub struct $name(pub i64);

            impl fmt::Display for $name {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "{}", self.0)
                }
            }
        )+
    };
}

id_type!(
    /// An organization's id.
    OrganizationId,
    /// A person's id.
    PersonId,
    /// A user account's id.
    UserId,
    /// A student's id.
    StudentId,
    /// A staff member's id.
    StaffMemberId,
    /// A student group's id.
    GroupId,
    /// A subject's id.
    SubjectId,
    /// A course offering's id.
    CourseId,
    /// An enrollment's id.
    EnrollmentId,
    /// A grade's id.
    GradeId,
    /// An assessment's id.
    AssessmentId,
    /// A submission's id.
    SubmissionId,
    /// A course material's id.
    MaterialId,
);
