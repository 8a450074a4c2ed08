//! `WatchRun`'s shared machinery. However many clients watch, the server
//! holds one LISTEN connection (on [`PROGRESS_CHANNEL`]), and each watched
//! run has one follower task that reads the run's progress once per
//! notification (or per second, should one be lost) and publishes it to
//! every watcher of that run. Watchers are capped (`grpc.max_run_watchers`)
//! and each stream ends after `grpc.max_run_watch_age`.
//!
//! The listener is started by the first watched run and given back to the
//! pool when no run is watched; a follower ends when its run ends or its
//! last watcher goes away.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures::Stream;
use lms_engine::progress::PROGRESS_CHANNEL;
use lms_engine::{RunProgress, run_progress};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tonic::Status;
use uuid::Uuid;

use crate::error::{ApiError, StreamEnd};
use crate::pb::lms::migration::v1 as pb;

/// How often a follower reads its run's progress without a notification:
/// notifications sent while the listener reconnects are lost.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The first and the longest wait before the listener connects again.
const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The limits on watchers (`grpc.max_run_watchers`,
/// `grpc.max_run_watch_age`).
#[derive(Debug, Clone, Copy)]
pub struct RunWatchLimits {
    /// Streams served at once; one more is RESOURCE_EXHAUSTED.
    pub max_watchers: usize,
    /// A stream older than this ends with UNAVAILABLE (`STREAM_MAX_AGE`).
    pub max_age: Duration,
}

/// The stream `WatchRun` returns.
pub type RunEvents = Pin<Box<dyn Stream<Item = Result<pb::RunEvent, Status>> + Send>>;

/// One per server: the listener, the followers and the watcher slots.
#[derive(Clone)]
pub struct RunWatchHub {
    hub: Arc<Hub>,
}

impl std::fmt::Debug for RunWatchHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunWatchHub")
            .field("limits", &self.hub.limits)
            .field("free_slots", &self.hub.slots.available_permits())
            .finish_non_exhaustive()
    }
}

struct Hub {
    lms: PgPool,
    limits: RunWatchLimits,
    slots: Arc<Semaphore>,
    feeds: Mutex<Feeds>,
    /// Wakes the listener when the last watched run is forgotten.
    idle: Notify,
}

#[derive(Default)]
struct Feeds {
    runs: HashMap<Uuid, Arc<RunFeed>>,
    listening: bool,
}

/// One watched run: its latest state, and a wake-up for its follower.
struct RunFeed {
    latest: watch::Sender<Option<FeedState>>,
    poke: Notify,
}

/// What a follower last read: the run's progress, or the error that ended
/// the feed (for every watcher of the run).
#[derive(Clone)]
enum FeedState {
    Progress(Arc<RunProgress>),
    Failed(Status),
}

impl RunWatchHub {
    pub fn new(lms: PgPool, limits: RunWatchLimits) -> RunWatchHub {
        RunWatchHub {
            hub: Arc::new(Hub {
                lms,
                limits,
                slots: Arc::new(Semaphore::new(limits.max_watchers)),
                feeds: Mutex::new(Feeds::default()),
                idle: Notify::new(),
            }),
        }
    }

    /// Opens a watcher of `run`: a slot first (or RESOURCE_EXHAUSTED), then
    /// the run's state as a snapshot, then its state after every change,
    /// until the run ends, the server stops (`stopping`) or the stream
    /// reaches its maximum age.
    pub async fn watch(
        &self,
        run: Uuid,
        stopping: watch::Receiver<bool>,
    ) -> Result<RunEvents, Status> {
        let limits = self.hub.limits;
        let slot = WatcherSlot::take(&self.hub.slots).ok_or(ApiError::TooManyWatchers {
            limit: limits.max_watchers,
        })?;
        let expires = Box::pin(tokio::time::sleep(limits.max_age));
        let mut feed = self.hub.subscribe(run);
        let first = match feed.wait_for(Option::is_some).await {
            Ok(state) => state.clone(),
            Err(_) => None,
        };
        let first = match first {
            Some(FeedState::Progress(progress)) => progress,
            Some(FeedState::Failed(status)) => return Err(status),
            // A follower publishes before it stops: only the runtime going
            // away closes a feed without a state.
            None => return Err(ApiError::StreamEnded(StreamEnd::ShuttingDown).into()),
        };
        let watcher = Watcher {
            feed,
            last: first,
            snapshot_sent: false,
            ended: false,
            stopping,
            expires,
            max_age: limits.max_age,
            _slot: slot,
        };
        Ok(Box::pin(futures::stream::unfold(
            watcher,
            |mut watcher| async move { watcher.next().await.map(|event| (event, watcher)) },
        )))
    }
}

