//! Mode `early`: intra-handshake attestation, draft-fossati-seat-early-attestation
//! (-05 wire format and binder, unchanged in -06 and -07), sans-IO.
//!
//! The Evidence travels inside the TLS 1.3 handshake, in the
//! `remoteAttestation` extension of the attester's first CertificateEntry.
//! This module holds everything that does not need a TLS stack:
//!
//! - the extension bodies of ClientHello, EncryptedExtensions,
//!   CertificateRequest and Certificate ([`RemoteAttestation`]) and the
//!   scheme negotiation ([`choose_scheme`]);
//! - the transcript `Hash(ClientHello..ServerHello)` with the
//!   HelloRetryRequest rule ([`HelloTranscript`]);
//! - the binder ([`attest_base`], [`s_attest_binder`], [`c_attest_binder`])
//!   and what enters the Evidence ([`EarlyBinding`]): the binder and
//!   `TIK_pub_hash` for Evidence that carries them directly (the simulated
//!   TEE), or the 64-byte `report_data` mapping for hardware reports;
//! - the TLS alerts this mode sends ([`EarlyAlert`]).
//!
//! The OpenSSL adapter is the `attested-tls-openssl` crate. Byte layouts and
//! the mode's limits are in `docs/early-attestation.md`; the `report_data`
//! mapping in `docs/binding.md`.
//!
//! ```
//! use attested_tls::crypto::HashAlgorithm;
//! use attested_tls::modes::early::{EarlyBinding, HelloTranscript};
//! # let (client_hello, server_hello) = attested_tls::modes::early::example_hellos(0x1301);
//! let mut transcript = HelloTranscript::default();
//! transcript.push(&client_hello).unwrap();
//! transcript.push(&server_hello).unwrap();
//! let (hash, transcript_hash) = transcript.finish().unwrap();
//! assert_eq!(hash, HashAlgorithm::Sha256);
//! let binding = EarlyBinding::new(hash, &transcript_hash, b"server SPKI DER");
//! assert_eq!(binding.binder.len(), 32);
//! ```

use crate::attester::{AttestError, Attester};
use crate::binder::{BindingClaims, ExpectedBinding};
use crate::cmw::Cmw;
use crate::codec::{err, DecodeError, Problem, Reader, Writer};
use crate::crypto::{self, HashAlgorithm};

/// Default code point of `remoteAttestation` (the draft leaves it TBD; this
/// is an unassigned value). 0xFF01 is renegotiation_info and unusable.
pub const DEFAULT_EXTENSION_TYPE: u16 = 0xFFA0;

/// Largest CMW a first CertificateEntry can carry: the entry's
/// `extensions<0..2^16-1>` block also holds the extension type (2 bytes),
/// `extension_data` length (2) and `cmw_payload`'s own 3-byte length.
pub const MAX_CMW_PAYLOAD: usize = 0xffff - 7;

/// Largest media type accepted in an `EvidenceType` (the wire allows 2^16-1;
/// IANA media types with parameters are far shorter).
pub const MAX_MEDIA_TYPE_LEN: usize = 1024;

/// HKDF-Expand-Label label of `attest_base`.
pub const LABEL_ATTEST_BASE: &[u8] = b"attestation base";
/// HKDF-Expand-Label label of both binders (the draft gives the server and
/// the client binder the same label: no role separation, see the limits in
/// `docs/early-attestation.md`).
pub const LABEL_ATTESTATION: &[u8] = b"attestation";

/// Domain-separation prefix of this mode's `report_data` mapping; differs
/// from the default mode's [`crate::binder::REPORT_DATA_PREFIX`], so a
/// hardware report made for one mode never matches in the other.
pub const REPORT_DATA_PREFIX: &[u8] = b"attested-tls early v1";

/// The ServerHello.random that marks a HelloRetryRequest (RFC 8446 §4.1.3):
/// SHA-256("HelloRetryRequest").
pub const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91, 0xc2, 0xa2, 0x11,
    0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Handshake type of `message_hash` (RFC 8446 §4.4.1).
const MESSAGE_HASH: u8 = 254;
const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;

/// Largest handshake message the transcript keeps (a ClientHello with many
/// key shares and a long padding is far below it).
pub const MAX_HELLO_LEN: usize = 1 << 16;

// ---------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------

