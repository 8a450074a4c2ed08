//! The `assessments` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "assessments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i32>,
    pub subject_id: i64,
    pub group_id: Option<i64>,
    pub teacher_id: Option<i64>,
    pub title: String,
    pub kind: Option<String>,
    pub held_on: Option<Date>,
    /// Read as text: a `numeric` can hold `NaN`, which no Rust decimal
    /// can, and the repository decides what such a value reads as
    /// (`repo::numbers`).
    #[sea_orm(
        column_type = "Decimal(Some((6, 2)))",
        select_as = "text",
        save_as = "numeric"
    )]
    pub max_score: String,
    pub source_deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
