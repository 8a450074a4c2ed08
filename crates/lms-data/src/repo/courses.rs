//! Courses (read only) and their materials (reads and writes).

use lms_domain::DomainError;
use lms_domain::model::*;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    QuerySelect,
};

use super::errors::{Target, db_error};
use super::{LmsStore, first_or_not_found, keyset, parse_text, read_one, read_page};
use crate::entities::{course_materials, courses, subjects};

const COURSE: &str = "course";
const MATERIAL: &str = "course material";

impl<C: ConnectionTrait> LmsStore<C> {
    pub async fn get_course(&self, id: CourseId) -> Result<Course, DomainError> {
        let row = courses::Entity::find_by_id(id.0)
            .find_also_related(subjects::Entity)
            .one(&self.db)
            .await
            .map_err(|error| db_error(Target::any(COURSE), &error))?
            .ok_or_else(|| DomainError::not_found(COURSE, id))?;
        course(row)
    }

    pub async fn list_courses(
        &self,
        filter: &CourseFilter,
        page: PageRequest,
    ) -> Result<Page<Course>, DomainError> {
        let mut select = courses::Entity::find();
        if let Some(subject) = filter.subject_id {
            select = select.filter(courses::Column::SubjectId.eq(subject.0));
        }
        if let Some(group) = filter.group_id {
            select = select.filter(courses::Column::GroupId.eq(group.0));
        }
        if let Some(year) = &filter.academic_year {
            select = select.filter(courses::Column::AcademicYear.eq(year.as_str()));
        }
        let rows = keyset(select, courses::Column::Id, page)
            .find_also_related(subjects::Entity)
            .all(&self.db)
            .await
            .map_err(|error| db_error(Target::any(COURSE), &error))?;
        let items = rows
            .into_iter()
            .map(course)
            .collect::<Result<Vec<Course>, DomainError>>()?;
        Ok(Page::from_overfetch(items, page, |c| c.id.0))
    }

    /// NotFound unless the material belongs to `course`: a material is only
    /// reachable through its own course.
    pub async fn get_material(
        &self,
        course: CourseId,
        id: MaterialId,
    ) -> Result<CourseMaterial, DomainError> {
        let select = course_materials::Entity::find_by_id(id.0)
            .filter(course_materials::Column::CourseId.eq(course.0));
        material(read_one(&self.db, MATERIAL, id, select).await?)
    }

    /// With [`PageRequest::max_bytes`], the rows' text sizes are read
    /// first, and only the rows whose text fits are loaded (at least one):
    /// a page of large bodies never assembles more than a response can
    /// carry.
    pub async fn list_materials(
        &self,
        course: CourseId,
        page: PageRequest,
    ) -> Result<Page<CourseMaterial>, DomainError> {
        self.require_course(course).await?;
        let select = course_materials::Entity::find()
            .filter(course_materials::Column::CourseId.eq(course.0));
        let id = course_materials::Column::Id;
        let Some(max_bytes) = page.max_bytes() else {
            return read_page(&self.db, MATERIAL, select, id, page, material, |m| m.id.0).await;
        };
        let sizes: Vec<(i64, i64)> = keyset(select.clone(), id, page)
            .select_only()
            .column(id)
            .column_as(Expr::cust(MATERIAL_TEXT_BYTES), "text_bytes")
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(|error| db_error(Target::any(MATERIAL), &error))?;
        let fitting = rows_within(&sizes, max_bytes);
        let Some(&(last, _)) = fitting.last() else {
            return Ok(Page::empty());
        };
        let cut = fitting.len() < sizes.len();
        let read = read_page(
            &self.db,
            MATERIAL,
            select.filter(id.lte(last)),
            id,
            page,
            material,
            |m| m.id.0,
        )
        .await?;
        // Cut by size, the page holds at most `size` rows: the next one
        // starts after the last that fitted.
        Ok(if cut {
            read.resuming_after(Some(Cursor::lms(last)))
        } else {
            read
        })
    }

    /// The course is checked first so that a missing one is a NotFound
    /// naming the course; the foreign key still guards against a course
    /// deleted in between (then FailedPrecondition).
    pub async fn create_material(
        &self,
        course: CourseId,
        new: NewMaterial,
    ) -> Result<CourseMaterial, DomainError> {
        self.require_course(course).await?;
        let row = course_materials::ActiveModel {
            course_id: Set(course.0),
            title: Set(new.title),
            kind: Set(new.kind.as_str().to_owned()),
            url: Set(new.url),
            body: Set(new.body),
            position: Set(new.position),
            ..Default::default()
        };
        let inserted = row
            .insert(&self.db)
            .await
            .map_err(|error| db_error(Target::any(MATERIAL), &error))?;
        material(inserted)
    }