/// `EvidenceType`: how the Evidence in the CMW is identified.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EvidenceType {
    /// `CONTENT_FORMAT(0)`: a CoAP Content-Format number.
    ContentFormat(u16),
    /// `MEDIA_TYPE(1)`: an IANA media type (with parameters).
    MediaType(String),
}

/// `AttestationScheme`: what the attester presents.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttestationScheme {
    /// `evidence(0)`, the background-check model: the relying party
    /// appraises Evidence of this type with its own policy.
    Evidence(EvidenceType),
    /// `result(1)`, the passport model: the attester presents an
    /// Attestation Result issued by this verifier.
    Result {
        /// `verifier_identity<0..2^16-1>`, opaque.
        verifier_identity: Vec<u8>,
    },
}

impl AttestationScheme {
    /// Background check with Evidence of `media_type`.
    pub fn evidence_media_type(media_type: &str) -> Self {
        Self::Evidence(EvidenceType::MediaType(media_type.to_string()))
    }

    /// Whether a CMW record of `media_type` is Evidence of this scheme.
    pub fn matches_media_type(&self, media_type: &str) -> bool {
        matches!(self, Self::Evidence(EvidenceType::MediaType(m)) if m == media_type)
    }

    /// Whether a CMW record of type `typ` is Evidence of this scheme: the
    /// same media type, or the same Content-Format number (never the
    /// other kind, and never for the passport scheme, whose record is
    /// checked by [`check_passport`]).
    pub fn matches_record_type(&self, typ: &crate::cmw::CmwType) -> bool {
        match (self, typ) {
            (Self::Evidence(EvidenceType::MediaType(m)), crate::cmw::CmwType::MediaType(t)) => m == t,
            (Self::Evidence(EvidenceType::ContentFormat(c)), crate::cmw::CmwType::ContentFormat(t)) => c == t,
            _ => false,
        }
    }

    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Evidence(t) => {
                w.u8(0);
                match t {
                    EvidenceType::ContentFormat(cf) => {
                        w.u8(0);
                        w.u16(*cf);
                    }
                    EvidenceType::MediaType(m) => {
                        w.u8(1);
                        w.vec(2, m.as_bytes());
                    }
                }
            }
            Self::Result { verifier_identity } => {
                w.u8(1);
                w.vec(2, verifier_identity);
            }
        }
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        const F: &str = "AttestationScheme";
        match r.u8("AttestationScheme.mechanism")? {
            0 => match r.u8("EvidenceType.type_encoding")? {
                0 => Ok(Self::Evidence(EvidenceType::ContentFormat(
                    r.u16("EvidenceType.content_format")?,
                ))),
                1 => {
                    let m = r.vec(2, 0, MAX_MEDIA_TYPE_LEN, "EvidenceType.media_type")?;
                    let m = std::str::from_utf8(m)
                        .map_err(|_| err("EvidenceType.media_type", Problem::Invalid("is not UTF-8".into())))?;
                    Ok(Self::Evidence(EvidenceType::MediaType(m.to_string())))
                }
                t => Err(err(
                    "EvidenceType.type_encoding",
                    Problem::Invalid(format!("unknown type encoding {t}")),
                )),
            },
            1 => Ok(Self::Result {
                verifier_identity: r.vec(2, 0, 0xffff, "VerifierIdentityType.verifier_identity")?.to_vec(),
            }),
            m => Err(err(F, Problem::Invalid(format!("unknown attestation mechanism {m}")))),
        }
    }

    /// Encoded length, for checking list sizes before encoding.
    fn encoded_len(&self) -> usize {
        match self {
            Self::Evidence(EvidenceType::ContentFormat(_)) => 4,
            Self::Evidence(EvidenceType::MediaType(m)) => 4 + m.len(),
            Self::Result { verifier_identity } => 3 + verifier_identity.len(),
        }
    }
}

/// The handshake message a `remoteAttestation` body belongs to (its layout
/// depends on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ExtensionContext {
    /// ClientHello: the two scheme lists.
    ClientHello,
    /// EncryptedExtensions: `chosen_server_scheme`.
    EncryptedExtensions,
    /// CertificateRequest: `chosen_client_scheme`.
    CertificateRequest,
    /// A CertificateEntry: `cmw_payload`.
    Certificate,
}

