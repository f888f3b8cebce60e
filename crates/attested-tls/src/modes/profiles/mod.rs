//! The binding mechanisms the field uses, as explicit, labelled, non-default
//! profiles (B1-B7 of `../shared/spec/binding-mechanisms.md`), sans-IO.
//!
//! They exist for two reasons: to talk to systems that bind attestation
//! this way while they migrate, and to measure (in the attack lab) why the
//! default post-handshake mode is safer. **None of them is a default**:
//! a profile is selected by name only ([`from_name`]), and every use logs a
//! warning naming what the design does not protect against ([`warn_use`]).
//!
//! One profile is one small module implementing [`Profile`]: which inputs
//! the design binds ([`Needs`]), its binder formula
//! ([`Profile::report_data`]) and what it leaves open. Everything else is
//! shared:
//!
//! - carriers of the client's nonce ([`NonceCarrier`]: SNI `<hex>.nonce` as
//!   Cocos v3, ALPN `atls:v1:nonce:<hex>` as Contrast, or a ClientHello
//!   extension);
//! - the carrier of the Evidence: an X.509 extension ([`EVIDENCE_OID`]) of
//!   the server's certificate, fresh per handshake or static
//!   ([`certificate_with_evidence`], [`evidence_from_certificate`]);
//! - the early exporter without PSK ([`early_exporter`]), which depends on
//!   the ClientHello alone;
//! - what enters the Evidence ([`ProfileBinding`]): the design's 64-byte
//!   `report_data` for hardware reports, and for the simulated TEE
//!   `eat_nonce = SHA-256(report_data)`.
//!
//! A new design is one new file here plus one line in [`PROFILES`]. The
//! OpenSSL adapter (`attested_tls_openssl::profiles`) drives every profile
//! from [`Profile::needs`]; the table of all modes is `docs/modes.md`.
//!
//! ```
//! use attested_tls::modes::profiles::{from_name, BindingInputs};
//! let p = from_name("b6-spki-nonce-alpn").unwrap();
//! let b = p.binding(&BindingInputs { nonce: Some(&[7; 32]), spki_der: b"spki", ..BindingInputs::default() }).unwrap();
//! assert_eq!(b.profile, "b6-spki-nonce-alpn");
//! assert!(from_name("expat").is_err()); // the default is not a profile
//! ```

use crate::attester::{AttestError, Attester};
use crate::binder::{BindingClaims, ExpectedBinding};
use crate::cmw::Cmw;
use crate::crypto::HashAlgorithm;
use crate::exporter::{Exporter, SecretExporter};

pub mod b1_client_random;
pub mod b2_nonce;
pub mod b3_early_exporter;
pub mod b4_static_cert;
pub mod b5_nonce_early_exporter;
pub mod b6_spki_nonce;
pub mod b7_draft06;

/// Every profile, by name. Registering a new design is one line here.
pub static PROFILES: &[&dyn Profile] = &[
    &b1_client_random::B1ClientRandom,
    &b2_nonce::B2Nonce(NonceCarrier::Sni),
    &b2_nonce::B2Nonce(NonceCarrier::Alpn),
    &b2_nonce::B2Nonce(NonceCarrier::Extension),
    &b3_early_exporter::B3EarlyExporter,
    &b4_static_cert::B4StaticCert,
    &b5_nonce_early_exporter::B5NonceEarlyExporter,
    &b6_spki_nonce::B6SpkiNonce(NonceCarrier::Alpn),
    &b6_spki_nonce::B6SpkiNonce(NonceCarrier::Sni),
    &b7_draft06::B7Draft06,
];

/// Length of the client's nonce in every nonce-carrying profile.
pub const NONCE_LEN: usize = 32;

/// Prefix of the ALPN protocol that carries the nonce (Contrast's).
pub const ALPN_NONCE_PREFIX: &str = "atls:v1:nonce:";

