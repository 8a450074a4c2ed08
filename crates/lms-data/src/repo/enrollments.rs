//! Enrollments and grades: reads and writes.

use chrono::Utc;
use lms_domain::DomainError;
use lms_domain::mark::{GradeScale, parse_mark};
use lms_domain::model::*;
use lms_domain::status::EnrollmentStatus;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
};

use super::errors::{Target, db_error};
use super::{LmsStore, first_or_not_found, legacy, legacy_key, parse_text, read_one, read_page};
use crate::entities::{course_enrollments, grades};

const ENROLLMENT: &str = "enrollment";
const GRADE: &str = "grade";

impl<C: ConnectionTrait> LmsStore<C> {
    pub async fn get_enrollment(&self, id: EnrollmentId) -> Result<Enrollment, DomainError> {
        let select = course_enrollments::Entity::find_by_id(id.0);
        enrollment(read_one(&self.db, ENROLLMENT, id, select).await?)
    }

    pub async fn list_enrollments(
        &self,
        filter: &EnrollmentFilter,
        page: PageRequest,
    ) -> Result<Page<Enrollment>, DomainError> {
        let mut select = course_enrollments::Entity::find();
        if let Some(student) = filter.student_id {
            select = select.filter(course_enrollments::Column::StudentId.eq(student.0));
        }
        if let Some(course) = filter.course_id {
            select = select.filter(course_enrollments::Column::CourseId.eq(course.0));
        }
        if let Some(status) = filter.status {
            select = select.filter(course_enrollments::Column::Status.eq(status.as_str()));
        }
        let id = course_enrollments::Column::Id;
        read_page(&self.db, ENROLLMENT, select, id, page, enrollment, |e| {
            e.id.0
        })
        .await
    }

    pub async fn lookup_enrollment(&self, legacy_id: i64) -> Result<Enrollment, DomainError> {
        let select = course_enrollments::Entity::find()
            .filter(course_enrollments::Column::LegacyId.eq(legacy_id));
        enrollment(read_one(&self.db, ENROLLMENT, legacy_key(legacy_id), select).await?)
    }

    /// A missing student, course or teacher is a FailedPrecondition from the
    /// foreign keys; an existing enrollment of the student in the course is
    /// AlreadyExists.
    pub async fn create_enrollment(&self, new: NewEnrollment) -> Result<Enrollment, DomainError> {
        let row = course_enrollments::ActiveModel {
            student_id: Set(new.student_id.0),
            course_id: Set(new.course_id.0),
            teacher_id: Set(new.teacher_id.map(|id| id.0)),
            status: Set(new.status.as_str().to_owned()),
            current_mark: Set(new.current_mark),
            updated_at: Set(Some(Utc::now())),
            ..Default::default()
        };
        let inserted = row
            .insert(&self.db)
            .await
            .map_err(|error| db_error(Target::any(ENROLLMENT), &error))?;
        enrollment(inserted)
    }

    pub async fn update_enrollment(
        &self,
        id: EnrollmentId,
        patch: EnrollmentPatch,
    ) -> Result<Enrollment, DomainError> {
        let mut row = course_enrollments::ActiveModel {
            ..Default::default()
        };
        let mut changed = false;
        if let Some(teacher) = patch.teacher_id {
            row.teacher_id = Set(teacher.map(|id| id.0));
            changed = true;
        }
        if let Some(status) = patch.status {
            row.status = Set(status.as_str().to_owned());
            changed = true;
        }
        if let Some(mark) = patch.current_mark {
            row.current_mark = Set(mark);
            changed = true;
        }
        if !changed {
            return self.get_enrollment(id).await;
        }
        // updated_at records the last change to the enrollment, as the
        // journal's updated_at did for migrated rows.
        row.updated_at = Set(Some(Utc::now()));
        let rows = course_enrollments::Entity::update_many()
            .set(row)
            .filter(course_enrollments::Column::Id.eq(id.0))
            .exec_with_returning(&self.db)
            .await
            .map_err(|error| db_error(Target::row(ENROLLMENT, id.0), &error))?;
        enrollment(first_or_not_found(rows, ENROLLMENT, id.0)?)
    }

    /// The enrollment's grades go with it (ON DELETE CASCADE).
    pub async fn delete_enrollment(&self, id: EnrollmentId) -> Result<(), DomainError> {
        let result = course_enrollments::Entity::delete_by_id(id.0)
            .exec(&self.db)
            .await
            .map_err(|error| db_error(Target::row(ENROLLMENT, id.0), &error))?;
        if result.rows_affected == 0 {
            return Err(DomainError::not_found(ENROLLMENT, id));
        }
        Ok(())
    }

    pub async fn get_grade(&self, id: GradeId) -> Result<Grade, DomainError> {
        let select = grades::Entity::find_by_id(id.0);
        grade(read_one(&self.db, GRADE, id, select).await?)
    }

