//! One module per top-level subcommand.

pub mod db;
pub mod legacy;