    pub async fn update_material(
        &self,
        course: CourseId,
        id: MaterialId,
        patch: MaterialPatch,
    ) -> Result<CourseMaterial, DomainError> {
        let mut row = course_materials::ActiveModel {
            ..Default::default()
        };
        let mut changed = false;
        if let Some(title) = patch.title {
            row.title = Set(title);
            changed = true;
        }
        if let Some(kind) = patch.kind {
            row.kind = Set(kind.as_str().to_owned());
            changed = true;
        }
        if let Some(url) = patch.url {
            row.url = Set(url);
            changed = true;
        }
        if let Some(body) = patch.body {
            row.body = Set(body);
            changed = true;
        }
        if let Some(position) = patch.position {
            row.position = Set(position);
            changed = true;
        }
        if !changed {
            return self.get_material(course, id).await;
        }
        // The database's clock, like the column defaults, so that
        // updated_at never precedes created_at.
        let rows = course_materials::Entity::update_many()
            .set(row)
            .col_expr(
                course_materials::Column::UpdatedAt,
                Expr::current_timestamp(),
            )
            .filter(course_materials::Column::Id.eq(id.0))
            .filter(course_materials::Column::CourseId.eq(course.0))
            .exec_with_returning(&self.db)
            .await
            .map_err(|error| db_error(Target::row(MATERIAL, id.0), &error))?;
        material(first_or_not_found(rows, MATERIAL, id.0)?)
    }

    pub async fn delete_material(
        &self,
        course: CourseId,
        id: MaterialId,
    ) -> Result<(), DomainError> {
        let result = course_materials::Entity::delete_many()
            .filter(course_materials::Column::Id.eq(id.0))
            .filter(course_materials::Column::CourseId.eq(course.0))
            .exec(&self.db)
            .await
            .map_err(|error| db_error(Target::row(MATERIAL, id.0), &error))?;
        if result.rows_affected == 0 {
            return Err(DomainError::not_found(MATERIAL, id));
        }
        Ok(())
    }

    /// NotFound when the course does not exist.
    async fn require_course(&self, course: CourseId) -> Result<(), DomainError> {
        let select = courses::Entity::find_by_id(course.0);
        read_one(&self.db, COURSE, course, select).await.map(|_| ())
    }
}

/// The bytes of a material's text, as PostgreSQL knows them without
/// reading the text (`octet_length` of a TOASTed value reads its header).
const MATERIAL_TEXT_BYTES: &str = "(octet_length(title) + coalesce(octet_length(url), 0) \
     + coalesce(octet_length(body), 0))::bigint";

/// The first of `sizes` (`(id, bytes)` in id order) whose bytes together
/// stay within `max_bytes`; at least the first, so that a row larger than
/// the bound still reaches the caller, which decides what to say about it.
fn rows_within(sizes: &[(i64, i64)], max_bytes: usize) -> &[(i64, i64)] {
    let max_bytes = i64::try_from(max_bytes).unwrap_or(i64::MAX);
    let mut total: i64 = 0;
    let fitting = sizes
        .iter()
        .take_while(|(_, bytes)| {
            total = total.saturating_add(*bytes);
            total <= max_bytes
        })
        .count();
    &sizes[..fitting.max(1).min(sizes.len())]
}

/// A course with its subject. The subject is a required foreign key, so a
/// course without one is an inconsistent database.
fn course(
    (row, subject): (courses::Model, Option<subjects::Model>),
) -> Result<Course, DomainError> {
    let subject = subject.ok_or_else(|| {
        DomainError::Internal(format!(
            "course {} has no subject {}",
            row.id, row.subject_id
        ))
    })?;
    Ok(Course {
        id: CourseId(row.id),
        subject_id: SubjectId(row.subject_id),
        subject_name: subject.name,
        group_id: row.group_id.map(GroupId),
        academic_year: row.academic_year,
        semester: row.semester,
        derived_from_legacy: row.derived_from_legacy,
    })
}

fn material(row: course_materials::Model) -> Result<CourseMaterial, DomainError> {
    Ok(CourseMaterial {
        id: MaterialId(row.id),
        course_id: CourseId(row.course_id),
        title: row.title,
        kind: parse_text("material kind", &row.kind, MaterialKind::parse)?,
        url: row.url,
        body: row.body,
        position: row.position,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}
