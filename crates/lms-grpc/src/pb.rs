//! The generated protobuf and tonic code, in modules that mirror the proto
//! packages (`lms::v1`, `lms::migration::v1`).

#![allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    unused_qualifications,
    missing_debug_implementations
)]

include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

/// The encoded descriptor set of every LMS proto file, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("lms_descriptor");
