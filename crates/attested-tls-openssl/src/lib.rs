//! # attested-tls-openssl
//!
//! attested-tls on OpenSSL 3, three modes in one crate (all thin OpenSSL +
//! tokio adapters over the sans-IO code of `attested-tls`; the table of
//! every mode and what it protects against is `docs/modes.md`):
//!
//! - **mode `early`** (this module's top level): intra-handshake
//!   attestation after draft-fossati-seat-early-attestation;
//! - **the default mode** on OpenSSL ([`expat`]): post-handshake Exported
//!   Attestation (RFC 9261 + draft-fossati-seat-expat), the same session
//!   code as the rustls adapter, interoperating with it both ways;
//! - **the binding profiles** ([`profiles`]): the binding mechanisms of the
//!   field (B1-B7: client random, a nonce in SNI/ALPN/an extension, the
//!   early exporter, a static certificate, Hash(SPKI ‖ nonce),
//!   draft-fossati-tls-attestation-06), explicit, selected by name, never a
//!   default, each use logged with what it does not protect against.
//!
//! A program that only uses the default mode on rustls does not depend on
//! this crate and builds without OpenSSL headers.
//!
//! ## Mode `early`
//!
//! Intra-handshake attestation after draft-fossati-seat-early-attestation
//! (-05 wire format and binder, unchanged in -07). The Evidence travels in
//! the `remoteAttestation` extension of the attester's first
//! CertificateEntry; the binder commits to
//! `Transcript-Hash(ClientHello..ServerHello)` and the end-entity key. The
//! wire format, binder, transcript and report-data mapping are the sans-IO
//! [`attested_tls::modes::early`].
//!
//! [`connect`] and [`accept`] return the stream only after the peer's
//! Evidence was appraised and accepted (when this side requires it), with
//! the attestation result. Every refusal is a fatal TLS alert sent during
//! the handshake (the table is in `docs/early-attestation.md`) and an
//! [`EarlyError::Refused`] naming the check.
//!
//! Trust in the peer's key comes from attestation only, as in the default
//! mode: certificate chains are not validated against roots (the end-entity
//! certificate is the carrier of the TIK, whose hash the Evidence signs).
//! The one exception is host identity (I1, [`EarlyConfig::host_identity`]
//! or a policy's `[host_identity]`): a client that requires it also checks
//! the server's chain against the I1 roots for the name it dialled (the
//! end-entity key is the attested TIK), and records the check in the EAR.
//!
//! Pitfalls this adapter handles (see `../shared/spec/early-attestation.md`):
//! the extension is registered once for all four contexts, so OpenSSL's
//! rule "a server sends only extensions the client sent" is met by the
//! ClientHello; `rust-openssl` keys callbacks by closure type, so exactly
//! one add and one parse closure are registered; 0xFF01 and other types
//! OpenSSL handles itself are refused by [`EarlyConfig::check`].
// `deny`, not `forbid`: the one FFI module (`ffi`) allows unsafe code for
// the single OpenSSL function the `openssl` crate does not wrap; every
// other module refuses it.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod expat;
mod ffi;
pub mod profiles;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use attested_tls::cmw::Cmw;
use attested_tls::corim::VerificationKey;
use attested_tls::ear::Ear;
use attested_tls::ear_jwt::EarJwtValidation;
use attested_tls::host_identity::{CertificateDer, HostIdentity, HostIdentityCheck, ServerName};
use attested_tls::modes::early::{
    check_passport, choose_scheme, AttestationScheme, EarlyAlert, EarlyAttester, EarlyBinding, ExtensionContext as Ctx,
    HelloTranscript, RemoteAttestation, TranscriptError, DEFAULT_EXTENSION_TYPE,
};
use attested_tls::verifier::Appraiser;
use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    ExtensionContext, SniError, Ssl, SslAlert, SslContext, SslContextBuilder, SslMethod, SslRef, SslVerifyMode,
    SslVersion,
};
use openssl::x509::{X509Ref, X509StoreContextRef, X509VerifyResult, X509};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

/// The claim every submodule of an EAR carries (the mode the result rests
/// on), and its value for this mode.
pub use attested_tls::modes::{MODE_CLAIM, MODE_EARLY};

/// Which side of the TLS connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// TLS client.
    Client,
    /// TLS server.
    Server,
}

