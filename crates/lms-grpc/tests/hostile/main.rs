//! A hostile client against a real server, in one test binary: calls
//! without a token and out of scope on every method (`access`), a
//! malformed-input sweep over every RPC (`malformed`), 1,000 streams on
//! one connection and 100 `WatchRun` watchers during a migration
//! (`streams`), the server's own limits (`limits`) and the databases going
//! away under a read flood (`outage`). Each test asserts the exact code,
//! and that the server stays responsive where load is involved (a health
//! check answers within 1 s). Loops are bounded in count and time, on
//! loopback only.

#[path = "../support/mod.rs"]
mod support;

mod access;
mod limits;
mod malformed;
mod outage;
mod streams;
