//! Readers for the attested-TLS formats other systems put on the wire.
//!
//! Deployed systems bind attestation to TLS in their own ways: a static
//! self-signed certificate whose key hash is in an SGX quote (Gramine,
//! Open Enclave, dstack), a certificate signing request (Enarx Steward),
//! a per-handshake certificate over a client nonce (Contrast, Constellation,
//! Cocos v3), an RFC 9261 Exported Authenticator (Cocos v4) or an
//! attestation-service token (TNG / Trustee). [`read`] detects which of these
//! an input is and, for each piece of Evidence it finds, reports:
//! - the format and where it is carried;
//! - the binding formula the format uses and whether it holds for the key
//!   of the certificate (or CSR) carrying it;
//! - whether the Evidence's signatures verify up to the vendor root;
//! - the claims (measurements, debug, platform identity);
//! - which binding mechanism of `binding-mechanisms.md` it is (B4, B6, ...)
//!   and therefore which attacks of the lab it is open to.
//!
//! This is *inspection*, not appraisal: nothing here compares the claims
//! with reference values (that stays the [`crate::policy`]'s job).
//!
//! One file per format; each implements [`CertFormat`] (certificate or CSR
//! extensions) or is read from its own container (JWT, Exported
//! Authenticator). Everything read is untrusted: lengths are checked before
//! slicing, errors are [`PeerError`] values naming the structure, and no
//! input makes a reader panic (see the fuzz target `peers_read`).
//! `docs/peer-formats.md` lists each format's bytes and what is not known.

pub mod cocos;
pub mod constellation;
pub mod contrast;
pub mod dice;
pub mod dstack;
pub mod enarx;
pub mod gramine;
pub mod open_enclave;
pub mod quote;
pub mod snp;
pub mod tng;
pub mod x509;

use std::sync::Arc;

use crate::platform::dcap::engine::Engine;
use crate::platform::dcap::pki::Cert;

pub use x509::Container;

/// Largest input [`read`] accepts (the largest real sample, an Enarx CSR
/// with collateral, is 14 KiB; a TNG token is 48 KiB).
pub const MAX_INPUT_LEN: usize = 4 * 1024 * 1024;

/// A format of a deployed system.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PeerFormat {
    /// Gramine RA-TLS, the legacy extension (mis-encoded OID
    /// 1.2.840.113741.1337.6) holding a raw SGX quote.
    GramineLegacy,
    /// TCG DICE tagged evidence (OID 2.23.133.5.4.9), the CCC
    /// interoperable RA-TLS format (Gramine >= 1.8, rats-tls).
    TcgDice,
    /// Open Enclave attested certificate (OID 1.2.840.113556.10.1.1).
    OpenEnclave,
    /// Enarx Steward CSR with SGX Evidence (OID 1.3.6.1.4.1.58270.1.2).
    EnarxSgx,
    /// Enarx Steward CSR with SEV-SNP Evidence (OID 1.3.6.1.4.1.58270.1.3).
    EnarxSnp,
    /// TNG / Trustee attestation token (EAR as a JWT).
    TngEar,
    /// dstack RA-TLS certificate (OIDs 1.3.6.1.4.1.62397.1.x).
    Dstack,
    /// Edgeless Contrast: raw SEV-SNP report in OID 1.3.9901.2.1.
    Contrast,
    /// Edgeless Constellation: attestation document under a variant OID
    /// 1.3.9900.x.y.
    Constellation,
    /// Cocos v3: signed EAT under OID 2.99999.1.{0,1,2}.
    CocosV3,
    /// Cocos v4: RFC 9261 Exported Authenticator with the 0xFF00 JSON extension.
    CocosV4,
}