/// Suffix of the SNI that carries the nonce (Cocos v3's).
pub const SNI_NONCE_SUFFIX: &str = ".nonce";

/// Default type of the ClientHello extension that carries the nonce in the
/// `-ext` profiles (unassigned; next to mode `early`'s 0xFFA0).
pub const DEFAULT_NONCE_EXTENSION_TYPE: u16 = 0xFFA1;

/// OID of the X.509 extension that carries the Evidence (a CMW, CBOR) in
/// the server's certificate: `2.99999.7.1`, under the example arc Cocos v3
/// also uses (not registered; the profiles interoperate with themselves).
pub const EVIDENCE_OID: &[u64] = &[2, 99999, 7, 1];

/// Dotted form of [`EVIDENCE_OID`].
pub const EVIDENCE_OID_STR: &str = "2.99999.7.1";

/// TLS-Early-Exporter label of the profiles that bind the early exporter
/// (draft-fossati-tls-attestation-06's).
pub const EARLY_EXPORTER_LABEL: &[u8] = b"attestation-binder";

/// Length of the early exporter value the profiles bind.
pub const EARLY_EXPORTER_LEN: usize = 32;

/// Largest CMW the certificate carrier accepts (checked before decoding).
pub const MAX_EVIDENCE_LEN: usize = 64 * 1024;

/// Where the client puts its nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NonceCarrier {
    /// The server name: `hex(nonce) + ".nonce"` (Cocos v3). The real host
    /// name is not sent.
    Sni,
    /// An ALPN protocol `atls:v1:nonce:<hex>`, listed first (Contrast).
    Alpn,
    /// The raw nonce as the body of a ClientHello extension of a
    /// configurable type (default [`DEFAULT_NONCE_EXTENSION_TYPE`]).
    Extension,
}

impl NonceCarrier {
    /// Short name (`sni`, `alpn`, `ext`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sni => "sni",
            Self::Alpn => "alpn",
            Self::Extension => "ext",
        }
    }
}

/// Whether the server's certificate (and so its Evidence) is made per
/// handshake or once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertificateLifetime {
    /// A fresh key and self-signed certificate for every ClientHello.
    PerHandshake,
    /// One key and certificate for every connection (RA-TLS style).
    Static,
}

/// The connection values a design binds into its Evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// The TLS ClientHello.random (B1).
    pub client_random: bool,
    /// A client nonce and where it travels (B2, B5, B6, B7).
    pub nonce: Option<NonceCarrier>,
    /// TLS-Early-Exporter([`EARLY_EXPORTER_LABEL`], "", 32) (B3, B5, B7).
    pub early_exporter: bool,
    /// The server certificate's SPKI (B4, B6, B7).
    pub key: bool,
}

/// The values a binder is computed from; those a profile does not need
/// are ignored.
#[derive(Clone, Copy, Debug, Default)]
pub struct BindingInputs<'a> {
    /// ClientHello.random.
    pub client_random: Option<&'a [u8]>,
    /// The client's nonce.
    pub nonce: Option<&'a [u8]>,
    /// The early exporter value.
    pub early_exporter: Option<&'a [u8]>,
    /// DER SubjectPublicKeyInfo of the server's certificate.
    pub spki_der: &'a [u8],
}

impl<'a> BindingInputs<'a> {
    fn exact(&self, what: &'static str, v: Option<&'a [u8]>, len: usize) -> Result<&'a [u8], ProfileError> {
        let v = v.ok_or(ProfileError::MissingInput(what))?;
        if v.len() != len {
            return Err(ProfileError::BadLength {
                what,
                len: v.len(),
                expected: len,
            });
        }
        Ok(v)
    }

    /// The client random (32 bytes).
    pub fn client_random(&self) -> Result<&'a [u8], ProfileError> {
        self.exact("client random", self.client_random, 32)
    }

    /// The nonce ([`NONCE_LEN`] bytes).
    pub fn nonce(&self) -> Result<&'a [u8], ProfileError> {
        self.exact("nonce", self.nonce, NONCE_LEN)
    }

    /// The early exporter value ([`EARLY_EXPORTER_LEN`] bytes).
    pub fn early_exporter(&self) -> Result<&'a [u8], ProfileError> {
        self.exact("early exporter", self.early_exporter, EARLY_EXPORTER_LEN)
    }

    /// The server's SPKI (non-empty).
    pub fn spki(&self) -> Result<&'a [u8], ProfileError> {
        if self.spki_der.is_empty() {
            return Err(ProfileError::MissingInput("server SPKI"));
        }
        Ok(self.spki_der)
    }
}

