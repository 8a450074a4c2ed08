//! Course offerings (read-only) and their materials (read and write).

use lms_domain::audit::Call;
use lms_domain::model::{
    CourseFilter, CourseId, GroupId, MaterialId, MaterialKind, MaterialPatch, NewMaterial,
    SubjectId,
};
use tonic::{Request, Response};

use super::directory::optional_term;
use super::parse::material_kind_field;
use super::{DomainApi, OrStatus, list_page};
use crate::audit::{call_of, created, finish_write, key_call, recorded, well_formed};
use crate::error::{ApiError, ApiResult};
use crate::names::{parse_id, parse_material};
use crate::pb::lms::v1 as pb;
use crate::pb::lms::v1::course_service_server::CourseService;
use crate::request::{
    MAX_LONG_TEXT, MAX_SHORT_TEXT, filter, optional_text, required_text, update_mask, verbatim_text,
};

const UPDATABLE: [&str; 5] = ["title", "kind", "url", "body", "position"];

fn url(field: &str, value: &str) -> Result<Option<String>, ApiError> {
    let url = optional_text(field, value, 2_000)?;
    if let Some(url) = &url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ApiError::invalid(
            field,
            "must be an http:// or https:// URL",
        ));
    }
    Ok(url)
}

fn position(field: &str, value: i32) -> Result<i32, ApiError> {
    if (0..=1_000_000).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(field, "must be between 0 and 1000000"))
    }
}

fn new_material(material: &pb::CourseMaterial) -> Result<NewMaterial, ApiError> {
    if !material.name.is_empty() {
        return Err(ApiError::invalid(
            "course_material.name",
            "is assigned by the server; leave it empty",
        ));
    }
    let kind = material_kind_field("course_material.kind", material.kind)?;
    let url = url("course_material.url", &material.url)?;
    if matches!(kind, MaterialKind::Link | MaterialKind::File) && url.is_none() {
        return Err(ApiError::invalid(
            "course_material.url",
            "is required for links and files",
        ));
    }
    Ok(NewMaterial {
        title: required_text("course_material.title", &material.title, MAX_SHORT_TEXT)?,
        kind,
        url,
        body: verbatim_text("course_material.body", &material.body, MAX_LONG_TEXT)?,
        position: position("course_material.position", material.position)?,
    })
}

