//! The server's own limits on every request: how many may be in flight on
//! the whole server (`grpc.concurrency_limit`; past it a request is refused
//! at once, never queued) and how long one may take
//! (`grpc.request_timeout`, or the client's shorter deadline:
//! [`RequestDeadline`]). Both answer through [`ApiError`], so their
//! statuses carry an `ErrorInfo` like every other error.
//!
//! A request's place in the limit travels in its extensions ([`InFlight`]):
//! a migration-control call, which goes on to its end on a task of its own
//! after its deadline or its client is gone, keeps its place until then,
//! so that calls cut off by their deadlines cannot pile up work past the
//! limit.
//!
//! tonic has both built in, but applies them outside every layer of ours
//! and answers with statuses that carry no details; this layer replaces
//! them. Health checks are never refused: a server busy with requests is
//! alive, and an orchestrator must not restart it for being busy.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;

use crate::error::ApiError;
use crate::request_deadline::RequestDeadline;

/// The path prefix of the standard health service.
const HEALTH: &str = "/grpc.health.v1.Health/";

/// A request's place in `grpc.concurrency_limit`, held while any clone of
/// it lives (the layer's until the response's head is ready; a control
/// call's task's until its work ends).
#[derive(Debug, Clone)]
pub struct InFlight {
    _permit: Arc<OwnedSemaphorePermit>,
}

/// The place in the limit the layer gave `request` (none for a health
/// check, or a request that did not pass the layer).
pub fn in_flight<T>(request: &tonic::Request<T>) -> Option<InFlight> {
    request.extensions().get::<InFlight>().cloned()
}

/// See the module.
#[derive(Debug, Clone)]
pub struct RequestLimitsLayer {
    in_flight: Arc<Semaphore>,
    limit: usize,
    timeout: Duration,
}

impl RequestLimitsLayer {
    pub fn new(concurrency_limit: usize, request_timeout: Duration) -> Self {
        RequestLimitsLayer {
            in_flight: Arc::new(Semaphore::new(concurrency_limit)),
            limit: concurrency_limit,
            timeout: request_timeout,
        }
    }

    /// Completes once no request holds a place in the limit: every call
    /// answered and every migration-control call's work ended. A shutdown
    /// waits for it, so that such work is not cut off by the process
    /// exiting.
    pub async fn idle(&self) {
        // Config caps the limit at 1,000,000 places, well within a u32.
        let every_place = u32::try_from(self.limit).unwrap_or(u32::MAX);
        // The semaphore is never closed; an error would only mean there
        // is nothing left to wait for.
        let _ = self.in_flight.acquire_many(every_place).await;
    }
}

impl<S> tower::Layer<S> for RequestLimitsLayer {
    type Service = RequestLimits<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestLimits {
            inner,
            limits: self.clone(),
        }
    }
}

/// See [`RequestLimitsLayer`].
#[derive(Debug, Clone)]
pub struct RequestLimits<S> {
    inner: S,
    limits: RequestLimitsLayer,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for RequestLimits<S>
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

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let permit = if request.uri().path().starts_with(HEALTH) {
            None
        } else {
            match Arc::clone(&self.limits.in_flight).try_acquire_owned() {
                Ok(permit) => {
                    let permit = InFlight {
                        _permit: Arc::new(permit),
                    };
                    request.extensions_mut().insert(permit.clone());
                    Some(permit)
                }
                Err(_) => {
                    metrics::counter!("lms_grpc_requests_shed_total").increment(1);
                    let refused = ApiError::Overloaded(format!(
                        "the server has {} requests in flight (grpc.concurrency_limit); retry shortly",
                        self.limits.limit
                    ));
                    return Box::pin(async move { Ok(Status::from(refused).into_http()) });
                }
            }
        };
        // Counted from here, in the call tonic's own timer is started in
        // (request_deadline.rs).
        let deadline = RequestDeadline::of(request.headers(), self.limits.timeout);
        let ends_at = tokio::time::Instant::now() + deadline.wait();
        // The clone serves this call; the ready original stays for the next.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let answer = ready.call(request);
        Box::pin(async move {
            // Held until the response's head is ready (a stream's messages
            // are not counted), as tower's own limit does.
            let _permit = permit;
            match tokio::time::timeout_at(ends_at, answer).await {
                Ok(answered) => answered,
                Err(_) => Ok(Status::from(ApiError::DeadlineExceeded(deadline)).into_http()),
            }
        })
    }
}
