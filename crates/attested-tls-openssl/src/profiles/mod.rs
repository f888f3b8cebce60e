//! The binding profiles (B1-B7, [`attested_tls::modes::profiles`]) on
//! OpenSSL 3: explicit, named, never a default.
//!
//! One adapter drives every profile from its [`Needs`](attested_tls::modes::profiles::Needs):
//!
//! - **client**: puts a fresh nonce where the design carries it (SNI
//!   `<hex>.nonce`, ALPN `atls:v1:nonce:<hex>` listed first, or a
//!   ClientHello extension), completes the TLS 1.3 handshake, then, before
//!   returning the stream (so before any application data), reads the
//!   Evidence from the server certificate's extension, recomputes the
//!   design's `report_data` from what this connection used (client random,
//!   its nonce, the early exporter of the ClientHello it sent, the
//!   certificate's SPKI) and appraises it with the same [`Appraiser`] as the
//!   other modes. It checks exactly what the design checks: a profile that
//!   does not bind the key does not compare the key with the Evidence.
//! - **server**: for each ClientHello (server-name callback, or ALPN
//!   callback for ALPN carriers), a fresh key and a self-signed certificate
//!   carrying Evidence over the design's binder; for the static design
//!   (`b4-static-cert`), one certificate made when the context is built.
//!
//! The early exporter is computed from the ClientHello as OpenSSL sent or
//! received it (message callback): without a PSK OpenSSL does not derive
//! it (`SSL_export_keying_material_early` fails), and the value is a public
//! function of the ClientHello anyway. Its hash is SHA-256: the profile
//! contexts offer the SHA-256 TLS 1.3 suites only.
//!
//! Every connection logs a warning naming what the profile does not
//! protect against, and every accepted EAR carries
//! `attested_tls_mode = "<profile name>"`.
//!
//! The attack lab drives the same code with [`ServerHooks`] (a fixed or
//! attacker key, substituted Evidence, observing keys and certificates)
//! and [`NonceSource::Fixed`].

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use attested_tls::cmw::Cmw;
use attested_tls::crypto::HashAlgorithm;
use attested_tls::ear::{Appraisal, Ear};
use attested_tls::modes::profiles::{
    alpn_wire, certificate_with_evidence, early_exporter, evidence_from_certificate, from_name, nonce_from_alpn,
    nonce_from_extension, nonce_from_sni, sni_for_nonce, warn_use, BindingInputs, CarrierError, CertificateLifetime,
    NonceCarrier, Profile, ProfileAttester, ProfileBinding, ProfileError, DEFAULT_NONCE_EXTENSION_TYPE,
    EARLY_EXPORTER_LABEL, EARLY_EXPORTER_LEN, NONCE_LEN,
};
use attested_tls::verifier::Appraiser;
use openssl::ex_data::Index;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    AlpnError, ExtensionContext, NameType, SniError, Ssl, SslAlert, SslContext, SslContextBuilder, SslMethod, SslRef,
    SslVerifyMode, SslVersion,
};
use openssl::x509::X509;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use crate::{EarlyError, MODE_CLAIM};

/// The TLS 1.3 suites the profile contexts offer: SHA-256 only, so that
/// the early exporter's hash is known when the server makes its Evidence.
pub const PROFILE_CIPHERSUITES: &str = "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256";