/// Why a connection was refused by this mode's checks (each maps to the
/// alert [`Refusal::alert`] names, sent to the peer).
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    /// The client's ClientHello had no `remoteAttestation` extension, and
    /// this server only serves attested connections.
    #[error("the ClientHello carries no remoteAttestation extension (type {0:#06x})")]
    NoExtension(u16),
    /// The peer lists schemes, none of which this side supports.
    #[error("no common attestation scheme: the peer offers {offered:?}, this side supports {supported:?}")]
    NoCommonScheme {
        /// What the peer listed.
        offered: Vec<AttestationScheme>,
        /// What this side supports.
        supported: Vec<AttestationScheme>,
    },
    /// This side requires the peer to attest, and the peer declined (no
    /// scheme listed, or no Evidence in its first CertificateEntry).
    #[error("attestation required but the peer declined: {0}")]
    PeerDeclined(&'static str),
    /// The peer's extension body is malformed.
    #[error("malformed remoteAttestation extension: {0}")]
    Malformed(#[from] attested_tls::codec::DecodeError),
    /// `remoteAttestation` in a CertificateEntry other than the first.
    #[error("remoteAttestation in CertificateEntry {0}; only the first entry may carry it")]
    NotFirstEntry(usize),
    /// The peer chose a scheme this side did not offer, or sent Evidence
    /// nobody asked for.
    #[error("unsolicited remoteAttestation: {0}")]
    Unsolicited(String),
    /// The CMW is not a CMW, or does not hold Evidence of the chosen scheme.
    #[error("malformed CMW: {0}")]
    MalformedCmw(String),
    /// The Evidence was appraised and refused (wrong binder, TIK_pub_hash of
    /// another key, untrusted platform, ...): the result says which check.
    #[error("{}", .0.refusal_summary())]
    NotTrusted(Box<Ear>),
    /// The peer's end-entity key is our own: with the draft's shared
    /// "attestation" label, our own Evidence reflected back would carry a
    /// valid binder for it.
    #[error("the peer's end-entity key is this side's own key (reflected Evidence would verify)")]
    ReflectedKey,
    /// `Hash(ClientHello..ServerHello)` could not be computed.
    #[error("handshake transcript: {0}")]
    Transcript(#[from] TranscriptError),
    /// The peer's passport (signed EAR) was refused.
    #[error("passport refused: {0}")]
    Passport(String),
    /// Our attester could not produce Evidence.
    #[error("our attester failed: {0}")]
    Attester(String),
    /// Our configuration cannot serve this connection.
    #[error("internal error: {0}")]
    Internal(String),
    /// The client required host identity (I1) but the handshake completed
    /// without the check having run (the context's verify callback was
    /// replaced, see [`client_context_builder`]): refused, never returned
    /// unchecked.
    #[error("host identity (I1) was required but never checked: the client context's certificate verify callback was replaced")]
    HostIdentityUnchecked,
}

impl Refusal {
    /// The draft's condition, and so the TLS alert sent.
    pub fn alert(&self) -> EarlyAlert {
        match self {
            Self::NoExtension(_) | Self::PeerDeclined(_) => EarlyAlert::AttestationRequired,
            Self::NoCommonScheme { .. } => EarlyAlert::UnsupportedAttestationSchemes,
            Self::Malformed(_) => EarlyAlert::DecodeError,
            Self::NotFirstEntry(_) | Self::Unsolicited(_) => EarlyAlert::IllegalParameter,
            Self::MalformedCmw(_)
            | Self::NotTrusted(_)
            | Self::Passport(_)
            | Self::Transcript(_)
            | Self::ReflectedKey
            | Self::HostIdentityUnchecked => EarlyAlert::AttestationFailed,
            Self::Attester(_) | Self::Internal(_) => EarlyAlert::AttestationFailed,
        }
    }

    fn ssl_alert(&self) -> SslAlert {
        match self {
            Self::Attester(_) | Self::Internal(_) => SslAlert::INTERNAL_ERROR,
            _ => match self.alert() {
                EarlyAlert::UnsupportedAttestationSchemes => SslAlert::HANDSHAKE_FAILURE,
                EarlyAlert::AttestationRequired => SslAlert::MISSING_EXTENSION,
                EarlyAlert::AttestationFailed => SslAlert::BAD_CERTIFICATE,
                EarlyAlert::IllegalParameter => SslAlert::ILLEGAL_PARAMETER,
                EarlyAlert::DecodeError => SslAlert::DECODE_ERROR,
            },
        }
    }
}

/// Errors of mode `early` connections.
#[derive(Debug, thiserror::Error)]
pub enum EarlyError {
    /// Socket error.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// OpenSSL refused a configuration step.
    #[error("OpenSSL: {0}")]
    OpenSsl(#[from] ErrorStack),
    /// Unusable configuration.
    #[error("configuration refused: {0}")]
    Config(String),
    /// A step exceeded its deadline.
    #[error("timed out during {0}")]
    Timeout(&'static str),
    /// This side refused the connection (and sent the alert of the refusal).
    #[error("refused ({}): {reason}", .reason.alert().name())]
    Refused {
        /// Why.
        reason: Refusal,
    },
    /// The peer aborted the handshake with a TLS alert.
    #[error("the peer sent TLS alert {code}: {text}")]
    PeerAlert {
        /// The AlertDescription.
        code: u8,
        /// OpenSSL's reason text.
        text: String,
    },
    /// The TLS handshake failed for a reason of the TLS stack's own.
    #[error("TLS handshake failed: {0}")]
    Tls(String),
}

/// What one side brings to a mode `early` connection.
#[derive(Clone)]
pub struct EarlyConfig {
    /// Code point of `remoteAttestation` (default [`DEFAULT_EXTENSION_TYPE`]).
    pub extension_type: u16,
    /// Our attester and the schemes it can present, in our preference order
    /// (`None`: we do not attest).
    pub attester: Option<(Arc<dyn EarlyAttester>, Vec<AttestationScheme>)>,
    /// Appraiser of the peer's Evidence and the schemes we accept, in
    /// preference order (`None`: we do not require the peer to attest).
    pub appraiser: Option<(Appraiser, Vec<AttestationScheme>)>,
    /// Passport scheme: the verifiers whose signed EARs we accept, by the
    /// `verifier_identity` of their `result(1)` scheme, with their public
    /// keys. List the matching schemes in the appraiser's schemes.
    pub passport_verifiers: Vec<(Vec<u8>, VerificationKey)>,
    /// Client only: require host identity (I1) of the server: its
    /// end-entity certificate (whose key is the attested TIK) must chain to
    /// these roots for the name given to [`connect`]. Also required when
    /// the appraiser's policy has `[host_identity]`
    /// ([`EarlyConfig::required_host_identity`]). Needs an appraiser; a
    /// server refuses it (no dialled name to check).
    pub host_identity: Option<HostIdentity>,
    /// Server only: refuse a ClientHello without `remoteAttestation`
    /// (default `true`; an `early` server serves attested connections only).
    pub require_extension: bool,
    /// Deadline of the whole handshake (attestation included).
    pub handshake_timeout: Duration,
    /// Verification time source.
    pub clock: Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>,
    /// Test hook: put our Evidence in this CertificateEntry instead of the
    /// first (only to test that peers refuse it).
    #[doc(hidden)]
    pub evidence_entry: usize,
    /// Test hook: keep every handshake message the message callback sees
    /// (returned by [`details`]), to check them against OpenSSL's keys.
    #[doc(hidden)]
    pub record_handshake: bool,
}

impl std::fmt::Debug for EarlyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EarlyConfig")
            .field("extension_type", &format_args!("{:#06x}", self.extension_type))
            .field(
                "attester",
                &self.attester.as_ref().map(|(a, s)| (a.platform().to_string(), s)),
            )
            .field("appraiser", &self.appraiser)
            .field("require_extension", &self.require_extension)
            .field("host_identity", &self.host_identity)
            .finish_non_exhaustive()
    }
}

impl Default for EarlyConfig {
    fn default() -> Self {
        Self {
            extension_type: DEFAULT_EXTENSION_TYPE,
            attester: None,
            appraiser: None,
            passport_verifiers: Vec::new(),
            host_identity: None,
            require_extension: true,
            handshake_timeout: Duration::from_secs(10),
            clock: Arc::new(time::OffsetDateTime::now_utc),
            evidence_entry: 0,
            record_handshake: false,
        }
    }
}

/// Extension types OpenSSL handles itself (RFC 8446 and earlier); it
/// refuses custom extensions of these types.
const BUILT_IN_TYPES: &[u16] = &[
    0, 1, 5, 10, 11, 13, 14, 15, 16, 18, 21, 22, 23, 27, 28, 35, 41, 42, 43, 44, 45, 47, 49, 50, 51, 0xff01,
];

impl EarlyConfig {
    /// A side that attests with `attester`, presenting `schemes`.
    pub fn attester(attester: Arc<dyn EarlyAttester>, schemes: Vec<AttestationScheme>) -> Self {
        Self {
            attester: Some((attester, schemes)),
            ..Self::default()
        }
    }

    /// A side that requires the peer to attest in one of `schemes`.
    pub fn verifier(appraiser: Appraiser, schemes: Vec<AttestationScheme>) -> Self {
        Self {
            appraiser: Some((appraiser, schemes)),
            ..Self::default()
        }
    }

    /// Adds an appraiser (mutual attestation when an attester is set too).
    pub fn with_appraiser(mut self, appraiser: Appraiser, schemes: Vec<AttestationScheme>) -> Self {
        self.appraiser = Some((appraiser, schemes));
        self
    }

    /// Requires host identity (I1) of the server (client only; see
    /// [`EarlyConfig::host_identity`]).
    pub fn with_host_identity(mut self, host_identity: HostIdentity) -> Self {
        self.host_identity = Some(host_identity);
        self
    }

    /// The host identity (I1) required of the peer: this configuration's,
    /// else the appraiser's (a policy's `[host_identity]` section).
    pub fn required_host_identity(&self) -> Option<&HostIdentity> {
        self.host_identity
            .as_ref()
            .or_else(|| self.appraiser.as_ref().and_then(|(a, _)| a.host_identity()))
    }

    /// Refuses a configuration that cannot work.
    pub fn check(&self) -> Result<(), EarlyError> {
        if BUILT_IN_TYPES.contains(&self.extension_type) {
            return Err(EarlyError::Config(format!(
                "extension type {:#06x} is handled by OpenSSL itself (0xff01 is renegotiation_info); choose an unassigned code point such as {DEFAULT_EXTENSION_TYPE:#06x}",
                self.extension_type
            )));
        }
        if self.attester.as_ref().is_some_and(|(_, s)| s.is_empty()) {
            return Err(EarlyError::Config("the attester presents no scheme".into()));
        }
        if self.appraiser.as_ref().is_some_and(|(_, s)| s.is_empty()) {
            return Err(EarlyError::Config("the appraiser accepts no scheme".into()));
        }
        for scheme in self.appraiser.iter().flat_map(|(_, s)| s) {
            if let AttestationScheme::Result { verifier_identity } = scheme {
                if !self.passport_verifiers.iter().any(|(id, _)| id == verifier_identity) {
                    return Err(EarlyError::Config(format!(
                        "the passport scheme of verifier {:?} is accepted but no key is given for it (passport_verifiers)",
                        String::from_utf8_lossy(verifier_identity)
                    )));
                }
            }
        }
        // Fail closed: a passport is appraised by its verifier's policy,
        // not this side's (only `[host_identity]` applies to it). A policy
        // with platform sections next to passport verifiers would read as
        // if its reference values held for passports too; they would not.
        if let Some((appraiser, schemes)) = &self.appraiser {
            let passport = schemes.iter().any(|s| matches!(s, AttestationScheme::Result { .. }));
            if passport && appraiser.has_platforms() {
                return Err(EarlyError::Config(format!(
                    "the passport scheme is accepted, but the policy {:?} has platform sections: a passport (a signed EAR) is \
                     appraised by its verifier's policy, not by this policy's reference values, which would silently not \
                     apply to it; use a policy with only `id` (and [host_identity]) next to passport verifiers, or drop \
                     the passport verifiers to appraise the Evidence with this policy",
                    appraiser.policy_id()
                )));
            }
        }
        if self.host_identity.is_some() && self.appraiser.is_none() {
            return Err(EarlyError::Config(
                "host identity (I1) concerns the attested key: it needs an appraiser of the server's Evidence".into(),
            ));
        }
        if self.attester.is_none() && self.appraiser.is_none() {
            return Err(EarlyError::Config(
                "neither an attester nor an appraiser: nothing to attest".into(),
            ));
        }
        Ok(())
    }
}

/// What one connection learnt during its handshake.
#[derive(Debug, Default)]
struct ConnState {
    transcript: HelloTranscript,
    /// The scheme the server attests in (chosen by the server from the
    /// client's list).
    server_scheme: Option<AttestationScheme>,
    /// The scheme the client attests in.
    client_scheme: Option<AttestationScheme>,
    /// Server: the current ClientHello carried `remoteAttestation`.
    peer_extension_seen: bool,
    /// The peer's accepted attestation result.
    peer_ear: Option<Ear>,
    /// Every handshake message, when `record_handshake` is set.
    recorded: Vec<Vec<u8>>,
    /// Client: the I1 check still to run on the server's chain (set by
    /// [`connect`] when I1 is required; taken when it runs).
    host_identity: Option<HostIdentityCheck>,
    /// The first refusal; reported by the adapter instead of OpenSSL's
    /// generic error.
    refusal: Option<Refusal>,
}

/// Per-connection state, shared by the callbacks (through the SSL object's
/// ex_data) and the adapter.
struct Conn {
    role: Role,
    cfg: Arc<EarlyConfig>,
    state: Mutex<ConnState>,
}

impl Conn {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConnState> {
        // A panic in a callback poisons nothing we rely on being consistent:
        // every field is set in one assignment.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records the first refusal and returns the alert to send.
    fn refuse(&self, reason: Refusal) -> SslAlert {
        let alert = reason.ssl_alert();
        tracing::debug!(role = ?self.role, %reason, "mode early refuses the connection");
        let mut st = self.lock();
        if st.refusal.is_none() {
            st.refusal = Some(reason);
        }
        alert
    }
}

fn conn_index() -> Index<Ssl, Arc<Conn>> {
    static INDEX: OnceLock<Index<Ssl, Arc<Conn>>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().expect("OpenSSL allocates an ex_data index"))
}

/// Runs the body of an OpenSSL callback on `s` (the connection, or the
/// certificate store of the verify callback). rust-openssl's callback
/// trampolines are `extern "C"` without `catch_unwind`, so a panic there
/// (in our code, an attester, a verifier, a parser) would abort the
/// process; it becomes `on_panic(s)` instead: a refusal with
/// internal_error.
pub(crate) fn guarded<S: ?Sized, T>(
    s: &mut S,
    body: impl FnOnce(&mut S) -> T,
    on_panic: impl FnOnce(&mut S) -> T,
) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut *s))) {
        Ok(v) => v,
        Err(_) => on_panic(s),
    }
}