/// A decoded `remoteAttestation` extension body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteAttestation {
    /// In ClientHello.
    ClientHello {
        /// Schemes the client accepts from an attesting server, in
        /// preference order (empty: the server need not attest).
        server_attester_schemes: Vec<AttestationScheme>,
        /// Schemes in which the client can attest, in preference order
        /// (empty: the client does not attest).
        client_attester_schemes: Vec<AttestationScheme>,
    },
    /// In EncryptedExtensions: the scheme the server attests in.
    EncryptedExtensions(AttestationScheme),
    /// In CertificateRequest: the scheme the client is to attest in.
    CertificateRequest(AttestationScheme),
    /// In the first CertificateEntry: the CMW.
    Certificate(Vec<u8>),
}

/// Why an extension body could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A list or payload exceeds its length prefix or the extension limit.
    #[error("{what} is {len} bytes, more than the {max} the extension can carry")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The CMW payload is empty (`cmw_payload<1..2^24-1>`).
    #[error("the CMW payload is empty")]
    EmptyPayload,
    /// A ClientHello must list at least one scheme.
    #[error("a ClientHello remoteAttestation must list at least one scheme")]
    NoScheme,
}

impl RemoteAttestation {
    /// The context this body belongs to.
    pub fn context(&self) -> ExtensionContext {
        match self {
            Self::ClientHello { .. } => ExtensionContext::ClientHello,
            Self::EncryptedExtensions(_) => ExtensionContext::EncryptedExtensions,
            Self::CertificateRequest(_) => ExtensionContext::CertificateRequest,
            Self::Certificate(_) => ExtensionContext::Certificate,
        }
    }

    /// Encodes the extension body (`extension_data`).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut w = Writer::new();
        match self {
            Self::ClientHello {
                server_attester_schemes,
                client_attester_schemes,
            } => {
                if server_attester_schemes.is_empty() && client_attester_schemes.is_empty() {
                    return Err(EncodeError::NoScheme);
                }
                let s: usize = server_attester_schemes.iter().map(|s| s.encoded_len()).sum();
                let c: usize = client_attester_schemes.iter().map(|s| s.encoded_len()).sum();
                // Both lists and their prefixes share the 2^16-1 bytes of extension_data.
                if 4 + s + c > 0xffff {
                    return Err(EncodeError::TooLarge {
                        what: "the scheme lists",
                        len: 4 + s + c,
                        max: 0xffff,
                    });
                }
                for list in [server_attester_schemes, client_attester_schemes] {
                    w.nested(2, |w| list.iter().for_each(|s| s.encode(w)));
                }
            }
            Self::EncryptedExtensions(s) | Self::CertificateRequest(s) => {
                if s.encoded_len() > 0xffff {
                    return Err(EncodeError::TooLarge {
                        what: "the chosen scheme",
                        len: s.encoded_len(),
                        max: 0xffff,
                    });
                }
                s.encode(&mut w)
            }
            Self::Certificate(cmw) => {
                if cmw.is_empty() {
                    return Err(EncodeError::EmptyPayload);
                }
                if cmw.len() > MAX_CMW_PAYLOAD {
                    return Err(EncodeError::TooLarge {
                        what: "the CMW payload",
                        len: cmw.len(),
                        max: MAX_CMW_PAYLOAD,
                    });
                }
                w.vec(3, cmw);
            }
        }
        Ok(w.buf)
    }

    /// Decodes an extension body received in `context`. Never panics;
    /// refuses trailing bytes, unknown enum values, lengths beyond the
    /// data present, a ClientHello with no scheme at all and an empty CMW.
    pub fn decode(context: ExtensionContext, data: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let out = match context {
            ExtensionContext::ClientHello => {
                let server = decode_list(&mut r, "remoteAttestation.server_attester_schemes")?;
                let client = decode_list(&mut r, "remoteAttestation.client_attester_schemes")?;
                if server.is_empty() && client.is_empty() {
                    return Err(err(
                        "remoteAttestation",
                        Problem::Invalid("the ClientHello lists no attestation scheme".into()),
                    ));
                }
                Self::ClientHello {
                    server_attester_schemes: server,
                    client_attester_schemes: client,
                }
            }
            ExtensionContext::EncryptedExtensions => Self::EncryptedExtensions(AttestationScheme::decode(&mut r)?),
            ExtensionContext::CertificateRequest => Self::CertificateRequest(AttestationScheme::decode(&mut r)?),
            ExtensionContext::Certificate => {
                Self::Certificate(r.vec(3, 1, MAX_CMW_PAYLOAD, "remoteAttestation.cmw_payload")?.to_vec())
            }
        };
        r.finish("remoteAttestation")?;
        Ok(out)
    }
}

