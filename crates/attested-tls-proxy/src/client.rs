//! The client side: a local plain listener; each connection opens an
//! attested connection upstream.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use attested_tls::net::{self, AttestationConfig};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{ConfigError, Limits};
use crate::metrics::{Latency, Metrics, Side};
use crate::relay::{self, Direction, RelayOptions, StreamReattester};
use crate::{Endpoint, ProxyConfig, ProxyError};

/// A local plain listener in front of an attested server: no byte goes in
/// either direction unless the server's attestation passed the policy.
pub struct ClientProxy {
    shared: Arc<Shared>,
    endpoint: Endpoint,
}

struct Shared {
    att: AttestationConfig,
    tls: Arc<rustls::ClientConfig>,
    upstream: String,
    server_name: String,
    limits: Limits,
    metrics: Metrics,
}

impl std::fmt::Debug for ClientProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientProxy")
            .field("listen", &self.endpoint.listen)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

impl ClientProxy {
    /// A client side as `config` says. `policy` is required: without it
    /// nothing would be appraised, so the proxy refuses to start.
    pub fn new(config: ProxyConfig) -> Result<Self, ProxyError> {
        let appraiser = config.appraiser()?.ok_or(ConfigError::Missing {
            key: "policy",
            side: "client",
            hint: " (--policy FILE): the client side forwards nothing it has not appraised",
        })?;
        let mut att = AttestationConfig::verifier(appraiser).with_max_attester_calls(config.max_attester_calls)?;
        if let Some(a) = config.build_attester()? {
            att = att.with_attester(a)?;
        }
        Self::with_attestation(config, att)
    }

    /// A client side with an attestation configuration built in code; it
    /// must appraise the server (`att.appraiser`). `config`'s `attester`,
    /// `policy` and `max_attester_calls` are not used; its timeouts, and
    /// its `host_ca` roots if any, are set on `att`.
    pub fn with_attestation(config: ProxyConfig, mut att: AttestationConfig) -> Result<Self, ProxyError> {
        for (key, set) in [
            ("backend", config.backend.is_some()),
            (
                "backend_protocol",
                config.backend_protocol != crate::BackendProtocol::Tcp,
            ),
            ("cert", config.cert.is_some()),
            ("key", config.key.is_some()),
            ("attest_with_tls_cert", config.attest_with_tls_cert),
        ] {
            if set {
                return Err(ConfigError::OtherSide {
                    key,
                    side: "client",
                    other: "server",
                }
                .into());
            }
        }
        if att.appraiser.is_none() {
            return Err(ConfigError::Missing {
                key: "policy",
                side: "client",
                hint: " (--policy FILE): the client side forwards nothing it has not appraised",
            }
            .into());
        }
        let upstream = config.upstream.clone().ok_or(ConfigError::Missing {
            key: "upstream",
            side: "client",
            hint: " (--upstream ADDR: the attested server)",
        })?;
        let limits = config.limits()?;
        if let Some(roots) = config.host_identity()? {
            att = att.with_host_identity(roots);
        }
        att.handshake_timeout = limits.handshake;
        att.attestation_timeout = limits.attestation;
        att.check()?;
        let server_name = config
            .server_name
            .clone()
            .unwrap_or_else(|| crate::server::DEFAULT_SERVER_NAME.to_string());
        rustls::pki_types::ServerName::try_from(server_name.clone()).map_err(|e| ConfigError::Invalid {
            key: "server_name",
            reason: format!("{server_name:?}: {e}"),
        })?;
        Ok(Self {
            shared: Arc::new(Shared {
                att,
                tls: net::tls::client_config()?,
                upstream,
                server_name,
                limits,
                metrics: Metrics::new(),
            }),
            endpoint: Endpoint::new(&config),
        })
    }

    /// The metrics this side counts into.
    pub fn metrics(&self) -> Metrics {
        self.shared.metrics.clone()
    }