impl PeerFormat {
    /// Human-readable name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::GramineLegacy => "Gramine RA-TLS (legacy SGX quote extension)",
            Self::TcgDice => "TCG DICE tagged evidence (CCC interoperable RA-TLS)",
            Self::OpenEnclave => "Open Enclave attested certificate",
            Self::EnarxSgx => "Enarx Steward CSR (SGX)",
            Self::EnarxSnp => "Enarx Steward CSR (SEV-SNP)",
            Self::TngEar => "TNG / Trustee attestation token (EAR JWT)",
            Self::Dstack => "dstack RA-TLS certificate",
            Self::Contrast => "Edgeless Contrast attested certificate",
            Self::Constellation => "Edgeless Constellation attested certificate",
            Self::CocosV3 => "Cocos v3 attested certificate",
            Self::CocosV4 => "Cocos v4 Exported Authenticator",
        }
    }

    /// Short machine name (`gramine-legacy`, `tcg-dice`, ...), used in JSON.
    pub const fn id(self) -> &'static str {
        match self {
            Self::GramineLegacy => "gramine-legacy",
            Self::TcgDice => "tcg-dice",
            Self::OpenEnclave => "open-enclave",
            Self::EnarxSgx => "enarx-sgx",
            Self::EnarxSnp => "enarx-snp",
            Self::TngEar => "tng-ear",
            Self::Dstack => "dstack",
            Self::Contrast => "contrast",
            Self::Constellation => "constellation",
            Self::CocosV3 => "cocos-v3",
            Self::CocosV4 => "cocos-v4",
        }
    }

    /// The binding mechanism of `binding-mechanisms.md` the format uses.
    pub const fn mechanism(self) -> Mechanism {
        match self {
            Self::GramineLegacy
            | Self::TcgDice
            | Self::OpenEnclave
            | Self::EnarxSgx
            | Self::EnarxSnp
            | Self::Dstack
            | Self::TngEar => Mechanism::B4,
            Self::Contrast | Self::Constellation | Self::CocosV3 => Mechanism::B6,
            Self::CocosV4 => Mechanism::B9,
        }
    }
}

impl std::fmt::Display for PeerFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The binding mechanisms of `binding-mechanisms.md` the peer formats use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// B4: hash of the server's public key in a static certificate, no nonce.
    B4,
    /// B6: Hash(SPKI || client nonce), the nonce in SNI or ALPN.
    B6,
    /// B9: post-handshake exporter in an Exported Authenticator.
    B9,
}

impl Mechanism {
    /// `B4`, `B6`, `B9`.
    pub const fn id(self) -> &'static str {
        match self {
            Self::B4 => "B4",
            Self::B6 => "B6",
            Self::B9 => "B9",
        }
    }

    /// The attacks of the lab (`binding-mechanisms.md`) the mechanism is
    /// open to, each with the capability it needs and why.
    pub const fn open_to(self) -> &'static [&'static str] {
        match self {
            Self::B4 => &[
                "RP replay (net + leak-tls-key once): the certificate is static and carries no nonce, \
                 so whoever extracted its key serves it long after, with the TEE offline",
                "R3 extracted-key relay (net + leak-tls-key): nothing ties the Evidence to this handshake",
                "D1 diversion (net): another genuine TEE with the same measurement is accepted \
                 unless its platform identity is checked (I1/I2)",
            ],
            Self::B6 => &[
                "R3 extracted-key relay (net + leak-tls-key; CVE-2026-33697): the nonce travels in \
                 the clear (SNI/ALPN), so a relay obtains Evidence over the victim's nonce and \
                 presents it with the extracted per-handshake key",
                "D1 diversion (net): another genuine TEE with the same measurement is accepted \
                 unless its platform identity is checked (I1/I2)",
            ],
            Self::B9 => &[
                "D1 diversion (net): another genuine TEE with the same measurement is accepted \
                 unless its platform identity is checked (I1/I2); relays and replays fail on the \
                 exporter (L3 binding)",
            ],
        }
    }
}

/// Whether the binding holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindingOutcome {
    /// The Evidence's binding value equals the formula computed from the key.
    Holds,
    /// It does not: what differs.
    Fails(String),
    /// The formula needs a value only the connection has (a nonce or an
    /// exporter); what it needs.
    NeedsConnection(String),
    /// Not checked: why (an unknown encoding, a value not in the Evidence).
    NotChecked(String),
}

