//! The `student_groups` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "student_groups")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i32>,
    pub organization_id: Option<i64>,
    pub name: String,
    pub year_of_study: Option<i16>,
    pub curator_id: Option<i64>,
    pub academic_year: Option<String>,
    pub source_deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
