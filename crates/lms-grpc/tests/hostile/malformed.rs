//! Every RPC, sent malformed: an empty message, each field of a valid
//! request made oversized or out of range, and each field sent with the
//! wrong wire type. Each must come back INVALID_ARGUMENT (naming the field,
//! where one field is at fault), never INTERNAL, never a panic.
//!
//! The RPCs and their fields come from the descriptor set the server itself
//! is built from, so a new RPC or field is covered (or fails this test until
//! it has a case) without anyone remembering to add it.

use std::collections::BTreeSet;
use std::str::FromStr;

use crate::support::{Data, ROOT, TestApp, spawn_app};
use lms_grpc::client::RawCodec;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor,
    Value,
};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt;

/// One RPC: a request that passes validation, and the fields the server
/// ignores by design (output-only fields, fields outside the update mask).
struct Case {
    method: &'static str,
    valid: &'static str,
    ignored: &'static [&'static str],
}

const fn case(method: &'static str, valid: &'static str) -> Case {
    Case {
        method,
        valid,
        ignored: &[],
    }
}

const LIST: &str = r#"{"page_size": 10, "page_token": "", "filter": ""}"#;
const STUDENT: &str = r#"{"student": {"person": "persons/1", "user": "users/1",
    "organization": "organizations/1", "group": "groups/1", "admission_year": 2024,
    "status": "STUDENT_STATUS_ACTIVE", "record_book_number": "RB-1"}}"#;
const ENROLLMENT: &str = r#"{"enrollment": {"student": "students/1", "course": "courses/1",
    "teacher": "staffMembers/1", "status": "ENROLLMENT_STATUS_ACTIVE", "current_mark": "5"}}"#;
const GRADE: &str =
    r#"{"grade": {"enrollment": "enrollments/1", "kind": "GRADE_KIND_FINAL", "raw_mark": "5"}}"#;
const MATERIAL: &str = r#"{"parent": "courses/1", "course_material": {"title": "Week 1",
    "kind": "MATERIAL_KIND_LINK", "url": "https://example.org/week-1", "body": "Read it", "position": 1}}"#;

