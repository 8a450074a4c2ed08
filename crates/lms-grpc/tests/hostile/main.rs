//! A hostile client against a real server, in one test binary: calls
//! without a token and out of scope on every method (`access`), a
//! malformed-input sweep over every RPC (`malformed`), 1,000 streams on
//! one connection and 100 `WatchRun` watchers during a migration
//! (`streams`), the server's own limits (`limits`), a client's own
//! deadline (`deadlines`) and the databases going away under a read flood
//! (`outage`). Each test asserts the exact code, and that the server stays
//! responsive where load is involved (a health check answers within 1 s).
//! Loops are bounded in count and time, on loopback only.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod deadlines;
mod limits;
mod malformed;
mod outage;
mod streams;

/// The server stays responsive: a health check answers SERVING within 1 s.
async fn assert_responsive(app: &support::TestApp) -> anyhow::Result<()> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;

    let mut health = HealthClient::new(app.channel().await?);
    let request = HealthCheckRequest {
        service: String::new(),
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(1), health.check(request))
        .await
        .map_err(|_| anyhow::anyhow!("the health check did not answer within 1 s"))??;
    anyhow::ensure!(
        answer.into_inner().status == ServingStatus::Serving as i32,
        "the server is not SERVING"
    );
    Ok(())
}
