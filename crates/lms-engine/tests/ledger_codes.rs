//! The ledger's codes are read back into the domain's enums: one this build
//! does not know (written by another version, or by hand) is named in an
//! error, never passed on as if it were a code.

mod support;

use lms_domain::{LegacyEntity, Outcome};
use lms_engine::EngineError;
use lms_engine::control::{OutcomeFilter, list_outcomes};
use lms_engine::explain::explain;
use support::school::migrated_school;

/// Student 10's ledger row carries a warning no build of this one knows.
const UNKNOWN_WARNING: &str = "UPDATE migration.ledger SET warnings = warnings || '{from_a_later_version}' \
     WHERE entity = 'students' AND legacy_id = 10";

fn names_the_unknown_code<T: std::fmt::Debug>(read: &Result<T, EngineError>) -> bool {
    matches!(read, Err(EngineError::Invariant(message)) if message.contains("from_a_later_version"))
}

#[tokio::test]
async fn explain_names_a_warning_this_build_does_not_know() -> anyhow::Result<()> {
    let fixture = migrated_school("codesexplainunknown").await?;
    fixture.lms_sql(UNKNOWN_WARNING).await?;

    let read = explain(fixture.lms(), fixture.legacy(), LegacyEntity::Students, 10).await;

    assert!(names_the_unknown_code(&read), "{read:?}");
    fixture.close().await
}

#[tokio::test]
async fn a_page_filtered_by_outcome_holds_only_that_outcome() -> anyhow::Result<()> {
    let fixture = migrated_school("codesfilter").await?;
    let only = |outcome| OutcomeFilter {
        outcome: Some(outcome),
        ..OutcomeFilter::default()
    };

    let (migrated, _) = list_outcomes(
        fixture.lms(),
        LegacyEntity::Students,
        &only(Outcome::Migrated),
        100,
        None,
    )
    .await?;
    let (rejected, _) = list_outcomes(
        fixture.lms(),
        LegacyEntity::Students,
        &only(Outcome::Rejected),
        100,
        None,
    )
    .await?;

    // The school's two students both migrated.
    let ids: Vec<i64> = migrated.iter().map(|row| row.legacy_id).collect();
    assert_eq!(ids, [10, 11]);
    assert!(rejected.is_empty(), "{rejected:?}");
    fixture.close().await
}

#[tokio::test]
async fn a_page_of_outcomes_names_a_warning_this_build_does_not_know() -> anyhow::Result<()> {
    let fixture = migrated_school("codeslistunknown").await?;
    fixture.lms_sql(UNKNOWN_WARNING).await?;

    let read = list_outcomes(
        fixture.lms(),
        LegacyEntity::Students,
        &OutcomeFilter::default(),
        100,
        None,
    )
    .await;

    assert!(names_the_unknown_code(&read), "{read:?}");
    fixture.close().await
}
