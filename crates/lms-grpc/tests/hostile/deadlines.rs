//! A client's own deadline (`grpc-timeout`) shorter than
//! `grpc.request_timeout` is answered by the server DEADLINE_EXCEEDED with
//! an `ErrorInfo`, not CANCELLED by tonic's timer.
//!
//! The requests go over a bare HTTP/2 connection: tonic's client applies
//! the same header itself and would answer before the server does,
//! hiding the server's answer.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use prost::Message;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::support::{Data, READER, spawn_app_with};

#[tokio::test]
async fn a_client_deadline_shorter_than_the_servers_is_deadline_exceeded_with_its_reason()
-> anyhow::Result<()> {
    let app = spawn_app_with("hostileclientdeadline", Data::Empty, false, |settings| {
        settings.grpc.request_timeout = std::time::Duration::from_secs(30);
    })
    .await?;
    let mut lock = app.lms.begin().await?;
    sqlx::query("LOCK TABLE students IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await?;
    // Several at once, each on its own connection: every one must get the
    // server's answer, not only the first to be scheduled.
    let mut asked = tokio::task::JoinSet::new();
    for _ in 0..8 {
        asked.spawn(get_student_with_grpc_timeout(app.address, "300m"));
    }
    let mut statuses = Vec::new();
    while let Some(answered) = asked.join_next().await {
        statuses.push(answered??);
    }
    lock.rollback().await?;
    for status in statuses {
        assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
        let reason = status.get_details_error_info().map(|info| info.reason);
        assert_eq!(reason.as_deref(), Some("CLIENT_DEADLINE_EXCEEDED"));
        assert!(
            status.message().contains("client's deadline (300ms"),
            "{}",
            status.message()
        );
    }
    app.close().await
}

/// `GetStudent("students/1")` as READER over a bare HTTP/2 connection with
/// `grpc-timeout: timeout`, and the status the server answered.
async fn get_student_with_grpc_timeout(
    address: SocketAddr,
    timeout: &'static str,
) -> anyhow::Result<Status> {
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let (client, connection) = h2::client::handshake(tcp).await?;
    let connection = tokio::spawn(connection);
    let request = http::Request::post(format!("http://{address}/lms.v1.StudentService/GetStudent"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .header("authorization", format!("Bearer {READER}"))
        .header("grpc-timeout", timeout)
        .body(())?;
    let (response, mut body) = client.ready().await?.send_request(request, false)?;
    let message = lms_grpc::pb::lms::v1::GetStudentRequest {
        name: "students/1".to_owned(),
    };
    body.send_data(grpc_frame(&message)?, true)?;
    let response = response.await?;
    // An error before any message is trailers-only: the status is in the
    // head. Otherwise it is in the trailers.
    let status = match Status::from_header_map(response.headers()) {
        Some(status) => status,
        None => {
            let mut body = response.into_body();
            while let Some(data) = body.data().await {
                data?;
            }
            let trailers = body
                .trailers()
                .await?
                .ok_or_else(|| anyhow::anyhow!("the answer had no status"))?;
            Status::from_header_map(&trailers)
                .ok_or_else(|| anyhow::anyhow!("the trailers had no grpc-status"))?
        }
    };
    connection.abort();
    Ok(status)
}

/// One uncompressed gRPC message: a zero flag, its length, its bytes.
fn grpc_frame(message: &impl Message) -> anyhow::Result<Bytes> {
    let encoded = message.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + encoded.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(encoded.len())?);
    frame.put_slice(&encoded);
    Ok(frame.freeze())
}
