//! The server side: attested TLS in, a local service out.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use attested_tls::ea::AuthenticatorIdentity;
use attested_tls::net::{self, AttestationConfig, AttestedStream, TlsStreamExt};
use attested_tls::transport::frame::error_code;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{ConfigError, Limits};
use crate::metrics::{Latency, Metrics, Side};
use crate::relay::{self, Direction, RelayError, RelayOptions, StreamReattester};
use crate::{BackendProtocol, Endpoint, PeerSummary, ProxyConfig, ProxyError};

/// The name in the server side's self-signed TLS certificate (and the
/// client side's default `server_name`).
pub const DEFAULT_SERVER_NAME: &str = "atls-server";

/// Attested TLS in front of a local service. Built from a [`ProxyConfig`];
/// [`ServerProxy::bind`] listens, [`ServerProxy::run`] serves until its
/// shutdown future completes, then drains.
pub struct ServerProxy {
    shared: Arc<Shared>,
    endpoint: Endpoint,
}

struct Shared {
    att: AttestationConfig,
    tls: Arc<rustls::ServerConfig>,
    backend: String,
    protocol: BackendProtocol,
    limits: Limits,
    metrics: Metrics,
}

impl std::fmt::Debug for ServerProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProxy")
            .field("listen", &self.endpoint.listen)
            .field("backend", &self.shared.backend)
            .field("protocol", &self.shared.protocol)
            .finish_non_exhaustive()
    }
}

impl ServerProxy {
    /// A server side as `config` says: its attester (`attester`,
    /// `sim_instance`, `tsm_dir`) and, with `policy`, the appraiser clients
    /// must pass (mutual attestation).
    pub fn new(config: ProxyConfig) -> Result<Self, ProxyError> {
        let mut att = AttestationConfig::default().with_max_attester_calls(config.max_attester_calls)?;
        if let Some(a) = config.build_attester()? {
            att = att.with_attester(a)?;
        }
        if let Some(appraiser) = config.appraiser()? {
            att = att.with_appraiser(appraiser);
        }
        Self::with_attestation(config, att)
    }

    /// A server side with an attestation configuration built in code (an
    /// attester or appraiser of your own); `config`'s `attester`, `policy`
    /// and `max_attester_calls` are not used, its timeouts are set on
    /// `att`.
    pub fn with_attestation(config: ProxyConfig, mut att: AttestationConfig) -> Result<Self, ProxyError> {
        for (key, set) in [
            ("upstream", config.upstream.is_some()),
            ("server_name", config.server_name.is_some()),
            ("host_ca", !config.host_ca.is_empty()),
        ] {
            if set {
                return Err(ConfigError::OtherSide {
                    key,
                    side: "server",
                    other: "client",
                }
                .into());
            }
        }
        let backend = config.backend.clone().ok_or(ConfigError::Missing {
            key: "backend",
            side: "server",
            hint: " (--backend ADDR: the local service to forward to)",
        })?;
        let limits = config.limits()?;
        if att.attester.is_none() && att.appraiser.is_none() {
            return Err(ConfigError::Invalid {
                key: "attester",
                reason: "nothing to attest: give an attester and/or a policy".into(),
            }
            .into());
        }
        if att.required_host_identity().is_some() {
            return Err(ConfigError::Invalid {
                key: "policy",
                reason:
                    "[host_identity] (I1) checks the name a client dialled; a server cannot require it of its clients"
                        .into(),
            }
            .into());
        }
        let identity = config.tls_identity()?;
        if config.attest_with_tls_cert {
            let Some((chain, key)) = &identity else {
                return Err(ConfigError::Invalid {
                    key: "attest_with_tls_cert",
                    reason: "needs `cert` and `key` (--cert FILE --key FILE)".into(),
                }
                .into());
            };
            if att.attester.is_none() {
                return Err(ConfigError::Invalid {
                    key: "attest_with_tls_cert",
                    reason: "needs an attester: without one nothing is attested".into(),
                }
                .into());
            }
            // The authenticator's certificate becomes the TLS chain, so its
            // key is the attested one (I1 checks that chain, not the TLS
            // handshake's).
            att.identity = Some(
                AuthenticatorIdentity::new(chain.clone(), key).map_err(|e| ConfigError::Invalid {
                    key: "key",
                    reason: format!("not usable as the authenticator's key: {e}"),
                })?,
            );
        }
        att.handshake_timeout = limits.handshake;
        att.attestation_timeout = limits.attestation;
        att.check()?;
        let (chain, key) = match identity {
            Some(x) => x,
            None => {
                let (cert, key) = net::tls::self_signed_server_identity(crate::server::DEFAULT_SERVER_NAME)?;
                (vec![cert], key)
            }
        };
        let tls = net::tls::server_config(chain, key)?;
        Ok(Self {
            shared: Arc::new(Shared {
                att,
                tls,
                backend,
                protocol: config.backend_protocol,
                limits,
                metrics: Metrics::new(),
            }),
            endpoint: Endpoint::new(&config),
        })
    }

    /// The metrics this side counts into (the `/metrics` endpoint shows
    /// them).
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics.clone()
    }

    /// Listens on `listen` (and `metrics`, if set); the address listened on.
    pub async fn bind(&mut self) -> Result<SocketAddr, ProxyError> {
        self.endpoint.bind().await
    }

    /// The `/metrics` address, once bound (`None` without `metrics`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.endpoint.metrics_addr()
    }

    /// Serves until `shutdown` completes, then stops accepting, lets live
    /// connections go on for up to `drain_timeout`, closes the rest (ERROR
    /// 6 and close_notify) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let bound = self.endpoint.take().await?;
        let shared = self.shared;
        let limits = shared.limits;
        crate::accept_loop(
            bound,
            Side::Server,
            shared.metrics.clone(),
            limits.max_connections,
            limits.drain,
            shutdown,
            move |tcp, peer, stop| handle(shared.clone(), tcp, peer, stop),
        )
        .await;
        Ok(())
    }
}

