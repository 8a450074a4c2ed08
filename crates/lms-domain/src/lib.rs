//! The LMS domain's values and the migration contract's row-local rules.
//!
//! Everything here is pure: parsing legacy text into typed values, with the
//! warning code the contract attaches when a value had to be repaired or
//! dropped. Rules that need other rows (duplicates, references) live in the
//! engine, which calls these for every single value.
//!
//! The contract is `shared/edu-legacy/DATA.md`; `docs/contract.md` records
//! the choices made where it is silent.

pub mod account;
pub mod answers;
pub mod audit;
pub mod course;
pub mod entity;
pub mod error;
pub mod instant;
pub mod mark;
pub mod model;
pub mod number;
pub mod outcome;
pub mod person;
pub mod status;
pub mod text;

pub use entity::LegacyEntity;
pub use error::{DomainError, FieldViolation};
pub use outcome::{Outcome, RejectReason, Repaired, WarningCode};