/// The refusal of a mode `early` connection whose callback panicked while
/// doing `what`.
fn panicked(ssl: &SslRef, what: &str) -> SslAlert {
    match conn_of(ssl) {
        Some(conn) => conn.refuse(Refusal::Internal(format!("panic while {what}"))),
        None => SslAlert::INTERNAL_ERROR,
    }
}

fn conn_of(ssl: &SslRef) -> Option<Arc<Conn>> {
    ssl.ex_data(conn_index()).cloned()
}

/// Feeds OpenSSL's own handshake messages to the connection's transcript
/// (called by [`ffi`]'s message callback).
pub(crate) fn on_handshake_message(ssl: &SslRef, message: &[u8]) {
    if let Some(conn) = conn_of(ssl) {
        let mut st = conn.lock();
        if conn.role == Role::Server && message.first() == Some(&1) {
            // A new ClientHello (the second one after a HelloRetryRequest):
            // its own extension must be there, and the first one's scheme
            // choices must not survive into it (a second ClientHello
            // without the extension would otherwise keep them).
            st.peer_extension_seen = false;
            st.server_scheme = None;
            st.client_scheme = None;
        }
        if conn.cfg.record_handshake {
            st.recorded.push(message.to_vec());
        }
        // Errors poison the transcript; the binder computation reports them.
        let _ = st.transcript.push(message);
    }
}

