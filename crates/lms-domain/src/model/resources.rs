//! The resources, as read.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::ids::*;
use crate::account::Role;
use crate::mark::GradeScale;
use crate::person::Gender;
use crate::status::{EnrollmentStatus, StudentStatus, SubmissionStatus};

/// Where a row came from in the legacy database, when it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Legacy {
    pub legacy_id: i64,
    /// The legacy row has since been deleted; the LMS keeps this row, flagged.
    pub source_deleted: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Organization {
    pub id: OrganizationId,
    pub parent_id: Option<OrganizationId>,
    pub name: String,
    pub short_name: Option<String>,
    pub org_type: Option<String>,
    pub bin: Option<String>,
    pub archived: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub legacy: Option<Legacy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    pub id: PersonId,
    pub last_name: Option<String>,
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub iin: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub gender: Option<Gender>,
    pub phone: Option<String>,
    pub legacy: Option<Legacy>,
}

/// A sign-in account. The password hash never leaves the data layer.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: UserId,
    pub person_id: Option<PersonId>,
    pub login: String,
    pub email: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub password_reset_required: bool,
    pub activation_required: bool,
    pub created_at: Option<DateTime<Utc>>,
    pub last_login_at: Option<DateTime<Utc>>,
    pub legacy: Option<Legacy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Student {
    pub id: StudentId,
    pub person_id: PersonId,
    pub user_id: UserId,
    pub organization_id: Option<OrganizationId>,
    pub group_id: Option<GroupId>,
    pub admission_year: Option<i16>,
    pub status: StudentStatus,
    pub record_book_no: Option<String>,
    pub legacy: Option<Legacy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StaffMember {
    pub id: StaffMemberId,
    pub person_id: PersonId,
    pub user_id: UserId,
    pub organization_id: Option<OrganizationId>,
    pub position: Option<String>,
    pub hired_on: Option<NaiveDate>,
    pub left_on: Option<NaiveDate>,
    pub legacy: Option<Legacy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Course {
    pub id: CourseId,
    pub subject_id: SubjectId,
    pub subject_name: String,
    pub group_id: Option<GroupId>,
    pub academic_year: String,
    pub semester: i16,
    pub derived_from_legacy: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enrollment {
    pub id: EnrollmentId,
    pub student_id: StudentId,
    pub course_id: CourseId,
    pub teacher_id: Option<StaffMemberId>,
    pub status: EnrollmentStatus,
    pub current_mark: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    pub legacy: Option<Legacy>,
}

/// What a grade is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GradeKind {
    /// The enrollment's final grade (at most one).
    Final,
    Interim,
}

impl GradeKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            GradeKind::Final => "final",
            GradeKind::Interim => "interim",
        }
    }

    pub fn parse(text: &str) -> Option<GradeKind> {
        match text {
            "final" => Some(GradeKind::Final),
            "interim" => Some(GradeKind::Interim),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grade {
    pub id: GradeId,
    pub enrollment_id: EnrollmentId,
    pub kind: GradeKind,
    pub raw_mark: String,
    pub scale: Option<GradeScale>,
    pub value: Option<String>,
    pub points: Option<i16>,
    pub graded_at: Option<DateTime<Utc>>,
    pub legacy: Option<Legacy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    pub id: AssessmentId,
    pub subject_id: SubjectId,
    pub group_id: Option<GroupId>,
    pub teacher_id: Option<StaffMemberId>,
    pub title: String,
    pub kind: Option<String>,
    pub held_on: Option<NaiveDate>,
    pub max_score: Decimal,
    pub legacy: Option<Legacy>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub id: SubmissionId,
    pub assessment_id: AssessmentId,
    pub student_id: StudentId,
    pub score: Option<Decimal>,
    pub submitted_at: Option<DateTime<Utc>>,
    pub status: SubmissionStatus,
    /// Valid JSON answers, as JSON text.
    pub answers_json: Option<String>,
    /// Answers that were not JSON, as recorded.
    pub answers_raw: Option<String>,
    pub legacy: Option<Legacy>,
}

/// What a course material is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaterialKind {
    Link,
    File,
    Text,
}

impl MaterialKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            MaterialKind::Link => "link",
            MaterialKind::File => "file",
            MaterialKind::Text => "text",
        }
    }

    pub fn parse(text: &str) -> Option<MaterialKind> {
        match text {
            "link" => Some(MaterialKind::Link),
            "file" => Some(MaterialKind::File),
            "text" => Some(MaterialKind::Text),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CourseMaterial {
    pub id: MaterialId,
    pub course_id: CourseId,
    pub title: String,
    pub kind: MaterialKind,
    pub url: Option<String>,
    pub body: Option<String>,
    pub position: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}
