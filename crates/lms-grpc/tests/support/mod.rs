//! The harness of the gRPC tests: a server on an ephemeral port over
//! databases and a Redis namespace of the test's own, and clients with
//! bearer tokens.
#![allow(dead_code)]

use lms_engine::RunStatus;
use std::net::SocketAddr;
use std::time::Duration;

use lms_config::{Settings, TokenSettings};
use lms_data::failover::DataSources;
use lms_data::{Database, schema};
use lms_engine::inline::run_inline;
use lms_engine::setup::{connect_engine, connect_queue, worker_config};
use lms_engine::{RunKind, RunOptions, plan_run, run_worker};
use lms_grpc::GrpcApp;
use lms_grpc::auth::hash_token;
use lms_legacy::{Scale, SeedOptions, seed_legacy_database};
use lms_testkit::{TestDatabase, TestRedis, test_settings};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Tokens the test server accepts, by what they may do.
pub const READER: &str = "reader-token";
pub const WRITER: &str = "writer-token";
pub const ADMIN: &str = "admin-token";
pub const ROOT: &str = "root-token";

/// What the test's databases hold when the server starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// The LMS schema, no rows; the legacy database empty.
    Empty,
    /// A small legacy database (seed 7), migrated.
    Migrated,
    /// A small legacy database, not migrated.
    Seeded,
}

pub struct TestApp {
    pub address: SocketAddr,
    pub settings: Settings,
    /// The server's failover pool, to observe its endpoints and probes.
    pub sources: DataSources,
    pub lms: PgPool,
    pub legacy: PgPool,
    lms_db: TestDatabase,
    legacy_db: TestDatabase,
    redis: TestRedis,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<anyhow::Result<()>>,
    worker: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

fn token(name: &str, secret: &str, scopes: &[&str]) -> TokenSettings {
    TokenSettings {
        name: name.to_owned(),
        sha256: hash_token(secret),
        scopes: scopes.iter().map(|scope| (*scope).to_owned()).collect(),
    }
}

/// Every test token, by what it may do.
fn test_tokens() -> Vec<TokenSettings> {
    vec![
        token("reader", READER, &["lms.read"]),
        token("writer", WRITER, &["lms.read", "lms.write"]),
        token("admin", ADMIN, &["migration.admin"]),
        token("root", ROOT, &["lms.read", "lms.write", "migration.admin"]),
    ]
}

/// Starts the server (and, with `worker`, an in-process worker) on data.
pub async fn spawn_app(purpose: &str, data: Data, worker: bool) -> anyhow::Result<TestApp> {
    spawn_app_with(purpose, data, worker, |_| {}).await
}

/// As [`spawn_app`], with settings the test adjusts first.
pub async fn spawn_app_with(
    purpose: &str,
    data: Data,
    worker: bool,
    configure: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    let lms_db = TestDatabase::create(&format!("{purpose}lms")).await?;
    let legacy_db = TestDatabase::create(&format!("{purpose}edu")).await?;
    let redis = TestRedis::new(purpose);
    let mut settings = test_settings(
        lms_db.url(),
        legacy_db.url(),
        redis.url(),
        redis.namespace(),
    )?;
    settings.grpc.listen = "127.0.0.1:0".parse()?;
    settings.auth.tokens = test_tokens();
    configure(&mut settings);
    let db = Database::connect(lms_db.url(), &lms_pg::PoolConfig::small("grpc-test")).await?;
    schema::upgrade(&db).await?;
    let legacy = lms_pg::connect(legacy_db.url(), &lms_pg::PoolConfig::small("grpc-test")).await?;
    if data == Data::Empty {
        sqlx::raw_sql(lms_legacy::LEGACY_SCHEMA_SQL)
            .execute(&legacy)
            .await?;
    } else {
        seed_legacy_database(
            legacy_db.url(),
            SeedOptions {
                scale: Scale::Small,
                seed: 7,
                force: true,
            },
        )
        .await?;
    }
    if data == Data::Migrated {
        let engine = connect_engine(&settings, format!("{purpose}-inline"), 2).await?;
        let options = RunOptions {
            entities: Vec::new(),
            chunk_size: 2_000,
            max_chunks: settings.migration.max_chunks,
            request: None,
            kind: RunKind::Full,
            on_conflict: lms_engine::ConflictPolicy::KeepLms,
            hold: None,
        };
        let planned = plan_run(&engine.lms, &engine.legacy, &options).await?;
        let status = run_inline(&engine, planned.run_id, 2).await?;
        anyhow::ensure!(
            status == RunStatus::Succeeded,
            "the fixture migration ended {status}"
        );
        engine.lms.close().await;
        engine.legacy.close().await;
    }
    let app = GrpcApp::connect(&settings).await?;
    let sources = app.data_sources().clone();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        app.serve(listener, async {
            let _ = stopped.await;
        })
        .await
        .map_err(anyhow::Error::from)
    });
    let worker = if worker {
        let engine = connect_engine(&settings, format!("{purpose}-worker"), 2).await?;
        let queue = connect_queue(&settings).await?;
        let config = worker_config(&settings, format!("{purpose}-worker"));
        let (stop_worker, worker_stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let _ = run_worker(engine, queue, config, async {
                let _ = worker_stopped.await;
            })
            .await;
        });
        Some((stop_worker, handle))
    } else {
        None
    };
    Ok(TestApp {
        address,
        settings,
        sources,
        lms: db.pool().clone(),
        legacy,
        lms_db,
        legacy_db,
        redis,
        stop: Some(stop),
        server,
        worker,
    })
}

