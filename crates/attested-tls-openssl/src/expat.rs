//! The default mode (post-handshake Exported Attestation: RFC 9261
//! authenticators carrying Evidence, the `docs/transport.md` framing) over
//! OpenSSL 3.
//!
//! This is the same sans-IO session and RFC 9261 code as
//! [`attested_tls::net`]'s rustls adapter, run by the same
//! [`AttestedStream`]; only the TLS stack differs. RFC 9261 needs one thing
//! of it, the exporter (RFC 8446 §7.5), which [`OpenSslStream`] takes from
//! `SSL_export_keying_material`. A rustls side and an OpenSSL side of the
//! same connection derive the same exporter values, so they interoperate
//! in every direction (server attests, client attests, mutual).
//!
//! [`connect`] and [`accept`] take a [`net::AttestationConfig`](attested_tls::net::AttestationConfig), exactly as
//! [`net::connect`](attested_tls::net::connect) / [`net::accept`](attested_tls::net::accept) do, and return the stream only after
//! attestation succeeded in every direction the two sides require, with the
//! peer's result. Trust in the peer's TLS key comes from attestation (the
//! Evidence is bound to this connection's exporter), so
//! [`client_context`] does not validate the server's certificate chain;
//! OpenSSL still checks the server's CertificateVerify against it.
//!
//! ```no_run
//! # async fn f() -> Result<(), attested_tls_openssl::expat::ExpatError> {
//! use attested_tls::{net::AttestationConfig, policy::Policy};
//! use attested_tls_openssl::expat;
//! let policy = Policy::load(std::path::Path::new("sim/policy.toml")).unwrap();
//! let att = AttestationConfig::verifier(policy.appraiser().unwrap());
//! let tcp = tokio::net::TcpStream::connect("127.0.0.1:4433").await.map_err(attested_tls::net::NetError::Io)?;
//! let (stream, ear) = expat::connect(&expat::client_context()?, "server.example", tcp, &att).await?;
//! # let _ = (stream, ear); Ok(()) }
//! ```

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use attested_tls::crypto::HashAlgorithm;
use attested_tls::ea::Role;
use attested_tls::ear::Ear;
use attested_tls::exporter::{Exporter, ExporterError};
use attested_tls::net::{AttestationConfig, AttestedStream, NetError, TlsStreamExt};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslContextRef, SslMethod, SslOptions, SslRef, SslSessionCacheMode,
    SslVerifyMode, SslVersion,
};
use openssl::x509::X509;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_openssl::SslStream;

use crate::EarlyError;

/// Errors of default-mode connections over OpenSSL.
#[derive(Debug, thiserror::Error)]
pub enum ExpatError {
    /// What the shared attested-connection code reports: the attestation
    /// protocol's refusals and violations, I/O, deadlines, configuration
    /// and TLS-session refusals.
    #[error(transparent)]
    Net(#[from] NetError),
    /// OpenSSL refused a configuration step.
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] ErrorStack),
    /// The peer aborted the TLS handshake with an alert.
    #[error("the peer sent TLS alert {code}: {text}")]
    PeerAlert {
        /// The AlertDescription.
        code: u8,
        /// OpenSSL's reason text.
        text: String,
    },
    /// The TLS handshake failed for a reason of OpenSSL's own.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}

impl ExpatError {
    /// The attestation result behind a refusal of the peer, if that is
    /// what happened (see [`NetError::peer_ear`]).
    pub fn peer_ear(&self) -> Option<&Ear> {
        match self {
            Self::Net(e) => e.peer_ear(),
            _ => None,
        }
    }
}

impl From<EarlyError> for ExpatError {
    fn from(e: EarlyError) -> Self {
        match e {
            EarlyError::Io(e) => Self::Net(NetError::Io(e)),
            EarlyError::OpenSsl(e) => Self::OpenSsl(e),
            EarlyError::Config(c) => Self::Net(NetError::Config(c)),
            EarlyError::Timeout(step) => Self::Net(NetError::Timeout(step)),
            EarlyError::PeerAlert { code, text } => Self::PeerAlert { code, text },
            EarlyError::Tls(t) => Self::Tls(t),
            // Mode `early`'s own checks are not installed on these contexts.
            e @ EarlyError::Refused { .. } => Self::Tls(e.to_string()),
        }
    }
}

/// A completed OpenSSL TLS connection as the attested-connection code sees
/// it: a byte stream whose keying material it can export.
#[derive(Debug)]
pub struct OpenSslStream<IO> {
    inner: SslStream<IO>,
}

impl<IO> OpenSslStream<IO> {
    /// The OpenSSL connection (cipher suite, peer certificate, ...).
    pub fn ssl(&self) -> &SslRef {
        self.inner.ssl()
    }

    /// The tokio-openssl stream.
    pub fn get_ref(&self) -> &SslStream<IO> {
        &self.inner
    }
}

