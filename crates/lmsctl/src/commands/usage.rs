//! A command line that cannot be carried out as written: lmsctl exits 2 on
//! it, as it does on clap's own refusals, and 1 only when the command
//! itself failed (a database down, a run refused).

use std::fmt;

use lms_grpc::client::ClientError;

/// Exit code of a usage error.
pub const USAGE_EXIT_CODE: u8 = 2;

/// An argument at fault, with what is wrong with it.
#[derive(Debug)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A usage error as an `anyhow` error, for `return Err(usage(...))`.
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// Whether `error`, or anything it wraps, is a usage error.
pub fn is_usage(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|cause| cause.downcast_ref::<UsageError>().is_some())
}

/// A call's error, where the server refused an argument of the command
/// line (INVALID_ARGUMENT: a page token, a filter) or the endpoint given is
/// not one, as a usage error.
pub fn client_usage(error: ClientError) -> anyhow::Error {
    if error.is_callers_input() {
        usage(error.to_string())
    } else {
        error.into()
    }
}
