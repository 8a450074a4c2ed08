//! Organizations and persons: every legacy row migrates, with row-local
//! rules only.

use lms_domain::DomainError;
use lms_domain::model::*;
use lms_domain::person::{Gender, parse_birth_date};
use lms_domain::text::{clean_opt, lower};

use super::LegacyReader;
use super::ids::IdMap;
use super::rows::{DatabaseResult, UtcTime, collect, name_or_placeholder, served, trimmed};
use super::rows::{legacy_instant, looked_up};

const ORGANIZATION: &str = "organization";
const PERSON: &str = "person";

/// The key a NotFound names for a lookup by legacy id, as the repository
/// names it.
pub(super) fn legacy_key(legacy_id: i64) -> String {
    format!("with legacy id {legacy_id}")
}

macro_rules! select_organizations {
    ($($condition:expr),+) => {
        concat!(
            "SELECT id, parent_id, \
                    NOT ", $crate::parent_points_nowhere!("organizations", "id", "parent_id", "o"), " \
                    AS parent_linked, \
                    name, short_name, org_type, bin, is_deleted, \
                    ", legacy_instant!("created_at"), " AS created_at \
             FROM organizations o WHERE ",
            $($condition),+
        )
    };
}

#[derive(sqlx::FromRow)]
struct OrganizationRow {
    id: i32,
    parent_id: Option<i32>,
    /// Whether `parent_id`, if any, points somewhere (`organization_tree`):
    /// a legacy organization has it now, and the link closes no ring here.
    parent_linked: bool,
    name: Option<String>,
    short_name: Option<String>,
    org_type: Option<String>,
    bin: Option<String>,
    is_deleted: Option<bool>,
    created_at: Option<UtcTime>,
}

macro_rules! select_persons {
    ($($condition:expr),+) => {
        concat!(
            "SELECT id, last_name, first_name, middle_name, iin, birth_date, gender, phone \
             FROM persons WHERE ",
            $($condition),+
        )
    };
}

#[derive(sqlx::FromRow)]
struct PersonRow {
    id: i32,
    last_name: Option<String>,
    first_name: Option<String>,
    middle_name: Option<String>,
    iin: Option<String>,
    birth_date: Option<String>,
    gender: Option<String>,
    phone: Option<String>,
}

impl LegacyReader {
    pub async fn get_organization(&self, id: OrganizationId) -> Result<Organization, DomainError> {
        let ids = self.ids()?;
        let found = match ids.organizations.migrated.legacy_id(id.0) {
            Some(legacy_id) => self.organization(&ids, legacy_id).await?,
            None => None,
        };
        found.ok_or_else(|| DomainError::not_known_to_legacy(ORGANIZATION, id))
    }

    pub async fn list_organizations(
        &self,
        page: PageRequest,
    ) -> Result<Page<Organization>, DomainError> {
        let ids = self.ids()?;
        let scanned = collect(
            page,
            self.max_rows_per_list(),
            |from, limit| async move {
                sqlx::query_as(select_organizations!("id >= $2 ORDER BY id LIMIT $3"))
                    .bind(self.timezone())
                    .bind(from)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await
                    .legacy()
            },
            |row: &OrganizationRow| i64::from(row.id),
            |row| organization(&ids, &row),
        )
        .await?;
        Ok(scanned.into_page(page, |o| o.legacy.map_or(0, |l| l.legacy_id)))
    }

    pub async fn lookup_organization(&self, legacy_id: i64) -> Result<Organization, DomainError> {
        let ids = self.ids()?;
        let mapped = ids.organizations.migrated.lms_id(legacy_id).is_some();
        let found = self.organization(&ids, legacy_id).await?;
        looked_up(found, mapped, ORGANIZATION, legacy_id)
    }

    async fn organization(
        &self,
        ids: &IdMap,
        legacy_id: i64,
    ) -> Result<Option<Organization>, DomainError> {
        if ids.organizations.migrated.lms_id(legacy_id).is_none() {
            return Ok(None);
        }
        let row: Option<OrganizationRow> = sqlx::query_as(select_organizations!("id = $2"))
            .bind(self.timezone())
            .bind(legacy_id)
            .fetch_optional(self.pool())
            .await
            .legacy()?;
        Ok(row.and_then(|row| organization(ids, &row)))
    }