impl Hub {
    fn feeds(&self) -> MutexGuard<'_, Feeds> {
        self.feeds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A receiver of the run's feed, starting its follower (and the
    /// listener) when nobody watched the run yet.
    fn subscribe(self: &Arc<Self>, run: Uuid) -> watch::Receiver<Option<FeedState>> {
        let mut feeds = self.feeds();
        if let Some(feed) = feeds.runs.get(&run) {
            return feed.latest.subscribe();
        }
        let (latest, receiver) = watch::channel(None);
        let feed = Arc::new(RunFeed {
            latest,
            poke: Notify::new(),
        });
        feeds.runs.insert(run, feed.clone());
        if !feeds.listening {
            feeds.listening = true;
            tokio::spawn(listen(self.clone()));
        }
        tokio::spawn(follow(self.clone(), run, feed));
        receiver
    }

    /// Drops the run's feed if it is `feed` and (unless `ended`) nobody
    /// watches it. Whether the follower should stop.
    fn forget(&self, run: Uuid, feed: &Arc<RunFeed>, ended: bool) -> bool {
        let mut feeds = self.feeds();
        let ours = feeds
            .runs
            .get(&run)
            .is_some_and(|current| Arc::ptr_eq(current, feed));
        if !ours {
            return true;
        }
        if !ended && feed.latest.receiver_count() > 0 {
            return false;
        }
        feeds.runs.remove(&run);
        if feeds.runs.is_empty() {
            self.idle.notify_one();
        }
        true
    }

    /// Wakes the follower of the run a notification names.
    fn poke(&self, payload: &str) {
        let Ok(run) = Uuid::parse_str(payload) else {
            return;
        };
        if let Some(feed) = self.feeds().runs.get(&run) {
            feed.poke.notify_one();
        }
    }

    /// Wakes every follower (notifications may have been lost).
    fn poke_all(&self) {
        for feed in self.feeds().runs.values() {
            feed.poke.notify_one();
        }
    }

    /// With no run watched, marks the listener stopped. Whether it should
    /// stop.
    fn stop_listening_if_idle(&self) -> bool {
        let mut feeds = self.feeds();
        if feeds.runs.is_empty() {
            feeds.listening = false;
        }
        !feeds.listening
    }
}

/// Reads the run's progress once per notification (or poll interval) and
/// publishes it when it changed; ends when the run ends, a read fails, or
/// nobody watches it any more.
async fn follow(hub: Arc<Hub>, run: Uuid, feed: Arc<RunFeed>) {
    loop {
        let state = match run_progress(&hub.lms, run).await {
            Ok(progress) => FeedState::Progress(Arc::new(progress)),
            Err(error) => FeedState::Failed(Status::from(ApiError::from(error))),
        };
        let ended = match &state {
            FeedState::Progress(progress) => progress.is_finished(),
            FeedState::Failed(_) => true,
        };
        feed.latest
            .send_if_modified(|current| match (&*current, &state) {
                (Some(FeedState::Progress(old)), FeedState::Progress(new)) if old == new => false,
                _ => {
                    *current = Some(state);
                    true
                }
            });
        if ended {
            hub.forget(run, &feed, true);
            return;
        }
        tokio::select! {
            () = feed.poke.notified() => {}
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        if hub.forget(run, &feed, false) {
            return;
        }
    }
}

/// Holds the one LISTEN connection while any run is watched, and wakes the
/// follower of each run a notification names. A lost connection is made
/// again with backoff; meanwhile the followers poll.
async fn listen(hub: Arc<Hub>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        if hub.stop_listening_if_idle() {
            return;
        }
        let mut listener = match connect(&hub.lms).await {
            Ok(listener) => {
                backoff = MIN_BACKOFF;
                listener
            }
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "WatchRun cannot listen for run progress; watched runs are polled every second meanwhile");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = hub.idle.notified() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        // Notifications sent while nothing listened are lost: read again.
        hub.poke_all();
        loop {
            tokio::select! {
                () = hub.idle.notified() => {
                    if hub.stop_listening_if_idle() {
                        return;
                    }
                }
                received = listener.try_recv() => match received {
                    Ok(Some(notification)) => hub.poke(notification.payload()),
                    // The connection was lost and made again.
                    Ok(None) => hub.poke_all(),
                    Err(error) => {
                        tracing::warn!(%error, "WatchRun's progress listener failed; connecting again");
                        break;
                    }
                }
            }
        }
    }
}