    pub async fn list_grades(
        &self,
        filter: &GradeFilter,
        page: PageRequest,
    ) -> Result<Page<Grade>, DomainError> {
        let mut select = grades::Entity::find();
        if let Some(enrollment) = filter.enrollment_id {
            select = select.filter(grades::Column::EnrollmentId.eq(enrollment.0));
        }
        read_page(
            &self.db,
            GRADE,
            select,
            grades::Column::Id,
            page,
            grade,
            |g| g.id.0,
        )
        .await
    }

    pub async fn lookup_grade(&self, legacy_id: i64) -> Result<Grade, DomainError> {
        let select = grades::Entity::find().filter(grades::Column::LegacyId.eq(legacy_id));
        grade(read_one(&self.db, GRADE, legacy_key(legacy_id), select).await?)
    }

    /// The raw mark is read like a migrated one (`parse_mark`): its scale,
    /// value and points are filled when it is on a known scale, and left
    /// empty when it is not. `graded_at` is now.
    pub async fn create_grade(&self, new: NewGrade) -> Result<Grade, DomainError> {
        let mut row = grades::ActiveModel {
            enrollment_id: Set(new.enrollment_id.0),
            kind: Set(new.kind.as_str().to_owned()),
            graded_at: Set(Some(Utc::now())),
            ..Default::default()
        };
        set_mark(&mut row, &new.raw_mark)?;
        let inserted = row
            .insert(&self.db)
            .await
            .map_err(|error| db_error(Target::any(GRADE), &error))?;
        grade(inserted)
    }

    /// A new raw mark is read again and moves `graded_at` to now.
    pub async fn update_grade(&self, id: GradeId, patch: GradePatch) -> Result<Grade, DomainError> {
        let mut row = grades::ActiveModel {
            ..Default::default()
        };
        let mut changed = false;
        if let Some(kind) = patch.kind {
            row.kind = Set(kind.as_str().to_owned());
            changed = true;
        }
        if let Some(raw_mark) = &patch.raw_mark {
            set_mark(&mut row, raw_mark)?;
            row.graded_at = Set(Some(Utc::now()));
            changed = true;
        }
        if !changed {
            return self.get_grade(id).await;
        }
        let rows = grades::Entity::update_many()
            .set(row)
            .filter(grades::Column::Id.eq(id.0))
            .exec_with_returning(&self.db)
            .await
            .map_err(|error| db_error(Target::row(GRADE, id.0), &error))?;
        grade(first_or_not_found(rows, GRADE, id.0)?)
    }

    pub async fn delete_grade(&self, id: GradeId) -> Result<(), DomainError> {
        let result = grades::Entity::delete_by_id(id.0)
            .exec(&self.db)
            .await
            .map_err(|error| db_error(Target::row(GRADE, id.0), &error))?;
        if result.rows_affected == 0 {
            return Err(DomainError::not_found(GRADE, id));
        }
        Ok(())
    }
}

/// Sets the raw mark (trimmed) and its reading. A blank mark is no grade at
/// all, so it cannot be written as one.
fn set_mark(row: &mut grades::ActiveModel, raw_mark: &str) -> Result<(), DomainError> {
    let mark = parse_mark(Some(raw_mark))
        .ok_or_else(|| DomainError::invalid("grade.raw_mark", "a grade needs a mark"))?
        .value;
    let (scale, value, points) = match mark.normalized {
        Some(normalized) => (
            Some(normalized.scale.as_str().to_owned()),
            Some(normalized.value),
            normalized.points,
        ),
        None => (None, None, None),
    };
    row.raw_mark = Set(mark.raw);
    row.scale = Set(scale);
    row.value = Set(value);
    row.points = Set(points);
    Ok(())
}

fn enrollment(row: course_enrollments::Model) -> Result<Enrollment, DomainError> {
    Ok(Enrollment {
        id: EnrollmentId(row.id),
        student_id: StudentId(row.student_id),
        course_id: CourseId(row.course_id),
        teacher_id: row.teacher_id.map(StaffMemberId),
        status: parse_text("enrollment status", &row.status, EnrollmentStatus::parse)?,
        current_mark: row.current_mark,
        updated_at: row.updated_at,
        legacy: legacy(row.legacy_id, row.source_deleted_at),
    })
}

fn grade(row: grades::Model) -> Result<Grade, DomainError> {
    let scale = match row.scale.as_deref() {
        Some(text) => Some(parse_text("grade scale", text, GradeScale::parse)?),
        None => None,
    };
    Ok(Grade {
        id: GradeId(row.id),
        enrollment_id: EnrollmentId(row.enrollment_id),
        kind: parse_text("grade kind", &row.kind, GradeKind::parse)?,
        raw_mark: row.raw_mark,
        scale,
        value: row.value,
        points: row.points,
        graded_at: row.graded_at,
        legacy: legacy(row.legacy_id, row.source_deleted_at),
    })
}
