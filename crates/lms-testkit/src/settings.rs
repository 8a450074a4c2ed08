use std::time::Duration;

use lms_config::{PostgresUrl, RedisUrl, Settings};

/// Settings for a test: its own LMS and legacy databases and Redis
/// namespace, and short timers so crash recovery shows within seconds.
pub fn test_settings(
    lms: &PostgresUrl,
    legacy: &PostgresUrl,
    redis_url: &str,
    namespace: &str,
) -> anyhow::Result<Settings> {
    let mut settings = Settings::default();
    settings.database.url = lms.clone();
    settings.database.max_connections = 8;
    settings.legacy.url = legacy.clone();
    settings.redis.url = RedisUrl::parse(redis_url).map_err(anyhow::Error::msg)?;
    settings.redis.namespace = namespace.to_owned();
    settings.worker.concurrency = 2;
    settings.worker.poll_interval = Duration::from_millis(50);
    settings.worker.heartbeat_interval = Duration::from_secs(1);
    settings.worker.missed_heartbeats = 2;
    settings.migration.chunk_size = 1_000;
    settings.migration.max_attempts = 4;
    settings.migration.retry_base_delay = Duration::from_millis(50);
    settings.migration.retry_max_delay = Duration::from_millis(500);
    settings.migration.requeue_after = Duration::from_secs(2);
    settings.migration.sweep_interval = Duration::from_millis(500);
    Ok(settings)
}