fn cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (service, resource, collection, lookup) in [
        ("OrganizationService", "Organization", "organizations", true),
        ("PersonService", "Person", "persons", true),
        ("UserService", "User", "users", true),
        ("StudentService", "Student", "students", true),
        ("StaffService", "StaffMember", "staffMembers", true),
        ("CourseService", "Course", "courses", false),
        ("EnrollmentService", "Enrollment", "enrollments", true),
        ("EnrollmentService", "Grade", "grades", true),
        ("AssessmentService", "Assessment", "assessments", true),
        ("AssessmentService", "Submission", "submissions", true),
    ] {
        let get = format!(r#"{{"name": "{collection}/1"}}"#);
        cases.push(Case {
            method: leak(format!("lms.v1.{service}/Get{resource}")),
            valid: leak(get),
            ignored: &[],
        });
        let plural = if resource == "StaffMember" {
            "StaffMembers".to_owned()
        } else {
            format!("{resource}s")
        };
        cases.push(case(leak(format!("lms.v1.{service}/List{plural}")), LIST));
        if lookup {
            cases.push(Case {
                method: leak(format!("lms.v1.{service}/Lookup{resource}")),
                valid: r#"{"legacy_id": "5"}"#,
                // Journal and exam result ids are bigint: every int64 is one.
                ignored: if matches!(resource, "Enrollment" | "Grade" | "Submission") {
                    &["legacy_id"]
                } else {
                    &[]
                },
            });
        }
    }
    cases.extend([
        Case {
            method: "lms.v1.StudentService/CreateStudent",
            valid: STUDENT,
            ignored: &["student.legacy.legacy_id", "student.legacy.source_deleted"],
        },
        Case {
            method: "lms.v1.StudentService/UpdateStudent",
            valid: r#"{"student": {"name": "students/1", "organization": "organizations/1",
                    "group": "groups/1", "admission_year": 2024, "status": "STUDENT_STATUS_ACTIVE",
                    "record_book_number": "RB-1"},
                  "update_mask": "organization,group,admissionYear,status,recordBookNumber"}"#,
            // Identity is fixed at creation; the mask cannot name it.
            ignored: &[
                "student.person",
                "student.user",
                "student.legacy.legacy_id",
                "student.legacy.source_deleted",
            ],
        },
        case(
            "lms.v1.StudentService/DeleteStudent",
            r#"{"name": "students/1"}"#,
        ),
        Case {
            method: "lms.v1.EnrollmentService/CreateEnrollment",
            valid: ENROLLMENT,
            ignored: &[
                "enrollment.update_time",
                "enrollment.legacy.legacy_id",
                "enrollment.legacy.source_deleted",
            ],
        },
        Case {
            method: "lms.v1.EnrollmentService/UpdateEnrollment",
            valid: r#"{"enrollment": {"name": "enrollments/1", "teacher": "staffMembers/1",
                "status": "ENROLLMENT_STATUS_ACTIVE", "current_mark": "5"},
                "update_mask": "teacher,status,currentMark"}"#,
            ignored: &[
                "enrollment.student",
                "enrollment.course",
                "enrollment.update_time",
                "enrollment.legacy.legacy_id",
                "enrollment.legacy.source_deleted",
            ],
        },
        case(
            "lms.v1.EnrollmentService/DeleteEnrollment",
            r#"{"name": "enrollments/1"}"#,
        ),
        Case {
            method: "lms.v1.EnrollmentService/CreateGrade",
            valid: GRADE,
            ignored: &[
                "grade.scale",
                "grade.value",
                "grade.points",
                "grade.grade_time",
                "grade.legacy.legacy_id",
                "grade.legacy.source_deleted",
            ],
        },
        Case {
            method: "lms.v1.EnrollmentService/UpdateGrade",
            valid: r#"{"grade": {"name": "grades/1", "kind": "GRADE_KIND_FINAL", "raw_mark": "5"},
                "update_mask": "kind,rawMark"}"#,
            ignored: &[
                "grade.enrollment",
                "grade.scale",
                "grade.value",
                "grade.points",
                "grade.grade_time",
                "grade.legacy.legacy_id",
                "grade.legacy.source_deleted",
            ],
        },
        case(
            "lms.v1.EnrollmentService/DeleteGrade",
            r#"{"name": "grades/1"}"#,
        ),
        case(
            "lms.v1.CourseService/GetCourseMaterial",
            r#"{"name": "courses/1/materials/1"}"#,
        ),
        case(
            "lms.v1.CourseService/ListCourseMaterials",
            r#"{"parent": "courses/1", "page_size": 10, "page_token": ""}"#,
        ),
        Case {
            method: "lms.v1.CourseService/CreateCourseMaterial",
            valid: MATERIAL,
            ignored: &[
                "course_material.create_time",
                "course_material.update_time",
            ],
        },
        Case {
            method: "lms.v1.CourseService/UpdateCourseMaterial",
            valid: r#"{"course_material": {"name": "courses/1/materials/1", "title": "Week 1",
                "kind": "MATERIAL_KIND_LINK", "url": "https://example.org/week-1", "body": "Read it",
                "position": 1}, "update_mask": "title,kind,url,body,position"}"#,
            ignored: &[
                "course_material.create_time",
                "course_material.update_time",
            ],
        },
        case(
            "lms.v1.CourseService/DeleteCourseMaterial",
            r#"{"name": "courses/1/materials/1"}"#,
        ),
        // Migration control.
        case(
            "lms.migration.v1.MigrationService/StartRun",
            r#"{"entities": ["students"], "chunk_size": 100, "dry_run": true, "request_id": "malformed"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/GetRun",
            r#"{"name": "runs/01930000-0000-7000-8000-000000000000"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/ListRuns",
            r#"{"page_size": 10, "page_token": ""}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/WatchRun",
            r#"{"name": "runs/01930000-0000-7000-8000-000000000000"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/CancelRun",
            r#"{"name": "runs/01930000-0000-7000-8000-000000000000"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/UndoRun",
            r#"{"name": "runs/01930000-0000-7000-8000-000000000000"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/ApproveRun",
            r#"{"name": "runs/01930000-0000-7000-8000-000000000000"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/GetCoverageReport",
            r#"{"name": "runs/01930000-0000-7000-8000-000000000000"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/ListRowOutcomes",
            r#"{"entity": "students", "outcome": "rejected", "reason": "orphan_reference",
                "warning": "user_provisioned", "page_size": 10, "page_token": ""}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/ExplainRow",
            r#"{"entity": "students", "legacy_id": "5"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/RetryRejected",
            r#"{"entities": ["students"], "request_id": "malformed-retry"}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/VerifyRun",
            r#"{"chunk_size": 100}"#,
        ),
        case(
            "lms.migration.v1.MigrationService/ListAuditEvents",
            r#"{"page_size": 10, "page_token": "", "method": "/lms.v1.StudentService/CreateStudent",
                "resource": "students/1", "actor": "root", "start_time": "2026-01-01T00:00:00Z",
                "end_time": "2027-01-01T00:00:00Z"}"#,
        ),
    ]);
    cases
}

