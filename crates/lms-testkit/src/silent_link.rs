//! A TCP link in front of a server that a test can cut silently.
//!
//! Cut, it keeps every connection open and accepts new ones, but passes
//! nothing either way: what a dropped route or a firewall that drops
//! packets looks like to a client. There is no reset and no error, only
//! silence, so a client notices nothing until its own timeouts fire. The
//! bytes held while cut are passed on when the link is restored, as TCP's
//! retransmissions would deliver them.
//!
//! It also counts the connections it accepted and those still open, so a
//! test can see a server close a connection, or a client open a new one.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use lms_config::PostgresUrl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A link to `target` on a loopback port of its own; dropping it closes it.
#[derive(Debug)]
pub struct SilentLink {
    address: SocketAddr,
    passing: watch::Sender<bool>,
    counts: Arc<Counts>,
    hang_up: HangUp,
    acceptor: JoinHandle<()>,
}

/// The bytes after whose passing to the server a connection is closed, once
/// (`SilentLink::hang_up_after`).
type HangUp = Arc<Mutex<Option<&'static [u8]>>>;

/// The link's connections: accepted ever, and open now.
#[derive(Debug, Default)]
struct Counts {
    accepted: AtomicUsize,
    open: AtomicUsize,
}

/// One open connection; counted open until it is dropped.
struct OpenConnection(Arc<Counts>);

impl OpenConnection {
    fn new(counts: Arc<Counts>) -> OpenConnection {
        counts.accepted.fetch_add(1, Ordering::SeqCst);
        counts.open.fetch_add(1, Ordering::SeqCst);
        OpenConnection(counts)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SilentLink {
    /// Opens a link that passes everything to `target`.
    pub async fn to(target: SocketAddr) -> anyhow::Result<SilentLink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let address = listener.local_addr()?;
        let passing = watch::Sender::new(true);
        let counts = Arc::new(Counts::default());
        let hang_up = HangUp::default();
        let acceptor = tokio::spawn(accept(
            listener,
            target,
            passing.clone(),
            counts.clone(),
            hang_up.clone(),
        ));
        Ok(SilentLink {
            address,
            passing,
            counts,
            hang_up,
            acceptor,
        })
    }

    /// A link in front of the database server `url` names, and the URL
    /// that reaches the same database through the link.
    pub async fn in_front_of(url: &PostgresUrl) -> anyhow::Result<(SilentLink, PostgresUrl)> {
        let target = tokio::net::lookup_host(url.host_port())
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{} resolves to no address", url.host_port()))?;
        let link = SilentLink::to(target).await?;
        let through = url
            .with_server("127.0.0.1", link.port())
            .map_err(anyhow::Error::msg)?;
        Ok((link, through))
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address clients connect to, in front of the target.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Connections accepted since the link opened, closed ones included.
    pub fn connections_accepted(&self) -> usize {
        self.counts.accepted.load(Ordering::SeqCst)
    }

    /// Connections open now: accepted, and closed by neither side.
    pub fn connections_open(&self) -> usize {
        self.counts.open.load(Ordering::SeqCst)
    }

    /// Stops passing bytes, both on open connections and on new ones.
    pub fn cut(&self) {
        self.passing.send_replace(false);
    }

    /// Passes bytes again, the held ones first.
    pub fn restore(&self) {
        self.passing.send_replace(true);
    }

    /// Closes, once, the connection whose client sends `bytes` next (a
    /// statement's text, say), right after passing them on: the server
    /// gets the statement and carries it out, the client never hears
    /// back. A reply lost with the connection.
    pub fn hang_up_after(&self, bytes: &'static [u8]) {
        *self.hang_up.lock().unwrap_or_else(PoisonError::into_inner) = Some(bytes);
    }
}

impl Drop for SilentLink {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn accept(
    listener: TcpListener,
    target: SocketAddr,
    passing: watch::Sender<bool>,
    counts: Arc<Counts>,
    hang_up: HangUp,
) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        let passing = passing.subscribe();
        let open = OpenConnection::new(counts.clone());
        let hang_up = hang_up.clone();
        connections.spawn(async move {
            // Counted open until either side closes (this task ends).
            let _open = open;
            // The server is reached at once, whatever the link's state: it
            // is the network between them that is cut, not the server.
            let Ok(server) = TcpStream::connect(target).await else {
                return;
            };
            let (client_reads, client_writes) = client.into_split();
            let (server_reads, server_writes) = server.into_split();
            tokio::select! {
                () = pass(client_reads, server_writes, passing.clone(), Some(hang_up)) => {}
                () = pass(server_reads, client_writes, passing, None) => {}
            }
        });
    }
    // Dropping the set (when the link is dropped and this task aborted)
    // closes every connection.
}

/// Copies `from` to `to`, holding each chunk while the link is cut, and
/// returns (closing the connection) after passing the bytes `hang_up`
/// waits for.
async fn pass(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    mut passing: watch::Receiver<bool>,
    hang_up: Option<HangUp>,
) {
    let mut chunk = vec![0_u8; 16 * 1024];
    loop {
        let read = match from.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if passing.wait_for(|passing| *passing).await.is_err() {
            return;
        }
        let Some(bytes) = chunk.get(..read) else {
            return;
        };
        if to.write_all(bytes).await.is_err() {
            return;
        }
        if let Some(hang_up) = &hang_up {
            let mut armed = hang_up.lock().unwrap_or_else(PoisonError::into_inner);
            if armed.is_some_and(|after| {
                !after.is_empty() && bytes.windows(after.len()).any(|window| window == after)
            }) {
                *armed = None;
                return;
            }
        }
    }
}
