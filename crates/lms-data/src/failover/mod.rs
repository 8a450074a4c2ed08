//! The failover pool: an ordered list of database endpoints (the LMS
//! primary, its read standbys, and the legacy EDU database as a degraded,
//! read-only last resort) with health probing.
//!
//! Reads go to the first endpoint that answers, passing over a standby
//! whose replay was behind by more than `max_standby_lag` at its last probe
//! while another is not (`read_endpoint`). An endpoint is marked down
//! when a request on it fails with a connection-class error, or runs longer
//! than `slow_request_probe`, and a probe confirms it (so that an overloaded
//! pool does not look like an outage), or when a periodic probe fails; it is
//! marked up again by the first probe it answers, so traffic returns to the
//! primary within one probe interval. At most one probe per endpoint is in
//! flight (`probe_flight`): a thousand failing requests wait for one verdict.
//! Writes go to the primary only: when it is down they fail at once with
//! `Unavailable`, and nothing is queued or sent anywhere else.

mod probe;
mod probe_flight;
mod slow_request;
mod source;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use lms_config::{DatabaseSettings, FailoverSettings, Settings};
use lms_domain::DomainError;
use sqlx::PgPool;
use tokio::sync::watch;

pub use probe::Replay;
pub(crate) use slow_request::Request;
pub(crate) use source::note_served_from;
pub use source::{DataSource, SourceRecorder};

use crate::Database;
use crate::legacy_read::LegacyReader;
use crate::repo::LmsStore;

/// What an endpoint serves.
#[derive(Debug, Clone)]
enum Backend {
    Lms(LmsStore),
    Legacy(LegacyReader),
}

#[derive(Debug)]
struct Endpoint {
    /// `primary`, `standby-1`, ..., `legacy`: the label in logs and metrics.
    name: String,
    source: DataSource,
    pool: PgPool,
    backend: Backend,
    /// Whether the endpoint answers (its last verdict); watched by the
    /// requests running on it, which are abandoned when it goes down.
    up: watch::Sender<bool>,
    /// The probe in flight, which every caller that wants one joins.
    probe_flight: Mutex<Option<probe_flight::Flight>>,
    /// Probes started since start-up.
    probes: AtomicU64,
    /// Bumped by every applied verdict: a probe that started before the
    /// latest verdict was applied is stale, and its result is dropped.
    verdicts: AtomicU64,
    /// How far its replay was behind at its last probe that asked
    /// (`None` until one did).
    replay: Mutex<Option<Replay>>,
}

impl Endpoint {
    /// How far its replay was behind at its last probe that asked, and
    /// whether reads pass it over for that: only a standby, and only past
    /// `max_lag`.
    fn replay(&self, max_lag: Duration) -> (Option<Replay>, bool) {
        let replay = *self.replay.lock().unwrap_or_else(PoisonError::into_inner);
        let lagging = self.source == DataSource::Standby
            && replay.is_some_and(|replay| replay.lags_past(max_lag));
        (replay, lagging)
    }
}

/// Where one read goes.
#[derive(Debug, Clone)]
pub(crate) enum ReadRoute {
    Lms {
        endpoint: usize,
        source: DataSource,
        store: LmsStore,
    },
    Legacy {
        endpoint: usize,
        reader: LegacyReader,
    },
}

/// The state of every endpoint, for health and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStatus {
    pub name: String,
    pub source: DataSource,
    pub up: bool,
    pub connections: u32,
    pub idle: u32,
    /// Probes of this endpoint since start-up.
    pub probes: u64,
    /// How far its replay was behind at its last probe that asked.
    pub replay: Option<Replay>,
    /// Whether that was past `failover.max_standby_lag`.
    pub lagging: bool,
}

#[derive(Debug)]
struct Shared {
    endpoints: Vec<Endpoint>,
    settings: FailoverSettings,
    /// Where reads go now; `None` when nothing answers.
    current: watch::Sender<Option<DataSource>>,
    failovers: AtomicU64,
    /// Set while the legacy id map is being reloaded (at most one reload).
    refreshing: AtomicBool,
}