/// Adds a bearer token to every request.
#[derive(Clone)]
pub struct Bearer(Option<String>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}")
                .parse()
                .map_err(|_| tonic::Status::internal("bad test token"))?;
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

pub type Authed = InterceptedService<Channel, Bearer>;

impl TestApp {
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(format!("http://{}", self.address))?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?)
    }

    /// A channel that sends `token` (or none) with every request.
    pub async fn authed(&self, token: Option<&str>) -> anyhow::Result<Authed> {
        Ok(InterceptedService::new(
            self.channel().await?,
            Bearer(token.map(str::to_owned)),
        ))
    }

    /// Waits (at most 10 s) until `count` sessions of the test's LMS
    /// database wait for a lock, i.e. that many requests are held inside
    /// the server.
    pub async fn wait_for_lock_waiters(&self, count: i64) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&self.lms)
            .await?;
            if waiting >= count {
                return Ok(());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(10),
                "{waiting} requests wait for the lock, not {count}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Begins the server's graceful shutdown (as SIGTERM does).
    pub fn begin_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Whether the server has stopped serving.
    pub fn server_stopped(&self) -> bool {
        self.server.is_finished()
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        self.begin_shutdown();
        let served = self.server.await;
        if let Some((stop, handle)) = self.worker {
            let _ = stop.send(());
            let _ = handle.await;
        }
        self.lms.close().await;
        self.legacy.close().await;
        self.redis.clean().await?;
        self.lms_db.drop_now().await?;
        self.legacy_db.drop_now().await?;
        // A server that failed while serving fails the test that used it.
        served??;
        Ok(())
    }
}

/// A server over settings the test built itself (failover tests point it
/// at throwaway clusters).
pub struct RunningServer {
    pub address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    pub async fn start(mut settings: Settings) -> anyhow::Result<RunningServer> {
        settings.grpc.listen = "127.0.0.1:0".parse()?;
        settings.auth.tokens = test_tokens();
        let app = GrpcApp::connect(&settings).await?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .map_err(anyhow::Error::from)
        });
        Ok(RunningServer {
            address,
            stop: Some(stop),
            server,
        })
    }

    /// A channel that sends `token` with every request.
    pub async fn authed(&self, token: &str) -> anyhow::Result<Authed> {
        let channel = Endpoint::from_shared(format!("http://{}", self.address))?
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await?;
        Ok(InterceptedService::new(
            channel,
            Bearer(Some(token.to_owned())),
        ))
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.server).await??;
        Ok(())
    }
}
