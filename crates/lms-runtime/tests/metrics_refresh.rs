//! `/metrics` renders what the timer last recorded: the first refresh has
//! run before the endpoint answers, later ones come on the timer, and
//! scraping never runs it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use lms_testkit::{Scrape, free_local_address};
use metrics_exporter_prometheus::PrometheusHandle;

/// The process-wide recorder, installed once for every test here.
fn recorder() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| lms_runtime::install_recorder().map_err(|error| error.to_string()))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Serves `/metrics` and refreshes `gauge` every `interval` with the
/// number of refreshes so far, which the returned counter also holds. Each
/// refresh takes `refresh_takes` before it records.
async fn serve_counting_refreshes(
    gauge: &'static str,
    interval: Duration,
    refresh_takes: Duration,
) -> anyhow::Result<(std::net::SocketAddr, Arc<AtomicU32>)> {
    let recorder = recorder()?;
    let refreshes = Arc::new(AtomicU32::new(0));
    let counted = refreshes.clone();
    lms_runtime::start_gauge_refresh(
        interval,
        move || {
            let total = counted.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                tokio::time::sleep(refresh_takes).await;
                metrics::gauge!(gauge).set(f64::from(total));
            }
        },
        std::future::pending(),
    )
    .await;
    let address = free_local_address()?;
    lms_runtime::serve_metrics(address, recorder, std::future::pending()).await?;
    Ok((address, refreshes))
}

#[tokio::test]
async fn refreshed_gauges_appear_after_the_interval() -> anyhow::Result<()> {
    let gauge = "test_refreshes_every_100ms";
    let (address, _) =
        serve_counting_refreshes(gauge, Duration::from_millis(100), Duration::ZERO).await?;
    let started = Instant::now();
    loop {
        let seen = Scrape::fetch(address).await?.sum(gauge, &[]);
        if seen >= 3.0 {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "the gauge stayed at {seen}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Three refreshes (at once, then two intervals) take at least 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(150));
    Ok(())
}

#[tokio::test]
async fn scraping_does_not_run_the_refresh() -> anyhow::Result<()> {
    let gauge = "test_refreshes_every_hour";
    let (address, refreshes) =
        serve_counting_refreshes(gauge, Duration::from_secs(3_600), Duration::ZERO).await?;
    for _ in 0..5 {
        assert_eq!(Scrape::fetch(address).await?.sum(gauge, &[]), 1.0);
    }
    assert_eq!(refreshes.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn the_first_scrape_sees_the_first_refresh_however_slow() -> anyhow::Result<()> {
    let gauge = "test_slow_first_refresh";
    let (address, _) = serve_counting_refreshes(
        gauge,
        Duration::from_secs(3_600),
        Duration::from_millis(300),
    )
    .await?;
    assert!(Scrape::fetch(address).await?.has(gauge));
    Ok(())
}
