//! Who may call what: every guarded method without a token and with a
//! token lacking its scope, methods the server does not have, reflection
//! turned off, and the ErrorInfo every error carries.

use http::uri::PathAndQuery;
use lms_grpc::access::{Access, METHODS, Scope};
use lms_grpc::pb::lms::v1::DeleteStudentRequest;
use lms_grpc::pb::lms::v1::student_service_client::StudentServiceClient;
use tonic::Code;
use tonic_prost::ProstCodec;

use crate::support::{ADMIN, Data, READER, ROOT, TestApp, WRITER, spawn_app, spawn_app_with};

/// Calls `path` with an empty message and `token`, and returns the code the
/// server answered with (`Ok` when it answered at all without an error).
async fn call(app: &TestApp, path: &str, token: Option<&str>) -> anyhow::Result<Code> {
    let mut grpc = tonic::client::Grpc::new(app.channel().await?);
    grpc.ready().await?;
    let mut request = tonic::Request::new(());
    if let Some(token) = token {
        request
            .metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse()?);
    }
    let path = PathAndQuery::try_from(path)?;
    let answer = grpc
        .unary::<(), (), _>(request, path, ProstCodec::default())
        .await;
    Ok(answer.map_or_else(|status| status.code(), |_| Code::Ok))
}

/// A test token that lacks `scope`.
fn token_without(scope: Scope) -> &'static str {
    match scope {
        Scope::LmsRead => ADMIN,
        Scope::LmsWrite => READER,
        Scope::MigrationAdmin => WRITER,
    }
}

#[tokio::test]
async fn every_guarded_method_refuses_a_call_without_a_token() -> anyhow::Result<()> {
    let app = spawn_app("hostilenotoken", Data::Empty, false).await?;
    for (path, access) in METHODS {
        if let Access::Needs(_) = access {
            assert_eq!(
                call(&app, path, None).await?,
                Code::Unauthenticated,
                "{path}"
            );
        }
    }
    crate::assert_responsive(&app).await?;
    app.close().await
}

#[tokio::test]
async fn every_guarded_method_refuses_a_token_without_its_scope() -> anyhow::Result<()> {
    let app = spawn_app("hostilescope", Data::Empty, false).await?;
    for (path, access) in METHODS {
        if let Access::Needs(scope) = access {
            let token = token_without(*scope);
            assert_eq!(
                call(&app, path, Some(token)).await?,
                Code::PermissionDenied,
                "{path}"
            );
        }
    }
    crate::assert_responsive(&app).await?;
    app.close().await
}

#[tokio::test]
async fn a_method_the_server_does_not_have_is_unimplemented_for_every_token() -> anyhow::Result<()>
{
    let app = spawn_app("hostileunlisted", Data::Empty, false).await?;
    for token in [None, Some(READER), Some(ROOT)] {
        assert_eq!(
            call(&app, "/lms.v1.StudentService/PromoteStudent", token).await?,
            Code::Unimplemented,
            "{token:?}"
        );
    }
    crate::assert_responsive(&app).await?;
    app.close().await
}

#[tokio::test]
async fn reflection_can_be_turned_off() -> anyhow::Result<()> {
    let app = spawn_app_with("hostilenoreflect", Data::Empty, false, |settings| {
        settings.grpc.reflection = false;
    })
    .await?;
    for version in ["v1", "v1alpha"] {
        let path = format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
        assert_eq!(
            call(&app, &path, None).await?,
            Code::Unimplemented,
            "{path}"
        );
    }
    app.close().await
}

/// Every error carries AIP-193's ErrorInfo: a stable reason and the
/// server's domain.
#[tokio::test]
async fn errors_carry_an_error_info_with_a_stable_reason() -> anyhow::Result<()> {
    use lms_grpc::pb::lms::v1::GetStudentRequest;
    use tonic_types::StatusExt;

    let app = spawn_app("hostileinfo", Data::Empty, false).await?;
    let reason = |status: tonic::Status| {
        status
            .get_details_error_info()
            .map(|info| (info.reason, info.domain))
    };
    let get = |name: &str| GetStudentRequest {
        name: name.to_owned(),
    };
    let mut anonymous = StudentServiceClient::new(app.authed(None).await?);
    let mut reader = StudentServiceClient::new(app.authed(Some(READER)).await?);
    let cases = [
        (
            anonymous.get_student(get("students/1")).await,
            "TOKEN_MISSING_OR_INVALID",
        ),
        (
            reader.get_student(get("students/1")).await,
            "RESOURCE_NOT_FOUND",
        ),
        (reader.get_student(get("teachers/1")).await, "INVALID_FIELD"),
        (
            reader
                .delete_student(DeleteStudentRequest {
                    name: "students/1".to_owned(),
                })
                .await
                .map(|_| tonic::Response::new(Default::default())),
            "SCOPE_MISSING",
        ),
    ];
    for (answer, expected) in cases {
        let status = answer
            .err()
            .ok_or_else(|| anyhow::anyhow!("{expected}: no error"))?;
        assert_eq!(
            reason(status),
            Some((
                expected.to_owned(),
                lms_grpc::error::ERROR_DOMAIN.to_owned()
            )),
            "{expected}"
        );
    }
    app.close().await
}
