//! At most one probe per endpoint in flight: every caller that wants a
//! verdict while one is being reached shares it.

use std::future::Future;

use futures::future::{BoxFuture, FutureExt, Shared};

/// A probe's verdict (whether the endpoint answered), for any number of
/// callers to await.
pub(super) type Flight = Shared<BoxFuture<'static, bool>>;

/// Runs `probe` on a task of its own, so that it reaches its verdict (and
/// applies it) even when every caller waiting for it gives up.
pub(super) fn start(probe: impl Future<Output = bool> + Send + 'static) -> Flight {
    let task = tokio::spawn(probe);
    // A probe task that panicked (a bug) counts as no answer.
    async move { task.await.unwrap_or(false) }.boxed().shared()
}
