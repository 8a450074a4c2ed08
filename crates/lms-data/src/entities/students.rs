//! The `students` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "students")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i32>,
    pub person_id: i64,
    pub user_id: i64,
    pub organization_id: Option<i64>,
    pub group_id: Option<i64>,
    pub admission_year: Option<i16>,
    pub status: String,
    pub record_book_no: Option<String>,
    pub source_deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