/// Methods whose empty request is a valid one: everything optional.
const EMPTY_IS_VALID: [&str; 5] = [
    "StartRun",
    "ListRuns",
    "GetCoverageReport",
    "RetryRejected",
    "VerifyRun",
];

fn empty_is_valid(method: &MethodDescriptor) -> bool {
    let name = method.name();
    EMPTY_IS_VALID.contains(&name)
        || (name.starts_with("List") && !["ListRowOutcomes", "ListCourseMaterials"].contains(&name))
}

fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// Calls `method` with raw bytes; the status, or OK.
async fn call(channel: &Channel, method: &MethodDescriptor, body: Vec<u8>) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    if let Err(error) = grpc.ready().await {
        return tonic::Status::unavailable(error.to_string());
    }
    let path = match http::uri::PathAndQuery::from_str(&format!(
        "/{}/{}",
        method.parent_service().full_name(),
        method.name()
    )) {
        Ok(path) => path,
        Err(error) => return tonic::Status::internal(error.to_string()),
    };
    let mut request = tonic::Request::new(body);
    if let Ok(value) = format!("Bearer {ROOT}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    let outcome = if method.is_server_streaming() {
        match grpc.server_streaming(request, path, RawCodec).await {
            Ok(response) => {
                // The first message proves the request was accepted.
                let mut stream = response.into_inner();
                stream.message().await.map(|_| ())
            }
            Err(status) => Err(status),
        }
    } else {
        grpc.unary(request, path, RawCodec).await.map(|_| ())
    };
    match outcome {
        Ok(()) => tonic::Status::ok(""),
        Err(status) => status,
    }
}

/// Every scalar leaf of a message type, as a path of fields. Well-known
/// types are leaves; so is a field whose type repeats an enclosing one.
fn leaves(
    message: &MessageDescriptor,
    prefix: &[FieldDescriptor],
    out: &mut Vec<Vec<FieldDescriptor>>,
) {
    for field in message.fields() {
        let mut path = prefix.to_vec();
        path.push(field.clone());
        match field.kind() {
            Kind::Message(inner)
                if !inner.full_name().starts_with("google.protobuf.") && prefix.len() < 3 =>
            {
                leaves(&inner, &path, out);
            }
            _ => out.push(path),
        }
    }
}

fn path_name(path: &[FieldDescriptor]) -> String {
    path.iter()
        .map(FieldDescriptor::name)
        .collect::<Vec<_>>()
        .join(".")
}

/// A value no valid request carries in this field, or None when every
/// value of the type is valid (booleans).
fn malformed_value(field: &FieldDescriptor) -> Option<Value> {
    let oversized = || Value::String("x".repeat(200_000));
    let value = match field.kind() {
        Kind::String => oversized(),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(i32::MIN),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(i64::MIN),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(u32::MAX),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::MAX),
        Kind::Enum(_) => Value::EnumNumber(9_999),
        Kind::Message(inner) if inner.full_name() == "google.protobuf.FieldMask" => {
            let mut mask = DynamicMessage::new(inner);
            mask.set_field_by_name(
                "paths",
                Value::List(vec![Value::String("no_such_field".into())]),
            );
            Value::Message(mask)
        }
        Kind::Message(inner) if inner.full_name() == "google.protobuf.Timestamp" => {
            let mut time = DynamicMessage::new(inner);
            time.set_field_by_name("seconds", Value::I64(i64::MIN));
            Value::Message(time)
        }
        Kind::Bool => return None,
        other => panic!("no malformed value for a {other:?} field; teach this test one"),
    };
    Some(if field.is_list() {
        Value::List(vec![value])
    } else {
        value
    })
}

