//! The LMS gRPC surface.
//!
//! This is the only crate that knows tonic and protobuf types. Every handler
//! validates its request, converts it into domain values (`TryFrom`), calls
//! the domain's repository or the migration engine, and converts the result
//! back (`From`); it holds no SQL. Errors become a `Status` in exactly one
//! place (`error`).

pub mod access;
pub mod audit;
pub mod auth;
pub mod client;
pub mod codec;
pub mod convert;
pub mod data_source;
pub mod error;
pub mod error_info_fill;
pub mod names;
pub mod pb;
pub mod request;
pub mod request_deadline;
pub mod request_limits;
pub mod request_metrics;
pub mod response_budget;
pub mod run_watch;
pub mod services;

mod server;

pub use server::{GrpcApp, SERVICE_NAMES, ServeError};
