//! RFC 9261 Exported Authenticators, with the attestation profile of
//! draft-fossati-seat-expat-04.
//!
//! Sans-IO: every function takes an [`Exporter`] for the connection and
//! bytes in, and returns bytes or a typed error out.
//!
//! - [`EaProfile::request`] builds an authenticator request,
//! - [`get_context`] reads the `certificate_request_context` of an
//!   authenticator,
//! - [`authenticate`] / [`empty_authenticator`] answer a request,
//! - [`validate`] checks an authenticator against the request it answers.
//!
//! Keys (RFC 9261 §5.1), with `<role>` the role of the peer that *sends*
//! the authenticator:
//! ```text
//! HC = TLS-Exporter("EXPORTER-<role> authenticator handshake context", "", Hash.length)
//! FK = TLS-Exporter("EXPORTER-<role> authenticator finished key",     "", Hash.length)
//! ```

mod signature;

use std::collections::HashSet;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::SigningKey;

pub use signature::{verify_signature, SignatureError, TLS13_SIGNATURE_SCHEMES};

use crate::binder::{BindingClaims, EXPORTER_LABEL_CMW_ATTESTATION};
use crate::codec::{
    find_extension, AuthenticatorParts, AuthenticatorRequest, CertificateEntry, CertificateMsg, CertificateVerify,
    DecodeError, Extension, Finished, HandshakeType, Problem, EXT_CMW_ATTESTATION_DEFAULT, EXT_SIGNATURE_ALGORITHMS,
};
use crate::crypto::{constant_time_eq, random_bytes, HashAlgorithm};
use crate::exporter::{Exporter, ExporterError};

/// Length of the contexts this crate generates (32 random bytes).
pub const CONTEXT_LEN: usize = 32;

/// The role of the peer that sends an authenticator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The TLS server attests (it answers a ClientCertificateRequest).
    Server,
    /// The TLS client attests (it answers a CertificateRequest).
    Client,
}

impl Role {
    /// The request type this sender answers.
    pub const fn request_type(self) -> HandshakeType {
        match self {
            Self::Server => HandshakeType::ClientCertificateRequest,
            Self::Client => HandshakeType::CertificateRequest,
        }
    }

    /// The sender role for a request type.
    pub const fn sender_for(request: HandshakeType) -> Option<Self> {
        match request {
            HandshakeType::ClientCertificateRequest => Some(Self::Server),
            HandshakeType::CertificateRequest => Some(Self::Client),
            _ => None,
        }
    }

    fn handshake_context_label(self) -> &'static [u8] {
        match self {
            Self::Server => b"EXPORTER-server authenticator handshake context",
            Self::Client => b"EXPORTER-client authenticator handshake context",
        }
    }

    fn finished_key_label(self) -> &'static [u8] {
        match self {
            Self::Server => b"EXPORTER-server authenticator finished key",
            Self::Client => b"EXPORTER-client authenticator finished key",
        }
    }

    /// `server` or `client`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
        }
    }
}