/// Why a profile connection was refused, naming the check.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProfileRefusal {
    /// Server: the ClientHello does not carry the design's nonce (or it is
    /// malformed).
    #[error("nonce check: {0}")]
    Nonce(CarrierError),
    /// Client: the server's certificate carries no (or malformed) Evidence.
    #[error("Evidence carrier: {0}")]
    Evidence(CarrierError),
    /// Client: the Evidence extension does not hold a CMW.
    #[error("malformed CMW: {0}")]
    MalformedCmw(String),
    /// A value the design binds is missing on this connection.
    #[error("binder inputs: {0}")]
    Binding(ProfileError),
    /// The Evidence was appraised and refused: a `report_data` / `eat_nonce`
    /// that is not this connection's binder, an untrusted platform, ...
    /// The EAR's findings name the claim.
    #[error("{}", .0.refusal_summary())]
    NotTrusted(Box<Ear>),
    /// Server: our attester could not produce Evidence.
    #[error("our attester failed: {0}")]
    Attester(String),
    /// The session is not a fresh TLS 1.3 handshake (another version, or
    /// a resumed session, which would skip the attested certificate).
    #[error("session refused: {0}")]
    Session(String),
    /// Anything else on this side.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ProfileRefusal {
    /// The claims the appraisal refused (`eat_nonce`, `report_data`, ...),
    /// empty for refusals before appraisal.
    pub fn refused_claims(&self) -> Vec<String> {
        match self {
            Self::NotTrusted(ear) => ear
                .submods
                .values()
                .flat_map(|a| a.findings.iter().map(|f| f.claim.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Errors of profile connections.
#[derive(Debug, thiserror::Error)]
pub enum ProfileTlsError {
    /// No such profile, or an unusable configuration.
    #[error("configuration refused: {0}")]
    Config(String),
    /// This side refused the connection.
    #[error("profile {profile} refused the connection: {reason}")]
    Refused {
        /// The profile.
        profile: &'static str,
        /// Which check refused.
        reason: ProfileRefusal,
    },
    /// The TLS handshake failed (peer alert, I/O, OpenSSL), as mode `early`
    /// reports it.
    #[error(transparent)]
    Tls(#[from] EarlyError),
}

impl From<openssl::error::ErrorStack> for ProfileTlsError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Self::Tls(EarlyError::OpenSsl(e))
    }
}

fn profile_by_name(name: &str) -> Result<&'static dyn Profile, ProfileTlsError> {
    from_name(name).map_err(|e| ProfileTlsError::Config(e.to_string()))
}

/// Test and attack-lab hooks of a profile server (all off by default). They
/// let the lab run the real server code as a genuine TEE, as a TEE whose key
/// leaks, or as an attacker presenting another TEE's Evidence.
#[derive(Clone, Default)]
pub struct ServerHooks {
    /// Use this TLS key (PKCS#8 DER) instead of a fresh one per handshake
    /// (an attacker's key, or a leaked one).
    pub tls_key_pkcs8: Option<Vec<u8>>,
    /// Present the CMW bytes this returns instead of asking the attester
    /// (`None`: ask the attester), given the binding the server computed
    /// and the inputs it computed it from (`spki_der` = the server's key).
    pub evidence: Option<EvidenceHook>,
    /// Called with every TLS private key (PKCS#8 DER) the server uses
    /// (capability leak-tls-key).
    pub on_tls_key: Option<BytesHook>,
    /// Called with every certificate (DER, with its Evidence) the server
    /// presents (capability observe-evidence).
    pub on_certificate: Option<BytesHook>,
}

/// [`ServerHooks::evidence`]: the CMW to present instead of the attester's.
pub type EvidenceHook = Arc<dyn Fn(&ProfileBinding, &BindingInputs<'_>) -> Option<Vec<u8>> + Send + Sync>;

/// A hook that observes bytes (a key, a certificate).
pub type BytesHook = Arc<dyn Fn(&[u8]) + Send + Sync>;

/// A profile server's configuration. There is no `Default`: a profile is
/// chosen by name ([`ProfileServerConfig::new`]), never implied.
#[derive(Clone)]
pub struct ProfileServerConfig {
    profile: &'static dyn Profile,
    /// Produces the Evidence (the same attesters as the other modes).
    pub attester: Arc<dyn ProfileAttester>,
    /// Type of the ClientHello nonce extension (`-ext` carriers, B5, B7).
    pub nonce_extension_type: u16,
    /// Deadline of the handshake.
    pub handshake_timeout: Duration,
    /// Lab hooks.
    pub hooks: ServerHooks,
    /// Acknowledges that a B1/B2 server
    /// ([`Profile::signs_client_chosen_data`]) is a signing oracle: it
    /// signs any value a TLS client chooses, which lets anyone who reaches
    /// it obtain Evidence a B3, B4 or B7 client of the same code accepts
    /// for the attacker's own key. Without it, [`server_context`] refuses
    /// such a server with a hardware attester (the simulated TEE may run
    /// it). Off by default.
    pub allow_signing_oracle: bool,
}

impl ProfileServerConfig {
    /// A server of profile `name` attesting with `attester`.
    pub fn new(name: &str, attester: Arc<dyn ProfileAttester>) -> Result<Self, ProfileTlsError> {
        Ok(Self {
            profile: profile_by_name(name)?,
            attester,
            nonce_extension_type: DEFAULT_NONCE_EXTENSION_TYPE,
            handshake_timeout: Duration::from_secs(10),
            hooks: ServerHooks::default(),
            allow_signing_oracle: false,
        })
    }

    /// Refuses a signing-oracle server (B1/B2) with a hardware attester
    /// unless [`ProfileServerConfig::allow_signing_oracle`] is set.
    fn check_signing_oracle(&self) -> Result<(), ProfileTlsError> {
        if self.profile.signs_client_chosen_data() && !self.attester.is_simulated() && !self.allow_signing_oracle {
            return Err(ProfileTlsError::Config(format!(
                "profile {} with the {} attester is a signing oracle: it puts a value any TLS client chooses into \
                 report_data (V || 0^32), so anyone who can reach this server obtains genuine Evidence that a \
                 b4-static-cert client accepts for the attacker's own key (V = SHA-256(SPKI)), and b7-draft06 or \
                 b3-early-exporter clients likewise; set allow_signing_oracle (atls: --allow-signing-oracle) to run \
                 it anyway (docs/modes.md)",
                self.profile.name(),
                self.attester.platform()
            )));
        }
        Ok(())
    }

    /// The profile.
    pub fn profile(&self) -> &'static dyn Profile {
        self.profile
    }
}

/// Where a profile client's nonce comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NonceSource {
    /// A fresh random nonce per connection.
    Random,
    /// This nonce (the lab: an attacker replaying a victim's nonce).
    Fixed(Vec<u8>),
}

/// A profile client's configuration; no `Default` (see
/// [`ProfileServerConfig`]).
#[derive(Clone)]
pub struct ProfileClientConfig {
    profile: &'static dyn Profile,
    /// Appraises the server's Evidence (same verifiers and policy as the
    /// other modes).
    pub appraiser: Appraiser,
    /// The nonce.
    pub nonce: NonceSource,
    /// Type of the ClientHello nonce extension.
    pub nonce_extension_type: u16,
    /// ALPN protocols offered after the nonce (ALPN carriers), e.g. `h2`.
    pub other_alpn: Vec<String>,
    /// Deadline of the handshake.
    pub handshake_timeout: Duration,
    /// Verification time source.
    pub clock: Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>,
}

impl ProfileClientConfig {
    /// A client of profile `name` appraising with `appraiser`.
    pub fn new(name: &str, appraiser: Appraiser) -> Result<Self, ProfileTlsError> {
        Ok(Self {
            profile: profile_by_name(name)?,
            appraiser,
            nonce: NonceSource::Random,
            nonce_extension_type: DEFAULT_NONCE_EXTENSION_TYPE,
            other_alpn: Vec::new(),
            handshake_timeout: Duration::from_secs(10),
            clock: Arc::new(time::OffsetDateTime::now_utc),
        })
    }

    /// The profile.
    pub fn profile(&self) -> &'static dyn Profile {
        self.profile
    }
}

