//! Loopback ports for servers a test starts as child processes (a
//! PostgreSQL cluster, a Redis, a metrics listener), which must be known
//! before the child binds them, and are bound again after a restart.
//!
//! A port the kernel hands out for `127.0.0.1:0` comes from its ephemeral
//! range, the range every outgoing connection's local port comes from too:
//! between the test choosing it and the child binding it (initdb takes
//! seconds), or while a server is down for a restart, any of the suite's
//! many connections may take it, and the child then fails to start. So
//! the port is chosen below that range, where only listeners bind.

use std::net::{SocketAddr, TcpListener};

use anyhow::Context;

/// The lowest port chosen.
const LOWEST: u16 = 20_000;

/// A loopback address on a port nobody listens on right now, outside the
/// kernel's ephemeral range (or from it, where the range leaves no room
/// below it).
pub fn free_local_address() -> anyhow::Result<SocketAddr> {
    let below = ephemeral_start().unwrap_or(32_768);
    if below > LOWEST {
        let span = below - LOWEST;
        for _ in 0..64 {
            let offset = uuid::Uuid::new_v4().as_u128() % u128::from(span);
            let port = LOWEST + u16::try_from(offset).unwrap_or(0);
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                return Ok(listener.local_addr()?);
            }
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// [`free_local_address`]'s port.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(free_local_address()?.port())
}

/// The first port of the kernel's ephemeral range (Linux), if known.
fn ephemeral_start() -> Option<u16> {
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    range.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_is_free_and_below_the_ephemeral_range() -> anyhow::Result<()> {
        let port = free_port()?;
        if let Some(start) = ephemeral_start().filter(|start| *start > LOWEST) {
            assert!((LOWEST..start).contains(&port), "{port}");
        }
        TcpListener::bind(("127.0.0.1", port))?;
        Ok(())
    }
}