fn decode_list(r: &mut Reader<'_>, field: &'static str) -> Result<Vec<AttestationScheme>, DecodeError> {
    let bytes = r.vec(2, 0, 0xffff, field)?;
    let mut inner = Reader::new(bytes);
    // Each scheme takes at least 3 bytes, so this bounds the allocation by
    // the input actually present.
    let mut out = Vec::with_capacity(bytes.len() / 3);
    while inner.remaining() > 0 {
        out.push(AttestationScheme::decode(&mut inner)?);
    }
    Ok(out)
}

/// The first scheme of `peer_preference` (in the peer's order, as the
/// draft's lists are) that `ours` supports.
pub fn choose_scheme(peer_preference: &[AttestationScheme], ours: &[AttestationScheme]) -> Option<AttestationScheme> {
    peer_preference.iter().find(|s| ours.contains(s)).cloned()
}

// ---------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------

/// The failures the draft gives alerts to, and the TLS alert sent for each.
///
/// The draft's own alerts (`unsupported_attestation_schemes`,
/// `attestation_required`, `attestation_failed`) have no assigned values,
/// and OpenSSL 3 sends no alert whose code it does not know (its TLS 1.3
/// alert mapping returns "no alert" for them). So each is sent as the
/// closest RFC 8446 alert; the table is in `docs/early-attestation.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EarlyAlert {
    /// No common scheme: `handshake_failure` (40).
    UnsupportedAttestationSchemes,
    /// Attestation required but the peer declined (no extension in its
    /// ClientHello, no scheme listed, no CMW in its first entry):
    /// `missing_extension` (109).
    AttestationRequired,
    /// Bad binder, failed appraisal, malformed CMW, TIK_pub_hash of another
    /// key: `bad_certificate` (42).
    AttestationFailed,
    /// `remoteAttestation` where it must not be (a non-first
    /// CertificateEntry, a scheme that was not offered):
    /// `illegal_parameter` (47).
    IllegalParameter,
    /// A malformed extension body: `decode_error` (50).
    DecodeError,
}

impl EarlyAlert {
    /// The TLS AlertDescription sent.
    pub const fn tls_alert(self) -> u8 {
        match self {
            Self::UnsupportedAttestationSchemes => 40,
            Self::AttestationRequired => 109,
            Self::AttestationFailed => 42,
            Self::IllegalParameter => 47,
            Self::DecodeError => 50,
        }
    }

    /// The draft's name of the condition.
    pub const fn name(self) -> &'static str {
        match self {
            Self::UnsupportedAttestationSchemes => "unsupported_attestation_schemes",
            Self::AttestationRequired => "attestation_required",
            Self::AttestationFailed => "attestation_failed",
            Self::IllegalParameter => "illegal_parameter",
            Self::DecodeError => "decode_error",
        }
    }
}

// ---------------------------------------------------------------------------
// Transcript
// ---------------------------------------------------------------------------

/// Why `Hash(ClientHello..ServerHello)` could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TranscriptError {
    /// A handshake message is malformed (header length, ServerHello body).
    #[error(transparent)]
    Malformed(#[from] DecodeError),
    /// A message out of the order ClientHello, [HelloRetryRequest,
    /// ClientHello,] ServerHello.
    #[error("handshake message type {found} where {expected} was expected")]
    UnexpectedMessage {
        /// What the order requires.
        expected: &'static str,
        /// The handshake type found.
        found: u8,
    },
    /// A second HelloRetryRequest (RFC 8446 §4.1.4 forbids it).
    #[error("a second HelloRetryRequest")]
    SecondHelloRetryRequest,
    /// A cipher suite that is not a TLS 1.3 suite with SHA-256 or SHA-384.
    #[error("cipher suite {0:#06x} is not a TLS 1.3 suite this mode supports")]
    UnsupportedCipherSuite(u16),
    /// The ServerHello's suite differs from the HelloRetryRequest's.
    #[error("the ServerHello's cipher suite {sh:#06x} differs from the HelloRetryRequest's {hrr:#06x}")]
    CipherSuiteChanged {
        /// In the HelloRetryRequest.
        hrr: u16,
        /// In the ServerHello.
        sh: u16,
    },
    /// The ServerHello has not been seen yet.
    #[error("the transcript ends before the ServerHello")]
    Incomplete,
    /// Feeding a message failed outside the parser (the TLS stack
    /// adapter's message callback panicked): a message may be missing.
    #[error("a handshake message could not be recorded (the message callback failed)")]
    MessageLost,
}

