//! The throwaway clusters the failover tests stand on: a primary, a
//! streaming standby, and a stop and restart that loses nothing committed.

use std::time::Duration;

use lms_pg::PoolConfig;
use lms_testkit::TempCluster;

#[tokio::test]
async fn a_standby_follows_its_primary_across_a_restart() -> anyhow::Result<()> {
    let primary = TempCluster::primary("kitprimary").await?;
    let standby = TempCluster::standby_of(&primary, "kitstandby").await?;
    let config = PoolConfig::small("cluster-test");
    let writer = lms_pg::connect(&primary.url("postgres")?, &config).await?;
    sqlx::raw_sql("CREATE TABLE facts (id int PRIMARY KEY); INSERT INTO facts VALUES (1), (2)")
        .execute(&writer)
        .await?;
    let reader = lms_pg::connect(&standby.url("postgres")?, &config).await?;
    let mut replicated = 0i64;
    for _ in 0..100 {
        replicated = sqlx::query_scalar("SELECT count(*) FROM facts")
            .fetch_one(&reader)
            .await
            .unwrap_or(0);
        if replicated == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(replicated, 2, "the standby replays the primary's writes");
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&reader)
        .await?;
    assert!(in_recovery);

    primary.stop().await?;
    assert!(sqlx::query("SELECT 1").execute(&writer).await.is_err());
    primary.start().await?;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM facts")
        .fetch_one(&writer)
        .await?;
    assert_eq!(kept, 2, "an immediate stop loses nothing committed");
    writer.close().await;
    reader.close().await;
    Ok(())
}