/// What one connection learnt, shared by the callbacks (ex_data) and the
/// adapter.
#[derive(Default)]
struct ConnState {
    /// The last ClientHello sent (client) or received (server).
    client_hello: Option<Vec<u8>>,
    /// The message callback panicked: the ClientHello kept (if any) may be
    /// stale, so none is kept from then on (the binding fails closed).
    message_lost: bool,
    /// The nonce (client: ours; server: parsed from the carrier).
    nonce: Option<Vec<u8>>,
    refusal: Option<ProfileRefusal>,
    /// The binding the server's certificate was made for (for tests/lab).
    binding: Option<ProfileBinding>,
}

struct Conn {
    server: Option<Arc<ProfileServerConfig>>,
    state: Mutex<ConnState>,
}

impl Conn {
    fn lock(&self) -> std::sync::MutexGuard<'_, ConnState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn refuse(&self, reason: ProfileRefusal) {
        tracing::debug!(%reason, "binding profile refuses the connection");
        let mut st = self.lock();
        if st.refusal.is_none() {
            st.refusal = Some(reason);
        }
    }
}

fn conn_index() -> Index<Ssl, Arc<Conn>> {
    static INDEX: OnceLock<Index<Ssl, Arc<Conn>>> = OnceLock::new();
    *INDEX.get_or_init(|| Ssl::new_ex_index().expect("OpenSSL allocates an ex_data index"))
}