/// The ClientHello..ServerHello handshake messages of one connection, as
/// the TLS stack sent and received them (each with its 4-byte header), and
/// `Transcript-Hash(ClientHello..ServerHello)` over them (RFC 8446 §4.4.1):
/// after a HelloRetryRequest the first ClientHello is replaced by
/// `message_hash(254) || 00 00 || Hash.length || Hash(ClientHello1)`.
///
/// Messages after the ServerHello are ignored, so a stack's message
/// callback can feed every handshake message.
#[derive(Clone, Debug, Default)]
pub struct HelloTranscript {
    messages: Vec<Vec<u8>>,
    hrr_suite: Option<u16>,
    server_suite: Option<u16>,
    /// A malformed or out-of-order message was fed: the transcript stays
    /// unusable (never "fixed" by later messages).
    poisoned: Option<TranscriptError>,
}

impl HelloTranscript {
    /// Makes the transcript unusable with `error` (a message could not be
    /// fed): [`HelloTranscript::finish`] reports it from now on.
    pub fn poison(&mut self, error: TranscriptError) {
        if self.poisoned.is_none() {
            self.poisoned = Some(error);
        }
    }

    /// Feeds one complete handshake message (type, u24 length, body).
    pub fn push(&mut self, message: &[u8]) -> Result<(), TranscriptError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        if self.server_suite.is_some() {
            return Ok(());
        }
        let r = self.push_inner(message);
        if let Err(e) = &r {
            self.poisoned = Some(e.clone());
        }
        r
    }

    fn push_inner(&mut self, message: &[u8]) -> Result<(), TranscriptError> {
        let mut r = Reader::new(message);
        let typ = r.u8("Handshake.msg_type")?;
        let body = r.vec(3, 0, MAX_HELLO_LEN, "Handshake.body")?;
        r.finish("Handshake")?;
        // Expected sequence: CH, then SH or HRR; after HRR: CH, then SH.
        let expecting_client_hello = self.messages.is_empty() || (self.hrr_suite.is_some() && self.messages.len() == 2);
        if expecting_client_hello {
            if typ != CLIENT_HELLO {
                return Err(TranscriptError::UnexpectedMessage {
                    expected: "ClientHello",
                    found: typ,
                });
            }
            self.messages.push(message.to_vec());
            return Ok(());
        }
        if typ != SERVER_HELLO {
            return Err(TranscriptError::UnexpectedMessage {
                expected: "ServerHello",
                found: typ,
            });
        }
        let (random, suite) = server_hello_random_and_suite(body)?;
        hash_of_suite(suite)?;
        if random == HELLO_RETRY_REQUEST_RANDOM {
            if self.hrr_suite.is_some() {
                return Err(TranscriptError::SecondHelloRetryRequest);
            }
            self.hrr_suite = Some(suite);
        } else {
            if let Some(hrr) = self.hrr_suite {
                if hrr != suite {
                    return Err(TranscriptError::CipherSuiteChanged { hrr, sh: suite });
                }
            }
            self.server_suite = Some(suite);
        }
        self.messages.push(message.to_vec());
        Ok(())
    }

    /// Whether the ServerHello has been seen.
    pub fn is_complete(&self) -> bool {
        self.poisoned.is_none() && self.server_suite.is_some()
    }

    /// Whether a HelloRetryRequest was part of the handshake.
    pub fn had_hello_retry_request(&self) -> bool {
        self.hrr_suite.is_some()
    }

    /// The negotiated suite's hash and `Transcript-Hash(ClientHello..ServerHello)`.
    pub fn finish(&self) -> Result<(HashAlgorithm, Vec<u8>), TranscriptError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let suite = self.server_suite.ok_or(TranscriptError::Incomplete)?;
        let hash = hash_of_suite(suite)?;
        let mut ctx = hash.context();
        let mut rest = self.messages.as_slice();
        if self.hrr_suite.is_some() {
            let ch1 = hash.digest(&self.messages[0]);
            ctx.update(&[MESSAGE_HASH, 0, 0, hash.output_len() as u8]);
            ctx.update(&ch1);
            rest = &rest[1..];
        }
        for m in rest {
            ctx.update(m);
        }
        Ok((hash, ctx.current()))
    }
}

