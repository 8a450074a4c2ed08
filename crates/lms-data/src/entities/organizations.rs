//! The `organizations` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i32>,
    pub parent_id: Option<i64>,
    pub name: String,
    pub short_name: Option<String>,
    pub org_type: Option<String>,
    pub bin: Option<String>,
    pub archived: bool,
    pub created_at: Option<DateTimeUtc>,
    pub source_deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
