//! Enrollments and their grades: reads and writes.

use lms_domain::LegacyEntity;
use lms_domain::model::{
    CourseId, EnrollmentFilter, EnrollmentId, EnrollmentPatch, GradeFilter, GradeId, GradeKind,
    GradePatch, NewEnrollment, NewGrade, StaffMemberId, StudentId,
};
use lms_domain::status::EnrollmentStatus;
use tonic::{Request, Response};

use super::directory::optional_term;
use super::parse::{enrollment_status_field, enrollment_status_filter, grade_kind_field};
use super::{DomainApi, OrStatus, legacy_id, list_page};
use crate::error::{ApiError, ApiResult};
use crate::names::{parse_id, parse_optional_id};
use crate::pb::lms::v1 as pb;
use crate::pb::lms::v1::enrollment_service_server::EnrollmentService;
use crate::request::{MAX_SHORT_TEXT, filter, optional_text, required_text, update_mask};

const ENROLLMENT_UPDATABLE: [&str; 3] = ["teacher", "status", "current_mark"];
const GRADE_UPDATABLE: [&str; 2] = ["kind", "raw_mark"];
/// Marks are short: "5", "зачет", "B+", "87".
const MAX_MARK: usize = 32;

fn new_enrollment(enrollment: &pb::Enrollment) -> Result<NewEnrollment, ApiError> {
    if !enrollment.name.is_empty() {
        return Err(ApiError::invalid(
            "enrollment.name",
            "is assigned by the server; leave it empty",
        ));
    }
    Ok(NewEnrollment {
        student_id: StudentId(parse_id(
            "enrollment.student",
            "students",
            &enrollment.student,
        )?),
        course_id: CourseId(parse_id(
            "enrollment.course",
            "courses",
            &enrollment.course,
        )?),
        teacher_id: parse_optional_id("enrollment.teacher", "staffMembers", &enrollment.teacher)?
            .map(StaffMemberId),
        status: enrollment_status_field(
            "enrollment.status",
            enrollment.status,
            Some(EnrollmentStatus::Active),
        )?,
        current_mark: optional_text(
            "enrollment.current_mark",
            &enrollment.current_mark,
            MAX_MARK,
        )?,
    })
}

fn enrollment_patch(
    enrollment: &pb::Enrollment,
    paths: &[String],
) -> Result<EnrollmentPatch, ApiError> {
    let mut patch = EnrollmentPatch::default();
    for path in paths {
        match path.as_str() {
            "teacher" => {
                patch.teacher_id = Some(
                    parse_optional_id("enrollment.teacher", "staffMembers", &enrollment.teacher)?
                        .map(StaffMemberId),
                );
            }
            "status" => {
                patch.status = Some(enrollment_status_field(
                    "enrollment.status",
                    enrollment.status,
                    None,
                )?)
            }
            "current_mark" => {
                patch.current_mark = Some(optional_text(
                    "enrollment.current_mark",
                    &enrollment.current_mark,
                    MAX_MARK,
                )?);
            }
            _ => {
                return Err(ApiError::invalid(
                    "update_mask",
                    format!("{path:?} cannot be updated"),
                ));
            }
        }
    }
    Ok(patch)
}

fn new_grade(grade: &pb::Grade) -> Result<NewGrade, ApiError> {
    if !grade.name.is_empty() {
        return Err(ApiError::invalid(
            "grade.name",
            "is assigned by the server; leave it empty",
        ));
    }
    Ok(NewGrade {
        enrollment_id: EnrollmentId(parse_id(
            "grade.enrollment",
            "enrollments",
            &grade.enrollment,
        )?),
        kind: grade_kind_field("grade.kind", grade.kind, Some(GradeKind::Final))?,
        raw_mark: required_text("grade.raw_mark", &grade.raw_mark, MAX_MARK)?,
    })
}

fn grade_patch(grade: &pb::Grade, paths: &[String]) -> Result<GradePatch, ApiError> {
    let mut patch = GradePatch::default();
    for path in paths {
        match path.as_str() {
            "kind" => patch.kind = Some(grade_kind_field("grade.kind", grade.kind, None)?),
            "raw_mark" => {
                patch.raw_mark = Some(required_text("grade.raw_mark", &grade.raw_mark, MAX_MARK)?)
            }
            _ => {
                return Err(ApiError::invalid(
                    "update_mask",
                    format!("{path:?} cannot be updated"),
                ));
            }
        }
    }
    Ok(patch)
}

#[tonic::async_trait]
impl EnrollmentService for DomainApi {
    async fn get_enrollment(
        &self,
        request: Request<pb::GetEnrollmentRequest>,
    ) -> ApiResult<pb::Enrollment> {
        let id =
            EnrollmentId(parse_id("name", "enrollments", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_enrollment(id).await.or_status()?.into(),
        ))
    }

