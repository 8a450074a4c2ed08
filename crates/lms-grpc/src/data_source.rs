//! `x-lms-data-source`: every response of the LMS services says which
//! database answered it (`primary`, `standby` or `legacy`), and the named
//! health service `lms.data` says whether the server is degraded.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::HeaderValue;
use lms_data::failover::{DataSource, DataSources, SourceRecorder};

/// The response header (gRPC initial metadata).
pub const DATA_SOURCE_HEADER: &str = "x-lms-data-source";

/// The health service name that is SERVING only while the LMS primary
/// serves reads and writes, and NOT_SERVING in any degraded state.
pub const DATA_HEALTH_SERVICE: &str = "lms.data";

/// Records the database each request used and puts it on the response.
#[derive(Debug, Clone)]
pub struct DataSourceLayer {
    sources: DataSources,
}

impl DataSourceLayer {
    pub fn new(sources: DataSources) -> Self {
        DataSourceLayer { sources }
    }
}

impl<S> tower::Layer<S> for DataSourceLayer {
    type Service = DataSourceService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DataSourceService {
            inner,
            sources: self.sources.clone(),
        }
    }
}

/// See [`DataSourceLayer`].
#[derive(Debug, Clone)]
pub struct DataSourceService<S> {
    inner: S,
    sources: DataSources,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for DataSourceService<S>
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
        // The clone serves this call; the ready original stays for the next.
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let path = request.uri().path();
        if !path.starts_with("/lms.") {
            return Box::pin(ready.call(request));
        }
        // Migration control never fails over: it is the primary's, answered
        // or refused.
        if path.starts_with("/lms.migration.") {
            return Box::pin(async move {
                let mut response = ready.call(request).await?;
                response.headers_mut().insert(
                    DATA_SOURCE_HEADER,
                    HeaderValue::from_static(DataSource::Primary.as_str()),
                );
                Ok(response)
            });
        }
        let sources = self.sources.clone();
        Box::pin(async move {
            let recorder = SourceRecorder::default();
            let mut response = recorder.scope(ready.call(request)).await?;
            // A request refused before touching a database (bad input, no
            // token) reports where it would have been served from.
            if let Some(source) = recorder.get().or_else(|| sources.current()) {
                response.headers_mut().insert(
                    DATA_SOURCE_HEADER,
                    HeaderValue::from_static(source.as_str()),
                );
            }
            Ok(response)
        })
    }
}

/// Keeps the `lms.data` health status in step with where reads go, until
/// `stop` resolves.
pub async fn report_data_health(
    sources: DataSources,
    reporter: tonic_health::server::HealthReporter,
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut current = sources.watch_current();
    loop {
        let status = match *current.borrow_and_update() {
            Some(DataSource::Primary) => tonic_health::ServingStatus::Serving,
            _ => tonic_health::ServingStatus::NotServing,
        };
        reporter
            .set_service_status(DATA_HEALTH_SERVICE, status)
            .await;
        tokio::select! {
            () = &mut stop => return,
            changed = current.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}
