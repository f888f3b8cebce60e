//! Serving an axum `Router` over attested TLS connections.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use attested_tls::net::{self, AttestationConfig, NetError};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http::request::Parts;
use http::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tower_service::Service;

use crate::close::CloseOnDrop;
use crate::PeerAttestation;

/// An accept loop that runs [`net::accept`] on each TCP connection and
/// serves an axum [`Router`] (HTTP/1.1) over the attested connections.
///
/// No request reaches the router before attestation completed in every
/// direction the configuration requires. When it appraises clients (an
/// [`AttestationConfig`] with an appraiser), every request carries the
/// client's [`PeerAttestation`] in its extensions, as accepted when the
/// connection was established; handlers take it with the
/// [`PeerAttestation`] extractor.
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use attested_tls::{net, sim};
/// use attested_tls_http::{AttestedServer, PeerAttestation};
/// use axum::{routing::get, Router};
///
/// let instance = sim::SimInstance::load(std::path::Path::new("sim/instance-0.toml"))?;
/// let att = net::AttestationConfig::attester(Arc::new(sim::SimAttester::new(instance)))?;
/// let (cert, key) = net::tls::self_signed_server_identity("svc.example")?;
/// let server = AttestedServer::new(net::tls::server_config(vec![cert], key)?, att)?;
/// let app = Router::new().route("/", get(|client: Option<PeerAttestation>| async move {
///     format!("attested client: {}", client.is_some())
/// }));
/// server.serve(tokio::net::TcpListener::bind("127.0.0.1:8443").await?, app).await?;
/// # Ok(()) }
/// ```
///
/// Connections whose TLS handshake or attestation fails are closed and
/// logged (tracing, `debug`); they never stop the loop. At most
/// [`AttestedServer::max_connections`] connections are open at a time:
/// beyond that, the loop stops accepting and clients wait in the listen
/// backlog. A connection that sends no complete request head within
/// [`AttestedServer::idle_timeout`] (an idle keep-alive connection, a
/// client that stalls) is closed, so that idle clients do not hold those
/// places.
#[derive(Clone, Debug)]
pub struct AttestedServer {
    tls: Arc<rustls::ServerConfig>,
    att: AttestationConfig,
    max_connections: usize,
    idle_timeout: Duration,
}

impl AttestedServer {
    /// The default bound on open connections.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

    /// The default time a connection may take to send a request head,
    /// counted from when the server starts waiting for it (hyper's default
    /// header read timeout).
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

    /// A server with this TLS configuration (see
    /// [`net::tls::server_config`]) and attestation configuration. Refuses
    /// what [`net::accept`] would refuse on every connection (a TLS
    /// configuration that issues tickets or accepts 0-RTT, an unusable
    /// attestation configuration), so that it fails here rather than per
    /// connection.
    pub fn new(tls: Arc<rustls::ServerConfig>, att: AttestationConfig) -> Result<Self, NetError> {
        net::tls::check_server_config(&tls)?;
        att.check()?;
        if att.required_host_identity().is_some() {
            return Err(NetError::Config(
                "host identity (I1) checks the name a client dialled; a server cannot require it of its clients".into(),
            ));
        }
        Ok(Self {
            tls,
            att,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
        })
    }

    /// Bounds the connections open at a time (at least 1; default
    /// [`AttestedServer::DEFAULT_MAX_CONNECTIONS`]).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self
    }

    /// Closes a connection that has not sent a complete request head
    /// `timeout` after the server started waiting for one (after the
    /// attestation, or after the previous response); default
    /// [`AttestedServer::DEFAULT_IDLE_TIMEOUT`]. The TLS handshake and the
    /// attestation have their own deadlines in the [`AttestationConfig`].
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Serves `router` on the connections `listener` accepts, until the
    /// task is dropped.
    pub async fn serve(self, listener: TcpListener, router: Router) -> std::io::Result<()> {
        self.serve_with_shutdown(listener, router, std::future::pending()).await
    }

    /// Serves `router` until `shutdown` completes, then stops accepting,
    /// drops connections still attesting, lets each connection finish the
    /// request it is serving (hyper's graceful shutdown) and returns when
    /// all are closed.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send,
    ) -> std::io::Result<()> {
        let slots = Arc::new(tokio::sync::Semaphore::new(self.max_connections));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut connections = tokio::task::JoinSet::new();
        let this = Arc::new(self);
        tokio::pin!(shutdown);
        loop {
            // Finished connections are reaped as we go.
            while connections.try_join_next().is_some() {}
            let slot = tokio::select! {
                s = slots.clone().acquire_owned() => s.map_err(std::io::Error::other)?,
                () = &mut shutdown => break,
            };
            let (tcp, peer) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of descriptors, a connection reset before
                        // accept: transient; a client must not stop the loop.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let _ = tcp.set_nodelay(true);
            let this = this.clone();
            let router = router.clone();
            let stop = stop_rx.clone();
            connections.spawn(async move {
                let _slot = slot;
                if let Err(e) = this.serve_connection(tcp, router, stop).await {
                    tracing::debug!(%peer, "attested HTTP connection ended: {e}");
                }
            });
        }
        drop(listener);
        let _ = stop_tx.send(true);
        while connections.join_next().await.is_some() {}
        Ok(())
    }

    async fn serve_connection(
        &self,
        tcp: TcpStream,
        router: Router,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let (stream, client_ear) = tokio::select! {
            r = net::accept(&self.tls, tcp, &self.att) => r?,
            () = stopped(&mut stop) => return Ok(()),
        };
        let client = client_ear.map(PeerAttestation::new);
        // What axum::serve does, plus the client's result on every request.
        // Router is always ready (its poll_ready returns Ready), so `call`
        // without `poll_ready` is sound.
        let service = hyper::service::service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
            // Only this layer sets it: a request never carries one from elsewhere.
            request.extensions_mut().remove::<PeerAttestation>();
            if let Some(c) = &client {
                request.extensions_mut().insert(c.clone());
            }
            router.clone().call(request.map(axum::body::Body::new))
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.idle_timeout)
            .serve_connection(TokioIo::new(CloseOnDrop::new(stream)), service);
        tokio::pin!(connection);
        tokio::select! {
            r = connection.as_mut() => r?,
            () = stopped(&mut stop) => {
                connection.as_mut().graceful_shutdown();
                connection.await?;
            }
        }
        Ok(())
    }
}

/// Completes when the server is shutting down (or is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns is not Send: dropped here, not held.
    let _ = stop.wait_for(|s| *s).await;
}

/// The rejection of the [`PeerAttestation`] extractor: the request came on
/// a connection whose client did not attest (or from outside
/// [`AttestedServer`]). Answers 403 Forbidden.
#[derive(Clone, Copy, Debug)]
pub struct NotAttested;

impl IntoResponse for NotAttested {
    fn into_response(self) -> Response {
        (
            StatusCode::FORBIDDEN,
            "this resource requires an attested client: the connection carries no accepted client attestation\n",
        )
            .into_response()
    }
}

/// A handler that takes a [`PeerAttestation`] serves only attested
/// clients; any other request gets 403 ([`NotAttested`]).
impl<S: Send + Sync> FromRequestParts<S> for PeerAttestation {
    type Rejection = NotAttested;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotAttested> {
        parts.extensions.get::<PeerAttestation>().cloned().ok_or(NotAttested)
    }
}

/// `Option<PeerAttestation>`: the client's result if it attested, `None`
/// otherwise (never a rejection).
impl<S: Send + Sync> OptionalFromRequestParts<S> for PeerAttestation {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<PeerAttestation>().cloned())
    }
}