/// Why a profile could not be selected or a binding computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// No profile has this name.
    #[error("no binding profile is named {name:?}; the profiles are: {known}")]
    UnknownProfile {
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// A value the design binds was not available on this connection.
    #[error("the {0} this profile binds is missing")]
    MissingInput(&'static str),
    /// A value has the wrong length.
    #[error("the {what} is {len} bytes, expected {expected}")]
    BadLength {
        /// Which value.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The length required.
        expected: usize,
    },
}

/// One binding design: its inputs, formula and limits. Implementations
/// are unit structs registered in [`PROFILES`].
pub trait Profile: Send + Sync + std::fmt::Debug {
    /// The name it is selected by (`b6-spki-nonce-alpn`).
    fn name(&self) -> &'static str;
    /// Its id in `binding-mechanisms.md` (`B6`).
    fn mechanism(&self) -> &'static str;
    /// What the design binds, and where the nonce travels.
    fn needs(&self) -> Needs;
    /// Whether the server's certificate is per handshake or static.
    fn certificate(&self) -> CertificateLifetime {
        CertificateLifetime::PerHandshake
    }
    /// The binder formula, for humans (`report_data = SHA-512(SPKI || nonce)`).
    fn formula(&self) -> &'static str;
    /// What the design does not protect against (relay, diversion,
    /// replay), from the spec: logged at every use.
    fn not_protected_against(&self) -> &'static str;
    /// The design's 64-byte `report_data` for these inputs.
    fn report_data(&self, inputs: &BindingInputs<'_>) -> Result<[u8; 64], ProfileError>;
    /// Whether a server of this design is a *signing oracle*: it puts a
    /// value any TLS client chooses freely (client random, nonce) into
    /// `report_data` as `V || 0^32`, so that anyone who can reach it
    /// obtains genuine Evidence over `SHA-256(their SPKI) || 0^32` (what a
    /// B4 client accepts), `SHA-256(map) || 0^32` (B7) or
    /// `exporter || 0^32` (B3). B1 and B2 (the deployed designs; see
    /// `docs/modes.md`).
    fn signs_client_chosen_data(&self) -> bool {
        false
    }

    /// What the Evidence of this connection must carry.
    fn binding(&self, inputs: &BindingInputs<'_>) -> Result<ProfileBinding, ProfileError> {
        Ok(ProfileBinding::new(self.name(), self.report_data(inputs)?))
    }
}

/// Selects a profile by name. There is no default profile and no fallback:
/// an unknown name is an error listing the known ones.
pub fn from_name(name: &str) -> Result<&'static dyn Profile, ProfileError> {
    PROFILES
        .iter()
        .copied()
        .find(|p| p.name() == name)
        .ok_or_else(|| ProfileError::UnknownProfile {
            name: name.to_string(),
            known: names().join(", "),
        })
}

/// The names of every profile, in registration order.
pub fn names() -> Vec<&'static str> {
    PROFILES.iter().map(|p| p.name()).collect()
}

/// Logs (tracing, `WARN`) that `profile` is in use and what it does not
/// protect against. Called by the adapters at every connection.
pub fn warn_use(profile: &dyn Profile, role: &str) {
    tracing::warn!(
        profile = profile.name(),
        mechanism = profile.mechanism(),
        role,
        "binding profile {} ({}) is not the default and does not protect against: {}",
        profile.name(),
        profile.mechanism(),
        profile.not_protected_against()
    );
}