/// The refusal of a profile connection whose callback panicked while
/// doing `what` (see [`crate::guarded`]).
fn panicked(ssl: &SslRef, what: &str) -> SslAlert {
    if let Some(conn) = conn_of(ssl) {
        conn.refuse(ProfileRefusal::Internal(format!("panic while {what}")));
    }
    SslAlert::INTERNAL_ERROR
}

fn conn_of(ssl: &SslRef) -> Option<Arc<Conn>> {
    ssl.ex_data(conn_index()).cloned()
}

/// Keeps the last ClientHello of a profile connection (called by the
/// crate's message callback for every handshake message).
pub(crate) fn on_handshake_message(ssl: &SslRef, message: &[u8]) {
    if message.first() == Some(&1) {
        if let Some(conn) = conn_of(ssl) {
            let mut st = conn.lock();
            if st.message_lost {
                return;
            }
            st.client_hello = Some(message.to_vec());
            if conn.server.is_some() {
                // Server: a new ClientHello (the second after a
                // HelloRetryRequest) must carry its own nonce; the message
                // callback runs before its extensions are parsed.
                st.nonce = None;
            }
        }
    }
}

/// The message callback panicked: forget the ClientHello for good.
pub(crate) fn on_handshake_message_panicked(ssl: &SslRef) {
    if let Some(conn) = conn_of(ssl) {
        let mut st = conn.lock();
        st.message_lost = true;
        st.client_hello = None;
    }
}

/// TLS 1.3 only, SHA-256 suites, no resumption (it would skip the
/// certificate), the message callback, and the nonce extension if the
/// design uses one.
fn common(b: &mut SslContextBuilder, profile: &dyn Profile, ext_type: u16) -> Result<(), ProfileTlsError> {
    b.set_min_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_groups_list(crate::TLS_GROUPS)?;
    b.set_ciphersuites(PROFILE_CIPHERSUITES)?;
    b.set_session_cache_mode(openssl::ssl::SslSessionCacheMode::OFF);
    b.set_options(openssl::ssl::SslOptions::NO_TICKET);
    // TLS 1.3 servers send tickets regardless of NO_TICKET unless told
    // the count is 0 (docs/modes.md: tickets are off).
    b.set_num_tickets(0)?;
    crate::ffi::set_handshake_message_callback(b);
    if profile.needs().nonce == Some(NonceCarrier::Extension) {
        let contexts = ExtensionContext::TLS_ONLY | ExtensionContext::TLS1_3_ONLY | ExtensionContext::CLIENT_HELLO;
        b.add_custom_ext(
            ext_type,
            contexts,
            |ssl: &mut SslRef, _ctx, _cert| -> Result<Option<Vec<u8>>, SslAlert> {
                // Client: our nonce. (Servers send nothing back.)
                Ok(conn_of(ssl).and_then(|c| c.lock().nonce.clone()))
            },
            |ssl: &mut SslRef, _ctx, data: &[u8], _cert| -> Result<(), SslAlert> {
                crate::guarded(
                    ssl,
                    |ssl| {
                        let Some(conn) = conn_of(ssl) else {
                            return Err(SslAlert::INTERNAL_ERROR);
                        };
                        match nonce_from_extension(data) {
                            Ok(n) => {
                                conn.lock().nonce = Some(n);
                                Ok(())
                            }
                            Err(e) => {
                                conn.refuse(ProfileRefusal::Nonce(e));
                                Err(SslAlert::ILLEGAL_PARAMETER)
                            }
                        }
                    },
                    |ssl| Err(panicked(ssl, "reading the nonce extension")),
                )
            },
        )
        .map_err(|e| ProfileTlsError::Config(format!("nonce extension type {ext_type:#06x}: {e}")))?;
    }
    Ok(())
}

/// A profile connection is a fresh TLS 1.3 handshake: the contexts allow
/// nothing else, but a caller's context (`client_context_builder`) might.
fn check_session(ssl: &SslRef) -> Result<(), ProfileRefusal> {
    if ssl.version2() != Some(SslVersion::TLS1_3) {
        return Err(ProfileRefusal::Session(format!(
            "negotiated {}; the profiles require TLS 1.3",
            ssl.version_str()
        )));
    }
    if ssl.session_reused() {
        return Err(ProfileRefusal::Session(
            "a resumed session; it skips the certificate that carries the Evidence".into(),
        ));
    }
    Ok(())
}