/// Sets the leaf at `path`, creating the messages on the way.
fn set_path(message: &mut DynamicMessage, path: &[FieldDescriptor], value: Value) {
    match path {
        [] => {}
        [leaf] => message.set_field(leaf, value),
        [first, rest @ ..] => {
            if let Value::Message(inner) = message.get_field_mut(first) {
                set_path(inner, rest, value);
            }
        }
    }
}

fn violations(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|violation| violation.field)
                .collect()
        })
        .unwrap_or_default()
}

/// A field sent with a wire type its declaration cannot have.
fn wrong_wire_type(field: &FieldDescriptor) -> Vec<u8> {
    let mut body = Vec::new();
    let length_delimited =
        field.is_list() || matches!(field.kind(), Kind::String | Kind::Bytes | Kind::Message(_));
    if length_delimited {
        prost::encoding::encode_key(field.number(), prost::encoding::WireType::Varint, &mut body);
        prost::encoding::encode_varint(1, &mut body);
    } else {
        prost::encoding::encode_key(
            field.number(),
            prost::encoding::WireType::LengthDelimited,
            &mut body,
        );
        prost::encoding::encode_varint(1, &mut body);
        body.push(b'x');
    }
    body
}

#[tokio::test]
async fn every_rpc_refuses_malformed_input_with_invalid_argument() -> anyhow::Result<()> {
    let app: TestApp = spawn_app("grpcmalformed", Data::Empty, false).await?;
    let channel = app.channel().await?;
    let pool = DescriptorPool::decode(lms_grpc::pb::FILE_DESCRIPTOR_SET)?;
    let cases = cases();
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    let mut sent = 0usize;
    for service in pool.services() {
        for method in service.methods() {
            let full = format!("{}/{}", service.full_name(), method.name());
            let Some(case) = cases.iter().find(|case| case.method == full) else {
                failures.push(format!("{full}: no case in this test"));
                continue;
            };
            covered.insert(case.method);
            let input = method.input();
            let mut deserializer = serde_json::Deserializer::from_str(case.valid);
            let valid = DynamicMessage::deserialize(input.clone(), &mut deserializer)
                .map_err(|error| anyhow::anyhow!("{full}: the valid request: {error}"))?;

            // The valid request passes validation (it may name missing rows).
            let status = call(&channel, &method, valid.encode_to_vec()).await;
            sent += 1;
            if matches!(
                status.code(),
                Code::InvalidArgument | Code::Internal | Code::Unknown | Code::Unimplemented
            ) {
                failures.push(format!("{full}: the valid request got {status:?}"));
            }

            // Empty.
            let status = call(&channel, &method, Vec::new()).await;
            sent += 1;
            let expected_valid = empty_is_valid(&method);
            let refused = status.code() == Code::InvalidArgument;
            if refused == expected_valid || matches!(status.code(), Code::Internal | Code::Unknown)
            {
                failures.push(format!("{full}: empty request got {status:?}"));
            }

            // Oversized and out-of-range, one field at a time.
            let mut paths = Vec::new();
            leaves(&input, &[], &mut paths);
            for path in paths {
                let Some(leaf) = path.last() else { continue };
                let Some(value) = malformed_value(leaf) else {
                    continue;
                };
                let name = path_name(&path);
                let mut request = valid.clone();
                set_path(&mut request, &path, value);
                let status = call(&channel, &method, request.encode_to_vec()).await;
                sent += 1;
                if case.ignored.contains(&name.as_str()) {
                    if matches!(
                        status.code(),
                        Code::InvalidArgument | Code::Internal | Code::Unknown
                    ) {
                        failures.push(format!("{full}: ignored field {name} got {status:?}"));
                    }
                    continue;
                }
                let blamed = violations(&status);
                if status.code() != Code::InvalidArgument || !blamed.contains(&name) {
                    failures.push(format!(
                        "{full}: malformed {name} got {:?} {:?} blaming {blamed:?}",
                        status.code(),
                        status.message().chars().take(120).collect::<String>()
                    ));
                }
            }

            // Wrong wire types, one top-level field at a time.
            for field in input.fields() {
                let status = call(&channel, &method, wrong_wire_type(&field)).await;
                sent += 1;
                if status.code() != Code::InvalidArgument {
                    failures.push(format!(
                        "{full}: {} with the wrong wire type got {status:?}",
                        field.name()
                    ));
                }
            }
        }
    }
    for case in &cases {
        if !covered.contains(case.method) {
            failures.push(format!(
                "{}: a case for a method that does not exist",
                case.method
            ));
        }
    }
    // Nothing the malformed calls did may have been written.
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM migration.runs WHERE dry_run = false")
        .fetch_one(&app.lms)
        .await?;
    crate::assert_responsive(&app).await?;
    app.close().await?;
    assert!(
        failures.is_empty(),
        "{} of {sent} calls:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(sent > 300, "only {sent} calls were made");
    assert_eq!(runs, 0);
    Ok(())
}

/// Every string field of every RPC's valid request, one at a time, set by
/// `mutate`; the answers that are not INVALID_ARGUMENT naming the field.
async fn sweep_string_fields(
    purpose: &str,
    mutate: impl Fn(&DynamicMessage, &[FieldDescriptor]) -> Vec<u8>,
) -> anyhow::Result<(usize, Vec<String>)> {
    let app: TestApp = spawn_app(purpose, Data::Empty, false).await?;
    let channel = app.channel().await?;
    let pool = DescriptorPool::decode(lms_grpc::pb::FILE_DESCRIPTOR_SET)?;
    let cases = cases();
    let (mut sent, mut failures) = (0, Vec::new());
    for service in pool.services() {
        for method in service.methods() {
            let full = format!("{}/{}", service.full_name(), method.name());
            let Some(case) = cases.iter().find(|case| case.method == full) else {
                continue;
            };
            let mut deserializer = serde_json::Deserializer::from_str(case.valid);
            let valid = DynamicMessage::deserialize(method.input(), &mut deserializer)?;
            let mut paths = Vec::new();
            leaves(&method.input(), &[], &mut paths);
            for path in paths {
                let name = path_name(&path);
                let is_string = path.last().is_some_and(|leaf| leaf.kind() == Kind::String);
                if !is_string || case.ignored.contains(&name.as_str()) {
                    continue;
                }
                let status = call(&channel, &method, mutate(&valid, &path)).await;
                sent += 1;
                let blamed = violations(&status);
                if status.code() != Code::InvalidArgument || !blamed.contains(&name) {
                    failures.push(format!(
                        "{full}: {name} got {:?} {:?} blaming {blamed:?}",
                        status.code(),
                        status.message().chars().take(120).collect::<String>()
                    ));
                }
            }
        }
    }
    crate::assert_responsive(&app).await?;
    app.close().await?;
    Ok((sent, failures))
}

fn string_value(field: &FieldDescriptor, text: &str) -> Value {
    let value = Value::String(text.to_owned());
    if field.is_list() {
        Value::List(vec![value])
    } else {
        value
    }
}

#[tokio::test]
async fn a_nul_in_any_string_field_is_invalid_argument_naming_it() -> anyhow::Result<()> {
    let (sent, failures) = sweep_string_fields("grpcnul", |valid, path| {
        let mut request = valid.clone();
        if let Some(leaf) = path.last() {
            set_path(&mut request, path, string_value(leaf, "a\u{0}b"));
        }
        request.encode_to_vec()
    })
    .await?;
    assert!(
        failures.is_empty(),
        "{} of {sent}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(sent > 40, "only {sent} calls were made");
    Ok(())
}

#[tokio::test]
async fn invalid_utf8_in_any_string_field_is_invalid_argument_naming_it() -> anyhow::Result<()> {
    // A marker of six bytes, replaced after encoding by six bytes that are
    // not UTF-8: the lengths around it stay right.
    const MARKER: &str = "\u{1}MARK\u{1}";
    const NOT_UTF8: [u8; 6] = [0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0xfa];
    let (sent, failures) = sweep_string_fields("grpcutf8", |valid, path| {
        let mut request = valid.clone();
        if let Some(leaf) = path.last() {
            set_path(&mut request, path, string_value(leaf, MARKER));
        }
        let mut bytes = request.encode_to_vec();
        if let Some(at) = bytes
            .windows(MARKER.len())
            .position(|window| window == MARKER.as_bytes())
        {
            bytes[at..at + MARKER.len()].copy_from_slice(&NOT_UTF8);
        }
        bytes
    })
    .await?;
    assert!(
        failures.is_empty(),
        "{} of {sent}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(sent > 40, "only {sent} calls were made");
    Ok(())
}
