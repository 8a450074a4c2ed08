//! Students: reads and writes.

use lms_domain::LegacyEntity;
use lms_domain::audit::Call;
use lms_domain::model::{
    GroupId, NewStudent, OrganizationId, PersonId, StudentFilter, StudentId, StudentPatch, UserId,
};
use lms_domain::status::StudentStatus;
use tonic::{Request, Response};

use super::directory::optional_term;
use super::parse::{optional_year, student_status_field, student_status_filter};
use super::{DomainApi, OrStatus, legacy_id, list_page};
use crate::audit::{call_of, created, finish_write, key_call, recorded, well_formed};
use crate::error::{ApiError, ApiResult};
use crate::names::{parse_id, parse_optional_id};
use crate::pb::lms::v1 as pb;
use crate::pb::lms::v1::student_service_server::StudentService;
use crate::request::{MAX_SHORT_TEXT, filter, optional_text, update_mask};

/// Fields an update may change.
const UPDATABLE: [&str; 5] = [
    "organization",
    "group",
    "admission_year",
    "status",
    "record_book_number",
];

impl TryFrom<&pb::Student> for NewStudent {
    type Error = ApiError;

    fn try_from(student: &pb::Student) -> Result<Self, Self::Error> {
        if !student.name.is_empty() {
            return Err(ApiError::invalid(
                "student.name",
                "is assigned by the server; leave it empty",
            ));
        }
        Ok(NewStudent {
            person_id: PersonId(parse_id("student.person", "persons", &student.person)?),
            user_id: UserId(parse_id("student.user", "users", &student.user)?),
            organization_id: parse_optional_id(
                "student.organization",
                "organizations",
                &student.organization,
            )?
            .map(OrganizationId),
            group_id: parse_optional_id("student.group", "groups", &student.group)?.map(GroupId),
            admission_year: optional_year("student.admission_year", student.admission_year)?,
            status: student_status_field(
                "student.status",
                student.status,
                Some(StudentStatus::Active),
            )?,
            record_book_no: optional_text(
                "student.record_book_number",
                &student.record_book_number,
                MAX_SHORT_TEXT,
            )?,
        })
    }
}

fn patch(student: &pb::Student, paths: &[String]) -> Result<StudentPatch, ApiError> {
    let mut patch = StudentPatch::default();
    for path in paths {
        match path.as_str() {
            "organization" => {
                patch.organization_id = Some(
                    parse_optional_id(
                        "student.organization",
                        "organizations",
                        &student.organization,
                    )?
                    .map(OrganizationId),
                );
            }
            "group" => {
                patch.group_id =
                    Some(parse_optional_id("student.group", "groups", &student.group)?.map(GroupId))
            }
            "admission_year" => {
                patch.admission_year = Some(optional_year(
                    "student.admission_year",
                    student.admission_year,
                )?)
            }
            "status" => {
                patch.status = Some(student_status_field(
                    "student.status",
                    student.status,
                    None,
                )?)
            }
            "record_book_number" => {
                patch.record_book_no = Some(optional_text(
                    "student.record_book_number",
                    &student.record_book_number,
                    MAX_SHORT_TEXT,
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

#[tonic::async_trait]
impl StudentService for DomainApi {
    async fn get_student(&self, request: Request<pb::GetStudentRequest>) -> ApiResult<pb::Student> {
        let id = StudentId(parse_id("name", "students", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_student(id).await.or_status()?.into(),
        ))
    }

    async fn list_students(
        &self,
        request: Request<pb::ListStudentsRequest>,
    ) -> ApiResult<pb::ListStudentsResponse> {
        let request = request.into_inner();
        let terms = filter(&request.filter, &["organization", "group", "status"]).or_status()?;
        let filter = StudentFilter {
            organization_id: optional_term(&terms, "organization", "organizations")?
                .map(OrganizationId),
            group_id: optional_term(&terms, "group", "groups")?.map(GroupId),
            status: terms
                .get("status")
                .map(|status| student_status_filter(status))
                .transpose()
                .or_status()?,
        };
        let (students, next_page_token) = list_page(
            self.budget,
            &format!("ListStudents|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_students(&filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListStudentsResponse {
            students,
            next_page_token,
        }))
    }

    async fn lookup_student(
        &self,
        request: Request<pb::LookupStudentRequest>,
    ) -> ApiResult<pb::Student> {
        let legacy = legacy_id(LegacyEntity::Students, request.get_ref().legacy_id).or_status()?;
        Ok(Response::new(
            self.repo.lookup_student(legacy).await.or_status()?.into(),
        ))
    }

    async fn create_student(
        &self,
        request: Request<pb::CreateStudentRequest>,
    ) -> ApiResult<pb::Student> {
        let mut call = call_of(&request)?;
        let result = async {
            let request = request.into_inner();
            key_call(&mut call, &request)?;
            self.create_student_as(&call, request).await
        }
        .await;
        finish_write(&self.repo, &call, result).await
    }

    async fn update_student(
        &self,
        request: Request<pb::UpdateStudentRequest>,
    ) -> ApiResult<pb::Student> {
        let mut call = call_of(&request)?;
        call.resource =
            request.get_ref().student.as_ref().and_then(|student| {
                well_formed(&student.name, |name| parse_id("", "students", name))
            });
        let result = self.update_student_as(&call, request.into_inner()).await;
        finish_write(&self.repo, &call, result).await
    }

    async fn delete_student(&self, request: Request<pb::DeleteStudentRequest>) -> ApiResult<()> {
        let mut call = call_of(&request)?;
        let name = &request.get_ref().name;
        call.resource = well_formed(name, |name| parse_id("", "students", name));
        let result = async {
            let id = StudentId(parse_id("name", "students", name)?);
            Ok(self.repo.audited(&call).delete_student(id).await?)
        }
        .await;
        finish_write(&self.repo, &call, result).await
    }
}

impl DomainApi {
    async fn create_student_as(
        &self,
        call: &Call,
        request: pb::CreateStudentRequest,
    ) -> Result<pb::Student, ApiError> {
        let student = request
            .student
            .as_ref()
            .ok_or_else(|| ApiError::invalid("student", "is required"))?;
        let new = NewStudent::try_from(student)?;
        let outcome = self
            .repo
            .audited(call)
            .create_student(new, |student| {
                let response = pb::Student::from(student.clone());
                recorded(&response.name, &response)
            })
            .await?;
        created(outcome)
    }

    async fn update_student_as(
        &self,
        call: &Call,
        request: pb::UpdateStudentRequest,
    ) -> Result<pb::Student, ApiError> {
        let student = request
            .student
            .ok_or_else(|| ApiError::invalid("student", "is required"))?;
        let id = StudentId(parse_id("student.name", "students", &student.name)?);
        let paths = update_mask(request.update_mask.as_ref(), &UPDATABLE)?;
        let patch = patch(&student, &paths)?;
        Ok(self
            .repo
            .audited(call)
            .update_student(id, patch)
            .await?
            .into())
    }
}
