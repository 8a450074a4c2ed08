//! Request values into domain values: enums by their names, decimals,
//! references. Every error names its field.

use lms_domain::account::Role;
use lms_domain::model::{GradeKind, MaterialKind};
use lms_domain::status::{EnrollmentStatus, StudentStatus};

use crate::error::ApiError;
use crate::pb::lms::v1 as pb;

/// A status in a filter: the domain spelling (`active`) or the enum's name.
pub fn student_status_filter(value: &str) -> Result<StudentStatus, ApiError> {
    StudentStatus::parse(value)
        .or_else(|| pb::StudentStatus::from_str_name(value).and_then(student_status))
        .ok_or_else(|| ApiError::invalid("filter", format!("unknown student status {value:?}")))
}

pub fn enrollment_status_filter(value: &str) -> Result<EnrollmentStatus, ApiError> {
    EnrollmentStatus::parse(value)
        .or_else(|| pb::EnrollmentStatus::from_str_name(value).and_then(enrollment_status))
        .ok_or_else(|| ApiError::invalid("filter", format!("unknown enrollment status {value:?}")))
}

pub fn role_filter(value: &str) -> Result<Role, ApiError> {
    Role::parse(value).ok_or_else(|| ApiError::invalid("filter", format!("unknown role {value:?}")))
}

/// An enum field's raw value (proto3 keeps unknown numbers) into its type.
fn known<E: TryFrom<i32>>(field: &str, value: i32) -> Result<E, ApiError> {
    E::try_from(value)
        .map_err(|_| ApiError::invalid(field, format!("{value} is not a known value")))
}

pub fn student_status(value: pb::StudentStatus) -> Option<StudentStatus> {
    match value {
        pb::StudentStatus::Unspecified => None,
        pb::StudentStatus::Active => Some(StudentStatus::Active),
        pb::StudentStatus::Expelled => Some(StudentStatus::Expelled),
        pb::StudentStatus::Graduated => Some(StudentStatus::Graduated),
        pb::StudentStatus::AcademicLeave => Some(StudentStatus::AcademicLeave),
    }
}

pub fn enrollment_status(value: pb::EnrollmentStatus) -> Option<EnrollmentStatus> {
    match value {
        pb::EnrollmentStatus::Unspecified => None,
        pb::EnrollmentStatus::Active => Some(EnrollmentStatus::Active),
        pb::EnrollmentStatus::Dropped => Some(EnrollmentStatus::Dropped),
        pb::EnrollmentStatus::Completed => Some(EnrollmentStatus::Completed),
    }
}

/// A student status field; UNSPECIFIED means `default` (None: required).
pub fn student_status_field(
    field: &str,
    value: i32,
    default: Option<StudentStatus>,
) -> Result<StudentStatus, ApiError> {
    let status: pb::StudentStatus = known(field, value)?;
    student_status(status)
        .or(default)
        .ok_or_else(|| ApiError::invalid(field, "is required"))
}

pub fn enrollment_status_field(
    field: &str,
    value: i32,
    default: Option<EnrollmentStatus>,
) -> Result<EnrollmentStatus, ApiError> {
    let status: pb::EnrollmentStatus = known(field, value)?;
    enrollment_status(status)
        .or(default)
        .ok_or_else(|| ApiError::invalid(field, "is required"))
}

pub fn grade_kind_field(
    field: &str,
    value: i32,
    default: Option<GradeKind>,
) -> Result<GradeKind, ApiError> {
    let kind: pb::GradeKind = known(field, value)?;
    match kind {
        pb::GradeKind::Final => Ok(GradeKind::Final),
        pb::GradeKind::Interim => Ok(GradeKind::Interim),
        pb::GradeKind::Unspecified => {
            default.ok_or_else(|| ApiError::invalid(field, "is required"))
        }
    }
}

pub fn material_kind_field(field: &str, value: i32) -> Result<MaterialKind, ApiError> {
    let kind: pb::MaterialKind = known(field, value)?;
    match kind {
        pb::MaterialKind::Link => Ok(MaterialKind::Link),
        pb::MaterialKind::File => Ok(MaterialKind::File),
        pb::MaterialKind::Text => Ok(MaterialKind::Text),
        pb::MaterialKind::Unspecified => {
            Err(ApiError::invalid(field, "is required (LINK, FILE or TEXT)"))
        }
    }
}

/// A year such as an admission year: 0 means none.
pub fn optional_year(field: &str, value: i32) -> Result<Option<i16>, ApiError> {
    match value {
        0 => Ok(None),
        1900..=2200 => Ok(i16::try_from(value).ok()),
        _ => Err(ApiError::invalid(
            field,
            format!("{value} is not a year between 1900 and 2200"),
        )),
    }
}