impl BindingOutcome {
    /// `Fails(..)` unless `ok`.
    fn check(ok: bool, fail: impl FnOnce() -> String) -> Self {
        if ok {
            Self::Holds
        } else {
            Self::Fails(fail())
        }
    }
}

/// A binding formula and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The formula, e.g. `report_data = SHA-256(SPKI DER) || 0^32`.
    pub formula: String,
    /// Whether it holds for the key of the carrier.
    pub outcome: BindingOutcome,
}

/// Whether the Evidence's signatures verify up to the vendor root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvidenceOutcome {
    /// Every signature verifies and the chain ends at the named root.
    Verified {
        /// The trust anchor, e.g. `Intel SGX Root CA (pinned key)`.
        anchor: String,
    },
    /// A signature, a certificate of the chain or a validity window is
    /// wrong: which, and why.
    Invalid(String),
    /// Cannot be verified offline with what was given: why, and what would
    /// be needed.
    Unverifiable(String),
}

/// The Evidence found, its platform and whether it verifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceCheck {
    /// `sgx`, `tdx`, `snp`, `ear`, ...
    pub platform: &'static str,
    /// Signature and chain verification.
    pub outcome: EvidenceOutcome,
    /// TCB status from collateral, or why there is none.
    pub tcb: Option<String>,
}

/// What one reader found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerReport {
    /// The format.
    pub format: PeerFormat,
    /// Where the Evidence is carried (`certificate extension 2.23.133.5.4.9`, ...).
    pub carrier: String,
    /// The binding formula and its outcome.
    pub binding: Binding,
    /// The signature of the carrier itself (self-signed certificate, CSR):
    /// `Ok` or why not. `None` when the carrier is not signed.
    pub carrier_signature: Option<Result<(), String>>,
    /// Whether the carrier (a certificate) is inside its validity window
    /// at the verification time (`--at`): `Ok`, or why not. `None` when
    /// the carrier has no validity window (CSR, token).
    pub carrier_validity: Option<Result<(), String>>,
    /// The Evidence and its verification.
    pub evidence: EvidenceCheck,
    /// Claims, in display order (`mrenclave`, `debug`, `fmspc`, ...).
    pub claims: Vec<(String, String)>,
    /// Remarks: expired certificates, weak keys, unknown details.
    pub notes: Vec<String>,
}

impl PeerReport {
    /// True when the binding holds, the carrier's own signature (if any)
    /// verifies, the carrier certificate (if any) is valid at the
    /// verification time and the Evidence verifies up to a vendor root:
    /// `atls inspect`'s exit code 0.
    pub fn passes(&self) -> bool {
        self.binding.outcome == BindingOutcome::Holds
            && !matches!(self.carrier_signature, Some(Err(_)))
            && !matches!(self.carrier_validity, Some(Err(_)))
            && matches!(self.evidence.outcome, EvidenceOutcome::Verified { .. })
    }
}

/// Why an input could not be read at all, or a piece of Evidence in it is
/// malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerError {
    /// The input is none of the known containers.
    #[error("unreadable input: {0}")]
    Unreadable(String),
    /// The input is over [`MAX_INPUT_LEN`].
    #[error("input of {0} bytes is over the limit of {MAX_INPUT_LEN}")]
    TooLarge(usize),
    /// A known container without any attestation Evidence.
    #[error("no evidence: {0}")]
    NoEvidence(String),
    /// Evidence of a known format is malformed.
    #[error("{format}: malformed {what}: {reason}")]
    Malformed {
        /// The format.
        format: PeerFormat,
        /// The structure.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl PeerError {
    fn malformed(format: PeerFormat, what: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Malformed {
            format,
            what,
            reason: reason.to_string(),
        }
    }
}

