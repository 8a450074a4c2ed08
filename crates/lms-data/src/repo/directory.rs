//! Organizations, persons, users and staff members: read only.

use lms_domain::DomainError;
use lms_domain::account::Role;
use lms_domain::model::*;
use lms_domain::person::Gender;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{LmsStore, legacy, legacy_i32, legacy_key, parse_text, read_one, read_page};
use crate::entities::{organizations, persons, staff_members, users};

const ORGANIZATION: &str = "organization";
const PERSON: &str = "person";
const USER: &str = "user";
const STAFF_MEMBER: &str = "staff member";

impl LmsStore {
    pub async fn get_organization(&self, id: OrganizationId) -> Result<Organization, DomainError> {
        let select = organizations::Entity::find_by_id(id.0);
        organization(read_one(&self.db, ORGANIZATION, id, select).await?)
    }

    pub async fn list_organizations(
        &self,
        page: PageRequest,
    ) -> Result<Page<Organization>, DomainError> {
        let select = organizations::Entity::find();
        let id = organizations::Column::Id;
        read_page(
            &self.db,
            ORGANIZATION,
            select,
            id,
            page,
            organization,
            |o| o.id.0,
        )
        .await
    }

    pub async fn lookup_organization(&self, legacy_id: i64) -> Result<Organization, DomainError> {
        let key = legacy_i32(ORGANIZATION, legacy_id)?;
        let select = organizations::Entity::find().filter(organizations::Column::LegacyId.eq(key));
        organization(read_one(&self.db, ORGANIZATION, legacy_key(legacy_id), select).await?)
    }

    pub async fn get_person(&self, id: PersonId) -> Result<Person, DomainError> {
        let select = persons::Entity::find_by_id(id.0);
        person(read_one(&self.db, PERSON, id, select).await?)
    }

    pub async fn list_persons(&self, page: PageRequest) -> Result<Page<Person>, DomainError> {
        let select = persons::Entity::find();
        read_page(
            &self.db,
            PERSON,
            select,
            persons::Column::Id,
            page,
            person,
            |p| p.id.0,
        )
        .await
    }

    pub async fn lookup_person(&self, legacy_id: i64) -> Result<Person, DomainError> {
        let key = legacy_i32(PERSON, legacy_id)?;
        let select = persons::Entity::find().filter(persons::Column::LegacyId.eq(key));
        person(read_one(&self.db, PERSON, legacy_key(legacy_id), select).await?)
    }

    pub async fn get_user(&self, id: UserId) -> Result<User, DomainError> {
        let select = users::Entity::find_by_id(id.0);
        user(read_one(&self.db, USER, id, select).await?)
    }

    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page: PageRequest,
    ) -> Result<Page<User>, DomainError> {
        let mut select = users::Entity::find();
        if let Some(role) = filter.role {
            select = select.filter(users::Column::Role.eq(role.as_str()));
        }
        read_page(&self.db, USER, select, users::Column::Id, page, user, |u| {
            u.id.0
        })
        .await
    }

    pub async fn lookup_user(&self, legacy_id: i64) -> Result<User, DomainError> {
        let key = legacy_i32(USER, legacy_id)?;
        let select = users::Entity::find().filter(users::Column::LegacyId.eq(key));
        user(read_one(&self.db, USER, legacy_key(legacy_id), select).await?)
    }

    pub async fn get_staff_member(&self, id: StaffMemberId) -> Result<StaffMember, DomainError> {
        let select = staff_members::Entity::find_by_id(id.0);
        staff_member(read_one(&self.db, STAFF_MEMBER, id, select).await?)
    }

    pub async fn list_staff_members(
        &self,
        filter: &StaffFilter,
        page: PageRequest,
    ) -> Result<Page<StaffMember>, DomainError> {
        let mut select = staff_members::Entity::find();
        if let Some(organization) = filter.organization_id {
            select = select.filter(staff_members::Column::OrganizationId.eq(organization.0));
        }
        let id = staff_members::Column::Id;
        read_page(
            &self.db,
            STAFF_MEMBER,
            select,
            id,
            page,
            staff_member,
            |s| s.id.0,
        )
        .await
    }

    pub async fn lookup_staff_member(&self, legacy_id: i64) -> Result<StaffMember, DomainError> {
        let key = legacy_i32(STAFF_MEMBER, legacy_id)?;
        let select = staff_members::Entity::find().filter(staff_members::Column::LegacyId.eq(key));
        staff_member(read_one(&self.db, STAFF_MEMBER, legacy_key(legacy_id), select).await?)
    }
}

fn organization(row: organizations::Model) -> Result<Organization, DomainError> {
    Ok(Organization {
        id: OrganizationId(row.id),
        parent_id: row.parent_id.map(OrganizationId),
        name: row.name,
        short_name: row.short_name,
        org_type: row.org_type,
        bin: row.bin,
        archived: row.archived,
        created_at: row.created_at,
        legacy: legacy(row.legacy_id.map(i64::from), row.source_deleted_at),
    })
}

fn person(row: persons::Model) -> Result<Person, DomainError> {
    let gender = match row.gender.as_deref() {
        Some(text) => Some(parse_text("gender", text, Gender::parse)?),
        None => None,
    };
    Ok(Person {
        id: PersonId(row.id),
        last_name: row.last_name,
        first_name: row.first_name,
        middle_name: row.middle_name,
        iin: row.iin,
        birth_date: row.birth_date,
        gender,
        phone: row.phone,
        legacy: legacy(row.legacy_id.map(i64::from), row.source_deleted_at),
    })
}

/// The password hash stays behind: the domain `User` has no field for it.
fn user(row: users::Model) -> Result<User, DomainError> {
    Ok(User {
        id: UserId(row.id),
        person_id: row.person_id.map(PersonId),
        login: row.login,
        email: row.email,
        role: parse_text("role", &row.role, Role::parse)?,
        is_active: row.is_active,
        password_reset_required: row.password_reset_required,
        activation_required: row.activation_required,
        created_at: row.created_at,
        last_login_at: row.last_login_at,
        legacy: legacy(row.legacy_id.map(i64::from), row.source_deleted_at),
    })
}

fn staff_member(row: staff_members::Model) -> Result<StaffMember, DomainError> {
    Ok(StaffMember {
        id: StaffMemberId(row.id),
        person_id: PersonId(row.person_id),
        user_id: UserId(row.user_id),
        organization_id: row.organization_id.map(OrganizationId),
        position: row.position,
        hired_on: row.hired_on,
        left_on: row.left_on,
        legacy: legacy(row.legacy_id.map(i64::from), row.source_deleted_at),
    })
}
