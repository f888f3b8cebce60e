//! Attested TLS proxy, both directions, on the default mode (post-handshake
//! Exported Attestation over rustls; no OpenSSL).
//!
//! - [`ServerProxy`] terminates attested TLS in front of a local service
//!   (the backend). It reaches the backend only after the client's
//!   attestation passed (when it requires one: a refused peer never causes
//!   even a TCP connect to the backend), and tells the backend who
//!   connected and how they appraised: PROXY protocol v2 with attestation
//!   TLVs ([`proxy_v2`]), or HTTP/1.1 request headers `atls-peer-*`
//!   ([`http`]).
//! - [`ClientProxy`] is a local plain listener: each local connection opens
//!   an attested connection upstream, and no byte goes either way unless
//!   the server's appraisal passed.
//!
//! Both re-attest their peer periodically on live connections (if they
//! appraise it), bound their connections, time out handshakes,
//! attestations and idle connections, drain at shutdown, and count into a
//! shared [`Metrics`] (Prometheus text on `/metrics`). Configuration:
//! [`ProxyConfig`], the same keys as `atls proxy`'s flags and TOML file.
//! `docs/proxy.md` documents every behaviour, header and byte.
//!
//! ```no_run
//! # async fn f() -> Result<(), attested_tls_proxy::ProxyError> {
//! use attested_tls_proxy::{ProxyConfig, ServerProxy};
//! let cfg = ProxyConfig {
//!     listen: "127.0.0.1:0".into(),
//!     backend: Some("127.0.0.1:8080".into()),
//!     attester: "sim".into(),
//!     sim_instance: Some("sim/instance-0.toml".into()),
//!     ..ProxyConfig::default()
//! };
//! let mut proxy = ServerProxy::new(cfg)?;
//! let addr = proxy.bind().await?;
//! println!("listening on {addr}");
//! proxy.run(async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod client;
pub mod config;
pub mod http;
pub mod metrics;
pub mod proxy_v2;
pub mod relay;
mod server;
pub mod summary;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use client::ClientProxy;
pub use config::{BackendProtocol, ConfigError, LogFormat, ProxyConfig};
pub use metrics::{Metrics, Side};
pub use server::ServerProxy;
pub use summary::PeerSummary;

use attested_tls::net::NetError;
use attested_tls::transport::SessionError;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

/// Errors of building or running a proxy.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The configuration cannot be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An address could not be listened on.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// The address.
        addr: String,
        /// `listen` or `metrics`.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The attestation or TLS configuration was refused.
    #[error("attestation configuration refused: {0}")]
    Net(#[from] NetError),
}

/// How long connections still open when the drain ended get to send their
/// ERROR frame and close_notify (each gives up after 1 s on a peer that
/// does not read) before their tasks are dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// A short, fixed reason for a failed or refused connection: the `reason`
/// label of `atls_proxy_appraisals_total` and the `reason` field of logs.
pub fn reason_of(e: &NetError) -> &'static str {
    match e {
        NetError::Attestation(SessionError::PeerNotTrusted { .. }) => "policy",
        NetError::Attestation(SessionError::PeerDeclined(_)) => "peer_declined",
        NetError::Attestation(SessionError::PeerCannotAttest(_)) => "peer_cannot_attest",
        NetError::Attestation(SessionError::RefusedByPeer(_)) => "refused_by_peer",
        NetError::Attestation(SessionError::Authenticator(_)) => "invalid_authenticator",
        NetError::Attestation(SessionError::Attester(_)) => "attester_failed",
        NetError::Attestation(SessionError::PeerError { .. }) => "peer_error",
        NetError::Attestation(SessionError::RemoteVerifier(_)) => "remote_verifier",
        NetError::Attestation(_) | NetError::Frame(_) => "protocol",
        NetError::Timeout(_) => "timeout",
        NetError::Tls(_) => "tls",
        NetError::Session(_) => "tls_session",
        NetError::Io(_) => "io",
        NetError::Closed(_) | NetError::ClosedInFrame(_) => "closed",
        NetError::AttesterBusy { .. } => "busy",
        NetError::Config(_) => "config",
        NetError::Failed => "failed",
    }
}

/// Whether `e` is a refusal of attestation (by us or the peer) rather than
/// a failure of the connection.
pub fn is_refusal(e: &NetError) -> bool {
    matches!(
        e,
        NetError::Attestation(
            SessionError::PeerNotTrusted { .. }
                | SessionError::PeerDeclined(_)
                | SessionError::PeerCannotAttest(_)
                | SessionError::RefusedByPeer(_)
        )
    )
}