/// A design's value padded into `report_data`: `value || 0…0` (the
/// designs that bind a value shorter than 64 bytes put it first).
pub fn padded(parts: &[&[u8]]) -> Result<[u8; 64], ProfileError> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    if len > 64 {
        return Err(ProfileError::BadLength {
            what: "report_data input",
            len,
            expected: 64,
        });
    }
    let mut out = [0u8; 64];
    let mut at = 0;
    for p in parts {
        out[at..at + p.len()].copy_from_slice(p);
        at += p.len();
    }
    Ok(out)
}

/// What the Evidence of one profile connection must carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileBinding {
    /// The profile's name.
    pub profile: &'static str,
    /// The design's `report_data` (hardware reports carry it as is).
    pub report_data: [u8; 64],
}

impl ProfileBinding {
    /// A binding of `report_data` for `profile`.
    pub fn new(profile: &'static str, report_data: [u8; 64]) -> Self {
        Self { profile, report_data }
    }

    /// For the simulated TEE, whose `eat_nonce` is one hash long:
    /// `eat_nonce = SHA-256(report_data)`, `aik_pub_hash` = 32 zero bytes
    /// (the designs bind the key, if at all, inside `report_data`).
    pub fn sim_claims(&self) -> BindingClaims {
        BindingClaims {
            hash: HashAlgorithm::Sha256,
            binder: HashAlgorithm::Sha256.digest(&self.report_data),
            aik_pub_hash: vec![0; 32],
        }
    }

    /// What the appraiser compares a received CMW with: [`Self::sim_claims`]
    /// when any record is simulated Evidence, else `report_data` (fail
    /// closed on mixtures, as mode `early`).
    pub fn expected_for(&self, cmw: &Cmw) -> ExpectedBinding {
        let any_sim = cmw
            .records()
            .iter()
            .any(|(_, r)| r.media_type().is_some_and(crate::sim::is_sim_media_type));
        if any_sim {
            ExpectedBinding::Claims(self.sim_claims())
        } else {
            ExpectedBinding::ReportData(self.report_data)
        }
    }
}

/// Produces Evidence for a [`ProfileBinding`]: the same attesters as the
/// other modes (the simulated TEE and configfs-tsm).
pub trait ProfileAttester: Send + Sync {
    /// Short platform name.
    fn platform(&self) -> &str;
    /// Whether the Evidence comes from the simulated TEE (trusted by no
    /// relying party that does not opt in to it). By default, whether
    /// [`ProfileAttester::platform`] is the simulated TEE's `"sim"`: every
    /// other platform counts as hardware, so that the signing-oracle check
    /// of [`Profile::signs_client_chosen_data`] fails closed.
    fn is_simulated(&self) -> bool {
        self.platform() == "sim"
    }
    /// Whether [`ProfileAttester::attest_profile`] may block for long.
    fn may_block(&self) -> bool;
    /// Produces Evidence for `binding`, wrapped as a CMW.
    fn attest_profile(&self, binding: &ProfileBinding) -> Result<Cmw, AttestError>;
}

impl ProfileAttester for crate::sim::SimAttester {
    fn platform(&self) -> &str {
        Attester::platform(self)
    }
    fn is_simulated(&self) -> bool {
        true
    }
    fn may_block(&self) -> bool {
        Attester::may_block(self)
    }
    fn attest_profile(&self, binding: &ProfileBinding) -> Result<Cmw, AttestError> {
        self.attest(&binding.sim_claims())
    }
}

impl ProfileAttester for crate::platform::configfs::ConfigfsAttester {
    fn platform(&self) -> &str {
        Attester::platform(self)
    }
    fn may_block(&self) -> bool {
        true
    }
    fn attest_profile(&self, binding: &ProfileBinding) -> Result<Cmw, AttestError> {
        self.report(&binding.report_data)?.to_cmw()
    }
}

