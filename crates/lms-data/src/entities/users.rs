//! The `users` table.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legacy_id: Option<i32>,
    pub person_id: Option<i64>,
    pub login: String,
    pub email: Option<String>,
    /// Never leaves this crate: the domain `User` has no password hash.
    pub password_hash: Option<String>,
    pub password_reset_required: bool,
    pub activation_required: bool,
    pub role: String,
    pub is_active: bool,
    pub created_at: Option<DateTimeUtc>,
    pub last_login_at: Option<DateTimeUtc>,
    pub source_deleted_at: Option<DateTimeUtc>,
    /// `students:<legacy id>` or `teachers:<legacy id>` for accounts the
    /// migration provisioned (added by migration 000003).
    pub provisioned_for: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
