//! How often an idle worker asks Redis for jobs: every tick of a timer that
//! stays armed.
//!
//! With apalis 1.0.0's `poll_with_interval` (`IntervalStrategy`), an idle
//! worker here picked up a job only at its next heartbeat (5 s by default):
//! on a seed-scale delta started 2 s after the workers, the first stage
//! chunk began 2.6-2.9 s after the run was queued, and the worker's log
//! shows its first fetch after the push at the heartbeat. The strategy
//! replaces a timer that fired with a new one and leaves polling it to a
//! later wake-up; where that wake-up goes missing was not traced further.
//! With [`PollEvery`] the same chunk began 0.14-0.16 s after it was queued.
//!
//! [`PollEvery`] polls a tokio interval until it is pending, which leaves
//! the worker's waker registered for the next tick. It must be polled on a
//! tokio runtime with timers (the worker's): the interval is made there, on
//! the first poll.

use std::task::{Context, Poll};
use std::time::Duration;

use apalis::prelude::{PollSnapshot, PollStrategy};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// Wakes the worker every `period`, armed again on every tick.
#[derive(Debug)]
pub struct PollEvery {
    period: Duration,
    /// Made on the first poll, inside the runtime that drives the worker.
    ticks: Option<Interval>,
}

impl PollEvery {
    pub fn new(period: Duration) -> PollEvery {
        PollEvery {
            period: period.max(Duration::from_millis(1)),
            ticks: None,
        }
    }
}

impl Clone for PollEvery {
    fn clone(&self) -> PollEvery {
        PollEvery::new(self.period)
    }
}

impl PollStrategy for PollEvery {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _snapshot: &PollSnapshot) -> Poll<Option<()>> {
        let period = self.period;
        let ticks = self.ticks.get_or_insert_with(|| {
            let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            ticks
        });
        let mut ticked = false;
        // Until pending: then the waker is registered for the next tick.
        while ticks.poll_tick(cx).is_ready() {
            ticked = true;
        }
        if ticked {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};

    use super::*;

    /// Counts its wake-ups.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_tick_leaves_the_next_one_armed() {
        let counter = Arc::new(CountingWaker::default());
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut strategy = PollEvery::new(Duration::from_millis(100));
        let snapshot = PollSnapshot::default();
        assert!(strategy.poll_drive(&mut cx, &snapshot).is_pending());

        for tick in 1..=3 {
            tokio::time::sleep(Duration::from_millis(101)).await;
            assert_eq!(
                counter.0.load(Ordering::SeqCst),
                tick,
                "woken for tick {tick}"
            );
            assert!(strategy.poll_drive(&mut cx, &snapshot).is_ready());
        }
    }
}