/// The message callback panicked while feeding a message: poison the
/// transcript, so that the binder (and with it the handshake) fails closed
/// instead of being computed over a transcript missing that message.
pub(crate) fn on_handshake_message_panicked(ssl: &SslRef) {
    if let Some(conn) = conn_of(ssl) {
        conn.lock().transcript.poison(TranscriptError::MessageLost);
    }
}

/// A server context for mode `early`: TLS 1.3 only, `chain` (end-entity
/// first) and its key, the extension and callbacks installed.
pub fn server_context(cfg: &EarlyConfig, chain: &[X509], key: &PKey<Private>) -> Result<SslContext, EarlyError> {
    Ok(server_context_builder(cfg, chain, key)?.build())
}

/// [`server_context`] before `build()`, for further OpenSSL settings
/// (groups, cipher suites). Do not replace the callbacks it installs
/// (message, server name, verify) or register another extension of the
/// same type.
pub fn server_context_builder(
    cfg: &EarlyConfig,
    chain: &[X509],
    key: &PKey<Private>,
) -> Result<SslContextBuilder, EarlyError> {
    cfg.check()?;
    let mut b = SslContextBuilder::new(SslMethod::tls_server())?;
    common(&mut b, cfg)?;
    set_identity(&mut b, chain, key, "server")?;
    let ext_type = cfg.extension_type;
    let require = cfg.require_extension;
    // The server-name callback runs after every ClientHello extension was
    // parsed and, unlike the ClientHello callback, after the version was
    // negotiated: only then does OpenSSL send TLS 1.3's missing_extension
    // (before, it turns it into handshake_failure). It runs whether or not
    // the client sent a server name.
    b.set_servername_callback(move |ssl, alert| {
        guarded(
            ssl,
            |ssl| {
                let Some(conn) = conn_of(ssl) else {
                    return Err(SslAlert::INTERNAL_ERROR);
                };
                let seen = conn.lock().peer_extension_seen;
                if require && !seen {
                    return Err(conn.refuse(Refusal::NoExtension(ext_type)));
                }
                Ok(())
            },
            |ssl| Err(panicked(ssl, "checking the ClientHello")),
        )
        .map_err(|a| {
            *alert = a;
            SniError::ALERT_FATAL
        })
    });
    if cfg.appraiser.is_some() {
        // Ask for the client's certificate; trust comes from its Evidence.
        b.set_verify_callback(
            SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT,
            verify_peer_attested,
        );
    } else {
        b.set_verify(SslVerifyMode::NONE);
    }
    Ok(b)
}

/// A client context for mode `early`; `identity` (certificate chain and
/// key) is needed only when the client attests.
pub fn client_context(
    cfg: &EarlyConfig,
    identity: Option<(&[X509], &PKey<Private>)>,
) -> Result<SslContext, EarlyError> {
    Ok(client_context_builder(cfg, identity)?.build())
}

/// [`client_context`] before `build()` (same caveats as
/// [`server_context_builder`]).
pub fn client_context_builder(
    cfg: &EarlyConfig,
    identity: Option<(&[X509], &PKey<Private>)>,
) -> Result<SslContextBuilder, EarlyError> {
    cfg.check()?;
    let mut b = SslContextBuilder::new(SslMethod::tls_client())?;
    common(&mut b, cfg)?;
    if let Some((chain, key)) = identity {
        set_identity(&mut b, chain, key, "client")?;
    } else if cfg.attester.is_some() {
        return Err(EarlyError::Config(
            "a client that attests needs a certificate and key (its TIK)".into(),
        ));
    }
    if cfg.appraiser.is_some() {
        b.set_verify_callback(SslVerifyMode::PEER, verify_peer_attested);
    } else {
        b.set_verify(SslVerifyMode::NONE);
    }
    Ok(b)
}

/// Our certificate chain (end-entity first: its key is the TIK) and key.
pub(crate) fn set_identity(
    b: &mut SslContextBuilder,
    chain: &[X509],
    key: &PKey<Private>,
    who: &str,
) -> Result<(), EarlyError> {
    let (leaf, rest) = chain
        .split_first()
        .ok_or_else(|| EarlyError::Config(format!("the {who} identity has no certificate")))?;
    b.set_certificate(leaf)?;
    for c in rest {
        b.add_extra_chain_cert(c.clone())?;
    }
    b.set_private_key(key)?;
    b.check_private_key()?;
    Ok(())
}