/// The early exporter of `client_hello` (SHA-256, see [`PROFILE_CIPHERSUITES`]).
fn exporter_of(client_hello: Option<&[u8]>) -> Result<Vec<u8>, ProfileRefusal> {
    let ch = client_hello.ok_or(ProfileRefusal::Binding(ProfileError::MissingInput("ClientHello")))?;
    early_exporter(HashAlgorithm::Sha256, ch, EARLY_EXPORTER_LABEL, b"", EARLY_EXPORTER_LEN)
        .map_err(|e| ProfileRefusal::Internal(format!("early exporter: {e}")))
}

/// Runs the attester, off the async worker if it may block (as mode `early`).
fn attest(attester: &dyn ProfileAttester, binding: &ProfileBinding) -> Result<Vec<u8>, ProfileRefusal> {
    let run = || attester.attest_profile(binding);
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    let r = if attester.may_block() && multi {
        tokio::task::block_in_place(run)
    } else {
        run()
    };
    r.map(|c| c.to_cbor())
        .map_err(|e| ProfileRefusal::Attester(e.to_string()))
}

/// A key (fresh, or the hooks' fixed one) and its certificate carrying
/// Evidence over the binding `inputs` give with that key's SPKI.
fn make_identity(
    cfg: &ProfileServerConfig,
    inputs: BindingInputs<'_>,
) -> Result<(X509, PKey<Private>, ProfileBinding), ProfileRefusal> {
    let internal = |what: &str, e: &dyn std::fmt::Display| ProfileRefusal::Internal(format!("{what}: {e}"));
    let key = match &cfg.hooks.tls_key_pkcs8 {
        Some(der) => rcgen::KeyPair::try_from(der.as_slice()).map_err(|e| internal("the hooks' TLS key", &e))?,
        None => rcgen::KeyPair::generate().map_err(|e| internal("generating the TLS key", &e))?,
    };
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    let inputs = BindingInputs {
        spki_der: &spki,
        ..inputs
    };
    let binding = cfg.profile.binding(&inputs).map_err(ProfileRefusal::Binding)?;
    let cmw = match cfg.hooks.evidence.as_ref().and_then(|f| f(&binding, &inputs)) {
        Some(cmw) => cmw,
        None => attest(cfg.attester.as_ref(), &binding)?,
    };
    let der = certificate_with_evidence(&key, &cmw).map_err(|e| ProfileRefusal::Attester(e.to_string()))?;
    let x509 = X509::from_der(&der).map_err(|e| internal("reading our certificate", &e))?;
    let pkcs8 = key.serialize_der();
    let pkey = PKey::private_key_from_der(&pkcs8).map_err(|e| internal("reading our key", &e))?;
    if let Some(f) = &cfg.hooks.on_tls_key {
        f(&pkcs8);
    }
    if let Some(f) = &cfg.hooks.on_certificate {
        f(&der);
    }
    Ok((x509, pkey, binding))
}

/// Server, per ClientHello: collects the design's inputs and sets a fresh
/// certificate with Evidence over them.
fn provision(ssl: &mut SslRef, conn: &Conn, nonce: Option<Vec<u8>>) -> Result<(), SslAlert> {
    let Some(cfg) = conn.server.clone() else {
        return Err(SslAlert::INTERNAL_ERROR);
    };
    let needs = cfg.profile.needs();
    let mut random = [0u8; 32];
    let random_len = ssl.client_random(&mut random);
    let exporter = if needs.early_exporter {
        match exporter_of(conn.lock().client_hello.as_deref()) {
            Ok(e) => Some(e),
            Err(r) => {
                conn.refuse(r);
                return Err(SslAlert::INTERNAL_ERROR);
            }
        }
    } else {
        None
    };
    let inputs = BindingInputs {
        client_random: Some(&random[..random_len]),
        nonce: nonce.as_deref(),
        early_exporter: exporter.as_deref(),
        spki_der: &[],
    };
    match make_identity(&cfg, inputs) {
        Ok((x509, pkey, binding)) => {
            let set = ssl.set_certificate(&x509).and_then(|_| ssl.set_private_key(&pkey));
            if let Err(e) = set {
                conn.refuse(ProfileRefusal::Internal(format!("setting the certificate: {e}")));
                return Err(SslAlert::INTERNAL_ERROR);
            }
            let mut st = conn.lock();
            st.nonce = nonce;
            st.binding = Some(binding);
            Ok(())
        }
        Err(r) => {
            let alert = match r {
                ProfileRefusal::Binding(_) => SslAlert::ILLEGAL_PARAMETER,
                _ => SslAlert::INTERNAL_ERROR,
            };
            conn.refuse(r);
            Err(alert)
        }
    }
}