/// The failover pool. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct DataSources {
    shared: Arc<Shared>,
}

/// The primary is always the first endpoint.
pub(crate) const PRIMARY: usize = 0;

/// How long start-up waits for the legacy id map.
const ID_MAP_STARTUP_LIMIT: Duration = Duration::from_secs(60);

impl DataSources {
    /// Builds the endpoints from the settings without waiting for any of
    /// them (the server starts, degraded, while the primary is down), then
    /// probes them all once and loads the legacy id map if it can.
    pub async fn connect(
        settings: &Settings,
        application_name: &str,
    ) -> Result<DataSources, sqlx::Error> {
        let statement_timeout = settings.grpc.statement_timeout;
        let mut endpoints = vec![lms_endpoint(
            "primary".to_owned(),
            DataSource::Primary,
            &settings.database,
            application_name,
            statement_timeout,
        )?];
        for (index, standby) in settings.database.standbys.iter().enumerate() {
            endpoints.push(lms_endpoint(
                format!("standby-{}", index + 1),
                DataSource::Standby,
                &standby.resolved(&settings.database),
                application_name,
                statement_timeout,
            )?);
        }
        if settings.failover.legacy_reads {
            let pool = lazy_pool(
                &settings.legacy.as_endpoint(),
                application_name,
                statement_timeout,
            )?;
            endpoints.push(Endpoint {
                name: "legacy".to_owned(),
                source: DataSource::Legacy,
                backend: Backend::Legacy(LegacyReader::new(
                    pool.clone(),
                    settings.legacy.timezone.clone(),
                    settings.legacy.max_rows_per_list,
                )),
                pool,
                up: watch::Sender::new(false),
                probe_flight: Mutex::new(None),
                probes: AtomicU64::new(0),
                verdicts: AtomicU64::new(0),
                replay: Mutex::new(None),
            });
        }
        let sources = DataSources::from_endpoints(endpoints, settings.failover.clone());
        sources.probe_all().await;
        // Bounded, so that a primary that stops answering mid-load cannot
        // hold up start-up; the probe loop loads the map later.
        if tokio::time::timeout(ID_MAP_STARTUP_LIMIT, sources.refresh_legacy_ids())
            .await
            .is_err()
        {
            tracing::warn!(limit = ?ID_MAP_STARTUP_LIMIT, "the legacy id map did not load at start-up; retrying with the probes");
        }
        Ok(sources)
    }

    /// One database, always considered up, no failover (tools and tests).
    pub fn single(db: &Database) -> DataSources {
        let endpoint = Endpoint {
            name: "primary".to_owned(),
            source: DataSource::Primary,
            pool: db.pool().clone(),
            backend: Backend::Lms(LmsStore::new(db)),
            up: watch::Sender::new(true),
            probe_flight: Mutex::new(None),
            probes: AtomicU64::new(0),
            verdicts: AtomicU64::new(0),
            replay: Mutex::new(None),
        };
        let settings = FailoverSettings {
            probe_interval: Duration::from_secs(60),
            probe_timeout: Duration::from_secs(2),
            slow_request_probe: Duration::from_millis(500),
            max_standby_lag: Duration::from_secs(30),
            legacy_reads: false,
        };
        let sources = DataSources::from_endpoints(vec![endpoint], settings);
        sources.update_current();
        sources
    }

    fn from_endpoints(endpoints: Vec<Endpoint>, settings: FailoverSettings) -> DataSources {
        let (current, _) = watch::channel(None);
        DataSources {
            shared: Arc::new(Shared {
                endpoints,
                settings,
                current,
                failovers: AtomicU64::new(0),
                refreshing: AtomicBool::new(false),
            }),
        }
    }

    /// The LMS primary's pool: migration runs and other work that must never
    /// fail over use it directly.
    pub fn primary_pool(&self) -> &PgPool {
        &self.shared.endpoints[PRIMARY].pool
    }

    /// Where reads go now.
    pub fn current(&self) -> Option<DataSource> {
        *self.shared.current.borrow()
    }