/// The key-exchange groups every context of this crate offers and accepts:
/// X25519, P-256 and P-384. OpenSSL's default list also has the finite-field
/// groups (ffdhe2048 and up), which a peer could otherwise negotiate (the
/// attack lab's R5-ffdhe2048 did, against the binding profiles' clients).
pub const TLS_GROUPS: &str = "X25519:P-256:P-384";

/// Runs the TLS handshake of `stream` as client (`client`) or server; the
/// three adapters (mode early, the default mode, the profiles) share it.
pub(crate) async fn drive_handshake<IO>(stream: &mut SslStream<IO>, client: bool) -> Result<(), openssl::ssl::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut pinned = std::pin::Pin::new(stream);
    if client {
        pinned.as_mut().connect().await
    } else {
        pinned.as_mut().accept().await
    }
}

/// Settings and callbacks both roles share.
fn common(b: &mut SslContextBuilder, cfg: &EarlyConfig) -> Result<(), EarlyError> {
    b.set_min_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_groups_list(TLS_GROUPS)?;
    // Resumption would skip the Certificate message and its Evidence.
    b.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::OFF);
    b.set_options(openssl::ssl::SslOptions::NO_TICKET);
    // NO_TICKET with the cache off still lets OpenSSL 3 send two TLS 1.3
    // tickets; none at all are sent with this.
    b.set_num_tickets(0)?;
    ffi::set_handshake_message_callback(b);
    let contexts = ExtensionContext::TLS_ONLY
        | ExtensionContext::TLS1_3_ONLY
        | ExtensionContext::CLIENT_HELLO
        | ExtensionContext::TLS1_3_ENCRYPTED_EXTENSIONS
        | ExtensionContext::TLS1_3_CERTIFICATE_REQUEST
        | ExtensionContext::TLS1_3_CERTIFICATE;
    // One add and one parse closure for all four contexts: rust-openssl
    // keys callbacks by closure type, and OpenSSL sends a server-side
    // extension only if the client's ClientHello carried the same type.
    b.add_custom_ext(cfg.extension_type, contexts, add_extension, parse_extension)?;
    Ok(())
}

fn map_ctx(ctx: ExtensionContext) -> Option<Ctx> {
    if ctx.contains(ExtensionContext::CLIENT_HELLO) {
        Some(Ctx::ClientHello)
    } else if ctx.contains(ExtensionContext::TLS1_3_ENCRYPTED_EXTENSIONS) {
        Some(Ctx::EncryptedExtensions)
    } else if ctx.contains(ExtensionContext::TLS1_3_CERTIFICATE_REQUEST) {
        Some(Ctx::CertificateRequest)
    } else if ctx.contains(ExtensionContext::TLS1_3_CERTIFICATE) {
        Some(Ctx::Certificate)
    } else {
        None
    }
}

fn encode(conn: &Conn, ext: RemoteAttestation) -> Result<Option<Vec<u8>>, SslAlert> {
    match ext.encode() {
        Ok(b) => Ok(Some(b)),
        Err(e) => Err(conn.refuse(Refusal::Internal(format!("encoding remoteAttestation: {e}")))),
    }
}

fn add_extension(
    ssl: &mut SslRef,
    ctx: ExtensionContext,
    cert: Option<(usize, &X509Ref)>,
) -> Result<Option<Vec<u8>>, SslAlert> {
    guarded(
        ssl,
        |ssl| add_extension_unguarded(ssl, ctx, cert),
        |ssl| Err(panicked(ssl, "adding the remoteAttestation extension")),
    )
}

fn add_extension_unguarded(
    ssl: &mut SslRef,
    ctx: ExtensionContext,
    cert: Option<(usize, &X509Ref)>,
) -> Result<Option<Vec<u8>>, SslAlert> {
    let Some(conn) = conn_of(ssl) else {
        return Err(SslAlert::INTERNAL_ERROR);
    };
    let cfg = conn.cfg.clone();
    match map_ctx(ctx) {
        Some(Ctx::ClientHello) => {
            let server = cfg.appraiser.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
            let client = cfg.attester.as_ref().map(|(_, s)| s.clone()).unwrap_or_default();
            encode(
                &conn,
                RemoteAttestation::ClientHello {
                    server_attester_schemes: server,
                    client_attester_schemes: client,
                },
            )
        }
        // The scheme is read into a local first: a `match` on
        // `conn.lock()...` would hold the guard through `encode`, whose
        // failure path (`conn.refuse`) locks again and would deadlock.
        Some(Ctx::EncryptedExtensions) => {
            let chosen = conn.lock().server_scheme.clone();
            match chosen {
                Some(s) => encode(&conn, RemoteAttestation::EncryptedExtensions(s)),
                None => Ok(None),
            }
        }
        Some(Ctx::CertificateRequest) => {
            let chosen = conn.lock().client_scheme.clone();
            match chosen {
                Some(s) => encode(&conn, RemoteAttestation::CertificateRequest(s)),
                None => Ok(None),
            }
        }
        Some(Ctx::Certificate) => {
            let our_scheme = match conn.role {
                Role::Server => conn.lock().server_scheme.clone(),
                Role::Client => conn.lock().client_scheme.clone(),
            };
            match (our_scheme, cert) {
                (Some(_), Some((idx, x509))) if idx == cfg.evidence_entry => {
                    let cmw = evidence_for(&conn, x509)?;
                    encode(&conn, RemoteAttestation::Certificate(cmw))
                }
                _ => Ok(None),
            }
        }
        None => Ok(None),
    }
}

/// Our Evidence for the key of `x509` on this connection.
fn evidence_for(conn: &Conn, x509: &X509Ref) -> Result<Vec<u8>, SslAlert> {
    let Some((attester, _)) = conn.cfg.attester.as_ref() else {
        return Err(conn.refuse(Refusal::Internal("a scheme was chosen but there is no attester".into())));
    };
    let binding = binding_for(conn, x509)?;
    // The attester runs inside OpenSSL's callback, which cannot wait for a
    // future. An attester that may block (hardware) is run with
    // `block_in_place` on a multi-threaded runtime, so that the worker's
    // other tasks move elsewhere meanwhile; it still cannot be interrupted
    // by the handshake deadline.
    let attest = || attester.attest_early(&binding);
    let on_multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let result = if attester.may_block() && on_multi_thread {
        tokio::task::block_in_place(attest)
    } else {
        attest()
    };
    match result {
        Ok(cmw) => Ok(cmw.to_cbor()),
        Err(e) => Err(conn.refuse(Refusal::Attester(e.to_string()))),
    }
}

