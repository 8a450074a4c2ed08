//! The LMS data layer.
//!
//! It owns the connection to the LMS database, the schema upgrades, and
//! (the only crate that does) the SeaORM entities. Bulk paths elsewhere use
//! the same pool through [`Database::pool`] with plain SQL.

pub mod audit;
mod database;
pub mod entities;
pub mod failover;
pub mod legacy_read;
pub mod organization_tree;
pub mod outage;
pub mod repo;
pub mod schema;

pub use database::Database;
pub use repo::Repository;
