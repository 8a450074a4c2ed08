//! The legacy EDU database: its schema exactly as production has it, a
//! deterministic generator that fills it at production scale with the dirt
//! DATA.md describes, and the table list the migration engine reads.
//!
//! The migration never writes here; only `lmsctl legacy seed` does, to build
//! the stand-in for production.

pub mod schema;
pub mod seed;

pub use schema::{LEGACY_SCHEMA_SQL, LEGACY_TABLES};
pub use seed::volumes::{Scale, Volumes};
pub use seed::{SeedError, SeedOptions, SeedReport, seed_legacy_database};