/// The DER SubjectPublicKeyInfo of `x509`, as the certificate carries it.
/// Taken from the certificate's encoding by a minimal DER walk rather than
/// with `public_key_to_der`, which OpenSSL 3.0 runs through its encoder
/// framework: that alone was a fifth of the CPU of an `early` connection
/// in `atls bench`.
fn spki_der(x509: &X509Ref) -> Result<Vec<u8>, String> {
    let der = x509.to_der().map_err(|e| e.to_string())?;
    attested_tls::der::certificate_spki(&der)
        .map(<[u8]>::to_vec)
        .map_err(|e| e.to_string())
}

fn binding_for(conn: &Conn, x509: &X509Ref) -> Result<EarlyBinding, SslAlert> {
    let spki =
        spki_der(x509).map_err(|e| conn.refuse(Refusal::Internal(format!("reading the end-entity key: {e}"))))?;
    let th = conn.lock().transcript.finish();
    match th {
        Ok((hash, th)) => Ok(EarlyBinding::new(hash, &th, &spki)),
        Err(e) => Err(conn.refuse(Refusal::Transcript(e))),
    }
}

fn parse_extension(
    ssl: &mut SslRef,
    ctx: ExtensionContext,
    data: &[u8],
    cert: Option<(usize, &X509Ref)>,
) -> Result<(), SslAlert> {
    guarded(
        ssl,
        |ssl| parse_extension_unguarded(ssl, ctx, data, cert),
        |ssl| Err(panicked(ssl, "processing the peer's remoteAttestation extension")),
    )
}

fn parse_extension_unguarded(
    ssl: &mut SslRef,
    ctx: ExtensionContext,
    data: &[u8],
    cert: Option<(usize, &X509Ref)>,
) -> Result<(), SslAlert> {
    let Some(conn) = conn_of(ssl) else {
        return Err(SslAlert::INTERNAL_ERROR);
    };
    let Some(context) = map_ctx(ctx) else {
        return Ok(());
    };
    if context == Ctx::Certificate {
        // Checked before decoding: the position is wrong whatever the body.
        if let Some((idx, _)) = cert {
            if idx != 0 {
                return Err(conn.refuse(Refusal::NotFirstEntry(idx)));
            }
        }
    }
    let ext = RemoteAttestation::decode(context, data).map_err(|e| conn.refuse(Refusal::Malformed(e)))?;
    match ext {
        RemoteAttestation::ClientHello {
            server_attester_schemes,
            client_attester_schemes,
        } => on_client_hello(&conn, server_attester_schemes, client_attester_schemes),
        RemoteAttestation::EncryptedExtensions(s) => on_chosen(&conn, s, Role::Server),
        RemoteAttestation::CertificateRequest(s) => on_chosen(&conn, s, Role::Client),
        RemoteAttestation::Certificate(cmw) => match cert {
            Some((_, x509)) => {
                refuse_our_own_key(&conn, ssl, x509)?;
                on_evidence(&conn, &cmw, x509)
            }
            None => Err(conn.refuse(Refusal::Internal("Evidence without its certificate".into()))),
        },
    }
}

/// The draft's binders share one label, so they differ only by SPKI: a
/// peer presenting our own key could reflect our Evidence. Refused.
fn refuse_our_own_key(conn: &Conn, ssl: &SslRef, peer: &X509Ref) -> Result<(), SslAlert> {
    let Some(ours) = ssl.certificate() else {
        return Ok(());
    };
    match (spki_der(ours).ok(), spki_der(peer).ok()) {
        (Some(a), Some(b)) if a == b => Err(conn.refuse(Refusal::ReflectedKey)),
        (Some(_), Some(_)) => Ok(()),
        _ => Err(conn.refuse(Refusal::Internal("reading an end-entity key".into()))),
    }
}

/// Server: picks the schemes from the client's lists.
fn on_client_hello(
    conn: &Conn,
    server_list: Vec<AttestationScheme>,
    client_list: Vec<AttestationScheme>,
) -> Result<(), SslAlert> {
    let cfg = &conn.cfg;
    let mut server_scheme = None;
    if !server_list.is_empty() {
        if let Some((_, ours)) = &cfg.attester {
            server_scheme = Some(choose_scheme(&server_list, ours).ok_or_else(|| {
                conn.refuse(Refusal::NoCommonScheme {
                    offered: server_list.clone(),
                    supported: ours.clone(),
                })
            })?);
        }
        // Without an attester we decline: no EncryptedExtensions entry;
        // a client that requires attestation refuses us.
    }
    let mut client_scheme = None;
    if let Some((_, accepted)) = &cfg.appraiser {
        if client_list.is_empty() {
            return Err(conn.refuse(Refusal::PeerDeclined("the ClientHello lists no client attester scheme")));
        }
        client_scheme = Some(choose_scheme(&client_list, accepted).ok_or_else(|| {
            conn.refuse(Refusal::NoCommonScheme {
                offered: client_list.clone(),
                supported: accepted.clone(),
            })
        })?);
    }
    // After a HelloRetryRequest the second ClientHello replaces the first's choice.
    let mut st = conn.lock();
    st.peer_extension_seen = true;
    st.server_scheme = server_scheme;
    st.client_scheme = client_scheme;
    Ok(())
}

/// Client: the server's choice in EncryptedExtensions (`attester` = Server)
/// or CertificateRequest (`attester` = Client) must be one we offered.
fn on_chosen(conn: &Conn, scheme: AttestationScheme, attester: Role) -> Result<(), SslAlert> {
    let offered = match attester {
        Role::Server => conn.cfg.appraiser.as_ref().map(|(_, s)| s),
        Role::Client => conn.cfg.attester.as_ref().map(|(_, s)| s),
    };
    if !offered.is_some_and(|o| o.contains(&scheme)) {
        return Err(conn.refuse(Refusal::Unsolicited(format!(
            "the server chose {scheme:?}, which this client did not offer"
        ))));
    }
    let mut st = conn.lock();
    match attester {
        Role::Server => st.server_scheme = Some(scheme),
        Role::Client => st.client_scheme = Some(scheme),
    }
    Ok(())
}

