//! What the API may write: new resources and field-mask updates, already
//! validated (the API layer builds these only from checked input).
//!
//! In a patch, `None` leaves a field alone; `Some(None)` clears an optional
//! field.

use super::ids::*;
use super::resources::{GradeKind, MaterialKind};
use crate::status::{EnrollmentStatus, StudentStatus};

/// A student to create. The person and user must exist.
#[derive(Debug, Clone, PartialEq)]
pub struct NewStudent {
    pub person_id: PersonId,
    pub user_id: UserId,
    pub organization_id: Option<OrganizationId>,
    pub group_id: Option<GroupId>,
    pub admission_year: Option<i16>,
    pub status: StudentStatus,
    pub record_book_no: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StudentPatch {
    pub organization_id: Option<Option<OrganizationId>>,
    pub group_id: Option<Option<GroupId>>,
    pub admission_year: Option<Option<i16>>,
    pub status: Option<StudentStatus>,
    pub record_book_no: Option<Option<String>>,
}

/// An enrollment to create. The student and course must exist, and the
/// student must not be enrolled in the course already.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEnrollment {
    pub student_id: StudentId,
    pub course_id: CourseId,
    pub teacher_id: Option<StaffMemberId>,
    pub status: EnrollmentStatus,
    pub current_mark: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnrollmentPatch {
    pub teacher_id: Option<Option<StaffMemberId>>,
    pub status: Option<EnrollmentStatus>,
    pub current_mark: Option<Option<String>>,
}

/// A grade to create: the raw mark is read on the contract's scales
/// (`mark::parse_mark`) by the data layer, like migrated marks.
#[derive(Debug, Clone, PartialEq)]
pub struct NewGrade {
    pub enrollment_id: EnrollmentId,
    pub kind: GradeKind,
    pub raw_mark: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GradePatch {
    pub kind: Option<GradeKind>,
    pub raw_mark: Option<String>,
}

/// A course material to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMaterial {
    pub title: String,
    pub kind: MaterialKind,
    pub url: Option<String>,
    pub body: Option<String>,
    pub position: i32,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MaterialPatch {
    pub title: Option<String>,
    pub kind: Option<MaterialKind>,
    pub url: Option<Option<String>>,
    pub body: Option<Option<String>>,
    pub position: Option<i32>,
}
