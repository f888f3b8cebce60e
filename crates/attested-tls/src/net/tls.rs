//! Hardened rustls configurations for attested connections.
//!
//! TLS 1.3 only (the crate builds rustls without TLS 1.2), no session
//! tickets, no resumption, no 0-RTT: seat-expat forbids them on attested
//! connections because a resumed or early-data connection would carry
//! application bytes bound to an earlier attestation, or none.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use super::NetError;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Accepts any server certificate, while still verifying that the server
/// holds its key (the TLS 1.3 CertificateVerify).
///
/// This is sound here, and only here, because an attested connection is
/// refused unless the server then proves, with Evidence bound to this
/// connection's exporter, what it runs: trust comes from attestation, not
/// from a CA. Use [`client_config_with_roots`] to also require a WebPKI
/// identity (I1).
#[derive(Debug)]
pub struct AttestationOnlyServerVerifier {
    provider: Arc<CryptoProvider>,
}

impl AttestationOnlyServerVerifier {
    /// A verifier using the aws-lc-rs provider's algorithms.
    pub fn new() -> Self {
        Self { provider: provider() }
    }
}

impl Default for AttestationOnlyServerVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerCertVerifier for AttestationOnlyServerVerifier {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General(
            "TLS 1.2 is refused on attested connections".into(),
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A client configuration for attested connections: TLS 1.3, no
/// resumption, no early data, server certificate trusted through
/// attestation ([`AttestationOnlyServerVerifier`]).
pub fn client_config() -> Result<Arc<rustls::ClientConfig>, NetError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(NetError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AttestationOnlyServerVerifier::new()))
        .with_no_client_auth();
    harden_client(&mut cfg);
    Ok(Arc::new(cfg))
}

/// A client configuration that also verifies the server certificate
/// against `roots` (WebPKI identity on top of attestation).
pub fn client_config_with_roots(roots: rustls::RootCertStore) -> Result<Arc<rustls::ClientConfig>, NetError> {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(NetError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    harden_client(&mut cfg);
    Ok(Arc::new(cfg))
}

/// Forces the seat-expat rules on a client configuration: resumption off
/// (tickets are discarded), early data off.
pub fn harden_client(cfg: &mut rustls::ClientConfig) {
    cfg.resumption = rustls::client::Resumption::disabled();
    cfg.enable_early_data = false;
}

/// A server configuration with the given certificate chain and key: TLS
/// 1.3, no tickets, no session cache, no early data.
pub fn server_config(
    cert_chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, NetError> {
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(NetError::Tls)?
        .with_no_client_auth()
        .with_single_cert(cert_chain, key)
        .map_err(NetError::Tls)?;
    cfg.send_tls13_tickets = 0;
    cfg.max_early_data_size = 0;
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Ok(Arc::new(cfg))
}

/// Refuses a server configuration that would issue tickets or accept
/// 0-RTT (a user-supplied configuration is checked, not silently changed).
pub fn check_server_config(cfg: &rustls::ServerConfig) -> Result<(), NetError> {
    if cfg.send_tls13_tickets != 0 {
        return Err(NetError::Config(format!(
            "server configuration sends {} TLS 1.3 session tickets; attested connections must send none \
             (set send_tls13_tickets = 0)",
            cfg.send_tls13_tickets
        )));
    }
    if cfg.max_early_data_size != 0 {
        return Err(NetError::Config(
            "server configuration accepts 0-RTT early data; set max_early_data_size = 0".into(),
        ));
    }
    Ok(())
}

/// Refuses a client configuration that offers 0-RTT.
pub fn check_client_config(cfg: &rustls::ClientConfig) -> Result<(), NetError> {
    if cfg.enable_early_data {
        return Err(NetError::Config(
            "client configuration enables 0-RTT early data; attested connections must not (enable_early_data = false)"
                .into(),
        ));
    }
    Ok(())
}

/// A fresh ECDSA P-256 key and self-signed certificate for a server whose
/// clients trust it through attestation.
pub fn self_signed_server_identity(name: &str) -> Result<(CertificateDer<'static>, PrivateKeyDer<'static>), NetError> {
    let ck = rcgen::generate_simple_self_signed(vec![name.to_string()])
        .map_err(|e| NetError::Config(format!("cannot generate a server certificate: {e}")))?;
    Ok((
        ck.cert.der().clone(),
        PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into()),
    ))
}
