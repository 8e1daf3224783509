//! Serving the gateway's router on a TCP listener with the connection limits an edge server
//! needs, which `axum::serve` leaves unset.
//!
//! `GatewayConfig::max_in_flight` bounds the *requests* being served; nothing bounded the
//! *connections*. Under `axum::serve` hyper has no timer, so a client that connects and never
//! finishes (or never starts) a request holds its connection, a task and a file descriptor
//! forever, and enough of them exhaust the descriptors: accepting then fails for everyone.
//! [`serve`] adds what nginx has as `client_header_timeout` and `worker_connections`:
//!
//! - a **header read timeout** (HTTP/1.1): a request's head must arrive within it, and so must
//!   the next request's on an idle keep-alive connection; the connection is closed otherwise.
//!   Once a request is read the timeout no longer runs, so a long response (an event stream)
//!   is not cut;
//! - a **connection limit**: at the limit the next connection waits in the kernel's accept
//!   backlog until one closes, instead of the process running out of descriptors;
//! - **HTTP/2 pings**, which close the connection of a peer that vanished without closing it
//!   (HTTP/2 has no header read timeout to do so).
//!
//! It also bounds the graceful drain, as the services do: after the shutdown signal, open
//! connections finish their requests (idle ones close at once), and whatever is still open
//! after [`ServeOptions::drain_timeout`] (a client holding an event stream) is dropped.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// hyper's own default for the header read timeout, which it applies only with a timer.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default connection limit: far above any in-flight limit (keep-alive connections are mostly
/// idle), far below the descriptor limits servers run with.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

/// How often an HTTP/2 connection is pinged, and how long the answer may take before the
/// connection is closed as dead.
const HTTP2_PING_INTERVAL: Duration = Duration::from_secs(30);
const HTTP2_PING_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a graceful stop waits for open connections by default.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Most connections open at once; `None`: unbounded.
    pub max_connections: Option<usize>,
    /// How long an HTTP/1.1 client may take to send a request's head, counted from when the
    /// connection is ready to read one (so an idle keep-alive connection closes after it too).
    pub header_read_timeout: Duration,
    /// How long a graceful stop waits for open connections before dropping them.
    pub drain_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` (HTTP/1.1, and HTTP/2 with prior knowledge) until `shutdown`
/// completes, then drains as [`ServeOptions::drain_timeout`] allows. Accepted sockets get
/// `TCP_NODELAY`: small JSON answers must not wait for the client's delayed ACK.
///
/// Returns an error only if the listener itself fails; a failed accept of one connection (the
/// peer gone, or descriptors momentarily exhausted) is logged and retried.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    // HTTP/2 has no header read timeout to close a vanished peer's connection: pings do
    // (answered by any live client, so an idle but live connection stays).
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(HTTP2_PING_INTERVAL))
        .keep_alive_timeout(HTTP2_PING_TIMEOUT);
    let builder = Arc::new(builder);
    let permits = options
        .max_connections
        .map(|limit| Arc::new(Semaphore::new(limit)));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // At the limit, wait here for a connection to close: the next one stays in the
        // kernel's backlog meanwhile.
        let permit = match &permits {
            Some(permits) => tokio::select! {
                permit = Arc::clone(permits).acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    // Never closed: the semaphore lives as long as this loop.
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            },
            None => None,
        };
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_failed(&error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Best effort: a socket that refuses the option still serves, only slower.
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let header_read_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            if protocol_known(&stream, header_read_timeout).await {
                let connection = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                // A connection's end (the peer gone, a header timeout) is the client's
                // business.
                let _ = watcher.watch(connection).await;
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(options.drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            drain_timeout = ?options.drain_timeout,
            "connections still open after the drain timeout are dropped"
        );
    }
    Ok(())
}

/// Waits, at most `within`, until the client has sent enough to tell its protocol: the
/// HTTP/2 preface, or a byte that differs from it (HTTP/1.1). False when it sends nothing (or
/// only part of the preface) in that time, or closes.
///
/// hyper's header read timeout starts only once the connection is known to be HTTP/1.1, and
/// the automatic builder waits for those first bytes without a timer: a client that connects
/// and stays silent would otherwise hold its connection forever.
async fn protocol_known(stream: &TcpStream, within: Duration) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let decided = async {
        let mut start = [0u8; PREFACE.len()];
        loop {
            let seen = match stream.peek(&mut start).await {
                Ok(0) | Err(_) => return false,
                Ok(seen) => seen,
            };
            if seen == PREFACE.len() || start[..seen] != PREFACE[..seen] {
                return true;
            }
            // The start of the preface: the rest is on its way (`peek` would return at once
            // while those bytes wait, so pause instead of spinning).
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::time::timeout(within, decided).await.unwrap_or(false)
}

/// What a failed `accept` costs: nothing when the peer gave up before it was accepted; a
/// pause when the process is out of descriptors (retrying at once would spin), as hyper 0.14's
/// server did.
async fn accept_failed(error: &io::Error) {
    if matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accepting a connection failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
