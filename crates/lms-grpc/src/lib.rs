//! The LMS gRPC surface.
//!
//! This is the only crate that knows tonic and protobuf types. Handlers
//! validate requests, convert them into domain values, call the domain's
//! services and convert the results back; they hold no SQL.

mod server;

pub use server::{ServeError, serve};
