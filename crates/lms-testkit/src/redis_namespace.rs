use redis::AsyncCommands;

/// The Redis tests use: `$LMS_TEST_REDIS`, or local Redis.
pub fn redis_url() -> String {
    std::env::var("LMS_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A Redis key namespace of one test's own; its keys are deleted when the
/// value is dropped.
#[derive(Debug)]
pub struct TestRedis {
    url: String,
    namespace: String,
}

impl TestRedis {
    pub fn new(purpose: &str) -> TestRedis {
        let random = uuid::Uuid::new_v4().simple().to_string();
        TestRedis {
            url: redis_url(),
            namespace: format!("lms_test:{purpose}:{}", &random[..10]),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Deletes every key under the namespace.
    pub async fn clean(&self) -> anyhow::Result<usize> {
        clean_namespace(&self.url, &self.namespace).await
    }
}

async fn clean_namespace(url: &str, namespace: &str) -> anyhow::Result<usize> {
    {
        let client = redis::Client::open(url)?;
        let mut connection = client.get_multiplexed_async_connection().await?;
        let mut keys = Vec::new();
        {
            let mut iter = connection
                .scan_match::<_, String>(format!("{namespace}:*"))
                .await?;
            while let Some(key) = iter.next_item().await {
                keys.push(key?);
            }
        }
        let count = keys.len();
        if !keys.is_empty() {
            let () = connection.del(keys).await?;
        }
        let members: Vec<String> = connection.zrange("core:apalis:queues:list", 0, -1).await?;
        for member in members
            .into_iter()
            .filter(|member| member.starts_with(namespace))
        {
            let () = connection.zrem("core:apalis:queues:list", member).await?;
        }
        Ok(count)
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let (url, namespace) = (self.url.clone(), self.namespace.clone());
        // Drop cannot await; clean up on a thread with a runtime of its own.
        let handle = std::thread::spawn(move || {
            if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = runtime.block_on(clean_namespace(&url, &namespace));
            }
        });
        let _ = handle.join();
    }
}
