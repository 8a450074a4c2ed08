//! Jobs on the chunk queue as a worker of another version, or an operator
//! with `redis-cli`, might leave them.

use lms_config::Settings;
use lms_engine::queue::{ChunkJob, ChunkQueue};
use redis::AsyncCommands;

/// Replaces the payload of the job that points to `chunk_id` with `payload`,
/// in apalis's job data hash (`<queue>:data`).
pub async fn rewrite_job_payload(
    settings: &Settings,
    queue: &ChunkQueue,
    chunk_id: i64,
    payload: &[u8],
) -> anyhow::Result<()> {
    let client = redis::Client::open(settings.redis.url.expose())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let task_id = task_of(&mut connection, queue.name(), chunk_id).await?;
    let () = connection
        .hset(format!("{}:data", queue.name()), task_id, payload)
        .await?;
    Ok(())
}

/// Moves the job that points to `chunk_id` from the waiting list into the
/// in-flight set of `worker`, a worker registered long ago that sends no
/// heartbeats: where a job sits after it stopped the worker that fetched it.
pub async fn fetched_by_a_stopped_worker(
    settings: &Settings,
    queue: &ChunkQueue,
    chunk_id: i64,
    worker: &str,
) -> anyhow::Result<()> {
    let client = redis::Client::open(settings.redis.url.expose())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let name = queue.name();
    let task_id = task_of(&mut connection, name, chunk_id).await?;
    let () = connection
        .lrem(format!("{name}:active"), 0, &task_id)
        .await?;
    let () = connection
        .sadd(format!("{name}:inflight:{worker}"), &task_id)
        .await?;
    let () = connection
        .zadd(format!("{name}:workers"), worker, 1)
        .await?;
    Ok(())
}

async fn task_of(
    connection: &mut redis::aio::MultiplexedConnection,
    queue_name: &str,
    chunk_id: i64,
) -> anyhow::Result<String> {
    let jobs: Vec<(String, Vec<u8>)> = connection.hgetall(format!("{queue_name}:data")).await?;
    jobs.into_iter()
        .find(|(_, job)| {
            serde_json::from_slice::<ChunkJob>(job).is_ok_and(|job| job.chunk_id == chunk_id)
        })
        .map(|(task_id, _)| task_id)
        .ok_or_else(|| anyhow::anyhow!("no job points to chunk {chunk_id}"))
}

/// The task ids in the in-flight set of `worker`.
pub async fn in_flight(
    settings: &Settings,
    queue: &ChunkQueue,
    worker: &str,
) -> anyhow::Result<Vec<String>> {
    let client = redis::Client::open(settings.redis.url.expose())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    Ok(connection
        .smembers(format!("{}:inflight:{worker}", queue.name()))
        .await?)
}