    /// Listens on `listen` (and `metrics`); the address listened on. Warns
    /// when it is not a loopback address: anyone who reaches it gets the
    /// attested connection.
    pub async fn bind(&mut self) -> Result<SocketAddr, ProxyError> {
        let addr = self.endpoint.bind().await?;
        if !addr.ip().is_loopback() {
            warn!(listen = %addr, "the client side listens on a non-loopback address: whoever reaches it uses the attested connection without attesting anything");
        }
        Ok(addr)
    }

    /// The `/metrics` address, once bound.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.endpoint.metrics_addr()
    }

    /// Serves until `shutdown` completes, then drains (as
    /// [`crate::ServerProxy::run`]).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), ProxyError> {
        let bound = self.endpoint.take().await?;
        let shared = self.shared;
        let limits = shared.limits;
        crate::accept_loop(
            bound,
            Side::Client,
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

const SIDE: Side = Side::Client;

async fn handle(shared: Arc<Shared>, mut local: TcpStream, peer: SocketAddr, stop: watch::Receiver<bool>) {
    let m = &shared.metrics;
    let start = Instant::now();
    let tcp = tokio::time::timeout(shared.limits.connect, TcpStream::connect(&shared.upstream)).await;
    m.observe(Latency::Connect, SIDE, start.elapsed());
    let tcp = match tcp {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return upstream_failed(m, peer, &shared.upstream, &e.to_string()),
        Err(_) => return upstream_failed(m, peer, &shared.upstream, "connect timed out"),
    };
    let _ = tcp.set_nodelay(true);
    let mut timings = net::Timings::default();
    let r = net::connect_timed(&shared.tls, &shared.server_name, tcp, &shared.att, &mut timings).await;
    m.observe(Latency::Handshake, SIDE, timings.handshake);
    if !timings.attestation.is_zero() {
        m.observe(Latency::Attestation, SIDE, timings.attestation);
    }
    let (mut stream, ear) = match r {
        Ok(x) => x,
        Err(e) => {
            let (result, reason) = crate::attestation_failed(m, SIDE, &e);
            warn!(side = "client", %peer, upstream = %shared.upstream, outcome = result, reason, error = %e, "local connection closed: nothing was forwarded");
            // Dropping `local` closes it; not a byte was read from it.
            return;
        }
    };
    m.appraisal(SIDE, "accepted", "ok");
    m.connection(SIDE, "accepted");
    let status = ear
        .as_ref()
        .map(|e| e.consistent_status().to_string())
        .unwrap_or_default();
    info!(side = "client", %peer, upstream = %shared.upstream, outcome = "accepted", server_status = %status, "relaying");
    let counted = |d: Direction, n: usize| m.bytes(SIDE, d.as_str(), n as u64);
    let metrics = m.clone();
    let mut reattester = StreamReattester(move |r: &Result<attested_tls::ear::Ear, net::NetError>| {
        let result = match r {
            Ok(_) => "accepted",
            Err(e) if crate::is_refusal(e) => "refused",
            Err(_) => "failed",
        };
        metrics.reattestation(SIDE, result);
    });
    let opts = RelayOptions {
        idle: shared.limits.idle,
        reattest: shared
            .limits
            .reattest
            .map(|every| (every, &mut reattester as &mut dyn relay::Reattester<_>)),
        stop: Some(stop),
        counted: &counted,
    };
    let r = relay::relay(&mut stream, &mut local, opts).await;
    crate::server::finish(&mut stream, r, m, SIDE, peer).await;
}

fn upstream_failed(m: &Metrics, peer: SocketAddr, upstream: &str, why: &str) {
    m.connection(SIDE, "failed");
    m.appraisal(SIDE, "failed", "upstream_unreachable");
    warn!(side = "client", %peer, %upstream, outcome = "failed", reason = "upstream_unreachable", error = why, "local connection closed: cannot reach the upstream server");
}
