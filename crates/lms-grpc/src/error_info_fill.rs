//! Every error status carries an AIP-193 `ErrorInfo`, including those tonic
//! makes itself before a handler runs: a request larger than
//! `grpc.max_message_bytes`, an unparseable `grpc-timeout`, a compression
//! the server does not accept. Such a status leaves without details; this
//! layer, the outermost of the server's, adds an `ErrorInfo` whose reason
//! is the code's name, keeping the code and the message.
//!
//! Only trailers-only responses (an error before any message) can be
//! mended here, which is where tonic answers with its own statuses; a
//! stream that fails later fails in a handler of ours, through `ApiError`.

use std::collections::HashMap;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::error::ERROR_DOMAIN;

/// A response of the server's, as every layer of ours sees it.
type GrpcResponse = http::Response<tonic::body::Body>;

/// The layer: tower's own response mapping, with [`with_error_info`].
pub fn error_info_layer() -> tower::util::MapResponseLayer<fn(GrpcResponse) -> GrpcResponse> {
    tower::util::MapResponseLayer::new(with_error_info as fn(GrpcResponse) -> GrpcResponse)
}

const DETAILS_HEADER: &str = "grpc-status-details-bin";

/// The response, with an `ErrorInfo` added if it is a trailers-only error
/// without details.
fn with_error_info(response: GrpcResponse) -> GrpcResponse {
    let headers = response.headers();
    if headers.contains_key(DETAILS_HEADER) {
        return response;
    }
    let Some(status) = Status::from_header_map(headers) else {
        return response;
    };
    if status.code() == Code::Ok {
        return response;
    }
    let mut details = ErrorDetails::new();
    details.set_error_info(reason(status.code()), ERROR_DOMAIN, HashMap::new());
    let mended = Status::with_error_details_and_metadata(
        status.code(),
        status.message(),
        details,
        status.metadata().clone(),
    );
    mended.into_http()
}

/// The reason of a status tonic made: its code's name, which is stable.
fn reason(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_status_gets_an_error_info_with_its_codes_name() {
        let bare = Status::resource_exhausted("message too large").into_http();
        let mended = with_error_info(bare);
        let status = Status::from_header_map(mended.headers());
        let info = status.and_then(|status| status.get_details_error_info());
        assert_eq!(
            info.map(|info| (info.reason, info.domain)),
            Some(("RESOURCE_EXHAUSTED".to_owned(), ERROR_DOMAIN.to_owned()))
        );
    }

    #[test]
    fn a_status_with_details_is_left_as_it_is() {
        let mut details = ErrorDetails::new();
        details.set_error_info("SCOPE_MISSING", ERROR_DOMAIN, HashMap::new());
        let ours = Status::with_error_details(Code::PermissionDenied, "no", details).into_http();
        let kept = with_error_info(ours);
        let info = Status::from_header_map(kept.headers())
            .and_then(|status| status.get_details_error_info());
        assert_eq!(
            info.map(|info| info.reason),
            Some("SCOPE_MISSING".to_owned())
        );
    }
}
