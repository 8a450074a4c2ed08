//! List responses within the server's message-size limit: materials whose
//! bodies together pass `grpc.max_message_bytes` come back over several
//! short pages, every one once; a material larger than a response is a
//! clear error, never an oversized message, listed or got alone.

mod support;

use lms_grpc::pb::lms::v1 as pb;
use lms_grpc::pb::lms::v1::course_service_client::CourseServiceClient;
use prost::Message;
use support::{Data, READER, TestApp, spawn_app_with};
use tonic::Code;
use tonic_types::StatusExt;

/// A course with `count` text materials of `body_bytes` each; its name.
async fn course_with_materials(
    app: &TestApp,
    count: i32,
    body_bytes: i32,
) -> anyhow::Result<String> {
    let course: i64 = sqlx::query_scalar(
        "WITH subject AS (INSERT INTO subjects (name) VALUES ('Physics') RETURNING id) \
         INSERT INTO courses (subject_id, academic_year, semester) \
         SELECT id, '2026-2027', 1 FROM subject RETURNING id",
    )
    .fetch_one(&app.lms)
    .await?;
    sqlx::query(
        "INSERT INTO course_materials (course_id, title, kind, body, position) \
         SELECT $1, 'Chapter ' || n, 'text', repeat('x', $3), n FROM generate_series(1, $2) AS n",
    )
    .bind(course)
    .bind(count)
    .bind(body_bytes)
    .execute(&app.lms)
    .await?;
    Ok(format!("courses/{course}"))
}

#[tokio::test]
async fn materials_past_the_limit_come_in_short_pages_each_once() -> anyhow::Result<()> {
    const LIMIT: usize = 64 * 1024;
    let app = spawn_app_with("listbudget", Data::Empty, false, |settings| {
        settings.grpc.max_message_bytes = LIMIT;
    })
    .await?;
    // 12 bodies of 20 kB: 240 kB in all, three per response at most.
    let course = course_with_materials(&app, 12, 20_000).await?;
    let mut client = CourseServiceClient::new(app.authed(Some(READER)).await?);
    let mut titles = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_course_materials(pb::ListCourseMaterialsRequest {
                parent: course.clone(),
                page_size: 100,
                page_token,
            })
            .await?
            .into_inner();
        pages += 1;
        assert!(page.encoded_len() <= LIMIT, "{} bytes", page.encoded_len());
        assert!(
            !page.course_materials.is_empty(),
            "a page cut by size is never empty"
        );
        titles.extend(page.course_materials.into_iter().map(|m| m.title));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
        anyhow::ensure!(pages <= 12, "the pages do not end");
    }
    let expected: Vec<String> = (1..=12).map(|n| format!("Chapter {n}")).collect();
    assert_eq!(titles, expected);
    assert_eq!(pages, 4);
    app.close().await
}