    /// Whether the primary answers (its last verdict).
    pub fn primary_is_up(&self) -> bool {
        *self.shared.endpoints[PRIMARY].up.borrow()
    }

    /// Follows where reads go (for health reporting).
    pub fn watch_current(&self) -> watch::Receiver<Option<DataSource>> {
        self.shared.current.subscribe()
    }

    /// Times reads left the primary since startup.
    pub fn failovers(&self) -> u64 {
        self.shared.failovers.load(Ordering::Relaxed)
    }

    pub fn probe_interval(&self) -> Duration {
        self.shared.settings.probe_interval
    }

    /// Every endpoint's state and pool occupancy.
    pub fn status(&self) -> Vec<EndpointStatus> {
        self.shared
            .endpoints
            .iter()
            .map(|endpoint| {
                let (replay, lagging) = endpoint.replay(self.shared.settings.max_standby_lag);
                EndpointStatus {
                    name: endpoint.name.clone(),
                    source: endpoint.source,
                    up: *endpoint.up.borrow(),
                    connections: endpoint.pool.size(),
                    idle: u32::try_from(endpoint.pool.num_idle()).unwrap_or(u32::MAX),
                    probes: endpoint.probes.load(Ordering::Relaxed),
                    replay,
                    lagging,
                }
            })
            .collect()
    }

    /// Publishes the pool gauges (called before metrics are rendered).
    pub fn record_pool_metrics(&self) {
        for status in self.status() {
            let in_use = status.connections.saturating_sub(status.idle);
            metrics::gauge!("lms_db_pool_connections", "endpoint" => status.name.clone(), "state" => "in_use")
                .set(f64::from(in_use));
            metrics::gauge!("lms_db_pool_connections", "endpoint" => status.name.clone(), "state" => "idle")
                .set(f64::from(status.idle));
            metrics::gauge!("lms_db_endpoint_up", "endpoint" => status.name).set(if status.up {
                1.0
            } else {
                0.0
            });
        }
    }

    pub(crate) fn endpoint_count(&self) -> usize {
        self.shared.endpoints.len()
    }

    /// The endpoint reads go to: the first that is up and whose replay is
    /// not past `failover.max_standby_lag`, except that an LMS standby past
    /// it still comes before the legacy database, which lacks everything
    /// written in the LMS.
    fn read_endpoint(&self) -> Option<(usize, &Endpoint)> {
        let up = || {
            self.shared
                .endpoints
                .iter()
                .enumerate()
                .filter(|(_, endpoint)| *endpoint.up.borrow())
        };
        let is_lms = |endpoint: &Endpoint| matches!(endpoint.backend, Backend::Lms(_));
        let max_lag = self.shared.settings.max_standby_lag;
        let fresh = up().find(|(_, endpoint)| !endpoint.replay(max_lag).1);
        match fresh {
            Some((_, endpoint)) if is_lms(endpoint) => fresh,
            _ => up().find(|(_, endpoint)| is_lms(endpoint)).or(fresh),
        }
    }

    /// The route of the next read (see [`DataSources::read_endpoint`]).
    pub(crate) fn read_route(&self) -> Result<ReadRoute, DomainError> {
        match self.read_endpoint() {
            Some((index, endpoint)) => Ok(match &endpoint.backend {
                Backend::Lms(store) => ReadRoute::Lms {
                    endpoint: index,
                    source: endpoint.source,
                    store: store.clone(),
                },
                Backend::Legacy(reader) => ReadRoute::Legacy {
                    endpoint: index,
                    reader: reader.clone(),
                },
            }),
            None => Err(DomainError::Unavailable(
                "no database answers: the LMS primary, its standbys and the legacy database are all down"
                    .to_owned(),
            )),
        }
    }

