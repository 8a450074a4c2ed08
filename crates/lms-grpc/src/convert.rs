//! Domain values into protobuf messages.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use lms_domain::account::Role;
use lms_domain::instant::lms_can_hold;
use lms_domain::mark::GradeScale;
use lms_domain::model::{self, GradeKind, Legacy, MaterialKind};
use lms_domain::person::Gender;
use lms_domain::status::{EnrollmentStatus, StudentStatus, SubmissionStatus};

use crate::names::{name, optional_name};
use crate::pb::lms::v1 as pb;

/// An instant as protobuf holds it: absent outside the years 1 to 9999 UTC,
/// which a `Timestamp` cannot carry and clients refuse to decode (a legacy
/// time in year 1 or 9999 can land outside them once read in its zone).
pub fn timestamp(value: Option<DateTime<Utc>>) -> Option<prost_types::Timestamp> {
    value
        .filter(|time| lms_can_hold(*time))
        .map(|time| prost_types::Timestamp {
            seconds: time.timestamp(),
            // chrono counts a leap second past 999,999,999; protobuf does not.
            nanos: i32::try_from(time.timestamp_subsec_nanos().min(999_999_999)).unwrap_or(0),
        })
}

pub fn date(value: Option<NaiveDate>) -> Option<pb::Date> {
    value.map(|date| pb::Date {
        year: date.year(),
        month: i32::try_from(date.month()).unwrap_or(0),
        day: i32::try_from(date.day()).unwrap_or(0),
    })
}

fn legacy(value: Option<Legacy>) -> Option<pb::LegacyOrigin> {
    value.map(|legacy| pb::LegacyOrigin {
        legacy_id: legacy.legacy_id,
        source_deleted: legacy.source_deleted,
    })
}

fn text(value: Option<String>) -> String {
    value.unwrap_or_default()
}

pub fn role(value: Role) -> pb::Role {
    match value {
        Role::Student => pb::Role::Student,
        Role::Teacher => pb::Role::Teacher,
        Role::Admin => pb::Role::Admin,
        Role::Parent => pb::Role::Parent,
        Role::Methodist => pb::Role::Methodist,
        Role::Other => pb::Role::Other,
    }
}

pub fn student_status(value: StudentStatus) -> pb::StudentStatus {
    match value {
        StudentStatus::Active => pb::StudentStatus::Active,
        StudentStatus::Expelled => pb::StudentStatus::Expelled,
        StudentStatus::Graduated => pb::StudentStatus::Graduated,
        StudentStatus::AcademicLeave => pb::StudentStatus::AcademicLeave,
    }
}

pub fn enrollment_status(value: EnrollmentStatus) -> pb::EnrollmentStatus {
    match value {
        EnrollmentStatus::Active => pb::EnrollmentStatus::Active,
        EnrollmentStatus::Dropped => pb::EnrollmentStatus::Dropped,
        EnrollmentStatus::Completed => pb::EnrollmentStatus::Completed,
    }
}

fn submission_status(value: SubmissionStatus) -> pb::SubmissionStatus {
    match value {
        SubmissionStatus::Submitted => pb::SubmissionStatus::Submitted,
        SubmissionStatus::Graded => pb::SubmissionStatus::Graded,
        SubmissionStatus::Annulled => pb::SubmissionStatus::Annulled,
    }
}

fn grade_scale(value: Option<GradeScale>) -> pb::GradeScale {
    match value {
        None => pb::GradeScale::Unspecified,
        Some(GradeScale::FivePoint) => pb::GradeScale::FivePoint,
        Some(GradeScale::Percent) => pb::GradeScale::Percent,
        Some(GradeScale::PassFail) => pb::GradeScale::PassFail,
        Some(GradeScale::Letter) => pb::GradeScale::Letter,
    }
}

fn grade_kind(value: GradeKind) -> pb::GradeKind {
    match value {
        GradeKind::Final => pb::GradeKind::Final,
        GradeKind::Interim => pb::GradeKind::Interim,
    }
}

fn material_kind(value: MaterialKind) -> pb::MaterialKind {
    match value {
        MaterialKind::Link => pb::MaterialKind::Link,
        MaterialKind::File => pb::MaterialKind::File,
        MaterialKind::Text => pb::MaterialKind::Text,
    }
}