/// What a reader may use besides the input.
#[derive(Clone, Debug)]
pub struct ReadOptions {
    /// Verification time, Unix seconds.
    pub now: i64,
    /// The connection's nonce, for B6 formats (Contrast, Cocos v3).
    pub nonce: Option<Vec<u8>>,
    /// The Intel SGX root to anchor quotes in (`None`: the embedded one).
    /// Tests inject their own.
    pub intel_root: Option<Cert>,
    /// A DCAP engine with collateral, for TCB status.
    pub dcap: Option<Arc<Engine>>,
    /// Certificates given by the user (DER): the attestation service's CA
    /// for tokens, VCEK/ASK for SEV-SNP.
    pub certs: Vec<Vec<u8>>,
    /// SEV-SNP roots (ARK, DER) to trust besides the built-in AMD roots, as
    /// `atls verify --trust-ark`.
    pub trusted_arks: Vec<Vec<u8>>,
}

impl ReadOptions {
    /// Options at `now` with nothing else given.
    pub fn at(now: i64) -> Self {
        Self {
            now,
            nonce: None,
            intel_root: None,
            dcap: None,
            certs: Vec::new(),
            trusted_arks: Vec::new(),
        }
    }
}

/// One piece of Evidence found: its format and what reading it gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The format.
    pub format: PeerFormat,
    /// The report, or why this piece is malformed.
    pub result: Result<PeerReport, PeerError>,
}

/// A reader of Evidence carried in a certificate or CSR extension.
pub trait CertFormat {
    /// The format.
    const FORMAT: PeerFormat;
    /// Whether an extension with these extnID content bytes is this
    /// format's (matched byte for byte, never as a dotted string).
    fn matches(oid: &[u8]) -> bool;
    /// Reads the extension of `container` with extnID content bytes `oid`
    /// (one [`CertFormat::matches`] accepted) and extnValue content `value`.
    fn read(container: &Container, oid: &[u8], value: &[u8], opts: &ReadOptions) -> Result<PeerReport, PeerError>;
}

/// A function reading one extension, as [`CertFormat::read`].
type ReadFn = fn(&Container, &[u8], &[u8], &ReadOptions) -> Result<PeerReport, PeerError>;

/// One row of [`CERT_FORMATS`]: the format, its extnID matcher, its reader.
type CertFormatEntry = (PeerFormat, fn(&[u8]) -> bool, ReadFn);

/// The certificate formats, in reporting order.
const CERT_FORMATS: &[CertFormatEntry] = &[
    entry::<gramine::GramineLegacy>(),
    entry::<dice::TcgDice>(),
    entry::<open_enclave::OpenEnclave>(),
    entry::<enarx::EnarxSgx>(),
    entry::<enarx::EnarxSnp>(),
    entry::<dstack::Dstack>(),
    entry::<contrast::Contrast>(),
    entry::<constellation::Constellation>(),
    entry::<cocos::CocosV3>(),
];

const fn entry<F: CertFormat>() -> CertFormatEntry {
    (F::FORMAT, F::matches, F::read)
}

/// The formats present in `input`, without verifying anything.
pub fn detect(input: &[u8]) -> Result<Vec<PeerFormat>, PeerError> {
    Ok(match Input::parse(input)? {
        Input::Container(c) => {
            let found: Vec<_> = c
                .extensions
                .iter()
                .flat_map(|(oid, _)| CERT_FORMATS.iter().filter(|(_, m, _)| m(oid)).map(|(f, _, _)| *f))
                .collect();
            if found.is_empty() {
                return Err(no_evidence(&c));
            }
            found
        }
        Input::Jwt(_) => vec![PeerFormat::TngEar],
        Input::Authenticator(_) => vec![PeerFormat::CocosV4],
    })
}