    async fn list_enrollments(
        &self,
        request: Request<pb::ListEnrollmentsRequest>,
    ) -> ApiResult<pb::ListEnrollmentsResponse> {
        let request = request.into_inner();
        let terms = filter(&request.filter, &["student", "course", "status"]).or_status()?;
        let filter = EnrollmentFilter {
            student_id: optional_term(&terms, "student", "students")?.map(StudentId),
            course_id: optional_term(&terms, "course", "courses")?.map(CourseId),
            status: terms
                .get("status")
                .map(|status| enrollment_status_filter(status))
                .transpose()
                .or_status()?,
        };
        let (enrollments, next_page_token) = list_page(
            self.budget,
            &format!("ListEnrollments|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_enrollments(&filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListEnrollmentsResponse {
            enrollments,
            next_page_token,
        }))
    }

    async fn lookup_enrollment(
        &self,
        request: Request<pb::LookupEnrollmentRequest>,
    ) -> ApiResult<pb::Enrollment> {
        let legacy = legacy_id(LegacyEntity::Journal, request.get_ref().legacy_id).or_status()?;
        Ok(Response::new(
            self.repo
                .lookup_enrollment(legacy)
                .await
                .or_status()?
                .into(),
        ))
    }

    async fn create_enrollment(
        &self,
        request: Request<pb::CreateEnrollmentRequest>,
    ) -> ApiResult<pb::Enrollment> {
        let enrollment = request
            .get_ref()
            .enrollment
            .as_ref()
            .ok_or_else(|| ApiError::invalid("enrollment", "is required"))
            .or_status()?;
        let new = new_enrollment(enrollment).or_status()?;
        Ok(Response::new(
            self.repo.create_enrollment(new).await.or_status()?.into(),
        ))
    }

    async fn update_enrollment(
        &self,
        request: Request<pb::UpdateEnrollmentRequest>,
    ) -> ApiResult<pb::Enrollment> {
        let request = request.into_inner();
        let enrollment = request
            .enrollment
            .ok_or_else(|| ApiError::invalid("enrollment", "is required"))
            .or_status()?;
        let id =
            EnrollmentId(parse_id("enrollment.name", "enrollments", &enrollment.name).or_status()?);
        let paths = update_mask(request.update_mask.as_ref(), &ENROLLMENT_UPDATABLE).or_status()?;
        let patch = enrollment_patch(&enrollment, &paths).or_status()?;
        Ok(Response::new(
            self.repo
                .update_enrollment(id, patch)
                .await
                .or_status()?
                .into(),
        ))
    }

    async fn delete_enrollment(
        &self,
        request: Request<pb::DeleteEnrollmentRequest>,
    ) -> ApiResult<()> {
        let id =
            EnrollmentId(parse_id("name", "enrollments", &request.get_ref().name).or_status()?);
        self.repo.delete_enrollment(id).await.or_status()?;
        Ok(Response::new(()))
    }

    async fn get_grade(&self, request: Request<pb::GetGradeRequest>) -> ApiResult<pb::Grade> {
        let id = GradeId(parse_id("name", "grades", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_grade(id).await.or_status()?.into(),
        ))
    }

    async fn list_grades(
        &self,
        request: Request<pb::ListGradesRequest>,
    ) -> ApiResult<pb::ListGradesResponse> {
        let request = request.into_inner();
        let terms = filter(&request.filter, &["enrollment"]).or_status()?;
        let filter = GradeFilter {
            enrollment_id: optional_term(&terms, "enrollment", "enrollments")?.map(EnrollmentId),
        };
        let (grades, next_page_token) = list_page(
            self.budget,
            &format!("ListGrades|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_grades(&filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListGradesResponse {
            grades,
            next_page_token,
        }))
    }

    async fn lookup_grade(&self, request: Request<pb::LookupGradeRequest>) -> ApiResult<pb::Grade> {
        let legacy = legacy_id(LegacyEntity::Journal, request.get_ref().legacy_id).or_status()?;
        Ok(Response::new(
            self.repo.lookup_grade(legacy).await.or_status()?.into(),
        ))
    }

    async fn create_grade(&self, request: Request<pb::CreateGradeRequest>) -> ApiResult<pb::Grade> {
        let grade = request
            .get_ref()
            .grade
            .as_ref()
            .ok_or_else(|| ApiError::invalid("grade", "is required"))
            .or_status()?;
        let new = new_grade(grade).or_status()?;
        Ok(Response::new(
            self.repo.create_grade(new).await.or_status()?.into(),
        ))
    }

    async fn update_grade(&self, request: Request<pb::UpdateGradeRequest>) -> ApiResult<pb::Grade> {
        let request = request.into_inner();
        let grade = request
            .grade
            .ok_or_else(|| ApiError::invalid("grade", "is required"))
            .or_status()?;
        let id = GradeId(parse_id("grade.name", "grades", &grade.name).or_status()?);
        let paths = update_mask(request.update_mask.as_ref(), &GRADE_UPDATABLE).or_status()?;
        let patch = grade_patch(&grade, &paths).or_status()?;
        Ok(Response::new(
            self.repo.update_grade(id, patch).await.or_status()?.into(),
        ))
    }

    async fn delete_grade(&self, request: Request<pb::DeleteGradeRequest>) -> ApiResult<()> {
        let id = GradeId(parse_id("name", "grades", &request.get_ref().name).or_status()?);
        self.repo.delete_grade(id).await.or_status()?;
        Ok(Response::new(()))
    }
}

// A mark longer than MAX_SHORT_TEXT could never be a mark; keep the two limits related.
const _: () = assert!(MAX_MARK < MAX_SHORT_TEXT);
