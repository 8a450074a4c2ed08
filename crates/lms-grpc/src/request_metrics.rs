//! Request counts and latencies by method and status code, for Prometheus:
//! `lms_grpc_requests_total` and `lms_grpc_request_duration_seconds`.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Instant;

use prost_reflect::DescriptorPool;

use crate::pb::FILE_DESCRIPTOR_SET;

/// The `method` label of a path that names no method the server has: any
/// client can send any path, and each distinct label is a new time series.
const UNKNOWN_METHOD: &str = "unknown";

/// Every method the server answers, as `package.Service/Method`: the API's
/// own, health and reflection.
static KNOWN_METHODS: LazyLock<Arc<HashSet<String>>> = LazyLock::new(|| {
    let mut methods: HashSet<String> = [
        "grpc.health.v1.Health/Check",
        "grpc.health.v1.Health/Watch",
        "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    match DescriptorPool::decode(FILE_DESCRIPTOR_SET) {
        Ok(pool) => methods.extend(pool.services().flat_map(|service| {
            service
                .methods()
                .map(|method| format!("{}/{}", service.full_name(), method.name()))
                .collect::<Vec<_>>()
        })),
        // The descriptor is compiled in; were it unreadable, every API
        // method would be labelled unknown rather than the server failing.
        Err(error) => tracing::error!(%error, "the compiled-in descriptor set does not decode"),
    }
    Arc::new(methods)
});

/// Times every call and records it with its method and code.
#[derive(Debug, Clone, Default)]
pub struct RequestMetricsLayer;

impl<S> tower::Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics {
            inner,
            known: Arc::clone(&KNOWN_METHODS),
        }
    }
}

/// See [`RequestMetricsLayer`].
#[derive(Debug, Clone)]
pub struct RequestMetrics<S> {
    inner: S,
    known: Arc<HashSet<String>>,
}

/// The `method` label of a request path.
fn method_label(known: &HashSet<String>, path: &str) -> String {
    let method = path.trim_start_matches('/');
    if known.contains(method) {
        method.to_owned()
    } else {
        UNKNOWN_METHOD.to_owned()
    }
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

/// The gRPC code of a response whose status travels in the headers (every
/// error, and anything refused before a handler ran); a response whose
/// status follows in the trailers has started successfully: OK.
fn code_of(response: &http::Response<tonic::body::Body>) -> &'static str {
    let code = response
        .headers()
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32);
    code_name(code)
}

fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

impl<S, B> tower::Service<http::Request<B>> for RequestMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let method = method_label(&self.known, request.uri().path());
        let started = Instant::now();
        // Called here, not in the future: the deadline's timer starts in
        // the same call chain as tonic's (request_deadline.rs).
        let answer = ready.call(request);
        Box::pin(async move {
            let response = answer.await?;
            let code = code_of(&response);
            metrics::counter!("lms_grpc_requests_total", "method" => method.clone(), "code" => code).increment(1);
            metrics::histogram!("lms_grpc_request_duration_seconds", "method" => method, "code" => code)
                .record(started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{KNOWN_METHODS, method_label};

    #[test]
    fn only_real_methods_name_a_series() {
        assert_eq!(
            method_label(&KNOWN_METHODS, "/lms.v1.StudentService/GetStudent"),
            "lms.v1.StudentService/GetStudent"
        );
        assert_eq!(
            method_label(&KNOWN_METHODS, "/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health/Check"
        );
        assert_eq!(
            method_label(&KNOWN_METHODS, "/lms.v1.StudentService/NoSuchMethod"),
            "unknown"
        );
        assert_eq!(method_label(&KNOWN_METHODS, "/x9f3a/anything"), "unknown");
    }
}