/// Reads every piece of Evidence in `input` (a certificate or CSR in PEM
/// or DER, a compact JWT, or a Cocos v4 Exported Authenticator).
pub fn read(input: &[u8], opts: &ReadOptions) -> Result<Vec<Found>, PeerError> {
    match Input::parse(input)? {
        Input::Container(c) => {
            let mut out = Vec::new();
            for (oid, value) in &c.extensions {
                for (format, matches, read) in CERT_FORMATS {
                    if matches(oid) {
                        out.push(Found {
                            format: *format,
                            result: read(&c, oid, value, opts),
                        });
                    }
                }
            }
            if out.is_empty() {
                return Err(no_evidence(&c));
            }
            Ok(out)
        }
        Input::Jwt(token) => Ok(vec![Found {
            format: PeerFormat::TngEar,
            result: tng::read_token(&token, opts),
        }]),
        Input::Authenticator(bytes) => Ok(vec![Found {
            format: PeerFormat::CocosV4,
            result: cocos::read_authenticator(&bytes, opts),
        }]),
    }
}

fn no_evidence(c: &Container) -> PeerError {
    PeerError::NoEvidence(format!(
        "the {} has no extension of a known attested-TLS format ({} extension(s): {})",
        c.kind.name(),
        c.extensions.len(),
        c.extensions
            .iter()
            .map(|(o, _)| x509::oid_text(o))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// An input, by container.
enum Input {
    /// A certificate or CSR.
    Container(Container),
    /// A compact JWS.
    Jwt(String),
    /// An Exported Authenticator (handshake messages).
    Authenticator(Vec<u8>),
}

impl Input {
    fn parse(input: &[u8]) -> Result<Self, PeerError> {
        if input.len() > MAX_INPUT_LEN {
            return Err(PeerError::TooLarge(input.len()));
        }
        if let Some(c) = Container::from_pem_or_der(input)? {
            return Ok(Self::Container(c));
        }
        let text = std::str::from_utf8(input).ok().map(str::trim);
        if let Some(t) = text {
            if tng::looks_like_jwt(t) {
                return Ok(Self::Jwt(t.to_string()));
            }
            // One line of base64 without PEM armour (MAA publishes its
            // certificates so): decode and read again.
            if !t.is_empty() && !t.contains('.') {
                use base64::Engine as _;
                if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(t) {
                    if let Some(c) = Container::from_pem_or_der(&der)? {
                        return Ok(Self::Container(c));
                    }
                }
            }
        }
        if cocos::looks_like_authenticator(input) {
            return Ok(Self::Authenticator(input.to_vec()));
        }
        Err(PeerError::Unreadable(
            "not a certificate or CSR (PEM or DER), a compact JWT or an Exported Authenticator".into(),
        ))
    }
}

/// `SHA-256(data)`.
fn sha256(data: &[u8]) -> [u8; 32] {
    crate::platform::dcap::pki::sha256(data)
}

/// `true` when every byte is zero.
fn all_zero(b: &[u8]) -> bool {
    b.iter().all(|x| *x == 0)
}

/// The outcome of comparing a 64-byte report_data with `prefix || 0..`.
fn report_data_is(report_data: &[u8; 64], prefix: &[u8], what: &str) -> BindingOutcome {
    let n = prefix.len().min(64);
    BindingOutcome::check(
        crate::crypto::constant_time_eq(&report_data[..n], &prefix[..n]) && all_zero(&report_data[n..]),
        || {
            format!(
                "report_data is {}, {what} is {}",
                hex::encode(report_data),
                hex::encode(prefix)
            )
        },
    )
}

/// A report for Evidence in a certificate or CSR extension: the carrier's
/// own signature and its validity at the verification time come from `c`.
fn cert_report(
    format: PeerFormat,
    c: &Container,
    carrier: &str,
    binding: Binding,
    evidence: EvidenceCheck,
    claims: Vec<(String, String)>,
    opts: &ReadOptions,
) -> PeerReport {
    let mut notes = c.notes.clone();
    let invalid = c.validity_note(opts.now);
    notes.extend(invalid.clone());
    PeerReport {
        format,
        carrier: format!("{} ({}), {carrier}", c.kind.name(), c.subject),
        binding,
        carrier_signature: c.signature.clone(),
        carrier_validity: c.validity.map(|_| invalid.map_or(Ok(()), Err)),
        evidence,
        claims,
        notes,
    }
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod tests;