// ---------------------------------------------------------------------------
// Early exporter
// ---------------------------------------------------------------------------

/// `TLS-Early-Exporter(label, context, len)` of a handshake without PSK
/// (RFC 8446 §7.1, §7.5): the early secret is `HKDF-Extract(0, 0)`, a
/// constant, so the value is a public function of the ClientHello
/// (`client_hello` = the whole handshake message, header included).
/// This is why B3 is no secret and why an attacker who forwards the
/// ClientHello obtains the same value.
pub fn early_exporter(
    hash: HashAlgorithm,
    client_hello: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Result<Vec<u8>, crate::exporter::ExporterError> {
    let zeros = vec![0u8; hash.output_len()];
    let early_secret = hash.hmac(&zeros, &zeros);
    let eems = hash.hkdf_expand_label(
        &early_secret,
        b"e exp master",
        &hash.digest(client_hello),
        hash.output_len(),
    );
    SecretExporter::new(hash, eems).export(label, context, len)
}

// ---------------------------------------------------------------------------
// Carriers
// ---------------------------------------------------------------------------

/// Why a carried nonce or Evidence could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CarrierError {
    /// The carrier holds no nonce.
    #[error("the {0} carries no attestation nonce")]
    NoNonce(&'static str),
    /// The carrier's nonce is malformed.
    #[error("the nonce in the {carrier} is malformed: {reason}")]
    MalformedNonce {
        /// Which carrier.
        carrier: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The certificate does not parse.
    #[error("the certificate does not parse: {0}")]
    Certificate(String),
    /// The certificate has no Evidence extension.
    #[error("the certificate has no Evidence extension ({EVIDENCE_OID_STR})")]
    NoEvidence,
    /// The Evidence extension is malformed or too large.
    #[error("the Evidence extension is malformed: {0}")]
    MalformedEvidence(String),
}

fn decode_hex_nonce(carrier: &'static str, hex_str: &str) -> Result<Vec<u8>, CarrierError> {
    if hex_str.len() != 2 * NONCE_LEN {
        return Err(CarrierError::MalformedNonce {
            carrier,
            reason: format!("{} hex digits, expected {}", hex_str.len(), 2 * NONCE_LEN),
        });
    }
    hex::decode(hex_str).map_err(|e| CarrierError::MalformedNonce {
        carrier,
        reason: e.to_string(),
    })
}

/// The server name carrying `nonce`: `hex(nonce) + ".nonce"`.
pub fn sni_for_nonce(nonce: &[u8]) -> String {
    format!("{}{SNI_NONCE_SUFFIX}", hex::encode(nonce))
}

/// The nonce in a server name, or an error if the name is not a nonce.
pub fn nonce_from_sni(sni: Option<&str>) -> Result<Vec<u8>, CarrierError> {
    let sni = sni.ok_or(CarrierError::NoNonce("server name (no SNI sent)"))?;
    let hex_str = sni
        .strip_suffix(SNI_NONCE_SUFFIX)
        .ok_or(CarrierError::NoNonce("server name"))?;
    decode_hex_nonce("server name", hex_str)
}

/// The ALPN protocol carrying `nonce`: `atls:v1:nonce:<hex>`.
pub fn alpn_for_nonce(nonce: &[u8]) -> String {
    format!("{ALPN_NONCE_PREFIX}{}", hex::encode(nonce))
}

/// ALPN wire format (`protocol_name_list` without its outer length) of the
/// nonce protocol followed by `others`.
pub fn alpn_wire(nonce: &[u8], others: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in std::iter::once(alpn_for_nonce(nonce).as_str()).chain(others.iter().copied()) {
        out.push(p.len() as u8);
        out.extend_from_slice(p.as_bytes());
    }
    out
}

/// The nonce in a client's ALPN list (wire format, as OpenSSL's select
/// callback gets it): the first protocol with the nonce prefix.
pub fn nonce_from_alpn(wire: &[u8]) -> Result<Vec<u8>, CarrierError> {
    let mut rest = wire;
    while let Some((&len, tail)) = rest.split_first() {
        let len = len as usize;
        if tail.len() < len {
            return Err(CarrierError::MalformedNonce {
                carrier: "ALPN",
                reason: "the protocol list is truncated".into(),
            });
        }
        let (proto, tail) = tail.split_at(len);
        if let Some(hex_str) = proto.strip_prefix(ALPN_NONCE_PREFIX.as_bytes()) {
            let hex_str = std::str::from_utf8(hex_str).map_err(|_| CarrierError::MalformedNonce {
                carrier: "ALPN",
                reason: "not ASCII".into(),
            })?;
            return decode_hex_nonce("ALPN", hex_str);
        }
        rest = tail;
    }
    Err(CarrierError::NoNonce("ALPN protocol list"))
}

/// The nonce in the body of the nonce extension.
pub fn nonce_from_extension(body: &[u8]) -> Result<Vec<u8>, CarrierError> {
    if body.len() != NONCE_LEN {
        return Err(CarrierError::MalformedNonce {
            carrier: "nonce extension",
            reason: format!("{} bytes, expected {NONCE_LEN}", body.len()),
        });
    }
    Ok(body.to_vec())
}

/// A self-signed certificate for `key` carrying `cmw` (CBOR) in the
/// [`EVIDENCE_OID`] extension (non-critical), DER.
pub fn certificate_with_evidence(key: &rcgen::KeyPair, cmw: &[u8]) -> Result<Vec<u8>, AttestError> {
    let mut params = rcgen::CertificateParams::new(vec!["attested-tls-profile".to_string()])
        .map_err(|e| AttestError::Other(format!("certificate parameters: {e}")))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "attested-tls profile");
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(EVIDENCE_OID, cmw.to_vec()));
    let cert = params
        .self_signed(key)
        .map_err(|e| AttestError::Other(format!("self-signing the certificate: {e}")))?;
    Ok(cert.der().to_vec())
}

