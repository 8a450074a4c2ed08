//! Students: reads and writes.

use lms_domain::DomainError;
use lms_domain::model::*;
use lms_domain::status::StudentStatus;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::errors::{Target, db_error};
use super::{
    LmsStore, first_or_not_found, legacy, legacy_i32, legacy_key, parse_text, read_one, read_page,
};
use crate::entities::students;

const STUDENT: &str = "student";

impl<C: ConnectionTrait> LmsStore<C> {
    pub async fn get_student(&self, id: StudentId) -> Result<Student, DomainError> {
        let select = students::Entity::find_by_id(id.0);
        student(read_one(&self.db, STUDENT, id, select).await?)
    }

    pub async fn list_students(
        &self,
        filter: &StudentFilter,
        page: PageRequest,
    ) -> Result<Page<Student>, DomainError> {
        let mut select = students::Entity::find();
        if let Some(organization) = filter.organization_id {
            select = select.filter(students::Column::OrganizationId.eq(organization.0));
        }
        if let Some(group) = filter.group_id {
            select = select.filter(students::Column::GroupId.eq(group.0));
        }
        if let Some(status) = filter.status {
            select = select.filter(students::Column::Status.eq(status.as_str()));
        }
        let id = students::Column::Id;
        read_page(&self.db, STUDENT, select, id, page, student, |s| s.id.0).await
    }

    pub async fn lookup_student(&self, legacy_id: i64) -> Result<Student, DomainError> {
        let key = legacy_i32(STUDENT, legacy_id)?;
        let select = students::Entity::find().filter(students::Column::LegacyId.eq(key));
        student(read_one(&self.db, STUDENT, legacy_key(legacy_id), select).await?)
    }

    /// A missing person, user, organization or group is a FailedPrecondition
    /// (from the foreign keys, so that a concurrent delete cannot slip in
    /// between a check and the insert).
    pub async fn create_student(&self, new: NewStudent) -> Result<Student, DomainError> {
        let row = students::ActiveModel {
            person_id: Set(new.person_id.0),
            user_id: Set(new.user_id.0),
            organization_id: Set(new.organization_id.map(|id| id.0)),
            group_id: Set(new.group_id.map(|id| id.0)),
            admission_year: Set(new.admission_year),
            status: Set(new.status.as_str().to_owned()),
            record_book_no: Set(new.record_book_no),
            ..Default::default()
        };
        let inserted = row
            .insert(&self.db)
            .await
            .map_err(|error| db_error(Target::any(STUDENT), &error))?;
        student(inserted)
    }

    pub async fn update_student(
        &self,
        id: StudentId,
        patch: StudentPatch,
    ) -> Result<Student, DomainError> {
        let mut row = students::ActiveModel {
            ..Default::default()
        };
        let mut changed = false;
        if let Some(organization) = patch.organization_id {
            row.organization_id = Set(organization.map(|id| id.0));
            changed = true;
        }
        if let Some(group) = patch.group_id {
            row.group_id = Set(group.map(|id| id.0));
            changed = true;
        }
        if let Some(year) = patch.admission_year {
            row.admission_year = Set(year);
            changed = true;
        }
        if let Some(status) = patch.status {
            row.status = Set(status.as_str().to_owned());
            changed = true;
        }
        if let Some(record_book_no) = patch.record_book_no {
            row.record_book_no = Set(record_book_no);
            changed = true;
        }
        if !changed {
            return self.get_student(id).await;
        }
        let rows = students::Entity::update_many()
            .set(row)
            .filter(students::Column::Id.eq(id.0))
            .exec_with_returning(&self.db)
            .await
            .map_err(|error| db_error(Target::row(STUDENT, id.0), &error))?;
        student(first_or_not_found(rows, STUDENT, id.0)?)
    }

    /// A student with enrollments or submissions is not deleted: the foreign
    /// keys refuse, and the caller is told which to delete first.
    pub async fn delete_student(&self, id: StudentId) -> Result<(), DomainError> {
        let result = students::Entity::delete_by_id(id.0)
            .exec(&self.db)
            .await
            .map_err(|error| db_error(Target::row(STUDENT, id.0), &error))?;
        if result.rows_affected == 0 {
            return Err(DomainError::not_found(STUDENT, id));
        }
        Ok(())
    }
}

fn student(row: students::Model) -> Result<Student, DomainError> {
    Ok(Student {
        id: StudentId(row.id),
        person_id: PersonId(row.person_id),
        user_id: UserId(row.user_id),
        organization_id: row.organization_id.map(OrganizationId),
        group_id: row.group_id.map(GroupId),
        admission_year: row.admission_year,
        status: parse_text("student status", &row.status, StudentStatus::parse)?,
        record_book_no: row.record_book_no,
        legacy: legacy(row.legacy_id.map(i64::from), row.source_deleted_at),
    })
}
