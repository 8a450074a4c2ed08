//! `lmsctl migrate verify` as operators run it: the table, the JSON, and
//! the exit code (0 verified, 3 on any unexplained difference).

mod support;

use support::{Cli, text};

#[tokio::test]
async fn verify_exits_0_when_clean_and_3_on_an_unexplained_difference() -> anyhow::Result<()> {
    let cli = Cli::new("cliverify").await?;
    cli.run_ok(&["legacy", "seed", "--scale", "small", "--seed", "4"])
        .await?;
    cli.run_ok(&["db", "up"]).await?;
    cli.run_ok(&["migrate", "run", "--inline", "--chunk-size", "900"])
        .await?;

    let clean = cli
        .run_ok(&["migrate", "verify", "--format", "json"])
        .await?;
    let report: serde_json::Value = serde_json::from_slice(&clean.stdout)?;
    let entities = report["entities"].as_array().cloned().unwrap_or_default();
    assert_eq!(entities.len(), 10);
    for entity in &entities {
        assert_eq!(entity["unexplained"], 0, "{entity}");
        assert_eq!(entity["expected_rows"], entity["matching_rows"], "{entity}");
    }

    let lms = lms_pg::connect(cli.lms.url(), &lms_pg::PoolConfig::small("test")).await?;
    sqlx::raw_sql(
        "UPDATE subjects SET code = 'X-1' WHERE legacy_id = (SELECT min(legacy_id) FROM subjects)",
    )
    .execute(&lms)
    .await?;
    lms.close().await;
    let dirty = cli
        .run(&["migrate", "verify", "--chunk-size", "100"])
        .await?;
    assert_eq!(dirty.status.code(), Some(3), "{}", text(&dirty.stderr));
    let table = text(&dirty.stdout);
    assert!(table.contains("NOT VERIFIED: 1 unexplained"), "{table}");
    assert!(table.contains("code legacy"), "{table}");
    assert!(table.contains("Academic reconciliation"), "{table}");
    cli.close().await
}
