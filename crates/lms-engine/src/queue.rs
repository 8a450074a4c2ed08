//! The chunk queue on Redis (apalis).
//!
//! Redis only carries chunk ids; what a chunk is and whether it is done live
//! in PostgreSQL. A job lost with Redis (a restart) or with a worker (a
//! crash) is therefore only a delay: the sweeper puts queued chunks that
//! nobody started back on the queue.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use apalis::prelude::{Task, TaskBuilder, TaskId, TaskSink};
use apalis_redis::{ConnectionManager, RedisStorage};
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::EngineError;

const SET_ASIDE_UNREADABLE: &str = include_str!("queue/set_aside_unreadable.lua");

/// One chunk to run. The payload is only a pointer into the run's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkJob {
    pub run_id: Uuid,
    pub chunk_id: i64,
}

/// How the queue's Redis side behaves.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// The key prefix of everything this deployment keeps in Redis.
    pub namespace: String,
    /// How often workers announce they are alive.
    pub heartbeat_interval: Duration,
    /// Heartbeats a worker may miss before its jobs go to other workers.
    pub missed_heartbeats: usize,
    /// Jobs one worker claims per fetch (keep it near its concurrency, or one
    /// worker hoards what others could run).
    pub batch_size: usize,
}

impl QueueConfig {
    /// The queue name: every Redis key of the queue starts with it.
    pub fn queue_name(&self) -> String {
        format!("{}:migration-chunks", self.namespace)
    }

    fn apalis(&self) -> apalis_redis::Config {
        apalis_redis::Config::default()
            .queue(self.queue_name())
            .batch_size(self.batch_size.max(1))
            .heartbeat_interval(self.heartbeat_interval.max(Duration::from_secs(1)))
            .missed_heartbeats(self.missed_heartbeats.max(1))
            .emit_events(false)
    }
}

/// A connection to the chunk queue: a producer, and the storage workers use.
#[derive(Clone)]
pub struct ChunkQueue {
    storage: RedisStorage<ChunkJob>,
    connection: ConnectionManager,
    config: apalis_redis::Config,
    name: String,
}

impl std::fmt::Debug for ChunkQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkQueue")
            .field("queue", &self.name)
            .finish()
    }
}

/// Jobs on the queue, from Redis's point of view.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// Due and waiting for a worker.
    pub waiting: i64,
    /// Scheduled for later.
    pub delayed: i64,
    /// Claimed by workers.
    pub running: i64,
    /// Set aside because no worker could read them
    /// ([`ChunkQueue::set_aside_unreadable`]).
    pub set_aside: i64,
}

/// A job set aside because no worker could read its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableJob {
    pub task_id: String,
    /// The payload as it was found (bytes that are not UTF-8 are replaced).
    pub payload: String,
}

/// A payload as the workers' codec (apalis's JSON codec) decodes it.
fn decode(payload: &[u8]) -> Result<ChunkJob, serde_json::Error> {
    serde_json::from_slice(payload)
}

