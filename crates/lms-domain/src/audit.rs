//! The audit trail's values: who called which write method on what, and
//! how it ended; and the request ids (AIP-155) that make creates safe to
//! retry.

use std::fmt;

use chrono::{DateTime, Utc};

/// The outcome of a call as its `google.rpc.Code` number (0 is OK). The
/// number is the canonical, stable spelling; the API layer turns it into
/// its own code type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CallCode(u8);

impl CallCode {
    pub const OK: CallCode = CallCode(0);
    /// What a call ended with when nothing better is known.
    pub const UNKNOWN: CallCode = CallCode(2);
    /// The largest canonical code (UNAUTHENTICATED).
    const LAST: u8 = 16;

    /// A canonical code, or None for a number that is not one.
    pub fn new(number: i32) -> Option<CallCode> {
        u8::try_from(number)
            .ok()
            .filter(|number| *number <= Self::LAST)
            .map(CallCode)
    }

    pub fn number(self) -> i32 {
        i32::from(self.0)
    }

    pub fn is_ok(self) -> bool {
        self == CallCode::OK
    }
}

impl fmt::Display for CallCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A retry key: the client's request id and a digest of the rest of the
/// request, so that the same id with another body is told apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKey {
    pub request_id: String,
    pub body_sha256: [u8; 32],
}

/// One write call, as its audit row will record it: the caller's token
/// name, the method, and the resource (unknown for a create until it has
/// created one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub actor: String,
    pub method: String,
    pub resource: Option<String>,
    /// Creates only: the client's request id, if it sent one.
    pub key: Option<RequestKey>,
}

impl Call {
    /// The audit row of this call ending with `code`.
    pub fn event(&self, code: CallCode) -> NewAuditEvent {
        NewAuditEvent {
            actor: self.actor.clone(),
            method: self.method.clone(),
            resource: self.resource.clone(),
            code,
            request_id: self.key.as_ref().map(|key| key.request_id.clone()),
        }
    }
}

/// An audit row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEvent {
    pub actor: String,
    pub method: String,
    pub resource: Option<String>,
    pub code: CallCode,
    pub request_id: Option<String>,
}

/// An audit row as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub method: String,
    pub resource: Option<String>,
    pub code: CallCode,
    pub request_id: Option<String>,
}

/// Which audit rows a list returns; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub method: Option<String>,
    pub resource: Option<String>,
    /// At or after.
    pub since: Option<DateTime<Utc>>,
    /// Before.
    pub until: Option<DateTime<Utc>>,
}

/// What a create with a request id found.
#[derive(Debug, Clone, PartialEq)]
pub enum Created<T> {
    /// Created now.
    New(T),
    /// Created by an earlier call with the same id and body: its response,
    /// as the API encoded it then.
    Replayed(Vec<u8>),
    /// The id was used before with another body.
    RequestIdReused,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_codes_are_call_codes() {
        assert_eq!(CallCode::new(0), Some(CallCode::OK));
        assert_eq!(CallCode::new(16).map(CallCode::number), Some(16));
        assert_eq!(CallCode::new(17), None);
        assert_eq!(CallCode::new(-1), None);
    }
}