fn take_nonce(conn: &Conn) -> Option<Vec<u8>> {
    conn.lock().nonce.take()
}

/// A server context for `cfg`'s profile. The static design's certificate
/// (and its Evidence) is made here, once.
pub fn server_context(cfg: &ProfileServerConfig) -> Result<SslContext, ProfileTlsError> {
    Ok(server_context_builder(cfg)?.build())
}

/// [`server_context`] before `build()`, for further OpenSSL settings
/// (groups, for instance). Do not replace the callbacks it installs
/// (message, server name, ALPN select) or the nonce extension.
pub fn server_context_builder(cfg: &ProfileServerConfig) -> Result<SslContextBuilder, ProfileTlsError> {
    cfg.check_signing_oracle()?;
    let profile = cfg.profile;
    let mut b = SslContextBuilder::new(SslMethod::tls_server())?;
    common(&mut b, profile, cfg.nonce_extension_type)?;
    b.set_verify(SslVerifyMode::NONE);
    if profile.certificate() == CertificateLifetime::Static {
        let (x509, pkey, _) =
            make_identity(cfg, BindingInputs::default()).map_err(|reason| ProfileTlsError::Refused {
                profile: profile.name(),
                reason,
            })?;
        b.set_certificate(&x509)?;
        b.set_private_key(&pkey)?;
        return Ok(b);
    }
    let carrier = profile.needs().nonce;
    // The server-name callback runs for every ClientHello, after all its
    // extensions (the nonce extension included) were parsed.
    b.set_servername_callback(move |ssl, alert| {
        crate::guarded(
            ssl,
            |ssl| provision_from_client_hello(ssl, carrier),
            |ssl| Err(panicked(ssl, "provisioning the server's certificate")),
        )
        .map_err(|a| {
            *alert = a;
            SniError::ALERT_FATAL
        })
    });
    if carrier == Some(NonceCarrier::Alpn) {
        b.set_alpn_select_callback(|ssl, client_list| {
            crate::guarded(
                ssl,
                |ssl| provision_from_alpn(ssl, client_list),
                |ssl| {
                    panicked(ssl, "provisioning the server's certificate");
                    Err(AlpnError::ALERT_FATAL)
                },
            )
        });
    }
    Ok(b)
}

/// The server-name callback: the nonce from SNI or the nonce extension,
/// then the certificate (and Evidence) for it. It runs for every
/// ClientHello, after all its extensions were parsed.
fn provision_from_client_hello(ssl: &mut SslRef, carrier: Option<NonceCarrier>) -> Result<(), SslAlert> {
    let Some(conn) = conn_of(ssl) else {
        return Err(SslAlert::INTERNAL_ERROR);
    };
    let nonce = match carrier {
        None => None,
        // The ALPN callback runs later and provisions then; until it
        // does, the refusal is that no nonce came (no ALPN at all).
        Some(NonceCarrier::Alpn) => {
            conn.lock().refusal = Some(ProfileRefusal::Nonce(CarrierError::NoNonce("ALPN protocol list")));
            return Ok(());
        }
        Some(NonceCarrier::Sni) => match nonce_from_sni(ssl.servername(NameType::HOST_NAME)) {
            Ok(n) => Some(n),
            Err(e) => {
                conn.refuse(ProfileRefusal::Nonce(e));
                return Err(SslAlert::ILLEGAL_PARAMETER);
            }
        },
        Some(NonceCarrier::Extension) => match take_nonce(&conn) {
            Some(n) => Some(n),
            None => {
                conn.refuse(ProfileRefusal::Nonce(CarrierError::NoNonce("nonce extension")));
                return Err(SslAlert::MISSING_EXTENSION);
            }
        },
    };
    provision(ssl, &conn, nonce)
}

