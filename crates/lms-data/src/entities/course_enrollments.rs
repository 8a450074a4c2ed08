//! The `course_enrollments` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "course_enrollments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i64>,
    pub student_id: i64,
    pub course_id: i64,
    pub teacher_id: Option<i64>,
    pub status: String,
    pub current_mark: Option<String>,
    pub updated_at: Option<DateTimeUtc>,
    pub source_deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
