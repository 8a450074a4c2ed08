//! Enrollments and their grades: reads and writes.

use lms_domain::LegacyEntity;
use lms_domain::audit::Call;
use lms_domain::model::{
    CourseId, EnrollmentFilter, EnrollmentId, EnrollmentPatch, GradeFilter, GradeId, GradeKind,
    GradePatch, NewEnrollment, NewGrade, StaffMemberId, StudentId,
};
use lms_domain::status::EnrollmentStatus;
use tonic::{Request, Response};

use super::directory::optional_term;
use super::parse::{enrollment_status_field, enrollment_status_filter, grade_kind_field};
use super::{DomainApi, OrStatus, legacy_id, list_page};
use crate::audit::{call_of, created, finish_write, key_call, recorded, well_formed};
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
        let mut call = call_of(&request)?;
        let result = async {
            let request = request.into_inner();
            key_call(&mut call, &request)?;
            self.create_enrollment_as(&call, request).await
        }
        .await;
        finish_write(&self.repo, &call, result).await
    }

    async fn update_enrollment(
        &self,
        request: Request<pb::UpdateEnrollmentRequest>,
    ) -> ApiResult<pb::Enrollment> {
        let mut call = call_of(&request)?;
        call.resource = request
            .get_ref()
            .enrollment
            .as_ref()
            .and_then(|enrollment| {
                well_formed(&enrollment.name, |name| parse_id("", "enrollments", name))
            });
        let result = self.update_enrollment_as(&call, request.into_inner()).await;
        finish_write(&self.repo, &call, result).await
    }

    async fn delete_enrollment(
        &self,
        request: Request<pb::DeleteEnrollmentRequest>,
    ) -> ApiResult<()> {
        let mut call = call_of(&request)?;
        let name = &request.get_ref().name;
        call.resource = well_formed(name, |name| parse_id("", "enrollments", name));
        let result = async {
            let id = EnrollmentId(parse_id("name", "enrollments", name)?);
            Ok(self.repo.audited(&call).delete_enrollment(id).await?)
        }
        .await;
        finish_write(&self.repo, &call, result).await
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
        let mut call = call_of(&request)?;
        let result = async {
            let request = request.into_inner();
            key_call(&mut call, &request)?;
            self.create_grade_as(&call, request).await
        }
        .await;
        finish_write(&self.repo, &call, result).await
    }

    async fn update_grade(&self, request: Request<pb::UpdateGradeRequest>) -> ApiResult<pb::Grade> {
        let mut call = call_of(&request)?;
        call.resource = request
            .get_ref()
            .grade
            .as_ref()
            .and_then(|grade| well_formed(&grade.name, |name| parse_id("", "grades", name)));
        let result = self.update_grade_as(&call, request.into_inner()).await;
        finish_write(&self.repo, &call, result).await
    }

    async fn delete_grade(&self, request: Request<pb::DeleteGradeRequest>) -> ApiResult<()> {
        let mut call = call_of(&request)?;
        let name = &request.get_ref().name;
        call.resource = well_formed(name, |name| parse_id("", "grades", name));
        let result = async {
            let id = GradeId(parse_id("name", "grades", name)?);
            Ok(self.repo.audited(&call).delete_grade(id).await?)
        }
        .await;
        finish_write(&self.repo, &call, result).await
    }
}

/// The writes' work between the audit bookkeeping of the handlers above.
impl DomainApi {
    async fn create_enrollment_as(
        &self,
        call: &Call,
        request: pb::CreateEnrollmentRequest,
    ) -> Result<pb::Enrollment, ApiError> {
        let enrollment = request
            .enrollment
            .as_ref()
            .ok_or_else(|| ApiError::invalid("enrollment", "is required"))?;
        let new = new_enrollment(enrollment)?;
        let outcome = self
            .repo
            .audited(call)
            .create_enrollment(new, |enrollment| {
                let response = pb::Enrollment::from(enrollment.clone());
                recorded(&response.name, &response)
            })
            .await?;
        created(outcome)
    }

    async fn update_enrollment_as(
        &self,
        call: &Call,
        request: pb::UpdateEnrollmentRequest,
    ) -> Result<pb::Enrollment, ApiError> {
        let enrollment = request
            .enrollment
            .ok_or_else(|| ApiError::invalid("enrollment", "is required"))?;
        let id = EnrollmentId(parse_id(
            "enrollment.name",
            "enrollments",
            &enrollment.name,
        )?);
        let paths = update_mask(request.update_mask.as_ref(), &ENROLLMENT_UPDATABLE)?;
        let patch = enrollment_patch(&enrollment, &paths)?;
        Ok(self
            .repo
            .audited(call)
            .update_enrollment(id, patch)
            .await?
            .into())
    }

    async fn create_grade_as(
        &self,
        call: &Call,
        request: pb::CreateGradeRequest,
    ) -> Result<pb::Grade, ApiError> {
        let grade = request
            .grade
            .as_ref()
            .ok_or_else(|| ApiError::invalid("grade", "is required"))?;
        let new = new_grade(grade)?;
        let outcome = self
            .repo
            .audited(call)
            .create_grade(new, |grade| {
                let response = pb::Grade::from(grade.clone());
                recorded(&response.name, &response)
            })
            .await?;
        created(outcome)
    }

    async fn update_grade_as(
        &self,
        call: &Call,
        request: pb::UpdateGradeRequest,
    ) -> Result<pb::Grade, ApiError> {
        let grade = request
            .grade
            .ok_or_else(|| ApiError::invalid("grade", "is required"))?;
        let id = GradeId(parse_id("grade.name", "grades", &grade.name)?);
        let paths = update_mask(request.update_mask.as_ref(), &GRADE_UPDATABLE)?;
        let patch = grade_patch(&grade, &paths)?;
        Ok(self
            .repo
            .audited(call)
            .update_grade(id, patch)
            .await?
            .into())
    }
}

// A mark longer than MAX_SHORT_TEXT could never be a mark; keep the two limits related.
const _: () = assert!(MAX_MARK < MAX_SHORT_TEXT);