/// The ALPN select callback (nonce carried in ALPN): the nonce, then the
/// certificate (and Evidence) for it.
fn provision_from_alpn<'a>(ssl: &mut SslRef, client_list: &'a [u8]) -> Result<&'a [u8], AlpnError> {
    let Some(conn) = conn_of(ssl) else {
        return Err(AlpnError::ALERT_FATAL);
    };
    conn.lock().refusal = None;
    match nonce_from_alpn(client_list) {
        Ok(n) => provision(ssl, &conn, Some(n)).map_err(|_| AlpnError::ALERT_FATAL)?,
        Err(e) => {
            conn.refuse(ProfileRefusal::Nonce(e));
            return Err(AlpnError::ALERT_FATAL);
        }
    }
    // The nonce protocol is no application protocol: none selected.
    Err(AlpnError::NOACK)
}

/// A client context for `cfg`'s profile.
pub fn client_context(cfg: &ProfileClientConfig) -> Result<SslContext, ProfileTlsError> {
    Ok(client_context_builder(cfg)?.build())
}

/// [`client_context`] before `build()` (same caveats as
/// [`server_context_builder`]).
pub fn client_context_builder(cfg: &ProfileClientConfig) -> Result<SslContextBuilder, ProfileTlsError> {
    let mut b = SslContextBuilder::new(SslMethod::tls_client())?;
    common(&mut b, cfg.profile, cfg.nonce_extension_type)?;
    // The certificate is self-signed: trust comes from its Evidence, which
    // the adapter appraises once the handshake is complete.
    b.set_verify(SslVerifyMode::NONE);
    Ok(b)
}

/// What a completed profile handshake established.
#[derive(Debug, Clone)]
pub struct ProfileDetails {
    /// The profile.
    pub profile: &'static str,
    /// The nonce sent (client) or received (server), if the design has one.
    pub nonce: Option<Vec<u8>>,
    /// The binding the server made its Evidence for (server side).
    pub binding: Option<ProfileBinding>,
}

/// Opens a profile connection as TLS client. `server_name` is sent as SNI
/// unless the design carries its nonce there (then the SNI is the nonce,
/// as Cocos v3 does). Returns the stream only after the server's Evidence
/// was accepted, with its EAR. An appraiser that requires host identity
/// (I1, a policy's `[host_identity]`) is a configuration error: no profile
/// can carry it.
pub async fn connect<IO>(
    ctx: &SslContext,
    server_name: &str,
    io: IO,
    cfg: &ProfileClientConfig,
) -> Result<(SslStream<IO>, Ear, ProfileDetails), ProfileTlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let profile = cfg.profile;
    warn_use(profile, "client");
    if cfg.appraiser.host_identity().is_some() {
        // Fail closed rather than skip I1 silently (the attack lab found
        // D1 accepted by every profile whose policy asked for I1): the
        // profiles' certificates are self-signed per handshake (or static)
        // and carry no CA-issued chain for the dialled name to check.
        return Err(ProfileTlsError::Config(format!(
            "profile {} cannot check host identity (I1): its server certificates are self-signed and carry no \
             certificate chain for the dialled name; remove [host_identity] from the policy, or use mode expat or \
             early, which check it",
            profile.name()
        )));
    }
    let carrier = profile.needs().nonce;
    let nonce = carrier.map(|_| match &cfg.nonce {
        NonceSource::Random => attested_tls::crypto::random_bytes(NONCE_LEN),
        NonceSource::Fixed(n) => n.clone(),
    });
    let conn = Arc::new(Conn {
        server: None,
        state: Mutex::new(ConnState {
            nonce: nonce.clone(),
            ..ConnState::default()
        }),
    });
    let mut ssl = Ssl::new(ctx)?;
    ssl.set_ex_data(conn_index(), conn.clone());
    match (carrier, &nonce) {
        (Some(NonceCarrier::Sni), Some(n)) => ssl.set_hostname(&sni_for_nonce(n))?,
        (Some(NonceCarrier::Alpn), Some(n)) => {
            let others: Vec<&str> = cfg.other_alpn.iter().map(String::as_str).collect();
            ssl.set_alpn_protos(&alpn_wire(n, &others))?;
            ssl.set_hostname(server_name)?;
        }
        _ => ssl.set_hostname(server_name)?,
    }
    ssl.set_connect_state();
    let stream = run_handshake(ssl, io, cfg.handshake_timeout, true, &conn, profile).await?;
    let refuse = |reason| ProfileTlsError::Refused {
        profile: profile.name(),
        reason,
    };
    check_session(stream.ssl()).map_err(refuse)?;
    let ear = check_server(&stream, &conn, cfg).map_err(refuse)?;
    let details = ProfileDetails {
        profile: profile.name(),
        nonce,
        binding: None,
    };
    Ok((stream, ear, details))
}

