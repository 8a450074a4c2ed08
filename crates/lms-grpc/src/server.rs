//! Assembling the services into one tonic server.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lms_config::{GrpcSettings, Settings};
use lms_data::failover::DataSources;
use lms_data::repo::Repository;
use lms_engine::RunDefaults;
use lms_engine::setup::connect_queue_lazily;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

use crate::auth::{AuthLayer, Authenticator, BadToken};
use crate::data_source::{DATA_HEALTH_SERVICE, DataSourceLayer, report_data_health};
use crate::error_info_fill::error_info_layer;
use crate::pb;
use crate::pb::lms::migration::v1::migration_service_server::MigrationServiceServer;
use crate::pb::lms::v1::assessment_service_server::AssessmentServiceServer;
use crate::pb::lms::v1::course_service_server::CourseServiceServer;
use crate::pb::lms::v1::enrollment_service_server::EnrollmentServiceServer;
use crate::pb::lms::v1::organization_service_server::OrganizationServiceServer;
use crate::pb::lms::v1::person_service_server::PersonServiceServer;
use crate::pb::lms::v1::staff_service_server::StaffServiceServer;
use crate::pb::lms::v1::student_service_server::StudentServiceServer;
use crate::pb::lms::v1::user_service_server::UserServiceServer;
use crate::request_limits::RequestLimitsLayer;
use crate::request_metrics::RequestMetricsLayer;
use crate::response_budget::ResponseBudget;
use crate::run_watch::{RunWatchHub, RunWatchLimits};
use crate::services::DomainApi;
use crate::services::migration::MigrationApi;

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot connect to {what}: {source}")]
    Connect {
        what: &'static str,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("cannot read the TLS {what} {path}: {source}")]
    Tls {
        what: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("the token config is invalid: {0}")]
    Auth(#[from] BadToken),
    #[error("grpc.tls_cert and grpc.tls_key go together: set both for TLS, or neither")]
    TlsHalfConfigured,
    #[error("the reflection service could not be built: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("the gRPC transport failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Everything the server serves.
#[derive(Debug, Clone)]
pub struct GrpcApp {
    settings: GrpcSettings,
    sources: DataSources,
    auth: Authenticator,
    domain: DomainApi,
    migration: MigrationApi,
    /// Set when shutdown begins, so that long streams end instead of
    /// holding the server open.
    stopping: Arc<watch::Sender<bool>>,
}

impl GrpcApp {
    /// Connects to the LMS database; the legacy database and Redis are
    /// connected at their first use, so the domain API serves while either
    /// is down.
    pub async fn connect(settings: &Settings) -> Result<GrpcApp, ServeError> {
        // The domain's reads fail over (primary, standbys, legacy); the
        // server starts even while the primary is down, degraded.
        let sources = DataSources::connect(settings, "lms-server")
            .await
            .map_err(|source| ServeError::Connect {
                what: "the LMS database",
                source: Box::new(source),
            })?;
        // The legacy database is optional for serving: it is connected lazily
        // and only the migration methods use it.
        let legacy =
            migration_pool(settings, &settings.legacy.url, "lms-server", 4).map_err(|source| {
                ServeError::Connect {
                    what: "the legacy database",
                    source: Box::new(source),
                }
            })?;
        // Migration control's own pool on the primary, for the calls that
        // start, approve, cancel and undo runs: no statement timeout.
        let control = migration_pool(
            settings,
            &settings.database.url,
            "lms-server-migration",
            GrpcSettings::MIGRATION_CONTROL_CONNECTIONS,
        )
        .map_err(|source| ServeError::Connect {
            what: "the LMS database",
            source: Box::new(source),
        })?;
        // Only StartRun, ApproveRun and RetryRejected push to Redis, after
        // their commit: the server starts while it is down, and what they
        // plan meanwhile a worker's sweeper queues once it is back.
        let queue = connect_queue_lazily(settings).map_err(|source| ServeError::Connect {
            what: "Redis",
            source: Box::new(source),
        })?;
        let (stopping, stopping_seen) = watch::channel(false);
        Ok(GrpcApp {
            sources: sources.clone(),
            stopping: Arc::new(stopping),
            settings: settings.grpc.clone(),
            auth: Authenticator::from_settings(&settings.auth)?,
            domain: DomainApi {
                repo: Repository::with_sources(sources.clone()),
                budget: ResponseBudget::new(settings.grpc.max_message_bytes),
            },
            // Migration runs never fail over: they use the primary or wait.
            migration: MigrationApi {
                lms: sources.primary_pool().clone(),
                control,
                legacy,
                queue,
                run_defaults: RunDefaults::from(&settings.migration),
                legacy_timezone: settings.legacy.timezone.clone(),
                budget: ResponseBudget::new(settings.grpc.max_message_bytes),
                stopping: stopping_seen,
                watchers: RunWatchHub::new(
                    sources.primary_pool().clone(),
                    RunWatchLimits {
                        max_watchers: settings.grpc.max_run_watchers,
                        max_age: settings.grpc.max_run_watch_age,
                    },
                ),
            },
        })
    }

    /// Logs what makes this server easy to misuse ([`exposures`]).
    fn warn_about_exposure(&self, listener: &TcpListener, tls: bool) {
        let address = listener.local_addr().ok();
        for exposure in exposures(self.auth.has_tokens(), address, tls) {
            tracing::warn!("{}", exposure.warning());
        }
    }

    /// The failover pool behind the domain services.
    pub fn data_sources(&self) -> &DataSources {
        &self.sources
    }

    /// Serves on `listener` until `shutdown` completes, then lets in-flight
    /// requests finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let max = self.settings.max_message_bytes;
        // No tonic timeout, concurrency limit or load shedding: they answer
        // outside our layers, with statuses that carry no ErrorInfo;
        // RequestLimitsLayer does all three.
        let mut builder = Server::builder()
            // tonic announces no stream limit unless told; hyper's own
            // default (200) is not a setting operators can see.
            .max_concurrent_streams(self.settings.max_concurrent_streams)
            .max_connection_age(self.settings.max_connection_age)
            .http2_max_header_list_size(self.settings.max_header_list_bytes)
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .trace_fn(|request| {
                tracing::info_span!("grpc", method = %request.uri().path(), request_id = %uuid::Uuid::new_v4())
            });
        let tls = match (&self.settings.tls_cert, &self.settings.tls_key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => return Err(ServeError::TlsHalfConfigured),
        };
        self.warn_about_exposure(&listener, tls.is_some());
        if let Some((cert, key)) = tls {
            // Both ring and aws-lc may be linked; rustls needs one chosen.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let read = |what: &'static str, path: &std::path::Path| {
                std::fs::read(path).map_err(|source| ServeError::Tls {
                    what,
                    path: path.display().to_string(),
                    source,
                })
            };
            let identity = Identity::from_pem(read("certificate", cert)?, read("key", key)?);
            builder = builder.tls_config(ServerTlsConfig::new().identity(identity))?;
        }
        let domain = self.domain;
        let primary = self.migration.lms.clone();
        let limits = RequestLimitsLayer::new(
            self.settings.concurrency_limit,
            self.settings.request_timeout,
        );
        let mut router = builder
            .layer(error_info_layer())
            .layer(RequestMetricsLayer)
            .layer(limits.clone())
            .layer(DataSourceLayer::new(self.sources.clone()))
            .layer(AuthLayer::new(self.auth))
            .add_service(limit!(OrganizationServiceServer::new(domain.clone()), max))
            .add_service(limit!(PersonServiceServer::new(domain.clone()), max))
            .add_service(limit!(UserServiceServer::new(domain.clone()), max))
            .add_service(limit!(StudentServiceServer::new(domain.clone()), max))
            .add_service(limit!(StaffServiceServer::new(domain.clone()), max))
            .add_service(limit!(CourseServiceServer::new(domain.clone()), max))
            .add_service(limit!(EnrollmentServiceServer::new(domain.clone()), max))
            .add_service(limit!(AssessmentServiceServer::new(domain), max))
            .add_service(limit!(MigrationServiceServer::new(self.migration), max));
        // Set once the server has stopped serving: background tasks end.
        let (serving_ended, _) = watch::channel(false);
        if self.settings.health {
            let (reporter, health) = tonic_health::server::health_reporter();
            for service in SERVICE_NAMES {
                reporter
                    .set_service_status(service, tonic_health::ServingStatus::Serving)
                    .await;
            }
            let mut stopping = self.stopping.subscribe();
            let sources = self.sources.clone();
            tokio::spawn(async move {
                report_data_health(sources, reporter.clone(), stopping_begins(&mut stopping)).await;
                end_health_watches(reporter).await;
            });
            router = router.add_service(health);
        }
        if self.settings.reflection {
            let reflection = || {
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                    // The error details statuses carry (google.rpc.BadRequest,
                    // ErrorInfo), so that grpcurl prints them decoded.
                    .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
            };
            // v1 is the standard; v1alpha is what clients before grpcurl
            // 1.8.8 (and the grpcurl PyPI wrapper) still ask for.
            router = router
                .add_service(reflection().build_v1()?)
                .add_service(reflection().build_v1alpha()?);
        }
        // Without TCP_NODELAY a small response can wait for the client's
        // delayed ACK: a 40 ms tail on every few requests.
        let incoming = TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .with_keepalive(Some(Duration::from_secs(60)));
        // Unary requests in flight finish; WatchRun streams end at once with
        // UNAVAILABLE (a client watches again elsewhere and gets a snapshot).
        let stopping = self.stopping;
        // Probing goes on while requests drain (they may still fail over),
        // and stops once the server has stopped serving.
        let mut probes_stop = serving_ended.subscribe();
        tokio::spawn(self.sources.clone().run_probes(async move {
            let _ = probes_stop.wait_for(|ended| *ended).await;
        }));
        let mut purge_stop = serving_ended.subscribe();
        tokio::spawn(crate::audit::purge_request_keys(primary, async move {
            let _ = purge_stop.wait_for(|ended| *ended).await;
        }));
        let mut begun = stopping.subscribe();
        let shutdown = async move {
            shutdown.await;
            stopping.send_replace(true);
        };
        let serving = router.serve_with_incoming_shutdown(incoming, shutdown);
        tokio::pin!(serving);
        // No unary call runs past grpc.request_timeout; what is still open
        // a moment later is a stream a client keeps open (reflection, say),
        // or a migration-control call's work past its deadline.
        let drain = self.settings.request_timeout + DRAIN_MARGIN;
        let mut drain_ends = None;
        let served = tokio::select! {
            served = &mut serving => served,
            () = stopping_begins(&mut begun) => {
                let ends = tokio::time::Instant::now() + drain;
                drain_ends = Some(ends);
                tokio::select! {
                    served = &mut serving => served,
                    () = tokio::time::sleep_until(ends) => {
                        tracing::warn!(
                            ?drain,
                            "the server stops waiting for connections still open when the \
                             drain ended (streams their clients keep open); the process's \
                             exit closes them"
                        );
                        Ok(())
                    }
                }
            }
        };
        serving_ended.send_replace(true);
        let stopped = *begun.borrow();
        if stopped {
            let ends = drain_ends.unwrap_or_else(|| tokio::time::Instant::now() + drain);
            if tokio::time::timeout_at(ends, limits.idle()).await.is_err() {
                tracing::warn!(
                    ?drain,
                    "migration-control calls still running past their deadlines when the \
                     drain ended are stopped; their audit rows may be missing (see GetRun)"
                );
            }
        }
        served?;
        Ok(())
    }
}