/// The exporter of an OpenSSL connection: `SSL_export_keying_material`,
/// which in TLS 1.3 is RFC 8446 §7.5's `TLS-Exporter` (a zero-length
/// context and no context give the same value, as RFC 8446 requires).
impl<IO> Exporter for OpenSslStream<IO> {
    fn hash(&self) -> Result<HashAlgorithm, ExporterError> {
        let ssl = self.ssl();
        if !ssl.is_init_finished() {
            return Err(ExporterError::HandshakeIncomplete);
        }
        if ssl.version2() != Some(SslVersion::TLS1_3) {
            return Err(ExporterError::NotTls13(ssl.version_str().to_string()));
        }
        let cipher = ssl.current_cipher().ok_or(ExporterError::HandshakeIncomplete)?;
        let digest = cipher
            .handshake_digest()
            .ok_or_else(|| ExporterError::Tls(format!("no handshake digest for cipher suite {}", cipher.name())))?;
        if digest.type_() == MessageDigest::sha256().type_() {
            Ok(HashAlgorithm::Sha256)
        } else if digest.type_() == MessageDigest::sha384().type_() {
            Ok(HashAlgorithm::Sha384)
        } else {
            Err(ExporterError::Tls(format!(
                "unsupported cipher-suite hash of {}",
                cipher.name()
            )))
        }
    }