/// The peer's Evidence in its first CertificateEntry: recompute the binder
/// for the entry's key and appraise.
fn on_evidence(conn: &Conn, cmw_bytes: &[u8], x509: &X509Ref) -> Result<(), SslAlert> {
    let peer_scheme = match conn.role {
        Role::Client => conn.lock().server_scheme.clone(),
        Role::Server => conn.lock().client_scheme.clone(),
    };
    let (Some((appraiser, _)), Some(scheme)) = (&conn.cfg.appraiser, peer_scheme) else {
        return Err(conn.refuse(Refusal::Unsolicited(
            "Evidence in a CertificateEntry, but no scheme was agreed for it".into(),
        )));
    };
    let cmw = Cmw::decode(cmw_bytes).map_err(|e| conn.refuse(Refusal::MalformedCmw(e.to_string())))?;
    if let AttestationScheme::Result { verifier_identity } = &scheme {
        return on_passport(conn, &cmw, verifier_identity, x509);
    }
    // Every record must be of the chosen scheme's type, whether it names
    // a media type or a Content-Format.
    for (path, rec) in cmw.records() {
        if !scheme.matches_record_type(&rec.typ) {
            return Err(conn.refuse(Refusal::MalformedCmw(format!(
                "record {path:?} holds {}, not Evidence of the chosen scheme {scheme:?}",
                rec.typ
            ))));
        }
    }
    let binding = binding_for(conn, x509)?;
    let expected = binding.expected_for(&cmw);
    let mut ear = appraiser.appraise_cmw(&cmw, &expected, (conn.cfg.clock)());
    mark_mode(&mut ear);
    if !ear.is_acceptable() {
        return Err(conn.refuse(Refusal::NotTrusted(Box::new(ear))));
    }
    conn.lock().peer_ear = Some(ear);
    Ok(())
}

/// The passport scheme: a signed EAR from a verifier we trust, bound to
/// this handshake and key by its `eat_nonce`.
fn on_passport(conn: &Conn, cmw: &Cmw, verifier_identity: &[u8], x509: &X509Ref) -> Result<(), SslAlert> {
    let Some((_, key)) = conn
        .cfg
        .passport_verifiers
        .iter()
        .find(|(id, _)| id == verifier_identity)
    else {
        return Err(conn.refuse(Refusal::Internal(format!(
            "no key for verifier {:?}, whose scheme this side offered",
            String::from_utf8_lossy(verifier_identity)
        ))));
    };
    let binding = binding_for(conn, x509)?;
    // The eat_nonce makes the EAR fresh; the leeway covers clocks that
    // disagree about its iat.
    let validation = EarJwtValidation::at((conn.cfg.clock)()).with_leeway(Duration::from_secs(60));
    match check_passport(cmw, &binding, key, &validation) {
        Ok(mut ear) => {
            mark_mode(&mut ear);
            conn.lock().peer_ear = Some(ear);
            Ok(())
        }
        Err(e) => Err(conn.refuse(Refusal::Passport(e.to_string()))),
    }
}

/// Records in every submodule that the result rests on mode `early`.
fn mark_mode(ear: &mut Ear) {
    attested_tls::modes::mark_mode(ear, MODE_EARLY);
}

/// Certificate verification: the chain is not checked against roots (trust
/// comes from the Evidence), but the handshake fails here when this side
/// requires the peer's attestation and none was accepted: the peer sent no
/// Evidence. A client that requires host identity (I1) checks the
/// server's chain here, once, after the Evidence was accepted.
fn verify_peer_attested(preverify_ok: bool, store: &mut X509StoreContextRef) -> bool {
    guarded(
        store,
        |store| verify_peer_attested_unguarded(preverify_ok, store),
        |store| {
            if let Some(ssl) = X509StoreContext_ssl(store) {
                panicked(ssl, "verifying the peer's certificate");
            }
            store.set_error(X509VerifyResult::APPLICATION_VERIFICATION);
            false
        },
    )
}

fn verify_peer_attested_unguarded(_preverify_ok: bool, store: &mut X509StoreContextRef) -> bool {
    let ssl = X509StoreContext_ssl(store);
    let Some((ssl, conn)) = ssl.and_then(|ssl| Some((ssl, conn_of(ssl)?))) else {
        store.set_error(X509VerifyResult::APPLICATION_VERIFICATION);
        return false;
    };
    let attested = conn.lock().peer_ear.is_some();
    if !attested {
        conn.refuse(Refusal::PeerDeclined(
            "no Evidence in the peer's first CertificateEntry",
        ));
        store.set_error(X509VerifyResult::APPLICATION_VERIFICATION);
        return false;
    }
    if !check_host_identity(&conn, ssl) {
        store.set_error(ffi::cert_rejected());
        return false;
    }
    true
}

/// I1 on the client: the server's chain (end entity first; its key is the
/// TIK the Evidence committed to) must verify for the dialled name against
/// the I1 roots. The outcome is recorded in the peer's EAR either way
/// ([`HostIdentityCheck::apply`], as in the default mode); a failure
/// refuses the connection with that EAR. Runs once per connection (the
/// verify callback runs per certificate).
fn check_host_identity(conn: &Conn, ssl: &SslRef) -> bool {
    let Some(check) = conn.lock().host_identity.take() else {
        return true;
    };
    // OpenSSL 3 keeps the received chain in the session before verifying
    // it; without it the check fails (no certificate), never passes.
    let mut chain = Vec::new();
    for cert in ssl.peer_cert_chain().into_iter().flatten() {
        match cert.to_der() {
            Ok(der) => chain.push(CertificateDer::from(der)),
            Err(e) => {
                conn.refuse(Refusal::Internal(format!("encoding the server's certificate: {e}")));
                return false;
            }
        }
    }
    let now = (conn.cfg.clock)();
    let mut st = conn.lock();
    let Some(ear) = st.peer_ear.as_mut() else {
        return false;
    };
    let _ = check.apply(ear, &chain, now);
    if ear.is_acceptable() {
        return true;
    }
    let ear = st.peer_ear.take().map(Box::new);
    drop(st);
    if let Some(ear) = ear {
        conn.refuse(Refusal::NotTrusted(ear));
    }
    false
}

