//! The hyper connector: attested TLS first, HTTP after.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use attested_tls::net::{self, AttestationConfig, AttestedStream, NetError};
use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::close::CloseOnDrop;
use crate::PeerAttestation;

type ClientStream = CloseOnDrop<AttestedStream<tokio_rustls::client::TlsStream<TcpStream>>>;

/// A connector for hyper-util's legacy `Client` (a tower `Service<Uri>`)
/// that opens attested TLS connections and yields a connection only after
/// the server's Evidence passed the appraisal of its
/// [`AttestationConfig`].
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// use attested_tls::{net::AttestationConfig, policy::Policy};
/// use attested_tls_http::{AttestedConnector, PeerAttestation};
/// use hyper_util::{client::legacy::Client, rt::TokioExecutor};
///
/// let policy = Policy::load(std::path::Path::new("sim/policy.toml"))?;
/// let connector = AttestedConnector::new(AttestationConfig::verifier(policy.appraiser()?))?;
/// let client: Client<_, String> = Client::builder(TokioExecutor::new()).build(connector);
/// let response = client.get("https://svc.example:8443/".parse()?).await?;
/// let server = response.extensions().get::<PeerAttestation>().expect("set by the connector");
/// println!("server attested: {}", server.ear().status);
/// # Ok(()) }
/// ```
///
/// Only `https` URIs are opened (anything else is refused with
/// [`NetError::Config`] before any connection is made); the URI's host is
/// both the TCP destination and the TLS server name (the name host
/// identity, I1, is checked for when the configuration or its policy
/// requires it); the port defaults to 443. The configuration must have an
/// appraiser: a connector that does not appraise the server is refused.
///
/// **Pooling.** hyper-util's `Client` keeps idle connections in a pool of
/// its own, keyed by scheme and authority, and a `Client` has exactly one
/// connector: every connection in a `Client`'s pool was appraised under
/// that connector's configuration. Requests that need another policy need
/// another `Client` (with another connector); two `Client`s never share
/// connections. A pooled connection carries the result of its appraisal
/// when it was opened; bound its age with the `Client` builder's
/// `pool_idle_timeout` (and `pool_max_idle_per_host(0)` for a new appraisal
/// per request).
#[derive(Clone, Debug)]
pub struct AttestedConnector {
    tls: Arc<rustls::ClientConfig>,
    att: AttestationConfig,
    connect_timeout: Duration,
}

impl AttestedConnector {
    /// Deadline for the TCP connection (the TLS handshake and the
    /// attestation have theirs in the [`AttestationConfig`]).
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A connector that appraises servers with `att` (which must have an
    /// appraiser) over [`net::tls::client_config`]: TLS 1.3, no resumption,
    /// server certificates trusted through attestation.
    pub fn new(att: AttestationConfig) -> Result<Self, NetError> {
        Self::with_tls_config(att, net::tls::client_config()?)
    }

    /// A connector with the given rustls client configuration (say,
    /// [`net::tls::client_config_with_roots`] for a WebPKI identity on top
    /// of attestation). A configuration that enables 0-RTT is refused.
    pub fn with_tls_config(att: AttestationConfig, tls: Arc<rustls::ClientConfig>) -> Result<Self, NetError> {
        net::tls::check_client_config(&tls)?;
        att.check()?;
        if att.appraiser.is_none() {
            return Err(NetError::Config(
                "the attested connector sends requests only to appraised servers: \
                 its AttestationConfig needs an appraiser (a policy)"
                    .into(),
            ));
        }
        Ok(Self {
            tls,
            att,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// Sets the deadline for the TCP connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The attestation configuration every connection is made with.
    pub fn attestation_config(&self) -> &AttestationConfig {
        &self.att
    }

    /// Opens an attested connection to `uri`'s authority.
    async fn open(self, uri: Uri) -> Result<AttestedConnection, NetError> {
        let (host, port) = destination(&uri)?;
        let tcp = tokio::time::timeout(self.connect_timeout, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| NetError::Timeout("TCP connect"))??;
        // Requests are small writes the server answers: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let (stream, ear) = net::connect(&self.tls, &host, tcp, &self.att).await?;
        // The configuration has an appraiser, so `connect` returned only
        // after the server's result was accepted; fail closed all the same.
        let ear = ear.ok_or_else(|| NetError::Session("the server was not appraised".into()))?;
        Ok(AttestedConnection {
            io: TokioIo::new(CloseOnDrop::new(stream)),
            peer: PeerAttestation::new(ear),
        })
    }
}

/// The host (without IPv6 brackets) and port of an `https` URI.
fn destination(uri: &Uri) -> Result<(String, u16), NetError> {
    match uri.scheme_str() {
        Some("https") => {}
        other => {
            return Err(NetError::Config(format!(
                "refused to open {uri}: the attested connector opens only https URIs, not {}",
                other.map_or_else(|| "a URI without a scheme".to_string(), |s| format!("{s:?}"))
            )))
        }
    }
    let host = uri
        .host()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| NetError::Config(format!("refused to open {uri}: the URI has no host")))?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Ok((host.to_string(), uri.port_u16().unwrap_or(443)))
}

impl tower_service::Service<Uri> for AttestedConnector {
    type Response = AttestedConnection;
    type Error = NetError;
    type Future = Pin<Box<dyn Future<Output = Result<AttestedConnection, NetError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), NetError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().open(uri))
    }
}

