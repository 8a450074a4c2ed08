//! The test harness every integration test stands on.
//!
//! Each test gets its own PostgreSQL database, named uniquely and dropped
//! when the test ends (or swept by a later run if the test process died), so
//! tests run in parallel and never see each other's or old runs' data.

pub mod cluster;
mod database;
mod ports;
mod redis_namespace;
mod scrape;
mod settings;
mod silent_link;

pub use cluster::TempCluster;
pub use database::{TestDatabase, server_url};
pub use ports::{free_local_address, free_port};
pub use redis_namespace::{TestRedis, redis_url};
pub use scrape::{Sample, Scrape};
pub use settings::test_settings;
pub use silent_link::SilentLink;