    /// The primary, for a write; `Unavailable` at once when it is down.
    pub(crate) fn write_store(&self) -> Result<LmsStore, DomainError> {
        let primary = &self.shared.endpoints[PRIMARY];
        let Backend::Lms(store) = &primary.backend else {
            return Err(DomainError::Internal(
                "the first endpoint is not an LMS database".to_owned(),
            ));
        };
        if *primary.up.borrow() {
            return Ok(store.clone());
        }
        let reads = match self.current() {
            Some(DataSource::Standby) => "reads are served from a standby",
            Some(DataSource::Legacy) => "reads are served from the legacy database",
            _ => "no database answers",
        };
        Err(DomainError::Unavailable(format!(
            "writes are refused: the LMS primary database is not answering ({reads}); nothing was written, retry when the primary is back"
        )))
    }

    /// A request on `endpoint` failed as if the database were gone: probe
    /// it, and mark it down if the probe fails too. Returns whether it was
    /// marked down (the caller may retry on the next endpoint).
    pub(crate) async fn report_failure(&self, endpoint: usize) -> bool {
        let Some(target) = self.shared.endpoints.get(endpoint) else {
            return false;
        };
        // Already down (another request or a probe said so): no probe storm
        // while an endpoint is gone.
        if !*target.up.borrow() {
            return true;
        }
        !self.probe_once(endpoint).await
    }

    /// Probes every endpoint once, at the same time, applying each verdict
    /// as it arrives (a slow endpoint does not hold up the others').
    pub async fn probe_all(&self) {
        let probes = (0..self.shared.endpoints.len()).map(|index| self.probe_once(index));
        futures::future::join_all(probes).await;
    }

    /// Probes the endpoints marked down, at the same time.
    async fn probe_down(&self) {
        let down = (0..self.shared.endpoints.len())
            .filter(|&index| !*self.shared.endpoints[index].up.borrow())
            .map(|index| self.probe_once(index));
        futures::future::join_all(down).await;
    }

    /// The verdict of a probe of `index`: the one in flight if there is one,
    /// else a new one. Returns whether the endpoint answered.
    async fn probe_once(&self, index: usize) -> bool {
        match self.probe_flight(index) {
            Some(flight) => flight.await,
            None => false,
        }
    }

    /// Joins the probe of `index` in flight, or starts one on a task of its
    /// own (so that it runs to its verdict even if every caller gives up).
    fn probe_flight(&self, index: usize) -> Option<probe_flight::Flight> {
        let endpoint = self.shared.endpoints.get(index)?;
        let mut slot = endpoint
            .probe_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(flight) = slot.as_ref() {
            return Some(flight.clone());
        }
        let sources = self.clone();
        let flight = probe_flight::start(async move {
            let answered = sources.probe_and_apply(index).await;
            if let Some(endpoint) = sources.shared.endpoints.get(index) {
                *endpoint
                    .probe_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = None;
            }
            answered
        });
        *slot = Some(flight.clone());
        Some(flight)
    }

    /// Probes one endpoint and applies the verdict unless a newer one was
    /// applied while the probe ran. Returns whether the endpoint answered.
    async fn probe_and_apply(&self, index: usize) -> bool {
        let Some(endpoint) = self.shared.endpoints.get(index) else {
            return false;
        };
        let seen = endpoint.verdicts.load(Ordering::Acquire);
        let answer = self.probe(endpoint).await;
        if endpoint
            .verdicts
            .compare_exchange(seen, seen + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if let Some(probe::Answer::Asked(replay)) = answer {
                self.note_replay(endpoint, replay);
            }
            // Before the primary is marked down: the requests it abandons
            // then, and those that find it down, go where the standbys'
            // state now says.
            if index == PRIMARY && answer.is_none() && *endpoint.up.borrow() {
                self.probe_standbys().await;
            }
            self.set_up(index, answer.is_some());
        }
        answer.is_some()
    }

    /// Probes every standby, at the same time: when the primary is about
    /// to be marked down, where reads go next is decided on how far each
    /// standby's replay is behind now, not at its last periodic probe. The
    /// read that found the primary gone waits for this too (one probe's
    /// round trip; at most `probe_timeout`).
    async fn probe_standbys(&self) {
        let standbys = (0..self.shared.endpoints.len())
            .filter(|&index| self.shared.endpoints[index].source == DataSource::Standby)
            .map(|index| self.probe_once(index));
        futures::future::join_all(standbys).await;
    }