/// An attested TLS connection whose server's Evidence was accepted, for
/// hyper: its [`Connection::connected`] carries the server's
/// [`PeerAttestation`], which hyper-util's `Client` copies into the
/// extensions of every response received on it.
#[derive(Debug)]
pub struct AttestedConnection {
    io: TokioIo<ClientStream>,
    peer: PeerAttestation,
}

impl AttestedConnection {
    /// The server's attestation result.
    pub fn peer_attestation(&self) -> &PeerAttestation {
        &self.peer
    }
}

impl Connection for AttestedConnection {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.peer.clone())
    }
}

impl hyper::rt::Read for AttestedConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for AttestedConnection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// The [`NetError`] behind an HTTP client error, if there is one: walks
/// `error`'s source chain (hyper-util's `Error` has the connector's error
/// as its source). A refused server is
/// `NetError::Attestation(SessionError::PeerNotTrusted { .. })`, whose
/// result [`NetError::peer_ear`] returns.
pub fn find_net_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a NetError> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(n) = e.downcast_ref::<NetError>() {
            return Some(n);
        }
        next = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the scheme check: a plain `http` URI (or one without a
    /// scheme) must never be opened by the attested connector.
    #[test]
    fn destination_refuses_other_schemes() {
        for uri in ["http://svc.example/", "/relative", "ftp://svc.example/"] {
            let uri: Uri = uri.parse().unwrap();
            match destination(&uri) {
                Err(NetError::Config(m)) => assert!(m.contains("only https"), "{m}"),
                other => panic!("{uri}: {other:?}"),
            }
        }
    }

    #[test]
    fn destination_host_and_port() {
        let d = |s: &str| destination(&s.parse().unwrap()).unwrap();
        assert_eq!(d("https://svc.example/x"), ("svc.example".into(), 443));
        assert_eq!(d("https://127.0.0.1:8443/"), ("127.0.0.1".into(), 8443));
        assert_eq!(d("https://[::1]:9/"), ("::1".into(), 9));
    }

    /// Guards fail-closed construction: a connector that would not appraise
    /// the server is refused.
    #[test]
    fn connector_requires_an_appraiser() {
        match AttestedConnector::new(AttestationConfig::default()) {
            Err(NetError::Config(m)) => assert!(m.contains("needs an appraiser"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn find_net_error_walks_the_chain() {
        #[derive(Debug)]
        struct Outer(NetError);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("outer")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(NetError::Timeout("TCP connect"));
        assert!(matches!(find_net_error(&e), Some(NetError::Timeout("TCP connect"))));
        let plain = std::io::Error::other("x");
        assert!(find_net_error(&plain).is_none());
    }
}