/// The client's check: the Evidence in the server's certificate against
/// the design's binder, recomputed from this connection's values.
fn check_server<IO>(stream: &SslStream<IO>, conn: &Conn, cfg: &ProfileClientConfig) -> Result<Ear, ProfileRefusal> {
    let ssl = stream.ssl();
    let cert = ssl
        .peer_certificate()
        .ok_or(ProfileRefusal::Evidence(CarrierError::Certificate(
            "the server sent none".into(),
        )))?;
    let der = cert.to_der().map_err(|e| ProfileRefusal::Internal(e.to_string()))?;
    let (spki, cmw_bytes) = evidence_from_certificate(&der).map_err(ProfileRefusal::Evidence)?;
    let cmw = Cmw::decode(&cmw_bytes).map_err(|e| ProfileRefusal::MalformedCmw(e.to_string()))?;
    let needs = cfg.profile.needs();
    let mut random = [0u8; 32];
    let random_len = ssl.client_random(&mut random);
    let (nonce, client_hello) = {
        let st = conn.lock();
        (st.nonce.clone(), st.client_hello.clone())
    };
    let exporter = if needs.early_exporter {
        Some(exporter_of(client_hello.as_deref())?)
    } else {
        None
    };
    let binding = cfg
        .profile
        .binding(&BindingInputs {
            client_random: Some(&random[..random_len]),
            nonce: nonce.as_deref(),
            early_exporter: exporter.as_deref(),
            spki_der: &spki,
        })
        .map_err(ProfileRefusal::Binding)?;
    let mut ear = cfg
        .appraiser
        .appraise_cmw(&cmw, &binding.expected_for(&cmw), (cfg.clock)());
    for a in ear.submods.values_mut() {
        Appraisal::claim(a, MODE_CLAIM, cfg.profile.name());
    }
    if !ear.is_acceptable() {
        return Err(ProfileRefusal::NotTrusted(Box::new(ear)));
    }
    Ok(ear)
}

/// Accepts a profile connection as TLS server.
pub async fn accept<IO>(
    ctx: &SslContext,
    io: IO,
    cfg: &ProfileServerConfig,
) -> Result<(SslStream<IO>, ProfileDetails), ProfileTlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    warn_use(cfg.profile, "server");
    let conn = Arc::new(Conn {
        server: Some(Arc::new(cfg.clone())),
        state: Mutex::new(ConnState::default()),
    });
    let mut ssl = Ssl::new(ctx)?;
    ssl.set_ex_data(conn_index(), conn.clone());
    ssl.set_accept_state();
    let stream = run_handshake(ssl, io, cfg.handshake_timeout, false, &conn, cfg.profile).await?;
    let st = conn.lock();
    let details = ProfileDetails {
        profile: cfg.profile.name(),
        nonce: st.nonce.clone(),
        binding: st.binding.clone(),
    };
    drop(st);
    Ok((stream, details))
}

async fn run_handshake<IO>(
    ssl: Ssl,
    io: IO,
    timeout: Duration,
    client: bool,
    conn: &Conn,
    profile: &'static dyn Profile,
) -> Result<SslStream<IO>, ProfileTlsError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut stream = SslStream::new(ssl, io)?;
    let fut = crate::drive_handshake(&mut stream, client);
    let r = tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| EarlyError::Timeout("TLS handshake"))?;
    if let Err(e) = r {
        if let Some(reason) = conn.lock().refusal.take() {
            return Err(ProfileTlsError::Refused {
                profile: profile.name(),
                reason,
            });
        }
        return Err(crate::handshake_error(e).into());
    }
    Ok(stream)
}
