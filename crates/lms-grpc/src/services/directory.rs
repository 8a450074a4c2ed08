//! Organizations, persons, users and staff: read-only.

use lms_domain::LegacyEntity;
use lms_domain::model::{OrganizationId, PersonId, StaffFilter, StaffMemberId, UserFilter, UserId};
use tonic::{Request, Response, Status};

use super::parse::role_filter;
use super::{DomainApi, OrStatus, legacy_id, list_page};
use crate::error::ApiResult;
use crate::names::{parse_id, parse_optional_id};
use crate::pb::lms::v1 as pb;
use crate::pb::lms::v1::organization_service_server::OrganizationService;
use crate::pb::lms::v1::person_service_server::PersonService;
use crate::pb::lms::v1::staff_service_server::StaffService;
use crate::pb::lms::v1::user_service_server::UserService;
use crate::request::filter;

#[tonic::async_trait]
impl OrganizationService for DomainApi {
    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> ApiResult<pb::Organization> {
        let id =
            OrganizationId(parse_id("name", "organizations", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_organization(id).await.or_status()?.into(),
        ))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> ApiResult<pb::ListOrganizationsResponse> {
        let request = request.into_inner();
        filter(&request.filter, &[]).or_status()?;
        let (organizations, next_page_token) = list_page(
            self.budget,
            "ListOrganizations",
            request.page_size,
            &request.page_token,
            |page| self.repo.list_organizations(page),
        )
        .await?;
        Ok(Response::new(pb::ListOrganizationsResponse {
            organizations,
            next_page_token,
        }))
    }

    async fn lookup_organization(
        &self,
        request: Request<pb::LookupOrganizationRequest>,
    ) -> ApiResult<pb::Organization> {
        let legacy =
            legacy_id(LegacyEntity::Organizations, request.get_ref().legacy_id).or_status()?;
        Ok(Response::new(
            self.repo
                .lookup_organization(legacy)
                .await
                .or_status()?
                .into(),
        ))
    }
}

#[tonic::async_trait]
impl PersonService for DomainApi {
    async fn get_person(&self, request: Request<pb::GetPersonRequest>) -> ApiResult<pb::Person> {
        let id = PersonId(parse_id("name", "persons", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_person(id).await.or_status()?.into(),
        ))
    }

    async fn list_persons(
        &self,
        request: Request<pb::ListPersonsRequest>,
    ) -> ApiResult<pb::ListPersonsResponse> {
        let request = request.into_inner();
        filter(&request.filter, &[]).or_status()?;
        let (persons, next_page_token) = list_page(
            self.budget,
            "ListPersons",
            request.page_size,
            &request.page_token,
            |page| self.repo.list_persons(page),
        )
        .await?;
        Ok(Response::new(pb::ListPersonsResponse {
            persons,
            next_page_token,
        }))
    }

    async fn lookup_person(
        &self,
        request: Request<pb::LookupPersonRequest>,
    ) -> ApiResult<pb::Person> {
        let legacy = legacy_id(LegacyEntity::Persons, request.get_ref().legacy_id).or_status()?;
        Ok(Response::new(
            self.repo.lookup_person(legacy).await.or_status()?.into(),
        ))
    }
}

#[tonic::async_trait]
impl UserService for DomainApi {
    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> ApiResult<pb::User> {
        let id = UserId(parse_id("name", "users", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_user(id).await.or_status()?.into(),
        ))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> ApiResult<pb::ListUsersResponse> {
        let request = request.into_inner();
        let terms = filter(&request.filter, &["role"]).or_status()?;
        let filter = UserFilter {
            role: terms
                .get("role")
                .map(|role| role_filter(role))
                .transpose()
                .or_status()?,
        };
        let (users, next_page_token) = list_page(
            self.budget,
            &format!("ListUsers|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_users(&filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListUsersResponse {
            users,
            next_page_token,
        }))
    }

    async fn lookup_user(&self, request: Request<pb::LookupUserRequest>) -> ApiResult<pb::User> {
        let legacy = legacy_id(LegacyEntity::Users, request.get_ref().legacy_id).or_status()?;
        Ok(Response::new(
            self.repo.lookup_user(legacy).await.or_status()?.into(),
        ))
    }
}

#[tonic::async_trait]
impl StaffService for DomainApi {
    async fn get_staff_member(
        &self,
        request: Request<pb::GetStaffMemberRequest>,
    ) -> ApiResult<pb::StaffMember> {
        let id =
            StaffMemberId(parse_id("name", "staffMembers", &request.get_ref().name).or_status()?);
        Ok(Response::new(
            self.repo.get_staff_member(id).await.or_status()?.into(),
        ))
    }

    async fn list_staff_members(
        &self,
        request: Request<pb::ListStaffMembersRequest>,
    ) -> ApiResult<pb::ListStaffMembersResponse> {
        let request = request.into_inner();
        let terms = filter(&request.filter, &["organization"]).or_status()?;
        let filter = StaffFilter {
            organization_id: optional_term(&terms, "organization", "organizations")?
                .map(OrganizationId),
        };
        let (staff_members, next_page_token) = list_page(
            self.budget,
            &format!("ListStaffMembers|{filter:?}"),
            request.page_size,
            &request.page_token,
            |page| self.repo.list_staff_members(&filter, page),
        )
        .await?;
        Ok(Response::new(pb::ListStaffMembersResponse {
            staff_members,
            next_page_token,
        }))
    }

    async fn lookup_staff_member(
        &self,
        request: Request<pb::LookupStaffMemberRequest>,
    ) -> ApiResult<pb::StaffMember> {
        let legacy = legacy_id(LegacyEntity::Teachers, request.get_ref().legacy_id).or_status()?;
        Ok(Response::new(
            self.repo
                .lookup_staff_member(legacy)
                .await
                .or_status()?
                .into(),
        ))
    }
}

/// A reference in a filter term ("organizations/3"), if the term is there.
pub fn optional_term(
    terms: &std::collections::BTreeMap<String, String>,
    field: &str,
    collection: &str,
) -> Result<Option<i64>, Status> {
    match terms.get(field) {
        None => Ok(None),
        Some(value) => parse_optional_id("filter", collection, value)
            .or_status()
            .and_then(|id| {
                id.map(Some).ok_or_else(|| {
                    crate::error::ApiError::invalid("filter", format!("{field} needs a value"))
                        .into()
                })
            }),
    }
}