/// A pool of the migration service's, connected on first use, with no
/// statement timeout (as lmsctl's): at most `connections`, waited for as
/// long as `database.acquire_timeout`.
fn migration_pool(
    settings: &Settings,
    url: &lms_config::PostgresUrl,
    application_name: &str,
    connections: u32,
) -> Result<sqlx::PgPool, sqlx::Error> {
    let options = lms_pg::pool::connect_options(url, &lms_pg::PoolConfig::small(application_name))?;
    Ok(sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        .acquire_timeout(settings.database.acquire_timeout)
        .connect_lazy_with(options))
}

/// Completes when the shutdown begins (or the sender is gone).
async fn stopping_begins(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stopping| *stopping).await;
}

/// How long past `grpc.request_timeout` a shutdown waits for connections
/// and migration-control calls before it stops waiting (the process's
/// exit then ends what is left).
const DRAIN_MARGIN: Duration = Duration::from_secs(1);

/// Every health status turns NOT_SERVING, then every `Health/Watch`
/// stream ends: a watch stream never ends on its own, and an open one
/// would hold the shutdown's drain until it gave up.
async fn end_health_watches(mut reporter: tonic_health::server::HealthReporter) {
    let names = std::iter::once("")
        .chain(SERVICE_NAMES)
        .chain([DATA_HEALTH_SERVICE]);
    for name in names.clone() {
        reporter
            .set_service_status(name, tonic_health::ServingStatus::NotServing)
            .await;
    }
    for name in names {
        reporter.clear_service_status(name).await;
    }
}

