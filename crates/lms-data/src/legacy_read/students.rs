//! Students: served when the ledger migrated them; their person, user,
//! organization and group resolve through the id map.

use lms_domain::DomainError;
use lms_domain::model::*;
use lms_domain::status::StudentStatus;

use super::LegacyReader;
use super::ids::IdMap;
use super::rows::{
    DatabaseResult, VocabularyFilter, collect, legacy_filter, looked_up, served, trimmed,
    vocabulary_sql,
};

const STUDENT: &str = "student";

macro_rules! select_students {
    ($($condition:expr),+) => {
        concat!(
            "SELECT id, user_id, person_id, organization_id, group_id, admission_year, status, \
                    record_book_no \
             FROM students WHERE ",
            $($condition),+
        )
    };
}

#[derive(sqlx::FromRow)]
struct StudentRow {
    id: i32,
    user_id: Option<i32>,
    person_id: Option<i32>,
    organization_id: Option<i32>,
    group_id: Option<i32>,
    admission_year: Option<i16>,
    status: Option<String>,
    record_book_no: Option<String>,
}

impl LegacyReader {
    pub async fn get_student(&self, id: StudentId) -> Result<Student, DomainError> {
        let ids = self.ids()?;
        let found = match ids.students.migrated.legacy_id(id.0) {
            Some(legacy_id) => self.student(&ids, legacy_id).await?,
            None => None,
        };
        found.ok_or_else(|| DomainError::not_known_to_legacy(STUDENT, id))
    }

    pub async fn list_students(
        &self,
        filter: &StudentFilter,
        page: PageRequest,
    ) -> Result<Page<Student>, DomainError> {
        let ids = self.ids()?;
        let organization = legacy_filter(
            "organization",
            filter.organization_id.map(|id| id.0),
            |id| ids.organizations.migrated.legacy_id(id),
        )?;
        let group = legacy_filter("group", filter.group_id.map(|id| id.0), |id| {
            ids.groups.migrated.legacy_id(id)
        })?;
        let status = VocabularyFilter::new(
            filter.status,
            StudentStatus::Active,
            StudentStatus::ALL,
            StudentStatus::as_str,
        );
        let status = &status;
        let scanned = collect(
            page,
            self.max_rows_per_list(),
            |from, limit| async move {
                sqlx::query_as(select_students!(
                    "id >= $1 AND ($3::bigint IS NULL OR organization_id = $3) \
                     AND ($4::bigint IS NULL OR group_id = $4) AND ",
                    vocabulary_sql!("status", "$5", "$6"),
                    " ORDER BY id LIMIT $2"
                ))
                .bind(from)
                .bind(limit)
                .bind(organization)
                .bind(group)
                .bind(status.contains)
                .bind(status.excluded.as_deref())
                .persistent(false)
                .fetch_all(self.pool())
                .await
                .legacy()
            },
            |row: &StudentRow| i64::from(row.id),
            |row| student(&ids, &row).filter(|student| matches(filter, student)),
        )
        .await?;
        Ok(scanned.into_page(page, student_cursor))
    }

    pub async fn lookup_student(&self, legacy_id: i64) -> Result<Student, DomainError> {
        let ids = self.ids()?;
        let mapped = ids.students.migrated.lms_id(legacy_id).is_some();
        let found = self.student(&ids, legacy_id).await?;
        looked_up(found, mapped, STUDENT, legacy_id)
    }

    async fn student(&self, ids: &IdMap, legacy_id: i64) -> Result<Option<Student>, DomainError> {
        if ids.students.migrated.lms_id(legacy_id).is_none() {
            return Ok(None);
        }
        let row: Option<StudentRow> = sqlx::query_as(select_students!("id = $1"))
            .bind(legacy_id)
            .fetch_optional(self.pool())
            .await
            .legacy()?;
        Ok(row.and_then(|row| student(ids, &row)))
    }
}

fn matches(filter: &StudentFilter, student: &Student) -> bool {
    filter
        .organization_id
        .is_none_or(|id| student.organization_id == Some(id))
        && filter
            .group_id
            .is_none_or(|id| student.group_id == Some(id))
        && filter.status.is_none_or(|status| student.status == status)
}

fn student_cursor(student: &Student) -> i64 {
    student.legacy.map_or(0, |legacy| legacy.legacy_id)
}

/// The contract: a student has a person (else it would now be rejected) and
/// a user: its own when that user migrated, else the account provisioned
/// for it (else it has none to point at yet). An organization or group
/// pointing nowhere is NULL; the status is read from its list.
fn student(ids: &IdMap, row: &StudentRow) -> Option<Student> {
    let legacy_id = i64::from(row.id);
    let id = ids.students.migrated.lms_id(legacy_id)?;
    let person_id = ids.persons.migrated.lms_id(i64::from(row.person_id?))?;
    let user_id = row
        .user_id
        .and_then(|user| ids.users.migrated.lms_id(i64::from(user)))
        .or_else(|| ids.provisioned.for_students.get(legacy_id))?;
    Some(Student {
        id: StudentId(id),
        person_id: PersonId(person_id),
        user_id: UserId(user_id),
        organization_id: row
            .organization_id
            .and_then(|organization| ids.organizations.migrated.lms_id(i64::from(organization)))
            .map(OrganizationId),
        group_id: row
            .group_id
            .and_then(|group| ids.groups.migrated.lms_id(i64::from(group)))
            .map(GroupId),
        admission_year: row.admission_year,
        status: StudentStatus::from_legacy(row.status.as_deref()).value,
        record_book_no: trimmed(row.record_book_no.as_deref()),
        legacy: served(legacy_id),
    })
}