fn queue_error(error: impl std::fmt::Display) -> EngineError {
    EngineError::Queue(error.to_string())
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

/// How every queue connection waits, retries and reconnects.
fn connection_config() -> redis::aio::ConnectionManagerConfig {
    redis::aio::ConnectionManagerConfig::new()
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(4)
        .set_max_delay(Duration::from_secs(2))
}

impl ChunkQueue {
    /// Connects to Redis. The connection reconnects by itself after a Redis
    /// restart; operations in between fail and are retried by callers.
    pub async fn connect(redis_url: &str, config: &QueueConfig) -> Result<ChunkQueue, EngineError> {
        let client = redis::Client::open(redis_url).map_err(queue_error)?;
        let connection = client
            .get_connection_manager_with_config(connection_config())
            .await
            .map_err(queue_error)?;
        Ok(ChunkQueue::over(connection, config))
    }

    /// As [`connect`](Self::connect), but connecting at the first use: for
    /// a process that serves more than the queue (the gRPC server), which
    /// must start while Redis is down.
    pub fn connect_lazily(
        redis_url: &str,
        config: &QueueConfig,
    ) -> Result<ChunkQueue, EngineError> {
        let client = redis::Client::open(redis_url).map_err(queue_error)?;
        let connection = ConnectionManager::new_lazy_with_config(client, connection_config())
            .map_err(queue_error)?;
        Ok(ChunkQueue::over(connection, config))
    }

    fn over(connection: ConnectionManager, config: &QueueConfig) -> ChunkQueue {
        let apalis = config.apalis();
        let storage = RedisStorage::new(connection.clone()).with_config(apalis.clone());
        ChunkQueue {
            storage,
            connection,
            config: apalis,
            name: config.queue_name(),
        }
    }

    /// The queue's name (the prefix of its Redis keys).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The apalis storage, for building workers.
    pub fn storage(&self) -> RedisStorage<ChunkJob> {
        self.storage.clone()
    }

    /// Puts chunks on the queue, to be taken in the order given. One retry
    /// covers the first command after a Redis restart, which fails while the
    /// connection is re-established (a retry pushes the same task ids, which
    /// apalis stores once).
    ///
    /// apalis keeps every pushed job in a sorted set scored by the second it
    /// is due, and moves the due ones to the workers' list in the set's
    /// order: by second, then by task id. Its own ids are random within a
    /// millisecond, so one push's jobs left in any order (a first load
    /// started with journal ranges before the tables every other table
    /// waits for). Version 7 UUIDs from one process sort in the order they
    /// were made, so each push's jobs leave in its order, after those of
    /// earlier seconds.
    pub async fn push(&self, run_id: Uuid, chunk_ids: &[i64]) -> Result<(), EngineError> {
        if chunk_ids.is_empty() {
            return Ok(());
        }
        let tasks: Vec<Task<ChunkJob>> = chunk_ids
            .iter()
            .map(|&chunk_id| {
                TaskBuilder::new(ChunkJob { run_id, chunk_id })
                    .task_id(TaskId::from_string(Uuid::now_v7().to_string()))
                    .build()
            })
            .collect();
        let mut storage = self.storage.clone();
        let mut last_error = None;
        for attempt in 0..3u32 {
            match storage.push_all(futures::stream::iter(tasks.clone())).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    last_error = Some(error.to_string());
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt + 1))).await;
                }
            }
        }
        Err(EngineError::Queue(last_error.unwrap_or_default()))
    }

    /// Jobs waiting, delayed and running.
    pub async fn depth(&self) -> Result<QueueDepth, EngineError> {
        let mut connection = self.connection.clone();
        let now = unix_seconds();
        let due: i64 = connection
            .zcount(self.config.scheduled_jobs_set(), "-inf", now)
            .await
            .map_err(queue_error)?;
        let scheduled: i64 = connection
            .zcard(self.config.scheduled_jobs_set())
            .await
            .map_err(queue_error)?;
        let active: i64 = connection
            .llen(self.config.active_jobs_list())
            .await
            .map_err(queue_error)?;
        let mut running = 0;
        for worker in self.alive_workers().await? {
            let key = format!("{}:{worker}", self.config.inflight_jobs_set());
            running += connection.scard::<_, i64>(key).await.map_err(queue_error)?;
        }
        let set_aside: i64 = connection
            .hlen(self.unreadable_hash())
            .await
            .map_err(queue_error)?;
        Ok(QueueDepth {
            waiting: due + active,
            delayed: scheduled - due,
            running,
            set_aside,
        })
    }

    /// The chunks that have a job on the queue: scheduled, waiting, or
    /// fetched by a live worker. A payload that is not a [`ChunkJob`] is
    /// passed over ([`ChunkQueue::set_aside_unreadable`] takes it off the
    /// queue).
    ///
    /// The sets are read one after another while workers move jobs on; each
    /// move is one script, and they are read in the order jobs move forward
    /// (scheduled, then waiting, then fetched), so a job moving forward
    /// meanwhile is seen in one of them. A job that moves back (released by
    /// a stopping worker, taken back from a dead one) or finishes meanwhile
    /// can be missed: its chunk is then queued twice, or running or settled.
    pub async fn chunks_with_jobs(&self) -> Result<HashSet<i64>, EngineError> {
        let alive = self.alive_workers().await?;
        let jobs = self.jobs_on_queue(&alive).await?;
        Ok(jobs
            .iter()
            .filter_map(|(_, payload)| decode(payload).ok())
            .map(|job| job.chunk_id)
            .collect())
    }

    /// Takes off the queue every job whose payload is not a [`ChunkJob`]
    /// (a job pushed by hand, or by a version that wrote another shape),
    /// and keeps it in the `<queue>:unreadable` hash for an operator to
    /// read. apalis decodes a worker's whole fetch at once, so one such job
    /// stops the worker that fetches it; it is restarted, the job is taken
    /// back from its old name and fetched again, and so on forever. Each
    /// sweep calls this; the chunk such a job pointed to, if any, has no job
    /// left and is queued again by the sweep.
    ///
    /// Jobs fetched by workers that stopped are read too: that is where
    /// such a job sits after stopping one.
    pub async fn set_aside_unreadable(&self) -> Result<usize, EngineError> {
        let mut connection = self.connection.clone();
        let registered: Vec<String> = connection
            .zrange(self.config.workers_set(), 0, -1)
            .await
            .map_err(queue_error)?;
        let jobs = self.jobs_on_queue(&registered).await?;
        let mut unreadable = Vec::new();
        for (task_id, payload) in &jobs {
            if let Err(error) = decode(payload) {
                tracing::warn!(
                    task_id,
                    %error,
                    payload = %String::from_utf8_lossy(&payload[..payload.len().min(200)]),
                    key = self.unreadable_hash(),
                    "a job on the chunk queue is not a chunk job; setting it aside"
                );
                unreadable.push(task_id.as_str());
            }
        }
        if unreadable.is_empty() {
            return Ok(0);
        }
        let moved: usize = redis::Script::new(SET_ASIDE_UNREADABLE)
            .key(self.config.scheduled_jobs_set())
            .key(self.config.active_jobs_list())
            .key(self.config.workers_set())
            .key(self.config.job_data_hash())
            .key(self.unreadable_hash())
            .arg(self.config.inflight_jobs_set())
            .arg(self.config.job_meta_hash())
            .arg(&unreadable)
            .invoke_async(&mut connection)
            .await
            .map_err(queue_error)?;
        Ok(moved)
    }

    /// The jobs set aside as unreadable, by task id.
    pub async fn unreadable_jobs(&self) -> Result<Vec<UnreadableJob>, EngineError> {
        let mut connection = self.connection.clone();
        let jobs: std::collections::BTreeMap<String, Vec<u8>> = connection
            .hgetall(self.unreadable_hash())
            .await
            .map_err(queue_error)?;
        Ok(jobs
            .into_iter()
            .map(|(task_id, payload)| UnreadableJob {
                task_id,
                payload: String::from_utf8_lossy(&payload).into_owned(),
            })
            .collect())
    }

    /// The hash jobs no worker can read are set aside in.
    pub fn unreadable_hash(&self) -> String {
        format!("{}:unreadable", self.name)
    }

    /// The task ids scheduled, waiting, and fetched by `workers`, in that
    /// order, with their payloads. A task id whose payload is gone was
    /// finished and purged meanwhile, and is left out.
    async fn jobs_on_queue(
        &self,
        workers: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
        let mut connection = self.connection.clone();
        let mut task_ids: Vec<String> = connection
            .zrange(self.config.scheduled_jobs_set(), 0, -1)
            .await
            .map_err(queue_error)?;
        let waiting: Vec<String> = connection
            .lrange(self.config.active_jobs_list(), 0, -1)
            .await
            .map_err(queue_error)?;
        task_ids.extend(waiting);
        for worker in workers {
            let key = format!("{}:{worker}", self.config.inflight_jobs_set());
            let fetched: Vec<String> = connection.smembers(key).await.map_err(queue_error)?;
            task_ids.extend(fetched);
        }
        if task_ids.is_empty() {
            return Ok(Vec::new());
        }
        let payloads: Vec<Option<Vec<u8>>> = redis::cmd("HMGET")
            .arg(self.config.job_data_hash())
            .arg(&task_ids)
            .query_async(&mut connection)
            .await
            .map_err(queue_error)?;
        Ok(task_ids
            .into_iter()
            .zip(payloads)
            .filter_map(|(task_id, payload)| Some((task_id, payload?)))
            .collect())
    }

    /// Names of workers that sent a heartbeat recently.
    pub async fn alive_workers(&self) -> Result<Vec<String>, EngineError> {
        let mut connection = self.connection.clone();
        let since = unix_seconds().saturating_sub(self.config.orphaned_duration().as_secs());
        let workers: Vec<(String, f64)> = connection
            .zrangebyscore_withscores(self.config.workers_set(), since, "+inf")
            .await
            .map_err(queue_error)?;
        Ok(workers.into_iter().map(|(name, _)| name).collect())
    }

    /// Deletes finished jobs, which apalis otherwise keeps forever. PostgreSQL
    /// keeps the record of every chunk, so nothing is lost.
    pub async fn purge_finished(&self) -> Result<usize, EngineError> {
        let script = redis::Script::new(
            r"
            local ids = redis.call('SPOP', KEYS[1], tonumber(ARGV[2]))
            for _, id in ipairs(ids) do
                redis.call('HDEL', KEYS[2], id)
                redis.call('DEL', ARGV[1] .. ':' .. id)
            end
            return #ids",
        );
        let mut connection = self.connection.clone();
        let mut total = 0;
        for set in [self.config.done_jobs_set(), self.config.dead_jobs_set()] {
            loop {
                let removed: usize = script
                    .key(&set)
                    .key(self.config.job_data_hash())
                    .arg(self.config.job_meta_hash())
                    .arg(500)
                    .invoke_async(&mut connection)
                    .await
                    .map_err(queue_error)?;
                total += removed;
                if removed == 0 {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Deletes what apalis keeps about each worker name
    /// (`<queue>:workers:metadata:<name>`) once the name has left the
    /// queue's workers set. apalis writes it at each registration and never
    /// removes it, and every process start and every restart of a worker
    /// registers a new name. Returns how many were deleted.
    pub async fn forget_departed_workers(&self) -> Result<usize, EngineError> {
        // Checked and deleted in one script per batch, so that a name
        // registering meanwhile keeps its hash.
        let script = redis::Script::new(
            r"
            local forgotten = 0
            for i = 2, #KEYS do
                local name = string.sub(KEYS[i], #ARGV[1] + 1)
                if not redis.call('ZSCORE', KEYS[1], name) then
                    redis.call('DEL', KEYS[i])
                    forgotten = forgotten + 1
                end
            end
            return forgotten",
        );
        let prefix = format!("{}:metadata:", self.config.workers_set());
        let mut connection = self.connection.clone();
        let mut keys = Vec::new();
        {
            let mut iter = connection
                .scan_match::<_, String>(format!("{prefix}*"))
                .await
                .map_err(queue_error)?;
            while let Some(key) = iter.next_item().await {
                keys.push(key.map_err(queue_error)?);
            }
        }
        let mut forgotten = 0;
        for batch in keys.chunks(500) {
            let mut invocation = script.key(self.config.workers_set());
            for key in batch {
                invocation.key(key);
            }
            let deleted: usize = invocation
                .arg(&prefix)
                .invoke_async(&mut connection)
                .await
                .map_err(queue_error)?;
            forgotten += deleted;
        }
        Ok(forgotten)
    }

    /// Removes every key of the queue (tests and `lmsctl` clean-up).
    pub async fn delete_everything(&self) -> Result<usize, EngineError> {
        let mut connection = self.connection.clone();
        let pattern = format!("{}:*", self.name);
        let mut keys = Vec::new();
        {
            let mut iter = connection
                .scan_match::<_, String>(&pattern)
                .await
                .map_err(queue_error)?;
            while let Some(key) = iter.next_item().await {
                keys.push(key.map_err(queue_error)?);
            }
        }
        let count = keys.len();
        if !keys.is_empty() {
            let () = connection.del(keys).await.map_err(queue_error)?;
        }
        let () = connection
            .zrem("core:apalis:queues:list", self.config.workers_set())
            .await
            .map_err(queue_error)?;
        Ok(count)
    }

    /// Redis answers.
    pub async fn ping(&self) -> Result<(), EngineError> {
        let mut connection = self.connection.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(queue_error)?;
        Ok(())
    }
}