async fn connect(lms: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(lms).await?;
    listener.listen(PROGRESS_CHANNEL).await?;
    Ok(listener)
}

/// One of the `grpc.max_run_watchers` slots, counted in
/// `lms_grpc_run_watchers` while held.
struct WatcherSlot {
    _permit: OwnedSemaphorePermit,
}

impl WatcherSlot {
    fn take(slots: &Arc<Semaphore>) -> Option<WatcherSlot> {
        let permit = slots.clone().try_acquire_owned().ok()?;
        metrics::gauge!("lms_grpc_run_watchers").increment(1.0);
        Some(WatcherSlot { _permit: permit })
    }
}

impl Drop for WatcherSlot {
    fn drop(&mut self) {
        metrics::gauge!("lms_grpc_run_watchers").decrement(1.0);
    }
}

/// What woke a watcher.
enum Wake {
    Stopping,
    Expired,
    Feed { closed: bool },
}

/// One client's stream.
struct Watcher {
    feed: watch::Receiver<Option<FeedState>>,
    last: Arc<RunProgress>,
    snapshot_sent: bool,
    ended: bool,
    stopping: watch::Receiver<bool>,
    expires: Pin<Box<tokio::time::Sleep>>,
    max_age: Duration,
    _slot: WatcherSlot,
}

impl Watcher {
    /// The next event, or `None` once the stream has ended.
    async fn next(&mut self) -> Option<Result<pb::RunEvent, Status>> {
        if self.ended {
            return None;
        }
        if !self.snapshot_sent {
            self.snapshot_sent = true;
            self.ended = self.last.is_finished();
            return Some(Ok(event(&self.last, true)));
        }
        loop {
            let wake = tokio::select! {
                // A dropped sender means the server has stopped.
                _ = self.stopping.wait_for(|stopping| *stopping) => Wake::Stopping,
                () = &mut self.expires => Wake::Expired,
                changed = self.feed.changed() => Wake::Feed { closed: changed.is_err() },
            };
            let closed = match wake {
                Wake::Stopping => return self.end(StreamEnd::ShuttingDown),
                Wake::Expired => return self.end(StreamEnd::MaxAge(self.max_age)),
                Wake::Feed { closed } => closed,
            };
            let state = self.feed.borrow_and_update().clone();
            match state {
                Some(FeedState::Progress(now)) if now != self.last => {
                    self.ended = now.is_finished();
                    self.last = now;
                    return Some(Ok(event(&self.last, false)));
                }
                Some(FeedState::Failed(status)) => {
                    self.ended = true;
                    return Some(Err(status));
                }
                // The follower stops only after the run's last state or an
                // error, both sent above; nothing else closes the feed.
                _ if closed => return self.end(StreamEnd::ShuttingDown),
                _ => {}
            }
        }
    }

    fn end(&mut self, why: StreamEnd) -> Option<Result<pb::RunEvent, Status>> {
        self.ended = true;
        Some(Err(ApiError::StreamEnded(why).into()))
    }
}

fn event(progress: &RunProgress, snapshot: bool) -> pb::RunEvent {
    pb::RunEvent {
        run: Some(progress.clone().into()),
        snapshot,
    }
}