/// The listen backlog asked for (the kernel caps it at
/// `net.core.somaxconn`). Tokio's `TcpListener::bind` asks for 1024: a
/// burst of more connections than that (`atls load --concurrency 2000`)
/// overflowed the accept queue, and the overflowing clients saw resets
/// before the proxy ever accepted them.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` for `what` (the first of its addresses that binds).
async fn bind(addr: &str, what: &'static str) -> Result<TcpListener, ProxyError> {
    let err = |source| ProxyError::Bind {
        addr: addr.to_string(),
        what,
        source,
    };
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await.map_err(err)? {
        let socket = if a.is_ipv4() {
            tokio::net::TcpSocket::new_v4()
        } else {
            tokio::net::TcpSocket::new_v6()
        }
        .map_err(err)?;
        // As TcpListener::bind does: a restarted proxy can bind at once.
        socket.set_reuseaddr(true).map_err(err)?;
        match socket.bind(a).and_then(|()| socket.listen(LISTEN_BACKLOG)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the address resolves to nothing")
    })))
}

/// The listeners of one side, once bound.
struct Bound {
    listener: TcpListener,
    metrics: Option<TcpListener>,
}

/// Where a side listens (and serves `/metrics`), bound on first use.
struct Endpoint {
    listen: String,
    metrics: Option<String>,
    bound: Option<Bound>,
}

impl Endpoint {
    fn new(config: &ProxyConfig) -> Self {
        Self {
            listen: config.listen.clone(),
            metrics: config.metrics.clone(),
            bound: None,
        }
    }

    /// Binds (once); the address listened on.
    async fn bind(&mut self) -> Result<SocketAddr, ProxyError> {
        if self.bound.is_none() {
            let listener = bind(&self.listen, "listen").await?;
            let metrics = match &self.metrics {
                Some(m) => Some(bind(m, "metrics").await?),
                None => None,
            };
            self.bound = Some(Bound { listener, metrics });
        }
        let b = self.bound.as_ref().expect("bound above");
        b.listener.local_addr().map_err(|source| ProxyError::Bind {
            addr: self.listen.clone(),
            what: "listen",
            source,
        })
    }

    /// The `/metrics` address, once bound.
    fn metrics_addr(&self) -> Option<SocketAddr> {
        self.bound
            .as_ref()
            .and_then(|b| b.metrics.as_ref())
            .and_then(|l| l.local_addr().ok())
    }

    /// The listeners, bound if they were not yet.
    async fn take(mut self) -> Result<Bound, ProxyError> {
        self.bind().await?;
        Ok(self.bound.take().expect("bound above"))
    }
}

/// Counts and logs a connection whose attestation exchange failed; the
/// `result` label (`refused` or `failed`) and the `reason`.
fn attestation_failed(m: &Metrics, side: Side, e: &NetError) -> (&'static str, &'static str) {
    let (result, reason) = (if is_refusal(e) { "refused" } else { "failed" }, reason_of(e));
    m.connection(side, result);
    m.appraisal(side, result, reason);
    (result, reason)
}

/// Accepts connections on `bound` and runs `handle` for each, until
/// `shutdown` completes; then drains.
///
/// At most `max_connections` are handled at once: a connection beyond is
/// closed at once (no TLS byte is read or written) and counted as
/// `over_limit`. At shutdown the listeners are closed (new connections are
/// refused), live connections go on for up to `drain`, then the stop
/// signal tells the ones left to close (ERROR and close_notify on attested
/// streams).
async fn accept_loop<H, Fut>(
    bound: Bound,
    side: Side,
    metrics: Metrics,
    max_connections: usize,
    drain: Duration,
    shutdown: impl Future<Output = ()>,
    handle: H,
) where
    H: Fn(TcpStream, SocketAddr, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Bound {
        listener,
        metrics: metrics_listener,
    } = bound;
    let (metrics_stop_tx, metrics_stop_rx) = watch::channel(false);
    let metrics_task = metrics_listener.map(|l| {
        let mut rx = metrics_stop_rx;
        let m = metrics.clone();
        tokio::spawn(m.serve(l, async move {
            let _ = rx.wait_for(|v| *v).await;
        }))
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            r = listener.accept() => {
                let (tcp, peer) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors or memory, a reset before
                        // accept: transient; a client must not stop the
                        // service.
                        warn!(side = side.as_str(), error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    metrics.connection(side, "over_limit");
                    warn!(side = side.as_str(), %peer, outcome = "over_limit", max_connections, "connection closed at once: at the connection limit");
                    drop(tcp);
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let active = metrics.active(side);
                let connection = handle(tcp, peer, stop_rx.clone());
                tasks.spawn(async move {
                    let _slot = slot;
                    let _active = active;
                    connection.await
                });
            }
        }
    }
    drop(listener);
    info!(
        side = side.as_str(),
        live = tasks.len(),
        drain_timeout_s = drain.as_secs(),
        "shutting down: not accepting; draining live connections"
    );
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(drain, all_done).await.is_err() {
        info!(
            side = side.as_str(),
            live = tasks.len(),
            "drain timeout: closing the connections left"
        );
        let _ = stop_tx.send(true);
        let closed = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(CLOSE_GRACE, closed).await.is_err() {
            tasks.abort_all();
        }
    }
    let _ = metrics_stop_tx.send(true);
    if let Some(t) = metrics_task {
        let _ = t.await;
    }
    info!(side = side.as_str(), "stopped");
}