/// ServerHello (and HelloRetryRequest) body: legacy_version(2), random(32),
/// legacy_session_id_echo<0..32>, cipher_suite(2), ...
fn server_hello_random_and_suite(body: &[u8]) -> Result<([u8; 32], u16), DecodeError> {
    let mut r = Reader::new(body);
    r.u16("ServerHello.legacy_version")?;
    let random: [u8; 32] = r
        .take(32, "ServerHello.random")?
        .try_into()
        .expect("take returned 32 bytes");
    r.vec(1, 0, 32, "ServerHello.legacy_session_id_echo")?;
    let suite = r.u16("ServerHello.cipher_suite")?;
    Ok((random, suite))
}

/// The hash of a TLS 1.3 cipher suite (RFC 8446 B.4).
pub fn hash_of_suite(suite: u16) -> Result<HashAlgorithm, TranscriptError> {
    match suite {
        0x1301 | 0x1303 | 0x1304 | 0x1305 => Ok(HashAlgorithm::Sha256),
        0x1302 => Ok(HashAlgorithm::Sha384),
        other => Err(TranscriptError::UnsupportedCipherSuite(other)),
    }
}

// ---------------------------------------------------------------------------
// Binder
// ---------------------------------------------------------------------------

/// `attest_base = HKDF-Expand-Label(0^Hash.length, "attestation base",
/// Hash(ClientHello..ServerHello), Hash.length)`. No HKDF-Extract: the
/// all-zero string is the PRK (the editors' reading of "0").
pub fn attest_base(hash: HashAlgorithm, transcript_hash: &[u8]) -> Vec<u8> {
    let zeros = vec![0u8; hash.output_len()];
    hash.hkdf_expand_label(&zeros, LABEL_ATTEST_BASE, transcript_hash, hash.output_len())
}

/// `s_attest_binder = HKDF-Expand-Label(attest_base, "attestation",
/// Hash(server SPKI DER), Hash.length)`.
pub fn s_attest_binder(hash: HashAlgorithm, attest_base: &[u8], server_spki_der: &[u8]) -> Vec<u8> {
    attest_binder(hash, attest_base, server_spki_der)
}

/// `c_attest_binder = HKDF-Expand-Label(attest_base, "attestation",
/// Hash(client SPKI DER), Hash.length)`: the same label as the server's
/// (the draft has no role separation; only the SPKI differs).
pub fn c_attest_binder(hash: HashAlgorithm, attest_base: &[u8], client_spki_der: &[u8]) -> Vec<u8> {
    attest_binder(hash, attest_base, client_spki_der)
}

fn attest_binder(hash: HashAlgorithm, attest_base: &[u8], spki_der: &[u8]) -> Vec<u8> {
    hash.hkdf_expand_label(
        attest_base,
        LABEL_ATTESTATION,
        &hash.digest(spki_der),
        hash.output_len(),
    )
}

/// What Evidence of this mode must carry in its signed part, for one
/// attester key (the TIK, the end-entity certificate's key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlyBinding {
    /// The suite's hash.
    pub hash: HashAlgorithm,
    /// `s_attest_binder` or `c_attest_binder` (they differ only by SPKI).
    pub binder: Vec<u8>,
    /// `TIK_pub_hash = Hash(SPKI DER)`.
    pub tik_pub_hash: Vec<u8>,
}

impl EarlyBinding {
    /// The binding of the key `spki_der` on the connection whose
    /// `Transcript-Hash(ClientHello..ServerHello)` is `transcript_hash`.
    pub fn new(hash: HashAlgorithm, transcript_hash: &[u8], spki_der: &[u8]) -> Self {
        let base = attest_base(hash, transcript_hash);
        Self {
            hash,
            binder: attest_binder(hash, &base, spki_der),
            tik_pub_hash: hash.digest(spki_der),
        }
    }

    /// The 64-byte `report_data` of hardware reports:
    /// `SHA-512("attested-tls early v1" || binder || TIK_pub_hash)`.
    pub fn report_data(&self) -> [u8; 64] {
        crypto::sha512(&[REPORT_DATA_PREFIX, &self.binder, &self.tik_pub_hash])
    }

