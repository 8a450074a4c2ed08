//! The `assessment_submissions` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "assessment_submissions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i64>,
    pub assessment_id: i64,
    pub student_id: i64,
    /// Read as text, as `assessments.max_score` is (`repo::numbers`).
    #[sea_orm(
        column_type = "Decimal(Some((6, 2)))",
        select_as = "text",
        save_as = "numeric"
    )]
    pub score: Option<String>,
    pub submitted_at: Option<DateTimeUtc>,
    pub status: String,
    #[sea_orm(column_type = "JsonBinary")]
    pub answers: Option<Json>,
    pub answers_raw: Option<String>,
    pub source_deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
