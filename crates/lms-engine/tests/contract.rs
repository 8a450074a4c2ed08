//! The engine against an independent reading of the contract, row by row,
//! on generated data with every kind of dirt.

// Rows read back from SQL are tuples; naming each shape would add nothing.
#![allow(clippy::type_complexity)]

mod support;

use lms_engine::{CoverageReport, RunStatus};
use std::collections::BTreeMap;

use lms_engine::verify::oracle::Oracle;
use lms_legacy::Scale;
use sqlx::Row;
use support::fingerprint::fingerprint;
use support::{Fixture, entity};

#[tokio::test]
async fn every_legacy_row_ends_as_the_contract_says() -> anyhow::Result<()> {
    let fixture = Fixture::seeded("contract", Scale::Small, 11).await?;
    // A chunk size that cuts every table into several chunks, so duplicates
    // and references cross chunk boundaries.
    let report = fixture.migrate(397).await?;
    assert_eq!(report.status, RunStatus::Succeeded, "{:?}", report.error);
    let oracle = Oracle::compute(fixture.legacy()).await?;

    let rows = sqlx::query(
        "SELECT entity, legacy_id, outcome, reason, survivor_legacy_id, warnings FROM migration.ledger \
         WHERE source_deleted_at IS NULL",
    )
    .fetch_all(fixture.lms())
    .await?;
    let mut ledger = BTreeMap::new();
    for row in &rows {
        let mut warnings: Vec<String> = row.get(5);
        warnings.sort();
        ledger.insert(
            (row.get::<String, _>(0), row.get::<i64, _>(1)),
            (
                row.get::<String, _>(2),
                row.get::<Option<String>, _>(3),
                row.get::<Option<i64>, _>(4),
                warnings,
            ),
        );
    }
    let mut mismatches = Vec::new();
    for ((table, id), expected) in &oracle.rows {
        let actual = ledger.remove(&(table.as_str().to_owned(), *id));
        let wanted = (
            expected.outcome.as_str().to_owned(),
            expected.reason.map(|reason| reason.as_str().to_owned()),
            expected.survivor,
            expected.warnings.clone(),
        );
        if actual.as_ref() != Some(&wanted) {
            mismatches.push(format!(
                "{table} {id}: expected {wanted:?}, ledger has {actual:?}"
            ));
        }
    }
    for (key, extra) in &ledger {
        mismatches.push(format!(
            "{key:?}: in the ledger but not in the legacy database: {extra:?}"
        ));
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} rows differ from the contract:\n{}",
        mismatches.len(),
        oracle.rows.len(),
        mismatches
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Every table: migrated + merged + rejected = legacy rows, none unexplained.
    for table in &report.entities {
        assert_eq!(table.unexplained, 0, "{}", table.entity);
        assert_eq!(table.explained(), table.legacy_rows, "{}", table.entity);
        assert_eq!(table.target_rows, table.migrated, "{}", table.entity);
    }
    let journal = entity(&report, "journal");
    assert_eq!(journal.derived["courses"], i64::try_from(oracle.courses)?);
    assert_eq!(journal.derived["grades"], i64::try_from(oracle.grades)?);

    // Logins and emails as the rules settle them.
    let users = sqlx::query(
        "SELECT legacy_id::bigint, login, email FROM users WHERE legacy_id IS NOT NULL",
    )
    .fetch_all(fixture.lms())
    .await?;
    for user in &users {
        let id: i64 = user.get(0);
        assert_eq!(
            Some(&user.get::<String, _>(1)),
            oracle.final_logins.get(&id),
            "login of user {id}"
        );
        assert_eq!(
            Some(&user.get::<Option<String>, _>(2)),
            oracle.final_emails.get(&id),
            "email of user {id}"
        );
    }
    // Merged rows share their survivor's target.
    let orphans: i64 = sqlx::query(
        "SELECT count(*) FROM migration.ledger m JOIN migration.ledger s \
           ON s.entity = m.entity AND s.legacy_id = m.survivor_legacy_id \
         WHERE m.outcome = 'merged' AND m.target_id IS DISTINCT FROM s.target_id",
    )
    .fetch_one(fixture.lms())
    .await?
    .get(0);
    assert_eq!(
        orphans, 0,
        "merged rows whose target is not their survivor's"
    );
    fixture.close().await
}

#[tokio::test]
async fn chunk_size_does_not_change_any_outcome() -> anyhow::Result<()> {
    let small_chunks = Fixture::seeded("chunks37", Scale::Small, 5).await?;
    let one_chunk = Fixture::seeded("chunksall", Scale::Small, 5).await?;
    let a = small_chunks.migrate(37).await?;
    let b = one_chunk.migrate(1_000_000).await?;
    assert_eq!(a.status, RunStatus::Succeeded);
    assert_eq!(b.status, RunStatus::Succeeded);
    assert_eq!(
        fingerprint(small_chunks.lms()).await?,
        fingerprint(one_chunk.lms()).await?
    );
    // Nor any figure of the coverage report.
    let coverage = |report: &CoverageReport| -> Vec<_> {
        report
            .entities
            .iter()
            .map(|table| {
                (
                    table.entity.clone(),
                    table.legacy_rows,
                    table.migrated,
                    table.merged,
                    table.rejected.clone(),
                    table.warnings.clone(),
                    table.unexplained,
                    table.target_rows,
                    table.derived.clone(),
                )
            })
            .collect()
    };
    assert_eq!(coverage(&a), coverage(&b));
    small_chunks.close().await?;
    one_chunk.close().await
}