    /// For Evidence that carries both values directly (the simulated TEE:
    /// `eat_nonce` = binder, claim -70002 = `TIK_pub_hash`).
    pub fn direct_claims(&self) -> BindingClaims {
        BindingClaims {
            hash: self.hash,
            binder: self.binder.clone(),
            aik_pub_hash: self.tik_pub_hash.clone(),
        }
    }

    /// What the appraiser compares a received CMW with: the binder and
    /// `TIK_pub_hash` themselves when every record is simulated Evidence,
    /// else this mode's `report_data`. (A collection that mixes both is
    /// appraised against the direct claims, so its hardware records are
    /// refused: fail closed.)
    pub fn expected_for(&self, cmw: &Cmw) -> ExpectedBinding {
        let records = cmw.records();
        let any_sim = records
            .iter()
            .any(|(_, r)| r.media_type().is_some_and(crate::sim::is_sim_media_type));
        if any_sim {
            ExpectedBinding::Claims(self.direct_claims())
        } else {
            ExpectedBinding::ReportData(self.report_data())
        }
    }
}

/// Produces Evidence for an [`EarlyBinding`]. Implemented for the
/// simulated TEE (binder and `TIK_pub_hash` in the EAT) and the
/// configfs-tsm attester (this mode's `report_data` mapping); the default
/// mode's [`Attester`] trait maps into `report_data` with the default
/// mode's prefix, which this mode must not use.
pub trait EarlyAttester: Send + Sync {
    /// Short platform name.
    fn platform(&self) -> &str;
    /// Whether [`EarlyAttester::attest_early`] may block for long.
    fn may_block(&self) -> bool;
    /// Produces Evidence for `binding`, wrapped as a CMW.
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError>;
}

impl EarlyAttester for crate::sim::SimAttester {
    fn platform(&self) -> &str {
        Attester::platform(self)
    }
    fn may_block(&self) -> bool {
        Attester::may_block(self)
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        self.attest(&binding.direct_claims())
    }
}

impl EarlyAttester for crate::platform::configfs::ConfigfsAttester {
    fn platform(&self) -> &str {
        Attester::platform(self)
    }
    fn may_block(&self) -> bool {
        true
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        self.report(&binding.report_data())?.to_cmw()
    }
}

// ---------------------------------------------------------------------------
// Passport scheme
// ---------------------------------------------------------------------------

/// Media type of the CMW record that carries a signed EAR in the passport
/// scheme (`result(1)`): a JWT whose payload is an EAR of this crate's
/// profile.
pub const EAR_JWT_MEDIA_TYPE: &str = "application/eat+jwt; eat_profile=\"tag:ietf.org,2026:rats/ear#04\"";

/// The media type of a passport signed as an EAR -03 (what attested-tls
/// wrote before EAR -04); still read, never written.
pub const EAR_JWT_MEDIA_TYPE_03: &str = "application/eat+jwt; eat_profile=\"tag:ietf.org,2026:rats/ear#03\"";

