//! `MigrationService/VerifyRun` through a real tonic client: the LMS
//! reconciled against legacy, with its differences and the academic sheet.

mod support;

use lms_grpc::pb::lms::migration::v1 as pb;
use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
use support::{ADMIN, Data, READER, spawn_app};
use tonic::Code;

#[tokio::test]
async fn verify_run_names_a_value_changed_past_the_api() -> anyhow::Result<()> {
    let app = spawn_app("grpcverify", Data::Migrated, false).await?;
    let person: i64 = sqlx::query_scalar("SELECT min(legacy_id)::bigint FROM persons")
        .fetch_one(&app.lms)
        .await?;
    sqlx::query("UPDATE persons SET phone = 'corrupted' WHERE legacy_id = $1")
        .bind(i32::try_from(person)?)
        .execute(&app.lms)
        .await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(ADMIN)).await?);

    let verification = client
        .verify_run(pb::VerifyRunRequest { chunk_size: 500 })
        .await?
        .into_inner();

    assert_eq!((verification.unexplained, verification.explained), (1, 0));
    assert_eq!(verification.entities.len(), 10);
    let persons = verification
        .entities
        .iter()
        .find(|entity| entity.entity == "persons")
        .ok_or_else(|| anyhow::anyhow!("no persons"))?;
    assert_eq!((persons.unexplained, persons.differing_chunks), (1, 1));
    let difference = &persons.samples[0];
    assert_eq!(difference.legacy_id, person);
    assert_eq!(difference.kind(), pb::DifferenceKind::Changed);
    assert_eq!(difference.explanation, "");
    assert_eq!(difference.fields.len(), 1);
    assert_eq!(difference.fields[0].field, "phone");
    assert_eq!(difference.fields[0].lms.as_deref(), Some("corrupted"));
    assert!(!verification.terms.is_empty());
    assert!(verification.terms.iter().all(|line| line.matches));

    let mut reader = MigrationServiceClient::new(app.authed(Some(READER)).await?);
    let refused = reader
        .verify_run(pb::VerifyRunRequest { chunk_size: 0 })
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(refused, Some(Code::PermissionDenied));
    let invalid = client
        .verify_run(pb::VerifyRunRequest { chunk_size: -1 })
        .await
        .err()
        .map(|status| status.code());
    assert_eq!(invalid, Some(Code::InvalidArgument));
    app.close().await
}
