//! Requests watched while they run. A database that silently drops packets
//! gives no error: a request on it just waits, for as long as TCP does. So
//! a request still running after `slow_request_probe` has its endpoint
//! probed (joining the probe in flight, if any), and every request on an
//! endpoint that is marked down meanwhile is abandoned. A caller then waits
//! at most `slow_request_probe + probe_timeout` for an endpoint that is gone.

use std::future::Future;

use lms_domain::DomainError;

use super::{DataSource, DataSources};

/// What the watched request does, which decides what its caller is told
/// when it is abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// Safe to run again elsewhere: the router retries it on the next
    /// endpoint.
    Read,
    /// Its outcome is unknown once abandoned: it may have committed.
    Write,
}

impl Request {
    fn abandoned(self, source: DataSource) -> DomainError {
        let database = match source {
            DataSource::Primary => "the LMS primary database",
            DataSource::Standby => "an LMS standby database",
            DataSource::Legacy => "the legacy database",
        };
        match self {
            Request::Read => DomainError::Unavailable(format!(
                "{database} stopped answering during the read; retry"
            )),
            Request::Write => crate::outage::write_outcome_unknown(database, "during the write"),
        }
    }
}

impl DataSources {
    /// Runs `work` on endpoint `index`, watched as the module says.
    pub(crate) async fn watched<T>(
        &self,
        index: usize,
        request: Request,
        work: impl Future<Output = Result<T, DomainError>>,
    ) -> Result<T, DomainError> {
        let Some(endpoint) = self.shared.endpoints.get(index) else {
            return work.await;
        };
        let mut up = endpoint.up.subscribe();
        let slow = tokio::time::sleep(self.shared.settings.slow_request_probe);
        tokio::pin!(work, slow);
        let mut probed = false;
        loop {
            tokio::select! {
                biased;
                result = &mut work => return result,
                Ok(_) = up.wait_for(|up| !*up) => {
                    metrics::counter!("lms_db_requests_abandoned_total", "endpoint" => endpoint.name.clone())
                        .increment(1);
                    return Err(request.abandoned(endpoint.source));
                }
                () = &mut slow, if !probed => {
                    probed = true;
                    // The probe runs on its own task; this request goes on
                    // waiting for whichever comes first.
                    drop(self.probe_flight(index));
                }
            }
        }
    }
}