fn material_patch(
    material: &pb::CourseMaterial,
    paths: &[String],
) -> Result<MaterialPatch, ApiError> {
    let mut patch = MaterialPatch::default();
    for path in paths {
        match path.as_str() {
            "title" => {
                patch.title = Some(required_text(
                    "course_material.title",
                    &material.title,
                    MAX_SHORT_TEXT,
                )?)
            }
            "kind" => {
                patch.kind = Some(material_kind_field("course_material.kind", material.kind)?)
            }
            "url" => patch.url = Some(url("course_material.url", &material.url)?),
            "body" => {
                patch.body = Some(verbatim_text(
                    "course_material.body",
                    &material.body,
                    MAX_LONG_TEXT,
                )?)
            }
            "position" => {
                patch.position = Some(position("course_material.position", material.position)?)
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
impl CourseService for DomainApi {
    async fn get_course(&self, request: Request<pb::GetCourseRequest>) -> ApiResult<pb::Course> {
        let id = CourseId(parse_id("name", "courses", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_course(id).await.or_status()?.into(),
        ))
    }

    async fn list_courses(
        &self,
        request: Request<pb::ListCoursesRequest>,
    ) -> ApiResult<pb::ListCoursesResponse> {
        let request = request.into_inner();
        let terms = filter(&request.filter, &["subject", "group", "academic_year"]).or_status()?;
        let filter = CourseFilter {
            subject_id: optional_term(&terms, "subject", "subjects")?.map(SubjectId),
            group_id: optional_term(&terms, "group", "groups")?.map(GroupId),
            academic_year: terms
                .get("academic_year")
                .map(|year| {
                    lms_domain::course::academic_year_of(Some(year))
                        .map(str::to_owned)
                        .map_err(|invalid| ApiError::invalid("filter", invalid.to_string()))
                })
                .transpose()?,
        };
        let (courses, next_page_token) = list_page(
            self.budget,
            &format!("ListCourses|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_courses(&filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListCoursesResponse {
            courses,
            next_page_token,
        }))
    }

    async fn get_course_material(
        &self,
        request: Request<pb::GetCourseMaterialRequest>,
    ) -> ApiResult<pb::CourseMaterial> {
        let (course, id) = parse_material("name", &request.get_ref().name).or_status()?;
        let material = self
            .repo
            .get_material(CourseId(course), MaterialId(id))
            .await
            .or_status()?;
        Ok(Response::new(
            self.budget
                .whole(pb::CourseMaterial::from(material))
                .or_status()?,
        ))
    }

    async fn list_course_materials(
        &self,
        request: Request<pb::ListCourseMaterialsRequest>,
    ) -> ApiResult<pb::ListCourseMaterialsResponse> {
        let request = request.into_inner();
        let course = CourseId(parse_id("parent", "courses", &request.parent).or_status()?);
        let (course_materials, next_page_token) = list_page(
            self.budget,
            &format!("ListCourseMaterials|{course}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_materials(course, page),
        )
        .await?;
        Ok(Response::new(pb::ListCourseMaterialsResponse {
            course_materials,
            next_page_token,
        }))
    }

    async fn create_course_material(
        &self,
        request: Request<pb::CreateCourseMaterialRequest>,
    ) -> ApiResult<pb::CourseMaterial> {
        let mut call = call_of(&request)?;
        let result = async {
            let request = request.into_inner();
            key_call(&mut call, &request)?;
            self.create_material_as(&call, request).await
        }
        .await;
        finish_write(&self.repo, &call, result).await
    }

    async fn update_course_material(
        &self,
        request: Request<pb::UpdateCourseMaterialRequest>,
    ) -> ApiResult<pb::CourseMaterial> {
        let mut call = call_of(&request)?;
        call.resource = request
            .get_ref()
            .course_material
            .as_ref()
            .and_then(|material| well_formed(&material.name, |name| parse_material("", name)));
        let result = self.update_material_as(&call, request.into_inner()).await;
        finish_write(&self.repo, &call, result).await
    }

    async fn delete_course_material(
        &self,
        request: Request<pb::DeleteCourseMaterialRequest>,
    ) -> ApiResult<()> {
        let mut call = call_of(&request)?;
        let name = &request.get_ref().name;
        call.resource = well_formed(name, |name| parse_material("", name));
        let result = async {
            let (course, id) = parse_material("name", name)?;
            Ok(self
                .repo
                .audited(&call)
                .delete_material(CourseId(course), MaterialId(id))
                .await?)
        }
        .await;
        finish_write(&self.repo, &call, result).await
    }
}

/// The writes' work between the audit bookkeeping of the handlers above.
impl DomainApi {
    async fn create_material_as(
        &self,
        call: &Call,
        request: pb::CreateCourseMaterialRequest,
    ) -> Result<pb::CourseMaterial, ApiError> {
        let course = CourseId(parse_id("parent", "courses", &request.parent)?);
        let material = request
            .course_material
            .as_ref()
            .ok_or_else(|| ApiError::invalid("course_material", "is required"))?;
        let new = new_material(material)?;
        let outcome = self
            .repo
            .audited(call)
            .create_material(course, new, |material| {
                let response = pb::CourseMaterial::from(material.clone());
                recorded(&response.name, &response)
            })
            .await?;
        created(outcome)
    }

    async fn update_material_as(
        &self,
        call: &Call,
        request: pb::UpdateCourseMaterialRequest,
    ) -> Result<pb::CourseMaterial, ApiError> {
        let material = request
            .course_material
            .ok_or_else(|| ApiError::invalid("course_material", "is required"))?;
        let (course, id) = parse_material("course_material.name", &material.name)?;
        let paths = update_mask(request.update_mask.as_ref(), &UPDATABLE)?;
        let patch = material_patch(&material, &paths)?;
        Ok(self
            .repo
            .audited(call)
            .update_material(CourseId(course), MaterialId(id), patch)
            .await?
            .into())
    }
}
