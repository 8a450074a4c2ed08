//! The `grades` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "grades")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i64>,
    pub enrollment_id: i64,
    pub kind: String,
    pub raw_mark: String,
    pub scale: Option<String>,
    pub value: Option<String>,
    pub points: Option<i16>,
    pub graded_at: Option<DateTimeUtc>,
    pub source_deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