#[tokio::test]
async fn a_material_larger_than_a_response_is_a_clear_error() -> anyhow::Result<()> {
    let app = spawn_app_with("listtoolarge", Data::Empty, false, |settings| {
        settings.grpc.max_message_bytes = 16 * 1024;
    })
    .await?;
    let course = course_with_materials(&app, 1, 20_000).await?;
    let mut client = CourseServiceClient::new(app.authed(Some(READER)).await?);
    let status = client
        .list_course_materials(pb::ListCourseMaterialsRequest {
            parent: course,
            ..Default::default()
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an oversized material was listed"))?;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let info = status
        .get_details_error_info()
        .ok_or_else(|| anyhow::anyhow!("no ErrorInfo"))?;
    assert_eq!(info.reason, "RESPONSE_ITEM_TOO_LARGE");
    assert_eq!(
        info.metadata.get("max_message_bytes").map(String::as_str),
        Some("16384")
    );
    assert!(
        status.message().contains("grpc.max_message_bytes"),
        "{}",
        status.message()
    );
    app.close().await
}

#[tokio::test]
async fn getting_a_material_larger_than_a_response_is_the_same_clear_error() -> anyhow::Result<()> {
    let app = spawn_app_with("gettoolarge", Data::Empty, false, |settings| {
        settings.grpc.max_message_bytes = 16 * 1024;
    })
    .await?;
    let course = course_with_materials(&app, 1, 20_000).await?;
    let material: i64 = sqlx::query_scalar("SELECT id FROM course_materials")
        .fetch_one(&app.lms)
        .await?;
    let mut client = CourseServiceClient::new(app.authed(Some(READER)).await?);
    let status = client
        .get_course_material(pb::GetCourseMaterialRequest {
            name: format!("{course}/materials/{material}"),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an oversized material was served"))?;
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let reason = status.get_details_error_info().map(|info| info.reason);
    assert_eq!(reason.as_deref(), Some("RESPONSE_ITEM_TOO_LARGE"));
    app.close().await
}

#[tokio::test]
async fn a_coverage_report_larger_than_a_response_is_the_same_clear_error() -> anyhow::Result<()> {
    use lms_grpc::pb::lms::migration::v1 as mpb;
    use lms_grpc::pb::lms::migration::v1::migration_service_client::MigrationServiceClient;
    let app = spawn_app_with("reporttoolarge", Data::Migrated, false, |settings| {
        settings.grpc.max_message_bytes = 200;
    })
    .await?;
    let mut client = MigrationServiceClient::new(app.authed(Some(support::ADMIN)).await?);

    let status = client
        .get_coverage_report(mpb::GetCoverageReportRequest::default())
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a report larger than a response was served"))?;

    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let reason = status.get_details_error_info().map(|info| info.reason);
    assert_eq!(reason.as_deref(), Some("RESPONSE_ITEM_TOO_LARGE"));
    app.close().await
}

/// `lmsctl api`'s client reads an item as large as the server was allowed
/// to send (here past tonic's 4 MiB default for a decoder).
#[tokio::test]
async fn the_api_client_reads_an_item_past_four_mebibytes() -> anyhow::Result<()> {
    const BODY_BYTES: i32 = 5 * 1024 * 1024;
    let app = spawn_app_with("listbudgetclient", Data::Empty, false, |settings| {
        settings.grpc.max_message_bytes = 8 * 1024 * 1024;
    })
    .await?;
    let course = course_with_materials(&app, 1, BODY_BYTES).await?;
    let material: i64 = sqlx::query_scalar("SELECT id FROM course_materials")
        .fetch_one(&app.lms)
        .await?;
    let client = lms_grpc::client::ApiClient::connect(
        &format!("http://{}", app.address),
        Some(READER.to_owned()),
    )
    .await?;

    let got = client
        .call(
            "lms.v1.CourseService/GetCourseMaterial",
            &serde_json::json!({ "name": format!("{course}/materials/{material}") }),
        )
        .await?;

    let body = got["body"].as_str().unwrap_or_default();
    assert_eq!(body.len(), 5 * 1024 * 1024);
    app.close().await
}

#[tokio::test]
async fn looking_up_a_submission_larger_than_a_response_is_the_same_clear_error()
-> anyhow::Result<()> {
    use lms_grpc::pb::lms::v1::assessment_service_client::AssessmentServiceClient;
    let app = spawn_app_with("lookuptoolarge", Data::Migrated, false, |settings| {
        settings.grpc.max_message_bytes = 16 * 1024;
    })
    .await?;
    let legacy_id: i64 = sqlx::query_scalar(
        "UPDATE assessment_submissions SET answers = NULL, answers_raw = repeat('x', 20000) \
         WHERE id = (SELECT min(id) FROM assessment_submissions WHERE legacy_id IS NOT NULL) \
         RETURNING legacy_id",
    )
    .fetch_one(&app.lms)
    .await?;
    let mut client = AssessmentServiceClient::new(app.authed(Some(READER)).await?);

    let status = client
        .lookup_submission(pb::LookupSubmissionRequest {
            legacy_id: Some(legacy_id),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an oversized submission was served"))?;

    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let reason = status.get_details_error_info().map(|info| info.reason);
    assert_eq!(reason.as_deref(), Some("RESPONSE_ITEM_TOO_LARGE"));
    app.close().await
}
