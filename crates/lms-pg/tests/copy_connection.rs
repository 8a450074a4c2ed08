//! A connection whose COPY was cut short never reaches another borrower.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use lms_pg::CopyConnection;
use lms_testkit::TestDatabase;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection as _, PgConnection, PgPool};

/// A pool of one connection, so that the next borrower gets the same one
/// if it goes back to the pool.
async fn one_connection(database: &TestDatabase) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(10))
        .connect(database.url().expose())
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE held (id bigint); INSERT INTO held SELECT generate_series(1, 1000)",
    )
    .execute(&pool)
    .await?;
    Ok(pool)
}

async fn copy_all(connection: &mut PgConnection) -> anyhow::Result<usize> {
    let mut stream = connection
        .copy_out_raw("COPY (SELECT id FROM held ORDER BY id) TO STDOUT")
        .await?;
    let mut bytes = 0;
    while let Some(chunk) = stream.next().await {
        bytes += chunk?.len();
    }
    Ok(bytes)
}

/// Waits (at most 10 s) until a session waits for a lock. (`pg_locks` is
/// read live; `pg_stat_activity` would be read once per transaction, and
/// `locker` is in one.)
async fn wait_for_a_lock_waiter(locker: &mut PgConnection) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks WHERE NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        .fetch_one(&mut *locker)
        .await?;
        if waiting > 0 {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(10),
            "the COPY never waited for the lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_copy_dropped_while_it_waits_leaves_the_pool_usable() -> anyhow::Result<()> {
    let database = TestDatabase::create("copydropped").await?;
    let pool = one_connection(&database).await?;
    let mut locker = PgConnection::connect(database.url().expose()).await?;
    sqlx::raw_sql("BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        .execute(&mut locker)
        .await?;
    let copying = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut connection = CopyConnection::acquire(&pool).await?;
            copy_all(&mut connection).await?;
            connection.release();
            anyhow::Ok(())
        })
    };
    wait_for_a_lock_waiter(&mut locker).await?;
    copying.abort();
    assert!(copying.await.is_err_and(|ended| ended.is_cancelled()));
    sqlx::raw_sql("ROLLBACK").execute(&mut locker).await?;

    let answer: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
    assert_eq!(answer, 1);
    pool.close().await;
    locker.close().await?;
    database.drop_now().await
}

#[tokio::test]
async fn a_copy_left_half_read_leaves_the_pool_usable() -> anyhow::Result<()> {
    let database = TestDatabase::create("copyhalfread").await?;
    let pool = one_connection(&database).await?;
    let mut connection = CopyConnection::acquire(&pool).await?;
    {
        let mut stream = connection
            .copy_out_raw("COPY (SELECT generate_series(1, 1000000)) TO STDOUT")
            .await?;
        let first = stream.next().await.transpose()?;
        assert!(first.is_some_and(|chunk| !chunk.is_empty()));
    }
    drop(connection);

    let answer: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await?;
    assert_eq!(answer, 1);
    pool.close().await;
    database.drop_now().await
}

#[tokio::test]
async fn a_released_connection_goes_back_to_the_pool() -> anyhow::Result<()> {
    let database = TestDatabase::create("copyreleased").await?;
    let pool = one_connection(&database).await?;
    let mut connection = CopyConnection::acquire(&pool).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *connection)
        .await?;
    assert!(copy_all(&mut connection).await? > 0);
    connection.release();

    let next: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await?;
    assert_eq!(next, pid, "the released connection was not reused");
    pool.close().await;
    database.drop_now().await
}

#[tokio::test]
async fn a_connection_not_released_is_closed() -> anyhow::Result<()> {
    let database = TestDatabase::create("copyunreleased").await?;
    let pool = one_connection(&database).await?;
    let mut connection = CopyConnection::acquire(&pool).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *connection)
        .await?;
    drop(connection);

    let next: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&pool)
        .await?;
    assert_ne!(
        next, pid,
        "a connection never released went back to the pool"
    );
    pool.close().await;
    database.drop_now().await
}