/// Why a passport (a signed EAR presented by the attester) was refused.
#[derive(Debug, thiserror::Error)]
pub enum PassportError {
    /// The CMW is not one record holding a signed EAR.
    #[error("the CMW is not one {EAR_JWT_MEDIA_TYPE} record: {0}")]
    NotAnEarRecord(String),
    /// The JWT does not verify, or its payload is not an EAR.
    #[error("signed EAR refused: {0}")]
    Jwt(#[from] crate::ear_jwt::EarJwtError),
    /// The EAR is not bound to this handshake and key.
    #[error("the EAR's eat_nonce {observed:?} is not this connection's binder {expected}")]
    NonceMismatch {
        /// What the EAR says (base64url, if anything).
        observed: Option<String>,
        /// The binder (base64url) computed by the relying party.
        expected: String,
    },
    /// The verifier's result is not acceptable.
    #[error("{}", .0.refusal_summary())]
    NotAcceptable(Box<crate::ear::Ear>),
}

/// Checks a passport: one CMW record of [`EAR_JWT_MEDIA_TYPE`], a JWT that
/// verifies with the verifier's `key` under `validation`, whose EAR is
/// acceptable and whose `eat_nonce` is this connection's binder (or
/// this mode's `report_data`, when the verifier appraised hardware
/// Evidence, see [`EarlyBinding::expected_for`]).
pub fn check_passport(
    cmw: &Cmw,
    binding: &EarlyBinding,
    key: &crate::corim::VerificationKey,
    validation: &crate::ear_jwt::EarJwtValidation,
) -> Result<crate::ear::Ear, PassportError> {
    let Cmw::Record(rec) = cmw else {
        return Err(PassportError::NotAnEarRecord("it is a collection".into()));
    };
    if !matches!(rec.media_type(), Some(EAR_JWT_MEDIA_TYPE | EAR_JWT_MEDIA_TYPE_03)) {
        return Err(PassportError::NotAnEarRecord(format!(
            "the record's type is {}",
            rec.typ
        )));
    }
    let token =
        std::str::from_utf8(&rec.value).map_err(|_| PassportError::NotAnEarRecord("the token is not UTF-8".into()))?;
    let ear = crate::ear_jwt::verify_ear_jwt_with(token, key, validation)?;
    let report_data = binding.report_data();
    match &ear.eat_nonce {
        Some(n)
            if crypto::constant_time_eq(n.as_bytes(), &binding.binder)
                || crypto::constant_time_eq(n.as_bytes(), &report_data) => {}
        other => {
            return Err(PassportError::NonceMismatch {
                observed: other.as_ref().map(|n| n.to_base64url()),
                expected: base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &binding.binder),
            })
        }
    }
    if !ear.is_acceptable() {
        return Err(PassportError::NotAcceptable(Box::new(ear)));
    }
    Ok(ear)
}

/// The attester's side of the passport scheme: Evidence from `evidence`,
/// appraised by a verifier (`verifier`, in-process here; a remote verifier
/// service fits the same trait) whose result is signed with `key` and
/// presented instead of the Evidence.
pub struct PassportAttester {
    /// Produces the Evidence.
    pub evidence: std::sync::Arc<dyn EarlyAttester>,
    /// Appraises it, as the verifier the relying party trusts.
    pub verifier: crate::verifier::Appraiser,
    /// The verifier's signing key.
    pub key: crate::ear_jwt::SigningKeyPem,
    /// Verification time source.
    pub clock: std::sync::Arc<dyn Fn() -> time::OffsetDateTime + Send + Sync>,
}

impl EarlyAttester for PassportAttester {
    fn platform(&self) -> &str {
        self.evidence.platform()
    }
    fn may_block(&self) -> bool {
        self.evidence.may_block()
    }
    fn attest_early(&self, binding: &EarlyBinding) -> Result<Cmw, AttestError> {
        let evidence = self.evidence.attest_early(binding)?;
        let ear = self
            .verifier
            .appraise_cmw(&evidence, &binding.expected_for(&evidence), (self.clock)());
        if !ear.is_acceptable() {
            return Err(AttestError::Other(format!(
                "the verifier refused our own Evidence: {}",
                ear.refusal_summary()
            )));
        }
        let token = crate::ear_jwt::sign_ear_jwt(&ear, &self.key).map_err(|e| AttestError::Other(e.to_string()))?;
        Ok(Cmw::Record(crate::cmw::CmwRecord {
            typ: crate::cmw::CmwType::MediaType(EAR_JWT_MEDIA_TYPE.into()),
            value: token.into_bytes(),
            ind: Some(crate::cmw::ind::ATTESTATION_RESULTS),
        }))
    }
}

/// A ClientHello and a ServerHello (TLS_AES_128_GCM_SHA256 unless `suite`
/// says otherwise), for examples and tests.
#[doc(hidden)]
pub fn example_hellos(suite: u16) -> (Vec<u8>, Vec<u8>) {
    let ch = handshake(CLIENT_HELLO, &[0x03, 0x03, 0x11, 0x22]);
    let mut sh_body = vec![0x03, 0x03];
    sh_body.extend_from_slice(&[0x44; 32]);
    sh_body.push(0);
    sh_body.extend_from_slice(&suite.to_be_bytes());
    sh_body.push(0);
    (ch, handshake(SERVER_HELLO, &sh_body))
}

fn handshake(typ: u8, body: &[u8]) -> Vec<u8> {
    let mut w = Writer::new();
    w.u8(typ);
    w.vec(3, body);
    w.buf
}

#[cfg(test)]
mod tests;