#[allow(non_snake_case)]
fn X509StoreContext_ssl(store: &X509StoreContextRef) -> Option<&SslRef> {
    let idx = openssl::x509::X509StoreContext::ssl_idx().ok()?;
    store.ex_data(idx)
}

/// What a completed mode `early` handshake established.
#[derive(Debug, Clone)]
pub struct EarlyDetails {
    /// The scheme the server attested in, if it did.
    pub server_scheme: Option<AttestationScheme>,
    /// The scheme the client attested in, if it did.
    pub client_scheme: Option<AttestationScheme>,
    /// Whether the handshake went through a HelloRetryRequest.
    pub hello_retry_request: bool,
    /// Every handshake message, if [`EarlyConfig`]'s test hook asked for them.
    #[doc(hidden)]
    pub handshake_messages: Vec<Vec<u8>>,
}

/// The details of a connection made by [`connect`] / [`accept`].
pub fn details(ssl: &SslRef) -> Option<EarlyDetails> {
    let conn = conn_of(ssl)?;
    let st = conn.lock();
    Some(EarlyDetails {
        server_scheme: st.server_scheme.clone(),
        client_scheme: st.client_scheme.clone(),
        hello_retry_request: st.transcript.had_hello_retry_request(),
        handshake_messages: st.recorded.clone(),
    })
}

fn new_ssl(ctx: &SslContext, role: Role, cfg: &EarlyConfig) -> Result<(Ssl, Arc<Conn>), EarlyError> {
    let mut ssl = Ssl::new(ctx)?;
    let conn = Arc::new(Conn {
        role,
        cfg: Arc::new(cfg.clone()),
        state: Mutex::new(ConnState::default()),
    });
    ssl.set_ex_data(conn_index(), conn.clone());
    Ok((ssl, conn))
}

/// Opens a mode `early` connection as TLS client over `io`. Returns the
/// stream only after the handshake succeeded, including (if `cfg` has an
/// appraiser) the appraisal of the server's Evidence, whose result is
/// returned too.
pub async fn connect<IO>(
    ctx: &SslContext,
    server_name: &str,
    io: IO,
    cfg: &EarlyConfig,
) -> Result<(SslStream<IO>, Option<Ear>), EarlyError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    cfg.check()?;
    let host_identity = match cfg.required_host_identity() {
        Some(h) => {
            let name = ServerName::try_from(server_name.to_string()).map_err(|e| {
                EarlyError::Config(format!(
                    "host identity (I1) needs a DNS name or IP address to check; {server_name:?}: {e}"
                ))
            })?;
            Some(h.for_server(name))
        }
        None => None,
    };
    let (mut ssl, conn) = new_ssl(ctx, Role::Client, cfg)?;
    conn.lock().host_identity = host_identity;
    ssl.set_hostname(server_name)?;
    ssl.set_connect_state();
    handshake(ssl, conn, io, cfg, true).await
}

/// Accepts a mode `early` connection as TLS server over `io`.
pub async fn accept<IO>(ctx: &SslContext, io: IO, cfg: &EarlyConfig) -> Result<(SslStream<IO>, Option<Ear>), EarlyError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    cfg.check()?;
    if cfg.required_host_identity().is_some() {
        // Fail closed rather than skip: a server dialled no name.
        return Err(EarlyError::Config(
            "host identity (I1) checks the name a client dialled; a server cannot require it of its clients".into(),
        ));
    }
    let (mut ssl, conn) = new_ssl(ctx, Role::Server, cfg)?;
    ssl.set_accept_state();
    handshake(ssl, conn, io, cfg, false).await
}

async fn handshake<IO>(
    ssl: Ssl,
    conn: Arc<Conn>,
    io: IO,
    cfg: &EarlyConfig,
    client: bool,
) -> Result<(SslStream<IO>, Option<Ear>), EarlyError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = SslStream::new(ssl, io)?;
    let fut = drive_handshake(&mut stream, client);
    let r = tokio::time::timeout(cfg.handshake_timeout, fut)
        .await
        .map_err(|_| EarlyError::Timeout("TLS handshake"))?;
    let refusal = conn.lock().refusal.take();
    if let Some(reason) = refusal {
        return Err(EarlyError::Refused { reason });
    }
    if let Err(e) = r {
        return Err(handshake_error(e));
    }
    // Defence in depth: the verify callback already failed the handshake
    // if the peer's Evidence was required and missing, and ran I1 (taking
    // the pending check). A check still pending means it never ran (a
    // caller replaced the verify callback): fail closed.
    if conn.lock().host_identity.is_some() {
        return Err(EarlyError::Refused {
            reason: Refusal::HostIdentityUnchecked,
        });
    }
    let ear = conn.lock().peer_ear.take();
    if cfg.appraiser.is_some() && ear.is_none() {
        return Err(EarlyError::Refused {
            reason: Refusal::PeerDeclined("the handshake completed without the peer's Evidence"),
        });
    }
    Ok((stream, ear))
}

/// OpenSSL reports a received alert as reason 1000 + AlertDescription.
pub(crate) fn handshake_error(e: openssl::ssl::Error) -> EarlyError {
    if let Some(stack) = e.ssl_error() {
        for err in stack.errors() {
            let reason = err.reason_code();
            if (1000..1256).contains(&reason) {
                return EarlyError::PeerAlert {
                    code: (reason - 1000) as u8,
                    text: err.reason().unwrap_or("").to_string(),
                };
            }
        }
    }
    match e.into_io_error() {
        Ok(io) => EarlyError::Io(io),
        Err(e) => EarlyError::Tls(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards the binder's key bytes: the SPKI walked out of the
    /// certificate is what OpenSSL encodes for the certificate's key.
    #[test]
    fn spki_from_the_certificate_is_the_encoded_public_key() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let cert = rcgen::CertificateParams::new(vec!["s.test".to_string()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            let x509 = X509::from_der(cert.der()).unwrap();
            let encoded = x509.public_key().unwrap().public_key_to_der().unwrap();
            assert_eq!(spki_der(&x509).unwrap(), encoded);
        }
    }
}
