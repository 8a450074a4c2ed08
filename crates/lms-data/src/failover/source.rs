//! Which database answered: the value of `x-lms-data-source`, and the
//! per-request record of it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// Where a read was served from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataSource {
    /// The LMS primary: reads and writes.
    Primary,
    /// An LMS read standby: reads only, possibly a little behind.
    Standby,
    /// The legacy EDU database through the contract (degraded mode).
    Legacy,
}

impl DataSource {
    pub const ALL: [DataSource; 3] = [DataSource::Primary, DataSource::Standby, DataSource::Legacy];

    pub fn as_str(self) -> &'static str {
        match self {
            DataSource::Primary => "primary",
            DataSource::Standby => "standby",
            DataSource::Legacy => "legacy",
        }
    }

    fn code(self) -> u8 {
        match self {
            DataSource::Primary => 1,
            DataSource::Standby => 2,
            DataSource::Legacy => 3,
        }
    }

    fn from_code(code: u8) -> Option<DataSource> {
        match code {
            1 => Some(DataSource::Primary),
            2 => Some(DataSource::Standby),
            3 => Some(DataSource::Legacy),
            _ => None,
        }
    }
}

impl fmt::Display for DataSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Collects the source of the reads and writes one request made. When a
/// request touches several, the least fresh wins (legacy over standby over
/// primary): the answer is only as current as its stalest part.
#[derive(Debug, Clone, Default)]
pub struct SourceRecorder(Arc<AtomicU8>);

impl SourceRecorder {
    pub fn get(&self) -> Option<DataSource> {
        DataSource::from_code(self.0.load(Ordering::Relaxed))
    }

    fn note(&self, source: DataSource) {
        self.0.fetch_max(source.code(), Ordering::Relaxed);
    }

    /// Runs `future` with this recorder receiving the sources it uses.
    pub async fn scope<F: Future>(&self, future: F) -> F::Output {
        SERVED_FROM.scope(self.clone(), future).await
    }
}

tokio::task_local! {
    static SERVED_FROM: SourceRecorder;
}

/// Notes that the current request was served (partly) from `source`; a
/// no-op outside [`SourceRecorder::scope`].
pub(crate) fn note_served_from(source: DataSource) {
    let _ = SERVED_FROM.try_with(|recorder| recorder.note(source));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_stalest_source_of_a_request_wins() {
        let recorder = SourceRecorder::default();
        recorder
            .scope(async {
                note_served_from(DataSource::Primary);
                note_served_from(DataSource::Legacy);
                note_served_from(DataSource::Standby);
            })
            .await;
        assert_eq!(recorder.get(), Some(DataSource::Legacy));
        // Outside a scope nothing is recorded, and nothing fails.
        note_served_from(DataSource::Primary);
        assert_eq!(SourceRecorder::default().get(), None);
    }
}
