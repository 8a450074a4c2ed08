//! The server answers gRPC health checks and reflection on an ephemeral port,
//! and stops when asked.

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

#[tokio::test]
async fn health_is_serving_and_shutdown_is_graceful() -> anyhow::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(lms_grpc::serve(listener, async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let mut health = HealthClient::new(channel);
    let response = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    assert_eq!(response.into_inner().status(), ServingStatus::Serving);
    drop(health);
    let _ = stop.send(());
    server.await??;
    Ok(())
}