/// What makes a server easy to misuse, warned about at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exposure {
    /// No token is configured: every guarded method is refused.
    NoTokens,
    /// Plaintext on an address other machines can reach.
    PlaintextOnNetwork,
}

impl Exposure {
    fn warning(self) -> &'static str {
        match self {
            Exposure::NoTokens => {
                "no API token is configured (auth.tokens): every method but health and \
                 reflection is refused"
            }
            Exposure::PlaintextOnNetwork => {
                "serving plaintext gRPC on a non-loopback address: bearer tokens cross the \
                 network in the clear; set grpc.tls_cert and grpc.tls_key"
            }
        }
    }
}

/// The exposures of a server with or without tokens, listening on
/// `address`, with or without TLS.
fn exposures(has_tokens: bool, address: Option<std::net::SocketAddr>, tls: bool) -> Vec<Exposure> {
    let mut found = Vec::new();
    if !has_tokens {
        found.push(Exposure::NoTokens);
    }
    let on_network = address.is_some_and(|address| !address.ip().is_loopback());
    if on_network && !tls {
        found.push(Exposure::PlaintextOnNetwork);
    }
    found
}

/// Every service the server hosts, as health checks name them.
pub const SERVICE_NAMES: [&str; 9] = [
    "lms.v1.OrganizationService",
    "lms.v1.PersonService",
    "lms.v1.UserService",
    "lms.v1.StudentService",
    "lms.v1.StaffService",
    "lms.v1.CourseService",
    "lms.v1.EnrollmentService",
    "lms.v1.AssessmentService",
    "lms.migration.v1.MigrationService",
];

/// Applies the message size limit to a generated service.
macro_rules! limit {
    ($service:expr, $max:expr) => {
        $service
            .max_decoding_message_size($max)
            .max_encoding_message_size($max)
    };
}
use limit;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_on_a_network_address_is_an_exposure() {
        let address = "0.0.0.0:50051".parse().ok();
        assert_eq!(
            exposures(true, address, false),
            vec![Exposure::PlaintextOnNetwork]
        );
        assert_eq!(exposures(true, address, true), Vec::new());
    }

    #[test]
    fn plaintext_on_loopback_is_not() {
        let address = "127.0.0.1:50051".parse().ok();
        assert_eq!(exposures(true, address, false), Vec::new());
    }

    #[test]
    fn no_tokens_is_an_exposure_wherever_it_listens() {
        let address = "127.0.0.1:50051".parse().ok();
        assert_eq!(exposures(false, address, true), vec![Exposure::NoTokens]);
    }
}
