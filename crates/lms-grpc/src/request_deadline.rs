//! How long the server waits for a request: its own `grpc.request_timeout`,
//! or the client's deadline (the `grpc-timeout` header) when that is
//! shorter, as the gRPC protocol asks.
//!
//! tonic applies the client's deadline itself, outside every layer of
//! ours, and answers it CANCELLED with no details, and with the request
//! missing from the metrics. [`RequestLimits`](crate::request_limits)
//! answers it first: DEADLINE_EXCEEDED with an `ErrorInfo`, recorded like
//! any other answer. tonic's timer starts when its service is called;
//! ours starts in the same synchronous call chain (every layer outside
//! ours calls its inner service in `call`, not in its future), microseconds
//! later, and ends [`CLIENT_DEADLINE_MARGIN`] early so that it cannot end
//! after tonic's. Both timers round up to tokio's millisecond ticks: when
//! they fire in the same tick, tonic polls our future first and takes our
//! answer.

use std::time::Duration;

use http::HeaderMap;

/// The header a gRPC client sends its deadline in.
const GRPC_TIMEOUT: &str = "grpc-timeout";

/// How much earlier than the client's deadline the server answers it. See
/// the module.
pub const CLIENT_DEADLINE_MARGIN: Duration = Duration::from_millis(1);

/// Whose limit a request is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestDeadline {
    /// The server's `grpc.request_timeout`.
    Server(Duration),
    /// The client's `grpc-timeout`, shorter than the server's.
    Client(Duration),
}

impl RequestDeadline {
    /// The deadline a request with `headers` is held to, given the server's
    /// `request_timeout`. A `grpc-timeout` the protocol does not allow is
    /// no deadline, as tonic reads it.
    pub fn of(headers: &HeaderMap, request_timeout: Duration) -> RequestDeadline {
        match client_timeout(headers) {
            Some(client) if client < request_timeout => RequestDeadline::Client(client),
            _ => RequestDeadline::Server(request_timeout),
        }
    }

    /// How long the server waits, from the moment its layer is called.
    pub fn wait(self) -> Duration {
        match self {
            RequestDeadline::Server(timeout) => timeout,
            RequestDeadline::Client(timeout) => timeout.saturating_sub(CLIENT_DEADLINE_MARGIN),
        }
    }
}

/// The client's deadline: the protocol's `TimeoutValue TimeoutUnit`, at
/// most eight digits and one of `H M S m u n`, read exactly as tonic reads
/// it (which also takes a leading `+`): a deadline tonic applies and this
/// did not would be answered by tonic's timer. Anything else is no
/// deadline, for either.
fn client_timeout(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(GRPC_TIMEOUT)?.to_str().ok()?;
    let unit_at = text.len().checked_sub(1)?;
    let (digits, unit) = (text.get(..unit_at)?, text.get(unit_at..)?);
    if digits.len() > 8 {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::{HeaderMap, HeaderValue};

    use super::{CLIENT_DEADLINE_MARGIN, RequestDeadline, client_timeout};

    fn headers(timeout: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(timeout) {
            headers.insert("grpc-timeout", value);
        }
        headers
    }

    #[test]
    fn every_unit_of_the_protocol_is_read() {
        let cases = [
            ("2H", Duration::from_secs(7200)),
            ("3M", Duration::from_secs(180)),
            ("4S", Duration::from_secs(4)),
            ("250m", Duration::from_millis(250)),
            ("7u", Duration::from_micros(7)),
            ("9n", Duration::from_nanos(9)),
            ("0m", Duration::ZERO),
            ("99999999H", Duration::from_secs(99_999_999 * 3600)),
            ("00000001S", Duration::from_secs(1)),
            ("+1S", Duration::from_secs(1)),
        ];
        for (header, expected) in cases {
            assert_eq!(client_timeout(&headers(header)), Some(expected), "{header}");
        }
    }

    #[test]
    fn a_value_the_protocol_does_not_allow_is_no_deadline() {
        for header in [
            "",
            "S",
            "m",
            "123456789S",
            "+12345678S",
            "10",
            "10s",
            "10ms",
            "-1S",
            "1 S",
            "1.5S",
            "1SS",
            "1e3m",
        ] {
            assert_eq!(client_timeout(&headers(header)), None, "{header:?}");
        }
        assert_eq!(client_timeout(&HeaderMap::new()), None);
    }

    #[test]
    fn the_shorter_of_the_two_deadlines_holds() {
        let server = Duration::from_secs(30);
        assert_eq!(
            RequestDeadline::of(&headers("5S"), server),
            RequestDeadline::Client(Duration::from_secs(5))
        );
        assert_eq!(
            RequestDeadline::of(&headers("30S"), server),
            RequestDeadline::Server(server)
        );
        assert_eq!(
            RequestDeadline::of(&headers("1M"), server),
            RequestDeadline::Server(server)
        );
        assert_eq!(
            RequestDeadline::of(&headers("bogus"), server),
            RequestDeadline::Server(server)
        );
    }

    #[test]
    fn the_client_deadline_is_answered_a_margin_early_and_never_below_zero() {
        assert_eq!(
            RequestDeadline::Client(Duration::from_millis(300)).wait(),
            Duration::from_millis(300) - CLIENT_DEADLINE_MARGIN
        );
        assert_eq!(
            RequestDeadline::Client(Duration::from_micros(10)).wait(),
            Duration::ZERO
        );
        assert_eq!(
            RequestDeadline::Server(Duration::from_secs(3)).wait(),
            Duration::from_secs(3)
        );
    }
}