/// Errors of the RFC 9261 operations. Each names the check that failed.
#[derive(Debug, thiserror::Error)]
pub enum EaError {
    /// A message was malformed.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The exporter failed (handshake incomplete, not TLS 1.3).
    #[error(transparent)]
    Exporter(#[from] ExporterError),
    /// The peer sent the empty authenticator: it declined to authenticate.
    #[error("the peer declined to authenticate (empty authenticator)")]
    Refused,
    /// The request type does not match the sender's role.
    #[error("a {role} cannot answer a request of type {request_type}")]
    WrongRequestType {
        /// Sender role.
        role: &'static str,
        /// Request message type.
        request_type: u8,
    },
    /// The authenticator's context differs from the request's.
    #[error("authenticator context does not match the request's certificate_request_context")]
    ContextMismatch,
    /// A context was used twice on this connection.
    #[error("certificate_request_context {0} was already used on this connection (replay)")]
    ContextReused(String),
    /// The connection has used as many contexts as [`ContextRegistry`]
    /// keeps; a new connection is needed to attest again.
    #[error("this connection has used {0} certificate_request_contexts, the most one connection may; reconnect to attest again")]
    ContextLimit(usize),
    /// The context is empty (this crate requires unpredictable contexts).
    #[error("certificate_request_context is empty; an unpredictable context is required")]
    EmptyContext,
    /// The request lacks `signature_algorithms`.
    #[error("the request has no signature_algorithms extension")]
    MissingSignatureAlgorithms,
    /// No scheme acceptable to both sides.
    #[error("no signature scheme offered by the request ({offered}) is usable with the authenticator key")]
    NoCommonScheme {
        /// Offered schemes, hex.
        offered: String,
    },
    /// CertificateVerify used a scheme the request did not offer or TLS 1.3 forbids.
    #[error("CertificateVerify uses scheme {0:#06x}, which the request did not offer or TLS 1.3 forbids")]
    SchemeNotOffered(u16),
    /// The certificate list is empty in a non-empty authenticator.
    #[error("authenticator carries no certificate")]
    NoCertificate,
    /// An extension the request did not offer (RFC 9261 `unsupported_extension`).
    #[error("authenticator carries extension {0:#06x} that the request did not offer (unsupported_extension)")]
    UnsolicitedExtension(u16),
    /// `cmw_attestation` in a CertificateEntry other than the first.
    #[error("cmw_attestation appears in certificate entry {0}; only the end-entity entry may carry it")]
    CmwNotInLeaf(usize),
    /// The request asked for Evidence but none was supplied.
    #[error("the request asks for attestation (cmw_attestation) but the authenticator carries none")]
    MissingEvidence,
    /// Evidence was supplied but the request did not ask for it.
    #[error("Evidence supplied for a request that did not ask for attestation")]
    EvidenceNotRequested,
    /// The request has no `cmw_attestation` extension (of the profile's
    /// code point): a plain RFC 9261 request, which does not ask for
    /// Evidence. See [`check_attestation_request`].
    #[error("the request does not ask for attestation: it has no cmw_attestation extension ({0:#06x})")]
    AttestationNotRequested(u16),
    /// Evidence larger than the extension can carry.
    #[error("Evidence CMW is {0} bytes; the cmw_attestation extension holds at most {max}", max = crate::cmw::MAX_CMW_LEN)]
    TooLarge(usize),
    /// The CertificateVerify signature is invalid.
    #[error("CertificateVerify signature is invalid: {0}")]
    Signature(#[from] SignatureError),
    /// The Finished MAC is invalid.
    #[error("Finished MAC is invalid")]
    BadFinished,
    /// The certificate could not be parsed.
    #[error("authenticator certificate is not valid X.509: {0}")]
    Certificate(String),
    /// Signing failed.
    #[error("signing the CertificateVerify failed: {0}")]
    Signing(String),
}

/// Per-profile settings: the extension code point, exporter label and
/// signature schemes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EaProfile {
    /// `cmw_attestation` code point (TBD in the draft; default 0xFF00).
    pub cmw_ext_type: u16,
    /// Exporter label of the binder (`EXPORTER-cmw-attestation`, or
    /// `Attestation` for peers on -01..-03).
    pub exporter_label: Vec<u8>,
    /// Schemes offered in requests, in preference order.
    pub signature_schemes: Vec<u16>,
}

impl Default for EaProfile {
    fn default() -> Self {
        Self {
            cmw_ext_type: EXT_CMW_ATTESTATION_DEFAULT,
            exporter_label: EXPORTER_LABEL_CMW_ATTESTATION.to_vec(),
            signature_schemes: TLS13_SIGNATURE_SCHEMES.to_vec(),
        }
    }
}

/// Longest exporter label: HKDF-Expand-Label's `label<7..255>` is
/// "tls13 " followed by the label (RFC 8446 §7.1).
pub const MAX_EXPORTER_LABEL_LEN: usize = 255 - 6;

impl EaProfile {
    /// Checks the profile can be used: an exporter label of 1..=249 bytes
    /// (HKDF-Expand-Label carries "tls13 " + label with a one-byte length,
    /// RFC 8446 §7.1) and at least one signature scheme.
    pub fn check(&self) -> Result<(), String> {
        if self.exporter_label.is_empty() || self.exporter_label.len() > MAX_EXPORTER_LABEL_LEN {
            return Err(format!(
                "exporter label must be 1..={MAX_EXPORTER_LABEL_LEN} bytes, not {}",
                self.exporter_label.len()
            ));
        }
        if self.signature_schemes.is_empty() {
            return Err("the profile offers no signature scheme".into());
        }
        Ok(())
    }

    /// Builds a request asking `sender` to attest, with the given context.
    pub fn request(&self, sender: Role, context: Vec<u8>) -> AuthenticatorRequest {
        AuthenticatorRequest {
            msg_type: sender.request_type(),
            context,
            extensions: vec![
                Extension::signature_algorithms(&self.signature_schemes),
                Extension::cmw_attestation_request(self.cmw_ext_type),
            ],
        }
    }

    /// Computes the binding an authenticator's Evidence must carry.
    pub fn binding(&self, exporter: &dyn Exporter, context: &[u8], spki_der: &[u8]) -> Result<BindingClaims, EaError> {
        Ok(BindingClaims::expat(exporter, &self.exporter_label, context, spki_der)?)
    }
}

/// Tracks the certificate_request_contexts of one connection, in both
/// directions, so that none is used twice (RFC 9261 §4: contexts are
/// unique per connection and a validator rejects a repeated one).
#[derive(Debug, Default, Clone)]
pub struct ContextRegistry {
    issued: HashSet<Vec<u8>>,
    answered: HashSet<Vec<u8>>,
    received: HashSet<Vec<u8>>,
}

impl ContextRegistry {
    /// Contexts one connection may use, both directions together. Every
    /// context is remembered for the connection's lifetime (that is what
    /// makes a replay detectable), so the number is bounded: a peer cannot
    /// grow our memory without limit by re-attesting, and at 10 000 a
    /// connection re-attested every minute still lasts about a week.
    pub const MAX_CONTEXTS: usize = 10_000;

    /// A fresh registry for a new connection.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the connection has used [`ContextRegistry::MAX_CONTEXTS`]
    /// contexts. [`ContextRegistry::accept_request`] then refuses the peer's
    /// requests; a caller checks this before [`ContextRegistry::issue`]
    /// (the session does before every re-attestation).
    pub fn is_full(&self) -> bool {
        self.issued.len() + self.received.len() >= Self::MAX_CONTEXTS
    }

    /// Generates and records a fresh random context for a request we send.
    pub fn issue(&mut self) -> Vec<u8> {
        loop {
            let c = random_bytes(CONTEXT_LEN);
            if !self.issued.contains(&c) && !self.received.contains(&c) {
                self.issued.insert(c.clone());
                return c;
            }
        }
    }

