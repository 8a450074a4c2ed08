use std::collections::BTreeMap;

use chrono::TimeZone;
use uuid::Uuid;

use super::*;
use crate::ConflictKind;
use crate::plan::Phase;
use crate::report::{Changes, EntityReport, RejectionExample};
use crate::state::StepState;
use crate::verify::{
    AcademicSheet, Difference, DifferenceKind, EntityVerification, Explanation, FieldValues,
};
use lms_domain::LegacyEntity;

const DIRTY: &str = r#"<script>alert("x")</script> & 'Қазақ' "квоты" </td>"#;

fn page() -> ReportPage {
    let started = Utc.with_ymd_and_hms(2026, 11, 25, 10, 0, 0).single();
    let started = started.unwrap_or_default();
    let finished = started + chrono::Duration::seconds(90);
    let students = EntityReport {
        entity: "students".to_owned(),
        legacy_rows: 1_000,
        migrated: 900,
        merged: 50,
        rejected: BTreeMap::from([("orphan_reference".to_owned(), 40)]),
        warnings: BTreeMap::from([("unknown_status".to_owned(), 7)]),
        unexplained: 10,
        target_rows: 900,
        derived: BTreeMap::from([("provisioned_users".to_owned(), 3)]),
        changes: Changes {
            created: 900,
            updated: 0,
            unchanged: 0,
            conflicts: 0,
            source_deleted: 2,
        },
        open_conflicts: Vec::new(),
    };
    let examples = BTreeMap::from([(
        "students".to_owned(),
        BTreeMap::from([(
            "orphan_reference".to_owned(),
            vec![RejectionExample {
                legacy_id: 17,
                detail: Some(DIRTY.to_owned()),
            }],
        )]),
    )]);
    let step = StepTiming {
        entity: "students".to_owned(),
        phase: Phase::Stage,
        state: StepState::Done,
        chunks: 3,
        ready_at: Some(started),
        first_chunk_started_at: Some(started + chrono::Duration::seconds(1)),
        finished_at: Some(started + chrono::Duration::seconds(31)),
        busy_seconds: 45.5,
        slowest_chunk_seconds: 20.25,
    };
    ReportPage {
        report: CoverageReport {
            run_id: Uuid::nil(),
            status: RunStatus::Failed,
            error: Some(DIRTY.to_owned()),
            started_at: started,
            finished_at: Some(finished),
            hold: None,
            entities: vec![students],
        },
        kind: RunKind::Full,
        chunk_size: 25_000,
        examples,
        steps: vec![step],
        verification: None,
    }
}

/// A verification with one unexplained and one explained difference.
fn verification() -> VerifyReport {
    let difference = |legacy_id, explanation| Difference {
        legacy_id,
        kind: DifferenceKind::Changed,
        explanation,
        fields: vec![FieldValues {
            field: "last_name".to_owned(),
            legacy: Some(DIRTY.to_owned()),
            lms: None,
        }],
    };
    VerifyReport {
        checked_at: Utc::now(),
        elapsed_seconds: 1.5,
        chunk_size: 25_000,
        entities: vec![EntityVerification {
            entity: LegacyEntity::Persons,
            target_table: "persons".to_owned(),
            legacy_rows: 1_000,
            expected_rows: 1_000,
            present_rows: 1_000,
            matching_rows: 998,
            chunks: 1,
            differing_chunks: 1,
            explained: 1,
            unexplained: 1,
            samples: vec![
                difference(7, None),
                difference(
                    8,
                    Some(Explanation::Conflict {
                        conflict: ConflictKind::LmsEdited,
                    }),
                ),
            ],
        }],
        academic: AcademicSheet::default(),
    }
}

#[test]
fn a_verification_gets_its_section_with_hooks() {
    let html = render(&ReportPage {
        verification: Some(verification()),
        ..page()
    });
    for expected in [
        r#"data-entity="persons" data-field="verify.matching_rows" data-value="998">998<"#,
        r#"data-entity="persons" data-field="verify.unexplained" data-value="1">1<"#,
        r#"data-scope="run" data-field="verify.unexplained" data-value="1">1<"#,
        r#"data-entity="persons" data-field="verify.sample" data-value="7">7<"#,
        "conflict lms_edited (kept under the delta policy)",
    ] {
        assert!(html.contains(expected), "{expected} missing in {html}");
    }
    assert!(!html.contains("<script>"), "sample values are escaped");
    assert!(!render(&page()).contains("Verification against legacy"));
}

#[test]
fn dirty_strings_are_escaped() {
    let html = render(&page());
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;"));
    assert!(html.contains("'Қазақ'"), "letters are kept as they are");
    assert!(!html.contains("</td>\"") && !html.contains("\"квоты\" </td>"));
}

#[test]
fn numbers_carry_hooks_and_raw_values() {
    let html = render(&page());
    for expected in [
        r#"data-entity="students" data-field="legacy_rows" data-value="1000">1,000<"#,
        r#"data-entity="students" data-field="rejected" data-key="orphan_reference" data-value="40">40<"#,
        r#"data-entity="students" data-field="warnings" data-key="unknown_status" data-value="7">7<"#,
        r#"data-entity="students" data-field="changes.source_deleted" data-value="2">2<"#,
        r#"data-entity="students" data-field="share.migrated" data-value="90.0">90.0%<"#,
        r#"data-entity="students" data-field="example.legacy_id" data-key="orphan_reference" data-value="17">17<"#,
        r#"data-entity="students" data-field="timing.busy_seconds" data-phase="stage" data-value="45.500">45.5 s<"#,
        r#"data-scope="run" data-field="run.duration_seconds" data-value="90.000">1 min 30 s<"#,
        r#"data-scope="run" data-field="unexplained" data-value="10">10<"#,
    ] {
        assert!(html.contains(expected), "{expected} missing in {html}");
    }
    assert!(html.contains("verdict bad"), "unexplained rows are flagged");
    assert!(html.contains(r#"class="unexplained""#));
}

#[test]
fn the_page_fetches_nothing() {
    let html = render(&page());
    for outside in ["http://", "https://", "<script", "<link", "src=", "@import"] {
        assert!(!html.contains(outside), "{outside} in the page");
    }
}

#[test]
fn durations_read_naturally() {
    assert_eq!(readable_duration(0.4242), "0.42 s");
    assert_eq!(readable_duration(12.34), "12.3 s");
    assert_eq!(readable_duration(245.0), "4 min 05 s");
    assert_eq!(readable_duration(3_725.0), "1 h 02 min");
}

#[test]
fn a_held_run_gets_its_preview_section_with_hooks() {
    let mut held = page();
    held.report.status = RunStatus::Held;
    held.report.hold = Some(crate::hold::HoldPreview {
        threshold: crate::hold::HoldThreshold::default(),
        tables: vec![crate::hold::TablePreview {
            entity: LegacyEntity::Journal,
            load_path: crate::bulk::LoadPath::Delta,
            legacy_rows: 1_000,
            creates: 3,
            updates: 120,
            deletes: 0,
            threshold: 100,
        }],
    });

    let html = render(&held);

    assert!(html.contains("Hold preview"), "{html}");
    assert!(html.contains("Held: nothing is written"), "{html}");
    assert!(
        html.contains(r#"data-entity="journal" data-field="hold.updates" data-value="120">120<"#),
        "{html}"
    );
}