    /// Records how far `endpoint`'s replay is behind, and logs a standby
    /// crossing `failover.max_standby_lag` either way (the caller
    /// recomputes where reads go).
    fn note_replay(&self, endpoint: &Endpoint, replay: Replay) {
        let max_lag = self.shared.settings.max_standby_lag;
        let (_, was_lagging) = endpoint.replay(max_lag);
        *endpoint
            .replay
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(replay);
        if endpoint.source != DataSource::Standby {
            // The primary must not be in recovery (its probe fails), and the
            // legacy database is the last resort whatever its replay.
            return;
        }
        let seconds = match replay {
            Replay::Behind(Some(lag)) => lag.as_secs_f64(),
            Replay::Behind(None) => f64::INFINITY,
            Replay::NotInRecovery | Replay::CaughtUp => 0.0,
        };
        metrics::gauge!("lms_db_standby_replay_lag_seconds", "endpoint" => endpoint.name.clone())
            .set(seconds);
        match (was_lagging, replay.lags_past(max_lag)) {
            (false, true) => {
                tracing::warn!(endpoint = %endpoint.name, ?replay, ?max_lag, "standby replay is behind; reads prefer an endpoint that is not")
            }
            (true, false) => {
                tracing::info!(endpoint = %endpoint.name, ?replay, "standby replay caught up")
            }
            _ => {}
        }
    }

    /// Probes every endpoint every `probe_interval`, and those marked down
    /// every [`recovery_interval`], until `shutdown` resolves; keeps the
    /// legacy id map fresh while an LMS endpoint answers.
    pub async fn run_probes(self, shutdown: impl Future<Output = ()>) {
        let mut ticks = tokio::time::interval(self.shared.settings.probe_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let mut rechecks = tokio::time::interval(recovery_interval(&self.shared.settings));
        rechecks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        rechecks.tick().await;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = rechecks.tick() => self.probe_down().await,
                _ = ticks.tick() => {
                    self.probe_all().await;
                    // On its own task: a slow reload (or a primary that
                    // stops answering mid-query) must not delay probes.
                    if !self.shared.refreshing.swap(true, Ordering::AcqRel) {
                        let sources = self.clone();
                        tokio::spawn(async move {
                            sources.refresh_legacy_ids().await;
                            sources.shared.refreshing.store(false, Ordering::Release);
                        });
                    }
                }
            }
        }
    }

    /// What the endpoint answered; `None` when it did not.
    async fn probe(&self, endpoint: &Endpoint) -> Option<probe::Answer> {
        endpoint.probes.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("lms_db_probes_total", "endpoint" => endpoint.name.clone()).increment(1);
        let result = probe::probe(
            &endpoint.pool,
            endpoint.source,
            self.shared.settings.probe_timeout,
        )
        .await;
        if let Err(error) = &result {
            metrics::counter!("lms_db_probe_failures_total", "endpoint" => endpoint.name.clone())
                .increment(1);
            tracing::debug!(endpoint = %endpoint.name, %error, "probe failed");
        }
        result.ok()
    }

    /// Reloads the legacy reader's id map from the first LMS endpoint up.
    async fn refresh_legacy_ids(&self) {
        let Some(reader) =
            self.shared
                .endpoints
                .iter()
                .find_map(|endpoint| match &endpoint.backend {
                    Backend::Legacy(reader) => Some(reader),
                    Backend::Lms(_) => None,
                })
        else {
            return;
        };
        let Some(lms) =
            self.shared.endpoints.iter().find(|endpoint| {
                matches!(endpoint.backend, Backend::Lms(_)) && *endpoint.up.borrow()
            })
        else {
            return;
        };
        match reader.refresh_ids(&lms.pool).await {
            Ok(true) => {
                tracing::info!(from = %lms.name, "loaded the legacy id map for degraded reads")
            }
            Ok(false) => {}
            Err(error) => {
                tracing::warn!(from = %lms.name, %error, "could not load the legacy id map")
            }
        }
    }

    fn set_up(&self, index: usize, up: bool) {
        let Some(endpoint) = self.shared.endpoints.get(index) else {
            return;
        };
        let was = endpoint.up.send_replace(up);
        if was != up {
            if up {
                tracing::info!(endpoint = %endpoint.name, "database endpoint answers again");
            } else {
                tracing::warn!(endpoint = %endpoint.name, "database endpoint stopped answering");
            }
        }
        self.update_current();
    }

    /// Recomputes where reads go, and logs and counts a change.
    fn update_current(&self) {
        // Read the flags under the channel's lock, so that two verdicts
        // applied at once cannot publish their answers in the wrong order.
        let mut before = None;
        let mut now = None;
        self.shared.current.send_if_modified(|current| {
            before = *current;
            now = self.read_endpoint().map(|(_, endpoint)| endpoint.source);
            *current = now;
            before != now
        });
        for source in DataSource::ALL {
            metrics::gauge!("lms_data_source", "source" => source.as_str())
                .set(if now == Some(source) { 1.0 } else { 0.0 });
        }
        if before == now {
            return;
        }
        let name = |source: Option<DataSource>| source.map_or("nothing", DataSource::as_str);
        if before == Some(DataSource::Primary)
            || (before.is_some() && now != Some(DataSource::Primary))
        {
            self.shared.failovers.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("lms_data_failovers_total", "from" => name(before), "to" => name(now)).increment(1);
        }
        match now {
            Some(DataSource::Primary) => {
                tracing::info!(
                    from = name(before),
                    "reads and writes are back on the LMS primary"
                );
            }
            Some(DataSource::Standby) => {
                tracing::warn!(
                    from = name(before),
                    "reads fail over to an LMS standby; writes are refused"
                );
            }
            Some(DataSource::Legacy) => tracing::warn!(
                from = name(before),
                "degraded mode: reads come from the legacy database; writes are refused"
            ),
            None => tracing::error!(from = name(before), "no database answers"),
        }
    }
}