    fn export(&self, label: &[u8], context: &[u8], len: usize) -> Result<Vec<u8>, ExporterError> {
        // Checks TLS 1.3 and handshake completion before exporting.
        let hash = self.hash()?;
        // The limits of TLS 1.3's HkdfLabel, as for the other exporters.
        if label.len() > 249 {
            return Err(ExporterError::Unencodable("the label is longer than 249 bytes"));
        }
        if len > 255 * hash.output_len() {
            return Err(ExporterError::Unencodable("the output is longer than 255 hash blocks"));
        }
        let label = std::str::from_utf8(label).map_err(|_| {
            ExporterError::Unencodable("the label is not UTF-8, which the OpenSSL binding requires of labels")
        })?;
        let mut out = vec![0u8; len];
        self.ssl()
            .export_keying_material(&mut out, label, Some(context))
            .map_err(|e| ExporterError::Tls(e.to_string()))?;
        Ok(out)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsStreamExt for OpenSslStream<IO> {
    fn exporter(&self) -> &dyn Exporter {
        self
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for OpenSslStream<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for OpenSslStream<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A default-mode attested connection over OpenSSL.
pub type ExpatStream<IO> = AttestedStream<OpenSslStream<IO>>;

/// The seat-expat rules for both roles: TLS 1.3 only, the groups of
/// [`crate::TLS_GROUPS`], no session cache, no tickets (hence no
/// resumption), no 0-RTT data.
fn harden(b: &mut SslContextBuilder) -> Result<(), ExpatError> {
    b.set_min_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_groups_list(crate::TLS_GROUPS)?;
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    b.set_options(SslOptions::NO_TICKET);
    // In TLS 1.3 NO_TICKET alone still lets a server with a session cache
    // issue stateful tickets; none at all are sent with this.
    b.set_num_tickets(0)?;
    b.set_max_early_data(0)?;
    Ok(())
}

/// [`server_context`] before `build()`, for further OpenSSL settings
/// (groups, cipher suites). [`accept`] refuses a context that issues
/// session tickets or accepts 0-RTT data.
pub fn server_context_builder(chain: &[X509], key: &PKey<Private>) -> Result<SslContextBuilder, ExpatError> {
    let mut b = SslContextBuilder::new(SslMethod::tls_server())?;
    harden(&mut b)?;
    crate::set_identity(&mut b, chain, key, "server")?;
    // Clients attest in-band (RFC 9261), not with TLS client certificates.
    b.set_verify(SslVerifyMode::NONE);
    Ok(b)
}

/// A server context for default-mode connections: `chain` (end-entity
/// first) and its key, TLS 1.3 only, no tickets, no session cache, no
/// 0-RTT.
pub fn server_context(chain: &[X509], key: &PKey<Private>) -> Result<SslContext, ExpatError> {
    Ok(server_context_builder(chain, key)?.build())
}

/// [`client_context`] before `build()`.
pub fn client_context_builder() -> Result<SslContextBuilder, ExpatError> {
    let mut b = SslContextBuilder::new(SslMethod::tls_client())?;
    harden(&mut b)?;
    // Sound only because the connection is refused unless the server then
    // proves, with Evidence bound to this connection's exporter, what it
    // runs (as `net::tls::AttestationOnlyServerVerifier`). OpenSSL still
    // verifies the server's CertificateVerify with the certificate's key.
    b.set_verify(SslVerifyMode::NONE);
    Ok(b)
}

/// A client context for default-mode connections: TLS 1.3 only, no
/// resumption, no 0-RTT, the server's certificate trusted through
/// attestation.
pub fn client_context() -> Result<SslContext, ExpatError> {
    Ok(client_context_builder()?.build())
}

/// Refuses a server context that would issue session tickets or accept
/// 0-RTT data (a user-supplied context is checked, not silently changed).
pub fn check_server_context(ctx: &SslContextRef) -> Result<(), ExpatError> {
    if ctx.num_tickets() != 0 {
        return Err(NetError::Config(format!(
            "the server context issues {} TLS 1.3 session tickets; attested connections must issue none \
             (SslContextBuilder::set_num_tickets(0))",
            ctx.num_tickets()
        ))
        .into());
    }
    if ctx.max_early_data() != 0 {
        return Err(NetError::Config(
            "the server context accepts 0-RTT early data; attested connections must not (set_max_early_data(0))".into(),
        )
        .into());
    }
    Ok(())
}

/// What [`net::connect`](attested_tls::net::connect) checks of a rustls session, for OpenSSL: TLS 1.3
/// and a full handshake.
fn check_session(ssl: &SslRef) -> Result<(), ExpatError> {
    if ssl.version2() != Some(SslVersion::TLS1_3) {
        return Err(NetError::Session(format!(
            "negotiated {}; attested connections require TLS 1.3",
            ssl.version_str()
        ))
        .into());
    }
    if ssl.session_reused() {
        return Err(NetError::Session(
            "a resumed session; resumed sessions are refused on attested connections".into(),
        )
        .into());
    }
    Ok(())
}

async fn handshake<IO>(ssl: Ssl, io: IO, att: &AttestationConfig, role: Role) -> Result<OpenSslStream<IO>, ExpatError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = SslStream::new(ssl, io)?;
    let fut = crate::drive_handshake(&mut stream, role == Role::Client);
    tokio::time::timeout(att.handshake_timeout, fut)
        .await
        .map_err(|_| NetError::Timeout("TLS handshake"))?
        .map_err(|e| ExpatError::from(crate::handshake_error(e)))?;
    check_session(stream.ssl())?;
    Ok(OpenSslStream { inner: stream })
}

/// Opens a default-mode attested connection as TLS client over `io`, on
/// OpenSSL (`ctx` from [`client_context`], or one with the same settings).
///
/// Returns the stream and, if `att` requires server attestation, the
/// server's attestation result. Unlike [`net::connect`](attested_tls::net::connect), the client's HELLO
/// and request leave right after the handshake rather than with its
/// Finished (OpenSSL has no way to queue them before): the same round
/// trip, one more write.
pub async fn connect<IO>(
    ctx: &SslContext,
    server_name: &str,
    io: IO,
    att: &AttestationConfig,
) -> Result<(ExpatStream<IO>, Option<Ear>), ExpatError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    att.check()?;
    let mut ssl = Ssl::new(ctx)?;
    ssl.set_hostname(server_name)?;
    ssl.set_connect_state();
    let stream = handshake(ssl, io, att, Role::Client).await?;
    Ok(AttestedStream::establish_over(stream, Role::Client, Some(server_name), att).await?)
}

/// Accepts a default-mode attested connection as TLS server over `io`, on
/// OpenSSL (`ctx` from [`server_context`], or one with the same settings;
/// checked by [`check_server_context`]).
pub async fn accept<IO>(
    ctx: &SslContext,
    io: IO,
    att: &AttestationConfig,
) -> Result<(ExpatStream<IO>, Option<Ear>), ExpatError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    check_server_context(ctx)?;
    att.check()?;
    let mut ssl = Ssl::new(ctx)?;
    ssl.set_accept_state();
    let stream = handshake(ssl, io, att, Role::Server).await?;
    Ok(AttestedStream::establish_over(stream, Role::Server, None, att).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the hardening: a context from this module issues no tickets
    /// and accepts no 0-RTT; one that does is refused, naming the setting.
    #[test]
    fn server_context_refuses_tickets_and_early_data() {
        let id = rcgen::generate_simple_self_signed(vec!["s".to_string()]).unwrap();
        let chain = vec![X509::from_der(id.cert.der()).unwrap()];
        let key = PKey::private_key_from_der(&id.signing_key.serialize_der()).unwrap();
        check_server_context(&server_context(&chain, &key).unwrap()).unwrap();

        let mut b = server_context_builder(&chain, &key).unwrap();
        b.set_num_tickets(2).unwrap();
        match check_server_context(&b.build()) {
            Err(ExpatError::Net(NetError::Config(m))) => assert!(m.contains("session tickets"), "{m}"),
            other => panic!("expected a configuration refusal, got {other:?}"),
        }
        let mut b = server_context_builder(&chain, &key).unwrap();
        b.set_max_early_data(16384).unwrap();
        match check_server_context(&b.build()) {
            Err(ExpatError::Net(NetError::Config(m))) => assert!(m.contains("0-RTT"), "{m}"),
            other => panic!("expected a configuration refusal, got {other:?}"),
        }
    }
}