    pub async fn get_person(&self, id: PersonId) -> Result<Person, DomainError> {
        let ids = self.ids()?;
        let found = match ids.persons.migrated.legacy_id(id.0) {
            Some(legacy_id) => self.person(&ids, legacy_id).await?,
            None => None,
        };
        found.ok_or_else(|| DomainError::not_known_to_legacy(PERSON, id))
    }

    pub async fn list_persons(&self, page: PageRequest) -> Result<Page<Person>, DomainError> {
        let ids = self.ids()?;
        let scanned = collect(
            page,
            self.max_rows_per_list(),
            |from, limit| async move {
                sqlx::query_as(select_persons!("id >= $1 ORDER BY id LIMIT $2"))
                    .bind(from)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await
                    .legacy()
            },
            |row: &PersonRow| i64::from(row.id),
            |row| person(&ids, &row),
        )
        .await?;
        Ok(scanned.into_page(page, |p| p.legacy.map_or(0, |l| l.legacy_id)))
    }

    pub async fn lookup_person(&self, legacy_id: i64) -> Result<Person, DomainError> {
        let ids = self.ids()?;
        let mapped = ids.persons.migrated.lms_id(legacy_id).is_some();
        let found = self.person(&ids, legacy_id).await?;
        looked_up(found, mapped, PERSON, legacy_id)
    }

    async fn person(&self, ids: &IdMap, legacy_id: i64) -> Result<Option<Person>, DomainError> {
        if ids.persons.migrated.lms_id(legacy_id).is_none() {
            return Ok(None);
        }
        let row: Option<PersonRow> = sqlx::query_as(select_persons!("id = $1"))
            .bind(legacy_id)
            .fetch_optional(self.pool())
            .await
            .legacy()?;
        Ok(row.and_then(|row| person(ids, &row)))
    }
}

/// The contract: the name is required (placeholder when blank), the type
/// lower-cased, `is_deleted` the archived flag. The parent is linked by
/// legacy id to whichever LMS organization has it, as the engine's finalize
/// links it; one pointing nowhere (no legacy organization has its id: one
/// deleted from legacy too, though its LMS row stays; or the link closes a
/// ring of parents and is broken here) is NULL.
fn organization(ids: &IdMap, row: &OrganizationRow) -> Option<Organization> {
    let legacy_id = i64::from(row.id);
    let id = ids.organizations.migrated.lms_id(legacy_id)?;
    Some(Organization {
        id: OrganizationId(id),
        parent_id: row
            .parent_id
            .filter(|_| row.parent_linked)
            .and_then(|parent| ids.organization_rows.get(i64::from(parent)))
            .map(OrganizationId),
        name: name_or_placeholder(row.name.as_deref(), "Organization", legacy_id),
        short_name: trimmed(row.short_name.as_deref()),
        org_type: clean_opt(row.org_type.as_deref()).map(lower),
        bin: trimmed(row.bin.as_deref()),
        archived: row.is_deleted.unwrap_or(false),
        created_at: row.created_at.and_then(UtcTime::instant),
        legacy: served(legacy_id),
    })
}

/// The contract: birth dates in two formats when they are real dates,
/// gender from its short list, every text trimmed.
fn person(ids: &IdMap, row: &PersonRow) -> Option<Person> {
    let legacy_id = i64::from(row.id);
    let id = ids.persons.migrated.lms_id(legacy_id)?;
    Some(Person {
        id: PersonId(id),
        last_name: trimmed(row.last_name.as_deref()),
        first_name: trimmed(row.first_name.as_deref()),
        middle_name: trimmed(row.middle_name.as_deref()),
        iin: trimmed(row.iin.as_deref()),
        birth_date: parse_birth_date(row.birth_date.as_deref()).value,
        gender: Gender::parse_legacy(row.gender.as_deref()),
        phone: trimmed(row.phone.as_deref()),
        legacy: served(legacy_id),
    })
}
