//! PostgreSQL plumbing shared by every crate that talks to a database:
//! connection pools, creating and dropping databases, connections for COPY
//! streams, the COPY text codec, and telling transient failures from
//! permanent ones.
//!
//! It knows sqlx and nothing of the LMS or legacy schemas.

pub mod admin;
pub mod copy_connection;
pub mod copy_text;
pub mod failure;
pub mod pool;

pub use copy_connection::CopyConnection;
pub use failure::{FailureClass, LOCK_NOT_AVAILABLE, classify, classify_sqlstate};
pub use pool::{PoolConfig, connect, connect_one};
