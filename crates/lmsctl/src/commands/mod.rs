//! One module per top-level subcommand.

pub mod api;
pub mod auth;
pub mod db;
pub mod doctor;
pub mod legacy;
pub mod migrate;
mod output;
mod progress_display;
mod report_table;
pub mod usage;
