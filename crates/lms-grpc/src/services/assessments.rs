//! Assessments and submissions: read-only.

use lms_domain::LegacyEntity;
use lms_domain::model::{
    AssessmentFilter, AssessmentId, GroupId, StudentId, SubjectId, SubmissionFilter, SubmissionId,
};
use tonic::{Request, Response};

use super::directory::optional_term;
use super::{DomainApi, OrStatus, legacy_id, list_page};
use crate::error::ApiResult;
use crate::names::parse_id;
use crate::pb::lms::v1 as pb;
use crate::pb::lms::v1::assessment_service_server::AssessmentService;
use crate::request::filter;

#[tonic::async_trait]
impl AssessmentService for DomainApi {
    async fn get_assessment(
        &self,
        request: Request<pb::GetAssessmentRequest>,
    ) -> ApiResult<pb::Assessment> {
        let id =
            AssessmentId(parse_id("name", "assessments", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_assessment(id).await.or_status()?.into(),
        ))
    }

    async fn list_assessments(
        &self,
        request: Request<pb::ListAssessmentsRequest>,
    ) -> ApiResult<pb::ListAssessmentsResponse> {
        let request = request.into_inner();
        let terms = filter(&request.filter, &["subject", "group"]).or_status()?;
        let filter = AssessmentFilter {
            subject_id: optional_term(&terms, "subject", "subjects")?.map(SubjectId),
            group_id: optional_term(&terms, "group", "groups")?.map(GroupId),
        };
        let (assessments, next_page_token) = list_page(
            self.budget,
            &format!("ListAssessments|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_assessments(&filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListAssessmentsResponse {
            assessments,
            next_page_token,
        }))
    }

    async fn lookup_assessment(
        &self,
        request: Request<pb::LookupAssessmentRequest>,
    ) -> ApiResult<pb::Assessment> {
        let legacy = legacy_id(LegacyEntity::Exams, request.get_ref().legacy_id).or_status()?;
        Ok(Response::new(
            self.repo
                .lookup_assessment(legacy)
                .await
                .or_status()?
                .into(),
        ))
    }

    async fn get_submission(
        &self,
        request: Request<pb::GetSubmissionRequest>,
    ) -> ApiResult<pb::Submission> {
        let id =
            SubmissionId(parse_id("name", "submissions", &request.get_ref().name).or_status()?);
        let submission = self.repo.get_submission(id).await.or_status()?;
        Ok(Response::new(
            self.budget
                .whole(pb::Submission::from(submission))
                .or_status()?,
        ))
    }

    async fn list_submissions(
        &self,
        request: Request<pb::ListSubmissionsRequest>,
    ) -> ApiResult<pb::ListSubmissionsResponse> {
        let request = request.into_inner();
        let terms = filter(&request.filter, &["assessment", "student"]).or_status()?;
        let filter = SubmissionFilter {
            assessment_id: optional_term(&terms, "assessment", "assessments")?.map(AssessmentId),
            student_id: optional_term(&terms, "student", "students")?.map(StudentId),
        };
        let (submissions, next_page_token) = list_page(
            self.budget,
            &format!("ListSubmissions|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_submissions(&filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListSubmissionsResponse {
            submissions,
            next_page_token,
        }))
    }

    async fn lookup_submission(
        &self,
        request: Request<pb::LookupSubmissionRequest>,
    ) -> ApiResult<pb::Submission> {
        let legacy =
            legacy_id(LegacyEntity::ExamResults, request.get_ref().legacy_id).or_status()?;
        let submission = self.repo.lookup_submission(legacy).await.or_status()?;
        Ok(Response::new(
            self.budget
                .whole(pb::Submission::from(submission))
                .or_status()?,
        ))
    }
}
