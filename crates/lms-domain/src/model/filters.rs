//! What the list methods filter on. Empty filters list everything.

use super::ids::*;
use crate::account::Role;
use crate::status::{EnrollmentStatus, StudentStatus};

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct UserFilter {
    pub role: Option<Role>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StudentFilter {
    pub organization_id: Option<OrganizationId>,
    pub group_id: Option<GroupId>,
    pub status: Option<StudentStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StaffFilter {
    pub organization_id: Option<OrganizationId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct CourseFilter {
    pub subject_id: Option<SubjectId>,
    pub group_id: Option<GroupId>,
    pub academic_year: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct EnrollmentFilter {
    pub student_id: Option<StudentId>,
    pub course_id: Option<CourseId>,
    pub status: Option<EnrollmentStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct GradeFilter {
    pub enrollment_id: Option<EnrollmentId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct AssessmentFilter {
    pub subject_id: Option<SubjectId>,
    pub group_id: Option<GroupId>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SubmissionFilter {
    pub assessment_id: Option<AssessmentId>,
    pub student_id: Option<StudentId>,
}