    /// Records a context from a request the peer sent; refuses a repeat or
    /// one equal to a context we issued.
    pub fn accept_request(&mut self, context: &[u8]) -> Result<(), EaError> {
        if context.is_empty() {
            return Err(EaError::EmptyContext);
        }
        if self.issued.contains(context) || self.received.contains(context) {
            return Err(EaError::ContextReused(hex::encode(context)));
        }
        if self.is_full() {
            return Err(EaError::ContextLimit(Self::MAX_CONTEXTS));
        }
        if !self.received.insert(context.to_vec()) {
            return Err(EaError::ContextReused(hex::encode(context)));
        }
        Ok(())
    }

    /// Marks a context we issued as answered; refuses a second answer and a
    /// context we never issued.
    pub fn accept_answer(&mut self, context: &[u8]) -> Result<(), EaError> {
        if !self.issued.contains(context) {
            return Err(EaError::ContextMismatch);
        }
        if !self.answered.insert(context.to_vec()) {
            return Err(EaError::ContextReused(hex::encode(context)));
        }
        Ok(())
    }
}

/// The authenticator's identity: a certificate chain (end entity first)
/// and its signing key.
#[derive(Clone)]
pub struct AuthenticatorIdentity {
    /// DER certificates, end entity first.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// The end entity's key.
    pub key: Arc<dyn SigningKey>,
    spki: Vec<u8>,
}

impl std::fmt::Debug for AuthenticatorIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthenticatorIdentity")
            .field("spki", &hex::encode(&self.spki))
            .finish_non_exhaustive()
    }
}

impl AuthenticatorIdentity {
    /// From a chain and a private key (PKCS#8, SEC1 or PKCS#1 DER).
    pub fn new(cert_chain: Vec<CertificateDer<'static>>, key: &PrivateKeyDer<'_>) -> Result<Self, EaError> {
        let key = rustls::crypto::aws_lc_rs::sign::any_supported_type(key)
            .map_err(|e| EaError::Signing(format!("unsupported private key: {e}")))?;
        let leaf = cert_chain.first().ok_or(EaError::NoCertificate)?;
        let spki = spki_of(leaf)?;
        Ok(Self { cert_chain, key, spki })
    }

    /// A fresh ECDSA P-256 key with a self-signed certificate: the usual
    /// authenticator identity of an attester, whose trust comes from the
    /// Evidence (which commits to this key) rather than from a CA.
    pub fn generate_self_signed(name: &str) -> Result<Self, EaError> {
        Self::generate(name, &rcgen::PKCS_ECDSA_P256_SHA256)
    }