impl From<model::Organization> for pb::Organization {
    fn from(value: model::Organization) -> Self {
        pb::Organization {
            name: name("organizations", value.id.0),
            parent: optional_name("organizations", value.parent_id.map(|id| id.0)),
            display_name: value.name,
            short_name: text(value.short_name),
            org_type: text(value.org_type),
            bin: text(value.bin),
            archived: value.archived,
            create_time: timestamp(value.created_at),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::Person> for pb::Person {
    fn from(value: model::Person) -> Self {
        pb::Person {
            name: name("persons", value.id.0),
            last_name: text(value.last_name),
            first_name: text(value.first_name),
            middle_name: text(value.middle_name),
            iin: text(value.iin),
            birth_date: date(value.birth_date),
            gender: match value.gender {
                None => pb::Gender::Unspecified,
                Some(Gender::Male) => pb::Gender::Male,
                Some(Gender::Female) => pb::Gender::Female,
            }
            .into(),
            phone: text(value.phone),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::User> for pb::User {
    fn from(value: model::User) -> Self {
        pb::User {
            name: name("users", value.id.0),
            person: optional_name("persons", value.person_id.map(|id| id.0)),
            login: value.login,
            email: text(value.email),
            role: role(value.role).into(),
            active: value.is_active,
            password_reset_required: value.password_reset_required,
            activation_required: value.activation_required,
            create_time: timestamp(value.created_at),
            last_login_time: timestamp(value.last_login_at),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::Student> for pb::Student {
    fn from(value: model::Student) -> Self {
        pb::Student {
            name: name("students", value.id.0),
            person: name("persons", value.person_id.0),
            user: name("users", value.user_id.0),
            organization: optional_name("organizations", value.organization_id.map(|id| id.0)),
            group: optional_name("groups", value.group_id.map(|id| id.0)),
            admission_year: value.admission_year.map(i32::from).unwrap_or_default(),
            status: student_status(value.status).into(),
            record_book_number: text(value.record_book_no),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::StaffMember> for pb::StaffMember {
    fn from(value: model::StaffMember) -> Self {
        pb::StaffMember {
            name: name("staffMembers", value.id.0),
            person: name("persons", value.person_id.0),
            user: name("users", value.user_id.0),
            organization: optional_name("organizations", value.organization_id.map(|id| id.0)),
            position: text(value.position),
            hire_date: date(value.hired_on),
            leave_date: date(value.left_on),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::Course> for pb::Course {
    fn from(value: model::Course) -> Self {
        pb::Course {
            name: name("courses", value.id.0),
            subject: name("subjects", value.subject_id.0),
            subject_title: value.subject_name,
            group: optional_name("groups", value.group_id.map(|id| id.0)),
            academic_year: value.academic_year,
            semester: i32::from(value.semester),
            derived_from_legacy: value.derived_from_legacy,
        }
    }
}

impl From<model::Enrollment> for pb::Enrollment {
    fn from(value: model::Enrollment) -> Self {
        pb::Enrollment {
            name: name("enrollments", value.id.0),
            student: name("students", value.student_id.0),
            course: name("courses", value.course_id.0),
            teacher: optional_name("staffMembers", value.teacher_id.map(|id| id.0)),
            status: enrollment_status(value.status).into(),
            current_mark: text(value.current_mark),
            update_time: timestamp(value.updated_at),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::Grade> for pb::Grade {
    fn from(value: model::Grade) -> Self {
        pb::Grade {
            name: name("grades", value.id.0),
            enrollment: name("enrollments", value.enrollment_id.0),
            kind: grade_kind(value.kind).into(),
            raw_mark: value.raw_mark,
            scale: grade_scale(value.scale).into(),
            value: text(value.value),
            points: value.points.map(i32::from).unwrap_or_default(),
            grade_time: timestamp(value.graded_at),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::Assessment> for pb::Assessment {
    fn from(value: model::Assessment) -> Self {
        pb::Assessment {
            name: name("assessments", value.id.0),
            subject: name("subjects", value.subject_id.0),
            group: optional_name("groups", value.group_id.map(|id| id.0)),
            teacher: optional_name("staffMembers", value.teacher_id.map(|id| id.0)),
            title: value.title,
            kind: text(value.kind),
            held_on: date(value.held_on),
            max_score: value.max_score.to_string(),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::Submission> for pb::Submission {
    fn from(value: model::Submission) -> Self {
        pb::Submission {
            name: name("submissions", value.id.0),
            assessment: name("assessments", value.assessment_id.0),
            student: name("students", value.student_id.0),
            score: value
                .score
                .map(|score| score.to_string())
                .unwrap_or_default(),
            submit_time: timestamp(value.submitted_at),
            status: submission_status(value.status).into(),
            answers_json: text(value.answers_json),
            answers_raw: text(value.answers_raw),
            legacy: legacy(value.legacy),
        }
    }
}

impl From<model::CourseMaterial> for pb::CourseMaterial {
    fn from(value: model::CourseMaterial) -> Self {
        pb::CourseMaterial {
            name: format!("courses/{}/materials/{}", value.course_id.0, value.id.0),
            title: value.title,
            kind: material_kind(value.kind).into(),
            url: text(value.url),
            body: text(value.body),
            position: value.position,
            create_time: timestamp(Some(value.created_at)),
            update_time: timestamp(Some(value.updated_at)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_protobuf_cannot_carry_is_absent() {
        let utc = |year, month, day| {
            NaiveDate::from_ymd_opt(year, month, day)
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map(|time| time.and_utc())
        };
        assert_eq!(timestamp(utc(0, 12, 31)), None);
        assert_eq!(timestamp(utc(10_000, 1, 1)), None);
        let first = utc(1, 1, 1);
        assert!(first.is_some());
        assert_eq!(
            timestamp(first),
            Some(prost_types::Timestamp {
                seconds: -62_135_596_800,
                nanos: 0
            })
        );
    }
}
