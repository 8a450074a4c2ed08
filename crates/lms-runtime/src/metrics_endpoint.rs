//! The Prometheus endpoint each long-running binary serves: `GET /metrics`
//! (text exposition) and `GET /healthz` (liveness), on `metrics.listen`.
//! A scrape only renders what is recorded: gauges read from elsewhere (pool
//! occupancy, run progress) are refreshed on a timer
//! ([`start_gauge_refresh`], every `metrics.refresh_interval`), so scrapes,
//! however many, never query a database.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the process-wide metrics recorder. Call once, early; a second
/// call (tests running two binaries' code in one process) reuses nothing
/// and fails, which the caller may ignore.
pub fn install_recorder() -> anyhow::Result<PrometheusHandle> {
    PrometheusBuilder::new()
        .set_buckets(&[
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            60.0,
        ])
        .context("configuring histogram buckets")?
        .install_recorder()
        .context("installing the metrics recorder")
}

/// Serves the endpoint on `listen` until `shutdown` resolves. Binds before
/// returning, so a port already taken is reported at startup.
pub async fn serve_metrics(
    listen: SocketAddr,
    handle: PrometheusHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen} (metrics.listen)"))?;
    let router = Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move { handle.render() }
            }),
        )
        .route("/healthz", get(|| async { (StatusCode::OK, "ok\n") }));
    let address = listener.local_addr().unwrap_or(listen);
    tracing::info!(%address, "serving metrics at /metrics");
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::warn!(%error, "the metrics endpoint stopped");
        }
    }))
}

/// Runs `refresh` once, to completion, and then every `interval` on a
/// spawned task until `shutdown` resolves. Awaiting the first refresh
/// before the endpoint is served means no scrape ever sees a process with
/// none of its gauges. A refresh that outlasts the interval delays the next
/// one rather than overlapping it.
pub async fn start_gauge_refresh<Refresh, Refreshed>(
    interval: Duration,
    mut refresh: Refresh,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()>
where
    Refresh: FnMut() -> Refreshed + Send + 'static,
    Refreshed: Future<Output = ()> + Send,
{
    refresh().await;
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let refreshing = async move {
            loop {
                ticks.tick().await;
                refresh().await;
            }
        };
        tokio::select! {
            () = refreshing => {}
            () = shutdown => {}
        }
    })
}