const SIDE: Side = Side::Server;

async fn handle(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr, stop: watch::Receiver<bool>) {
    let m = &shared.metrics;
    let local = tcp.local_addr().unwrap_or(peer);
    let mut timings = net::Timings::default();
    let r = net::accept_timed(&shared.tls, tcp, &shared.att, &mut timings).await;
    m.observe(Latency::Handshake, SIDE, timings.handshake);
    if !timings.attestation.is_zero() {
        m.observe(Latency::Attestation, SIDE, timings.attestation);
    }
    let (mut stream, ear) = match r {
        Ok(x) => x,
        Err(e) => {
            let (result, reason) = crate::attestation_failed(m, SIDE, &e);
            warn!(side = "server", %peer, outcome = result, reason, error = %e, "connection not relayed: the backend was not contacted");
            return;
        }
    };
    let required = shared.att.appraiser.is_some();
    let summary = match &ear {
        Some(e) => PeerSummary::from_ear(e),
        None => PeerSummary::not_required(),
    };
    m.appraisal(SIDE, "accepted", if required { "ok" } else { "not_required" });
    // Only now, after the client passed (if it had to), is the backend
    // contacted.
    let start = Instant::now();
    let backend = tokio::time::timeout(shared.limits.connect, TcpStream::connect(&shared.backend)).await;
    m.observe(Latency::Connect, SIDE, start.elapsed());
    let mut backend = match backend {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => return backend_failed(&shared, &mut stream, peer, &e.to_string()).await,
        Err(_) => return backend_failed(&shared, &mut stream, peer, "connect timed out").await,
    };
    let _ = backend.set_nodelay(true);
    m.connection(SIDE, "accepted");
    info!(side = "server", %peer, outcome = "accepted", peer_status = %summary.status, measurement = %summary.measurement, "relaying to the backend");
    let summary = Arc::new(RwLock::new(summary));
    let counted = |d: Direction, n: usize| m.bytes(SIDE, d.as_str(), n as u64);
    let metrics = m.clone();
    let latest = summary.clone();
    let mut reattester = StreamReattester(move |r: &Result<attested_tls::ear::Ear, net::NetError>| match r {
        Ok(ear) => {
            metrics.reattestation(SIDE, "accepted");
            *latest.write().unwrap_or_else(|e| e.into_inner()) = PeerSummary::from_ear(ear);
        }
        Err(e) => {
            metrics.reattestation(SIDE, if crate::is_refusal(e) { "refused" } else { "failed" });
        }
    });
    let opts = RelayOptions {
        idle: shared.limits.idle,
        // Only a side that appraises its peer re-attests it.
        reattest: match (shared.limits.reattest, required) {
            (Some(every), true) => Some((every, &mut reattester as &mut dyn relay::Reattester<_>)),
            _ => None,
        },
        stop: Some(stop),
        counted: &counted,
    };
    let r = match shared.protocol {
        BackendProtocol::Tcp => relay::relay(&mut stream, &mut backend, opts).await,
        BackendProtocol::ProxyV2 => {
            let s = summary.read().unwrap_or_else(|e| e.into_inner()).clone();
            match crate::proxy_v2::header_for(peer, local, &s) {
                Ok(h) => match backend.write_all(&h).await {
                    Ok(()) => relay::relay(&mut stream, &mut backend, opts).await,
                    Err(e) => Err(RelayError::Other(e)),
                },
                Err(e) => Err(RelayError::Other(std::io::Error::other(e))),
            }
        }
        BackendProtocol::Http => crate::http::serve(&mut stream, backend, summary, peer, opts).await,
    };
    finish(&mut stream, r, m, SIDE, peer).await;
}

/// The backend could not be reached: the client gets ERROR 7 (internal
/// error) and close_notify.
async fn backend_failed<S: TlsStreamExt>(shared: &Shared, stream: &mut AttestedStream<S>, peer: SocketAddr, why: &str) {
    shared.metrics.connection(SIDE, "backend_failed");
    warn!(side = "server", %peer, outcome = "backend_failed", backend = %shared.backend, error = why, "cannot reach the backend");
    stream
        .close_with_error(error_code::INTERNAL, "the service behind the proxy is unavailable")
        .await;
}

/// Closes the attested leg after its relay ended with `r`, as every
/// attested connection closes (`docs/proxy.md`); the other leg is closed
/// when the caller drops it.
pub(crate) async fn finish<S: TlsStreamExt>(
    stream: &mut AttestedStream<S>,
    r: Result<(), RelayError>,
    m: &Metrics,
    side: Side,
    peer: SocketAddr,
) {
    match &r {
        Ok(()) => info!(side = side.as_str(), %peer, outcome = "closed", "connection ended"),
        Err(e) => info!(side = side.as_str(), %peer, outcome = "closed", reason = %e, "connection ended"),
    }
    match r {
        Ok(()) => {}
        Err(e @ RelayError::Idle(_)) => stream.close_with_error(error_code::TIMEOUT, &e.to_string()).await,
        Err(RelayError::Stopped) => {
            m.shutdown_closed(side);
            stream
                .close_with_error(
                    error_code::TIMEOUT,
                    "the proxy is shutting down (drain timeout expired)",
                )
                .await;
        }
        // The attested stream failed by itself, or its re-attestation did:
        // it has already sent its ERROR (or OUTCOME) and close_notify.
        Err(RelayError::Peer(_) | RelayError::Reattest(_)) => {}
        Err(RelayError::Other(_)) => {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(1), stream.shutdown()).await;
        }
    }
}
