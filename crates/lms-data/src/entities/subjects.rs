//! The `subjects` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "subjects")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i32>,
    pub organization_id: Option<i64>,
    pub name: String,
    pub code: Option<String>,
    /// Not served by the API, but read with every course: as text, so that
    /// a `NaN` here cannot fail a course read (`repo::numbers`).
    #[sea_orm(
        column_type = "Decimal(Some((4, 1)))",
        select_as = "text",
        save_as = "numeric"
    )]
    pub credits: Option<String>,
    pub source_deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