/// A pool of the server's, connected on first use; every statement on it
/// is bounded by `statement_timeout`.
fn lazy_pool(
    settings: &DatabaseSettings,
    application_name: &str,
    statement_timeout: Duration,
) -> Result<PgPool, sqlx::Error> {
    let config = lms_pg::PoolConfig::from_settings(settings, application_name);
    let options = lms_pg::pool::connect_options(&settings.url, &config)?.options([(
        "statement_timeout",
        format!("{}ms", statement_timeout.as_millis().max(1)),
    )]);
    Ok(sqlx::postgres::PgPoolOptions::new()
        .min_connections(config.min_connections)
        .max_connections(config.max_connections)
        .acquire_timeout(config.acquire_timeout)
        .connect_lazy_with(options))
}

fn lms_endpoint(
    name: String,
    source: DataSource,
    settings: &DatabaseSettings,
    application_name: &str,
    statement_timeout: Duration,
) -> Result<Endpoint, sqlx::Error> {
    let pool = lazy_pool(settings, application_name, statement_timeout)?;
    let db = Database::from_pool(pool.clone());
    Ok(Endpoint {
        name,
        source,
        pool,
        backend: Backend::Lms(LmsStore::new(&db)),
        up: watch::Sender::new(false),
        probe_flight: Mutex::new(None),
        probes: AtomicU64::new(0),
        verdicts: AtomicU64::new(0),
        replay: Mutex::new(None),
    })
}

/// How often an endpoint marked down is probed again between the periodic
/// probes of every endpoint: as often as a probe may take (at least a
/// second), never less often than `probe_interval`. A primary marked down
/// by one probe that took too long takes writes again within about this,
/// not a whole `probe_interval` later.
fn recovery_interval(settings: &FailoverSettings) -> Duration {
    settings
        .probe_timeout
        .max(Duration::from_secs(1))
        .min(settings.probe_interval)
}
