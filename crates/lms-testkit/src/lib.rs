//! The test harness every integration test stands on.
//!
//! Each test gets its own PostgreSQL database, named uniquely and dropped
//! when the test ends (or swept by a later run if the test process died), so
//! tests run in parallel and never see each other's or old runs' data.

mod database;
mod redis_namespace;
mod settings;

pub use database::{TestDatabase, server_url};
pub use redis_namespace::{TestRedis, redis_url};
pub use settings::test_settings;