    /// A fresh key of the given rcgen algorithm with a self-signed certificate.
    pub fn generate(name: &str, alg: &'static rcgen::SignatureAlgorithm) -> Result<Self, EaError> {
        let kp = rcgen::KeyPair::generate_for(alg).map_err(|e| EaError::Signing(e.to_string()))?;
        let params =
            rcgen::CertificateParams::new(vec![name.to_string()]).map_err(|e| EaError::Signing(e.to_string()))?;
        let cert = params.self_signed(&kp).map_err(|e| EaError::Signing(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(kp.serialize_der().into());
        Self::new(vec![cert.der().clone()], &key)
    }

    /// DER SubjectPublicKeyInfo of the end-entity certificate.
    pub fn spki(&self) -> &[u8] {
        &self.spki
    }
}

/// Extracts the DER SubjectPublicKeyInfo of a certificate.
pub fn spki_of(cert_der: &[u8]) -> Result<Vec<u8>, EaError> {
    crate::der::certificate_spki(cert_der)
        .map(<[u8]>::to_vec)
        .map_err(|e| EaError::Certificate(e.to_string()))
}

/// `HC` and `FK` for a sender role.
pub fn keys(exporter: &dyn Exporter, sender: Role) -> Result<(Vec<u8>, Vec<u8>), EaError> {
    let h = exporter.hash()?;
    let hc = exporter.export(sender.handshake_context_label(), b"", h.output_len())?;
    let fk = exporter.export(sender.finished_key_label(), b"", h.output_len())?;
    Ok((hc, fk))
}

/// The CertificateVerify signed content:
/// `0x20 * 64 || "Exported Authenticator" || 0x00 || Hash(HC || request || Certificate)`.
pub fn certificate_verify_content(hash: HashAlgorithm, hc: &[u8], request: &[u8], certificate: &[u8]) -> Vec<u8> {
    signed_content(&transcript_through_certificate(hash, hc, request, certificate).current())
}

/// The running transcript hash over `HC || request || Certificate`; fed the
/// CertificateVerify next, it gives the Finished transcript.
fn transcript_through_certificate(
    hash: HashAlgorithm,
    hc: &[u8],
    request: &[u8],
    certificate: &[u8],
) -> crate::crypto::Transcript {
    let mut transcript = hash.context();
    for part in [hc, request, certificate] {
        transcript.update(part);
    }
    transcript
}

/// `0x20 * 64 || "Exported Authenticator" || 0x00 || transcript_hash`.
fn signed_content(transcript_hash: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(64 + 23 + transcript_hash.len());
    m.extend_from_slice(&[0x20u8; 64]);
    m.extend_from_slice(b"Exported Authenticator\0");
    m.extend_from_slice(transcript_hash);
    m
}

/// RFC 9261 `get_context`: the certificate_request_context an
/// authenticator answers. The empty authenticator carries none.
pub fn get_context(authenticator: &[u8]) -> Result<Option<Vec<u8>>, EaError> {
    match AuthenticatorParts::decode(authenticator)? {
        AuthenticatorParts::Full { certificate_msg, .. } => Ok(Some(certificate_msg.context)),
        AuthenticatorParts::Empty { .. } => Ok(None),
    }
}

fn sender_of(request: &AuthenticatorRequest, sender: Role) -> Result<(), EaError> {
    if Role::sender_for(request.msg_type) != Some(sender) {
        return Err(EaError::WrongRequestType {
            role: sender.name(),
            request_type: request.msg_type.code(),
        });
    }
    Ok(())
}

/// The signer for the scheme `identity` uses among those the request
/// offers (TLS 1.3 schemes only).
fn signer_for(
    request: &AuthenticatorRequest,
    identity: &AuthenticatorIdentity,
) -> Result<Box<dyn rustls::sign::Signer>, EaError> {
    let offered = match find_extension(&request.extensions, EXT_SIGNATURE_ALGORITHMS) {
        Some(e) => Extension::parse_signature_algorithms(&e.data)?,
        None => return Err(EaError::MissingSignatureAlgorithms),
    };
    let usable: Vec<rustls::SignatureScheme> = offered
        .iter()
        .filter(|s| TLS13_SIGNATURE_SCHEMES.contains(s))
        .map(|s| rustls::SignatureScheme::from(*s))
        .collect();
    identity
        .key
        .choose_scheme(&usable)
        .ok_or_else(|| EaError::NoCommonScheme {
            offered: offered
                .iter()
                .map(|s| format!("{s:#06x}"))
                .collect::<Vec<_>>()
                .join(","),
        })
}

/// Whether the request asks for Evidence: it carries the profile's
/// `cmw_attestation` extension, which must then be empty
/// (draft-fossati-seat-expat: its presence is the request; there is
/// nothing to negotiate in it).
fn requests_evidence(profile: &EaProfile, request: &AuthenticatorRequest) -> Result<bool, EaError> {
    match find_extension(&request.extensions, profile.cmw_ext_type) {
        None => Ok(false),
        Some(e) if e.data.is_empty() => Ok(true),
        Some(e) => Err(EaError::Decode(DecodeError {
            field: "AuthenticatorRequest.cmw_attestation",
            problem: Problem::Invalid(format!(
                "is {} bytes; in a request it must be empty (its presence asks for Evidence)",
                e.data.len()
            )),
        })),
    }
}

/// Checks, before any Evidence is produced for it, that an attester can
/// answer `request` with Evidence: the request type matches `sender`, it
/// offers a signature scheme usable with `identity`'s key (when given) and
/// it asks for attestation with an empty `cmw_attestation` extension. These
/// are the checks [`authenticate`] makes on the request; making them first
/// means a request that would be refused costs no attester call.
pub fn check_attestation_request(
    sender: Role,
    profile: &EaProfile,
    request: &AuthenticatorRequest,
    identity: Option<&AuthenticatorIdentity>,
) -> Result<(), EaError> {
    sender_of(request, sender)?;
    match identity {
        Some(identity) => {
            signer_for(request, identity)?;
        }
        None if find_extension(&request.extensions, EXT_SIGNATURE_ALGORITHMS).is_none() => {
            return Err(EaError::MissingSignatureAlgorithms)
        }
        None => {}
    }
    if !requests_evidence(profile, request)? {
        return Err(EaError::AttestationNotRequested(profile.cmw_ext_type));
    }
    Ok(())
}

/// Answers `request_bytes` with an authenticator carrying `cmw` (the
/// Evidence) in the end-entity entry's `cmw_attestation` extension.
///
/// `cmw` must be `Some` exactly when the request asks for attestation.
pub fn authenticate(
    exporter: &dyn Exporter,
    sender: Role,
    profile: &EaProfile,
    request_bytes: &[u8],
    identity: &AuthenticatorIdentity,
    cmw: Option<&[u8]>,
) -> Result<Vec<u8>, EaError> {
    let request = AuthenticatorRequest::decode(request_bytes)?;
    sender_of(&request, sender)?;
    let hash = exporter.hash()?;
    let signer = signer_for(&request, identity)?;
    let wants_cmw = requests_evidence(profile, &request)?;
    let mut leaf_exts = Vec::new();
    match (wants_cmw, cmw) {
        (true, Some(c)) => {
            leaf_exts.push(Extension::cmw_attestation(profile.cmw_ext_type, c).map_err(EaError::TooLarge)?);
            // The entry's whole extensions block has a 2-byte length.
            if crate::codec::extensions_len(&leaf_exts) > 0xffff {
                return Err(EaError::TooLarge(c.len()));
            }
        }
        (true, None) => return Err(EaError::MissingEvidence),
        (false, Some(_)) => return Err(EaError::EvidenceNotRequested),
        (false, None) => {}
    }
    let entries = identity
        .cert_chain
        .iter()
        .enumerate()
        .map(|(i, c)| CertificateEntry {
            cert_der: c.to_vec(),
            extensions: if i == 0 {
                std::mem::take(&mut leaf_exts)
            } else {
                Vec::new()
            },
        })
        .collect();
    let certificate = CertificateMsg {
        context: request.context.clone(),
        entries,
    }
    .encode();
    let (hc, fk) = keys(exporter, sender)?;
    // One running hash: the CertificateVerify transcript is a prefix of the
    // Finished one (the Evidence-bearing Certificate is hashed once).
    let mut transcript = transcript_through_certificate(hash, &hc, request_bytes, &certificate);
    let content = signed_content(&transcript.current());
    let signature = signer.sign(&content).map_err(|e| EaError::Signing(e.to_string()))?;
    let cv = CertificateVerify {
        scheme: u16::from(signer.scheme()),
        signature,
    }
    .encode();
    transcript.update(&cv);
    let fin = hash.hmac(&fk, &transcript.current());
    let mut out = certificate;
    out.extend_from_slice(&cv);
    out.extend_from_slice(&Finished { verify_data: fin }.encode());
    Ok(out)
}

/// The empty authenticator: a Finished over `Hash(HC || request ||
/// Certificate)` with an empty certificate_list. Sent to decline.
pub fn empty_authenticator(exporter: &dyn Exporter, sender: Role, request_bytes: &[u8]) -> Result<Vec<u8>, EaError> {
    let request = AuthenticatorRequest::decode(request_bytes)?;
    sender_of(&request, sender)?;
    let hash = exporter.hash()?;
    let (hc, fk) = keys(exporter, sender)?;
    let certificate = CertificateMsg {
        context: request.context,
        entries: Vec::new(),
    }
    .encode();
    let fin = hash.hmac(&fk, &hash.digest_parts(&[&hc, request_bytes, &certificate]));
    Ok(Finished { verify_data: fin }.encode())
}

/// A validated authenticator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedAuthenticator {
    /// The certificate chain, end entity first.
    pub cert_chain: Vec<Vec<u8>>,
    /// DER SubjectPublicKeyInfo of the end entity.
    pub spki: Vec<u8>,
    /// The CMW from `cmw_attestation`, if the request asked for it.
    pub cmw: Option<Vec<u8>>,
    /// The CertificateVerify scheme.
    pub scheme: u16,
    /// The certificate_request_context.
    pub context: Vec<u8>,
}

/// Validates `authenticator` as the answer of a `sender` to `request_bytes`.
///
/// Checks, in order: framing; the empty authenticator (reported as
/// [`EaError::Refused`] after its Finished verifies); context equality;
/// extensions offered; `cmw_attestation` only in the end-entity entry and
/// present when requested; scheme offered and TLS 1.3-valid; the
/// CertificateVerify signature; the Finished MAC (constant time). Context
/// reuse is checked by the caller with a [`ContextRegistry`].
pub fn validate(
    exporter: &dyn Exporter,
    sender: Role,
    profile: &EaProfile,
    request_bytes: &[u8],
    authenticator: &[u8],
) -> Result<ValidatedAuthenticator, EaError> {
    let request = AuthenticatorRequest::decode(request_bytes)?;
    sender_of(&request, sender)?;
    let hash = exporter.hash()?;
    let (hc, fk) = keys(exporter, sender)?;
    match AuthenticatorParts::decode(authenticator)? {
        AuthenticatorParts::Empty { finished } => {
            let certificate = CertificateMsg {
                context: request.context,
                entries: Vec::new(),
            }
            .encode();
            let expect = hash.hmac(&fk, &hash.digest_parts(&[&hc, request_bytes, &certificate]));
            if !constant_time_eq(&expect, finished) {
                return Err(EaError::BadFinished);
            }
            Err(EaError::Refused)
        }
        AuthenticatorParts::Full {
            certificate,
            certificate_msg,
            certificate_verify,
            certificate_verify_msg,
            finished,
        } => {
            if !constant_time_eq(&certificate_msg.context, &request.context) {
                return Err(EaError::ContextMismatch);
            }
            let leaf = certificate_msg.entries.first().ok_or(EaError::NoCertificate)?;
            let mut cmw = None;
            for (i, entry) in certificate_msg.entries.iter().enumerate() {
                for ext in &entry.extensions {
                    if find_extension(&request.extensions, ext.typ).is_none() || ext.typ == EXT_SIGNATURE_ALGORITHMS {
                        return Err(EaError::UnsolicitedExtension(ext.typ));
                    }
                    if ext.typ == profile.cmw_ext_type {
                        if i != 0 {
                            return Err(EaError::CmwNotInLeaf(i));
                        }
                        cmw = Some(Extension::parse_cmw_attestation(&ext.data)?.to_vec());
                    }
                }
            }
            if find_extension(&request.extensions, profile.cmw_ext_type).is_some() && cmw.is_none() {
                return Err(EaError::MissingEvidence);
            }
            let offered = match find_extension(&request.extensions, EXT_SIGNATURE_ALGORITHMS) {
                Some(e) => Extension::parse_signature_algorithms(&e.data)?,
                None => return Err(EaError::MissingSignatureAlgorithms),
            };
            let scheme = certificate_verify_msg.scheme;
            if !offered.contains(&scheme) || !TLS13_SIGNATURE_SCHEMES.contains(&scheme) {
                return Err(EaError::SchemeNotOffered(scheme));
            }
            let spki = spki_of(&leaf.cert_der)?;
            let mut transcript = transcript_through_certificate(hash, &hc, request_bytes, certificate);
            let content = signed_content(&transcript.current());
            verify_signature(scheme, &spki, &content, &certificate_verify_msg.signature)?;
            transcript.update(certificate_verify);
            let expect = hash.hmac(&fk, &transcript.current());
            if !constant_time_eq(&expect, finished) {
                return Err(EaError::BadFinished);
            }
            Ok(ValidatedAuthenticator {
                cert_chain: certificate_msg.entries.iter().map(|e| e.cert_der.clone()).collect(),
                spki,
                cmw,
                scheme,
                context: request.context,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exporter::SecretExporter;

    fn identity(alg: &'static rcgen::SignatureAlgorithm) -> AuthenticatorIdentity {
        AuthenticatorIdentity::generate("ea-test", alg).unwrap()
    }

    fn exporters() -> Vec<SecretExporter> {
        vec![
            SecretExporter::new(HashAlgorithm::Sha256, vec![1; 32]),
            SecretExporter::new(HashAlgorithm::Sha384, vec![2; 48]),
        ]
    }

    #[test]
    fn every_scheme_and_hash_round_trips() {
        let algs: [(&'static rcgen::SignatureAlgorithm, &[u16]); 4] = [
            (&rcgen::PKCS_ED25519, &[0x0807]),
            (&rcgen::PKCS_ECDSA_P256_SHA256, &[0x0403]),
            (&rcgen::PKCS_ECDSA_P384_SHA384, &[0x0503]),
            // rustls picks among the RSA-PSS (rsae) schemes by its own preference.
            (&rcgen::PKCS_RSA_SHA256, &[0x0804, 0x0805, 0x0806]),
        ];
        let profile = EaProfile::default();
        for (alg, scheme) in algs {
            let id = identity(alg);
            for ex in exporters() {
                for sender in [Role::Server, Role::Client] {
                    let req = profile.request(sender, vec![9; 32]).encode();
                    let auth = authenticate(&ex, sender, &profile, &req, &id, Some(b"cmw")).unwrap();
                    let v = validate(&ex, sender, &profile, &req, &auth).unwrap();
                    assert_eq!(v.cmw.as_deref(), Some(&b"cmw"[..]));
                    assert_eq!(v.spki, id.spki());
                    assert!(scheme.contains(&v.scheme), "{alg:?} used {:#06x}", v.scheme);
                    // Finished length follows the hash.
                    match AuthenticatorParts::decode(&auth).unwrap() {
                        AuthenticatorParts::Full { finished, .. } => {
                            assert_eq!(finished.len(), ex.hash().unwrap().output_len())
                        }
                        AuthenticatorParts::Empty { .. } => panic!("not empty"),
                    }
                    // The other role's keys do not validate it.
                    let other = if sender == Role::Server {
                        Role::Client
                    } else {
                        Role::Server
                    };
                    let req_other = profile.request(other, vec![9; 32]).encode();
                    let r = validate(&ex, other, &profile, &req_other, &auth);
                    assert!(
                        matches!(r, Err(EaError::Signature(SignatureError::Invalid))),
                        "{:?}",
                        r.err()
                    );
                }
            }
        }
    }

    #[test]
    fn rsa_pss_sha256_is_used_when_it_is_the_only_offer() {
        let id = identity(&rcgen::PKCS_RSA_SHA256);
        let profile = EaProfile {
            signature_schemes: vec![0x0804],
            ..EaProfile::default()
        };
        let ex = &exporters()[0];
        let req = profile.request(Role::Server, vec![8; 32]).encode();
        let auth = authenticate(ex, Role::Server, &profile, &req, &id, Some(b"c")).unwrap();
        assert_eq!(
            validate(ex, Role::Server, &profile, &req, &auth).unwrap().scheme,
            0x0804
        );
    }

    #[test]
    fn empty_authenticator_is_a_refusal_not_a_success() {
        let profile = EaProfile::default();
        for ex in exporters() {
            let req = profile.request(Role::Server, vec![3; 32]).encode();
            let empty = empty_authenticator(&ex, Role::Server, &req).unwrap();
            assert_eq!(empty.len(), 4 + ex.hash().unwrap().output_len());
            assert!(matches!(
                validate(&ex, Role::Server, &profile, &req, &empty),
                Err(EaError::Refused)
            ));
            assert_eq!(get_context(&empty).unwrap(), None);
            let mut bad = empty.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert!(matches!(
                validate(&ex, Role::Server, &profile, &req, &bad),
                Err(EaError::BadFinished)
            ));
        }
    }

    #[test]
    fn scheme_rules_are_enforced() {
        let ex = &exporters()[0];
        let id = identity(&rcgen::PKCS_ECDSA_P384_SHA384);
        // A request offering only PKCS#1 and SHA-1 schemes (not TLS 1.3 CertificateVerify schemes).
        let profile = EaProfile {
            signature_schemes: vec![0x0401, 0x0201],
            ..EaProfile::default()
        };
        let req = profile.request(Role::Server, vec![1; 32]).encode();
        assert!(matches!(
            authenticate(ex, Role::Server, &profile, &req, &id, Some(b"x")),
            Err(EaError::NoCommonScheme { .. })
        ));
        // A P-384 key cannot verify under ecdsa_secp256r1_sha256.
        let e = verify_signature(0x0403, id.spki(), b"m", &[0; 8]).unwrap_err();
        assert!(matches!(e, SignatureError::KeyMismatch { .. }), "{e}");
        assert!(matches!(
            verify_signature(0x0201, id.spki(), b"m", &[0; 8]),
            Err(SignatureError::UnsupportedScheme(0x0201))
        ));
        // An authenticator whose scheme the request did not offer, with a
        // signature and Finished that are otherwise valid for that request:
        // `each_validate_check_refuses_on_its_own_with_a_valid_finished`.
        // (Answering another request instead, as this test once did, fails
        // on the signature first and does not exercise the scheme check.)
    }

    #[test]
    fn evidence_rules_are_enforced() {
        let ex = &exporters()[1];
        let id = identity(&rcgen::PKCS_ECDSA_P256_SHA256);
        let profile = EaProfile::default();
        let req = profile.request(Role::Client, vec![4; 32]).encode();
        assert!(matches!(
            authenticate(ex, Role::Client, &profile, &req, &id, None),
            Err(EaError::MissingEvidence)
        ));
        // The largest CMW a CertificateEntry can carry round-trips; one byte
        // more (up to the extension's own 2^16-1 - 2) is refused, not a panic.
        let max = crate::cmw::MAX_CMW_LEN;
        let big = authenticate(ex, Role::Client, &profile, &req, &id, Some(&vec![0x82; max])).unwrap();
        let v = validate(ex, Role::Client, &profile, &req, &big).unwrap();
        assert_eq!(v.cmw.map(|c| c.len()), Some(max));
        for n in [max + 1, 65533, 65534] {
            assert!(
                matches!(
                    authenticate(ex, Role::Client, &profile, &req, &id, Some(&vec![0; n])),
                    Err(EaError::TooLarge(m)) if m == n
                ),
                "{n}"
            );
        }
        // A request without cmw_attestation: Evidence would be unsolicited.
        let plain = AuthenticatorRequest {
            msg_type: HandshakeType::CertificateRequest,
            context: vec![5; 32],
            extensions: vec![Extension::signature_algorithms(&[0x0403])],
        }
        .encode();
        assert!(matches!(
            authenticate(ex, Role::Client, &profile, &plain, &id, Some(b"x")),
            Err(EaError::EvidenceNotRequested)
        ));
        // ... and a validator refuses an authenticator carrying it anyway.
        let with_cmw = authenticate(ex, Role::Client, &profile, &req, &id, Some(b"x")).unwrap();
        let forged_req = AuthenticatorRequest {
            context: vec![4; 32],
            ..AuthenticatorRequest::decode(&plain).unwrap()
        };
        let e = validate(ex, Role::Client, &profile, &forged_req.encode(), &with_cmw).unwrap_err();
        assert!(matches!(e, EaError::UnsolicitedExtension(0xff00)), "{e}");
        // The request type must match the sender.
        assert!(matches!(
            authenticate(ex, Role::Server, &profile, &req, &id, Some(b"x")),
            Err(EaError::WrongRequestType { .. })
        ));
    }

    #[test]
    fn exporter_labels_must_fit_hkdf_expand_label() {
        let mut p = EaProfile {
            exporter_label: vec![b'x'; MAX_EXPORTER_LABEL_LEN],
            ..EaProfile::default()
        };
        assert!(p.check().is_ok());
        // 250..=255 bytes would overflow "tls13 " + label's one-byte length.
        p.exporter_label.push(b'x');
        assert!(p.check().unwrap_err().contains("1..=249"));
        p.exporter_label.clear();
        let e = p.check().unwrap_err();
        assert!(e.contains("1..=249 bytes, not 0"), "{e}");
    }

    #[test]
    fn context_registry_refuses_reuse_in_both_directions() {
        let mut r = ContextRegistry::new();
        let mine = r.issue();
        assert_eq!(mine.len(), CONTEXT_LEN);
        assert!(
            matches!(r.accept_request(&mine), Err(EaError::ContextReused(_))),
            "a context we issued"
        );
        r.accept_request(&[1; 32]).unwrap();
        assert!(matches!(r.accept_request(&[1; 32]), Err(EaError::ContextReused(_))));
        assert!(matches!(r.accept_request(&[]), Err(EaError::EmptyContext)));
        r.accept_answer(&mine).unwrap();
        assert!(matches!(r.accept_answer(&mine), Err(EaError::ContextReused(_))));
        assert!(matches!(r.accept_answer(&[7; 32]), Err(EaError::ContextMismatch)));
    }

    #[test]
    fn context_registry_is_bounded() {
        let mut r = ContextRegistry::new();
        let _ = r.issue();
        for i in 1..ContextRegistry::MAX_CONTEXTS as u32 {
            r.accept_request(&i.to_be_bytes()).unwrap();
        }
        assert!(r.is_full());
        assert!(matches!(
            r.accept_request(b"one more"),
            Err(EaError::ContextLimit(ContextRegistry::MAX_CONTEXTS))
        ));
        // A replay is still reported as a replay, not as the limit.
        assert!(matches!(
            r.accept_request(&1u32.to_be_bytes()),
            Err(EaError::ContextReused(_))
        ));
    }

    /// What a sender that holds the connection's exporter (any TLS peer)
    /// can build: any Certificate message and CertificateVerify scheme, with
    /// a signature and a Finished that are correct for `request_bytes`
    /// (unless `corrupt_signature`). Each check of `validate` must hold on
    /// its own, not only because the Finished MAC breaks.
    #[allow(clippy::too_many_arguments)]
    fn forge(
        ex: &dyn Exporter,
        sender: Role,
        request_bytes: &[u8],
        id: &AuthenticatorIdentity,
        context: Vec<u8>,
        entries: Vec<CertificateEntry>,
        scheme: Option<u16>,
        corrupt_signature: bool,
    ) -> Vec<u8> {
        let hash = ex.hash().unwrap();
        let certificate = CertificateMsg { context, entries }.encode();
        let (hc, fk) = keys(ex, sender).unwrap();
        let content = certificate_verify_content(hash, &hc, request_bytes, &certificate);
        let all: Vec<rustls::SignatureScheme> = TLS13_SIGNATURE_SCHEMES
            .iter()
            .map(|s| rustls::SignatureScheme::from(*s))
            .collect();
        let signer = id.key.choose_scheme(&all).unwrap();
        let mut signature = signer.sign(&content).unwrap();
        if corrupt_signature {
            let n = signature.len();
            signature[n - 1] ^= 1;
        }
        let cv = CertificateVerify {
            scheme: scheme.unwrap_or(u16::from(signer.scheme())),
            signature,
        }
        .encode();
        let fin = hash.hmac(&fk, &hash.digest_parts(&[&hc, request_bytes, &certificate, &cv]));
        let mut out = certificate;
        out.extend_from_slice(&cv);
        out.extend_from_slice(&Finished { verify_data: fin }.encode());
        out
    }

    #[test]
    fn each_validate_check_refuses_on_its_own_with_a_valid_finished() {
        let ex = &exporters()[0];
        let id = identity(&rcgen::PKCS_ED25519);
        let profile = EaProfile::default();
        let ctx = vec![6; 32];
        let req = profile.request(Role::Server, ctx.clone()).encode();
        let cert = id.cert_chain[0].to_vec();
        let entry = |extensions: Vec<Extension>| CertificateEntry {
            cert_der: cert.clone(),
            extensions,
        };
        let cmw = || vec![Extension::cmw_attestation(profile.cmw_ext_type, b"cmw").unwrap()];
        let check = |auth: &[u8], req: &[u8]| validate(ex, Role::Server, &profile, req, auth);

        // The forger reproduces what `authenticate` builds.
        let ok = forge(
            ex,
            Role::Server,
            &req,
            &id,
            ctx.clone(),
            vec![entry(cmw())],
            None,
            false,
        );
        assert_eq!(
            ok,
            authenticate(ex, Role::Server, &profile, &req, &id, Some(b"cmw")).unwrap()
        );
        assert!(check(&ok, &req).is_ok());

        // CertificateVerify signature invalid, Finished valid.
        let a = forge(ex, Role::Server, &req, &id, ctx.clone(), vec![entry(cmw())], None, true);
        assert!(
            matches!(check(&a, &req), Err(EaError::Signature(_))),
            "{:?}",
            check(&a, &req)
        );

        // Certificate context other than the request's (signed and MACed
        // over the real request).
        let a = forge(
            ex,
            Role::Server,
            &req,
            &id,
            vec![7; 32],
            vec![entry(cmw())],
            None,
            false,
        );
        assert!(
            matches!(check(&a, &req), Err(EaError::ContextMismatch)),
            "{:?}",
            check(&a, &req)
        );

        // A TLS 1.3 scheme the request did not offer.
        let req_p256 = EaProfile {
            signature_schemes: vec![0x0403],
            ..EaProfile::default()
        }
        .request(Role::Server, ctx.clone())
        .encode();
        let a = forge(
            ex,
            Role::Server,
            &req_p256,
            &id,
            ctx.clone(),
            vec![entry(cmw())],
            None,
            false,
        );
        assert!(
            matches!(check(&a, &req_p256), Err(EaError::SchemeNotOffered(0x0807))),
            "{:?}",
            check(&a, &req_p256)
        );

        // signature_algorithms is offered in the request but is not a
        // CertificateEntry extension.
        let mut exts = cmw();
        exts.push(Extension::signature_algorithms(&[0x0807]));
        let a = forge(ex, Role::Server, &req, &id, ctx.clone(), vec![entry(exts)], None, false);
        assert!(
            matches!(check(&a, &req), Err(EaError::UnsolicitedExtension(0x000d))),
            "{:?}",
            check(&a, &req)
        );

        // cmw_attestation only in the second entry.
        let a = forge(
            ex,
            Role::Server,
            &req,
            &id,
            ctx.clone(),
            vec![entry(vec![]), entry(cmw())],
            None,
            false,
        );
        assert!(
            matches!(check(&a, &req), Err(EaError::CmwNotInLeaf(1))),
            "{:?}",
            check(&a, &req)
        );

        // Attestation requested, no cmw_attestation in the answer.
        let a = forge(
            ex,
            Role::Server,
            &req,
            &id,
            ctx.clone(),
            vec![entry(vec![])],
            None,
            false,
        );
        assert!(
            matches!(check(&a, &req), Err(EaError::MissingEvidence)),
            "{:?}",
            check(&a, &req)
        );

        // A server answering a CertificateRequest (a request for the client).
        let req_client = profile.request(Role::Client, ctx.clone()).encode();
        let a = forge(ex, Role::Server, &req_client, &id, ctx, vec![entry(cmw())], None, false);
        assert!(
            matches!(check(&a, &req_client), Err(EaError::WrongRequestType { .. })),
            "{:?}",
            check(&a, &req_client)
        );
    }
}
