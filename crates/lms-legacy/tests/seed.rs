//! The generator against a real PostgreSQL: volumes, determinism, refusal.

use lms_legacy::{Scale, SeedError, SeedOptions, Volumes, seed_legacy_database};
use lms_testkit::TestDatabase;

fn options(seed: u64, force: bool) -> SeedOptions {
    SeedOptions {
        scale: Scale::Small,
        seed,
        force,
    }
}

#[tokio::test]
async fn small_scale_has_the_planned_volumes() -> anyhow::Result<()> {
    let db = TestDatabase::create("seedsmall").await?;
    let report = seed_legacy_database(db.url(), options(7, false)).await?;
    let wanted = Volumes::at(Scale::Small);
    for ((table, count), (wanted_table, wanted_count)) in report.counts.iter().zip(sorted(wanted)) {
        assert_eq!(*table, wanted_table);
        assert_eq!(usize::try_from(*count)?, wanted_count, "{table}");
    }
    db.drop_now().await
}

fn sorted(volumes: Volumes) -> Vec<(&'static str, usize)> {
    let by_name: std::collections::HashMap<_, _> = volumes.by_table().into_iter().collect();
    lms_legacy::LEGACY_TABLES
        .iter()
        .map(|table| (*table, by_name[table]))
        .collect()
}

#[tokio::test]
async fn refuses_a_non_empty_database_without_force() -> anyhow::Result<()> {
    let db = TestDatabase::create("seedrefuse").await?;
    seed_legacy_database(db.url(), options(1, false)).await?;
    let error = seed_legacy_database(db.url(), options(1, false))
        .await
        .unwrap_err();
    assert!(matches!(error, SeedError::NotEmpty { .. }), "{error}");
    assert!(error.to_string().contains("--force"));
    seed_legacy_database(db.url(), options(2, true)).await?;
    db.drop_now().await
}