/// The content octets of an OBJECT IDENTIFIER (X.690 §8.19).
fn oid_content(arcs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut push = |mut v: u64| {
        let mut tmp = vec![(v & 0x7f) as u8];
        v >>= 7;
        while v > 0 {
            tmp.push(0x80 | (v & 0x7f) as u8);
            v >>= 7;
        }
        out.extend(tmp.iter().rev());
    };
    push(arcs[0] * 40 + arcs[1]);
    for &a in &arcs[2..] {
        push(a);
    }
    out
}

/// The SPKI (DER) and the Evidence (CMW bytes) of a certificate made by
/// [`certificate_with_evidence`] (or any certificate with the extension).
pub fn evidence_from_certificate(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CarrierError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| CarrierError::Certificate(e.to_string()))?;
    let spki = cert.tbs_certificate.subject_pki.raw.to_vec();
    let mut found = None;
    for ext in cert.extensions() {
        // Compared as encoded bytes: x509-parser's dotted rendering of
        // arcs under 2 with a large second arc is wrong.
        if ext.oid.as_bytes() == oid_content(EVIDENCE_OID) {
            if found.is_some() {
                return Err(CarrierError::MalformedEvidence("the extension appears twice".into()));
            }
            found = Some(ext.value);
        }
    }
    let value = found.ok_or(CarrierError::NoEvidence)?;
    if value.is_empty() || value.len() > MAX_EVIDENCE_LEN {
        return Err(CarrierError::MalformedEvidence(format!(
            "{} bytes, expected 1..={MAX_EVIDENCE_LEN}",
            value.len()
        )));
    }
    Ok((spki, value.to_vec()))
}

#[cfg(test)]
mod tests;
