//! AMD certificates: parsing, the ARK -> ASK/ASVK -> VCEK/VLEK chain, and the
//! cache of verified chains.
//!
//! Every AMD certificate in the chain is signed with RSASSA-PSS (SHA-384,
//! MGF1-SHA-384, salt 48); the ARK and ASK keys are RSA-4096 and the
//! VCEK/VLEK key is ECDSA P-384. Signatures are verified with aws-lc-rs;
//! x509-parser only parses (it accepts the VCEK's serial number 0).

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aws_lc_rs::signature::{self, ParsedPublicKey, UnparsedPublicKey};
use x509_parser::nom::Parser as _;
use x509_parser::prelude::*;
use x509_parser::signature_algorithm::SignatureAlgorithm;

use super::report::{Product, Tcb};

const OID_RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const OID_RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const OID_MGF1: &str = "1.2.840.113549.1.1.8";
const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
/// DER contents of the secp384r1 OID (1.3.132.0.34).
const SECP384R1_OID_BYTES: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];

/// AMD VCEK/VLEK extension OIDs.
pub mod oid {
    /// `productName` (IA5String, e.g. `Milan-B0`).
    pub const PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
    /// `blSPL`: boot loader security patch level.
    pub const BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
    /// `teeSPL`.
    pub const TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
    /// `snpSPL`.
    pub const SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
    /// `ucodeSPL`.
    pub const UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
    /// `fmcSPL` (Turin and later).
    pub const FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
    /// `hwID`: the chip id the VCEK belongs to (64 bytes; 8 on Turin).
    pub const HW_ID: &str = "1.3.6.1.4.1.3704.1.4";
}

/// Why a certificate could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// DER or PEM could not be parsed.
    #[error("certificate {what} is malformed: {reason}")]
    Malformed {
        /// Which certificate.
        what: String,
        /// The parser's message.
        reason: String,
    },
    /// No endorsement key certificate for the report.
    #[error("no {0} certificate is available: send the envelope with the host's certificate table, or list the certificate in the policy's `certs`")]
    NoLeaf(&'static str),
    /// The leaf is a different kind of certificate than the report needs.
    #[error("certificate {subject:?} is not a {expected} certificate")]
    WrongLeafKind {
        /// The subject CN found.
        subject: String,
        /// What the report needs.
        expected: &'static str,
    },
    /// The certificate names an issuer of no known AMD product line.
    #[error("issuer {0:?} names no known AMD product line (Milan, Genoa, Turin)")]
    UnknownProduct(String),
    /// No intermediate (ASK/ASVK) certificate with the leaf's issuer name.
    #[error("no ASK/ASVK certificate named {0:?} is available to verify the endorsement key")]
    NoIntermediate(String),
    /// No trusted root with the intermediate's issuer name.
    #[error("{intermediate:?} is issued by {issuer:?}, which is not a trusted AMD root")]
    Untrusted {
        /// The intermediate's subject CN.
        intermediate: String,
        /// Its issuer CN.
        issuer: String,
    },
    /// The intermediate's issuer has the name of a trusted root, but no
    /// trusted root of that name signed it: a certificate copying AMD's
    /// name, whose chain does not lead to a trusted root.
    #[error(
        "{intermediate:?} is issued by {issuer:?}, which is not a trusted AMD root: a trusted root has that \
         name, but the signature of {intermediate:?} does not verify with its key"
    )]
    UntrustedSameName {
        /// The intermediate's subject CN.
        intermediate: String,
        /// Its issuer CN (the name of a trusted root).
        issuer: String,
    },
    /// The signature algorithm is not RSASSA-PSS SHA-384 / MGF1-SHA-384 / salt 48.
    #[error("certificate {subject:?} is signed with {found}, expected RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt")]
    SignatureAlgorithm {
        /// The certificate.
        subject: String,
        /// What it uses.
        found: String,
    },
    /// The signer's key is of the wrong type.
    #[error("certificate {subject:?} has a {found} key, expected {expected}")]
    KeyType {
        /// The certificate.
        subject: String,
        /// The key found.
        found: String,
        /// The key needed.
        expected: &'static str,
    },
    /// The signature does not verify.
    #[error("signature of {subject:?} does not verify with the key of {issuer:?}")]
    BadSignature {
        /// The signed certificate.
        subject: String,
        /// The signer.
        issuer: String,
    },
    /// The root is not self-signed.
    #[error("root {0:?} is not self-signed")]
    NotSelfSigned(String),
    /// A required AMD extension is missing or malformed.
    #[error("certificate {subject:?}: extension {name} ({oid}) {problem}")]
    Extension {
        /// The certificate.
        subject: String,
        /// Extension name (`blSPL`, `hwID`, ...).
        name: &'static str,
        /// Its OID.
        oid: &'static str,
        /// `is missing`, `is malformed`, ...
        problem: String,
    },
}

/// The public key of a certificate.
#[derive(Clone, Debug)]
enum CertKey {
    /// PKCS#1 RSAPublicKey.
    Rsa(Vec<u8>),
    /// Uncompressed P-384 point.
    P384(Vec<u8>),
    /// Anything else (named by its algorithm OID).
    Other(String),
}

impl CertKey {
    fn describe(&self) -> String {
        match self {
            Self::Rsa(_) => "RSA".into(),
            Self::P384(_) => "ECDSA P-384".into(),
            Self::Other(o) => format!("unsupported ({o})"),
        }
    }
}

/// The TCB and identity an AMD endorsement key certificate certifies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmdExtensions {
    /// `blSPL`.
    pub bootloader: Option<u8>,
    /// `teeSPL`.
    pub tee: Option<u8>,
    /// `snpSPL`.
    pub snp: Option<u8>,
    /// `ucodeSPL`.
    pub microcode: Option<u8>,
    /// `fmcSPL`.
    pub fmc: Option<u8>,
    /// `hwID`.
    pub hw_id: Option<Vec<u8>>,
    /// `productName`.
    pub product_name: Option<String>,
}

/// A certificate reduced to what the chain checks need, owned.
#[derive(Clone, Debug)]
pub struct ParsedCert {
    /// SHA-256 of the DER (cache key).
    pub sha256: [u8; 32],
    tbs: Vec<u8>,
    sig_alg_ok: Result<(), String>,
    signature: Vec<u8>,
    subject_raw: Vec<u8>,
    issuer_raw: Vec<u8>,
    /// Subject common name.
    pub subject_cn: String,
    /// Issuer common name.
    pub issuer_cn: String,
    /// `notBefore`, seconds since the Unix epoch.
    pub not_before: i64,
    /// `notAfter`, seconds since the Unix epoch.
    pub not_after: i64,
    key: CertKey,
    amd: Result<AmdExtensions, ChainError>,
}

fn cn_of(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .unwrap_or("")
        .to_string()
}

fn check_pss_sha384(alg: &AlgorithmIdentifier<'_>) -> Result<(), String> {
    let id = alg.algorithm.to_id_string();
    if id != OID_RSASSA_PSS {
        return Err(format!("algorithm {id}"));
    }
    match SignatureAlgorithm::try_from(alg) {
        Ok(SignatureAlgorithm::RSASSA_PSS(p)) => {
            let hash = p.hash_algorithm_oid().to_id_string();
            let mgf = p
                .mask_gen_algorithm()
                .map_err(|e| format!("RSASSA-PSS with a bad MGF: {e}"))?;
            let (mgf_id, mgf_hash) = (mgf.mgf.to_id_string(), mgf.hash.to_id_string());
            if hash != OID_SHA384 || mgf_id != OID_MGF1 || mgf_hash != OID_SHA384 {
                return Err(format!("RSASSA-PSS with hash {hash}, MGF {mgf_id}/{mgf_hash}"));
            }
            if p.salt_length() != 48 || p.trailer_field() != 1 {
                return Err(format!(
                    "RSASSA-PSS with salt length {} and trailer field {}",
                    p.salt_length(),
                    p.trailer_field()
                ));
            }
            Ok(())
        }
        _ => Err("RSASSA-PSS with malformed parameters".into()),
    }
}

/// A DER `INTEGER` in 0..=255 (how AMD encodes SPL values).
fn der_small_uint(v: &[u8]) -> Option<u8> {
    match v {
        [0x02, 0x01, x] if *x < 0x80 => Some(*x),
        [0x02, 0x02, 0x00, x] if *x >= 0x80 => Some(*x),
        _ => None,
    }
}

/// A DER `IA5String` or `UTF8String` shorter than 128 bytes.
fn der_short_string(v: &[u8]) -> Option<String> {
    match v {
        [0x16 | 0x0C, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => {
            String::from_utf8(rest.to_vec()).ok()
        }
        _ => None,
    }
}

fn parse_amd_extensions(subject: &str, exts: &[X509Extension<'_>]) -> Result<AmdExtensions, ChainError> {
    let mut out = AmdExtensions {
        bootloader: None,
        tee: None,
        snp: None,
        microcode: None,
        fmc: None,
        hw_id: None,
        product_name: None,
    };
    let bad = |name: &'static str, oid: &'static str, problem: &str| ChainError::Extension {
        subject: subject.to_string(),
        name,
        oid,
        problem: problem.to_string(),
    };
    for e in exts {
        let id = e.oid.to_id_string();
        let (name, oid, slot): (&'static str, &'static str, Option<&mut Option<u8>>) = match id.as_str() {
            oid::BL_SPL => ("blSPL", oid::BL_SPL, Some(&mut out.bootloader)),
            oid::TEE_SPL => ("teeSPL", oid::TEE_SPL, Some(&mut out.tee)),
            oid::SNP_SPL => ("snpSPL", oid::SNP_SPL, Some(&mut out.snp)),
            oid::UCODE_SPL => ("ucodeSPL", oid::UCODE_SPL, Some(&mut out.microcode)),
            oid::FMC_SPL => ("fmcSPL", oid::FMC_SPL, Some(&mut out.fmc)),
            oid::HW_ID => {
                if out.hw_id.is_some() {
                    return Err(bad("hwID", oid::HW_ID, "appears twice"));
                }
                if e.value.is_empty() || e.value.len() > 64 {
                    return Err(bad("hwID", oid::HW_ID, "is not 1 to 64 bytes"));
                }
                out.hw_id = Some(e.value.to_vec());
                continue;
            }
            oid::PRODUCT_NAME => {
                if out.product_name.is_some() {
                    return Err(bad("productName", oid::PRODUCT_NAME, "appears twice"));
                }
                out.product_name = Some(
                    der_short_string(e.value).ok_or_else(|| bad("productName", oid::PRODUCT_NAME, "is malformed"))?,
                );
                continue;
            }
            _ => continue,
        };
        let slot = slot.expect("SPL arms carry a slot");
        if slot.is_some() {
            return Err(bad(name, oid, "appears twice"));
        }
        *slot = Some(der_small_uint(e.value).ok_or_else(|| bad(name, oid, "is not a DER INTEGER in 0..=255"))?);
    }
    Ok(out)
}

impl ParsedCert {
    /// Parses one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, ChainError> {
        let malformed = |reason: String| ChainError::Malformed {
            what: "(DER)".into(),
            reason,
        };
        // Standard extensions are not needed: only the AMD ones, parsed below.
        let (rest, x) = X509CertificateParser::new()
            .with_deep_parse_extensions(false)
            .parse(der)
            .map_err(|e| malformed(e.to_string()))?;
        if !rest.is_empty() {
            return Err(malformed(format!(
                "{} trailing bytes after the certificate",
                rest.len()
            )));
        }
        let subject_cn = cn_of(x.subject());
        let issuer_cn = cn_of(x.issuer());
        let inner = &x.tbs_certificate.signature;
        let outer = &x.signature_algorithm;
        let sig_alg_ok = if inner.algorithm != outer.algorithm
            || inner.parameters.as_ref().map(|p| p.data) != outer.parameters.as_ref().map(|p| p.data)
        {
            Err("different algorithms inside and outside tbsCertificate".to_string())
        } else {
            check_pss_sha384(outer)
        };
        let spki = x.public_key();
        let key_alg = spki.algorithm.algorithm.to_id_string();
        let key = match key_alg.as_str() {
            OID_RSA_ENCRYPTION | OID_RSASSA_PSS => CertKey::Rsa(spki.subject_public_key.data.to_vec()),
            OID_EC_PUBLIC_KEY
                if spki.algorithm.parameters.as_ref().is_some_and(|p| {
                    p.header.tag() == x509_parser::der_parser::asn1_rs::Tag::Oid && p.data == SECP384R1_OID_BYTES
                }) =>
            {
                CertKey::P384(spki.subject_public_key.data.to_vec())
            }
            other => CertKey::Other(other.to_string()),
        };
        let amd = parse_amd_extensions(&subject_cn, x.extensions());
        Ok(Self {
            sha256: sha256(der),
            tbs: x.tbs_certificate.as_ref().to_vec(),
            sig_alg_ok,
            signature: x.signature_value.data.to_vec(),
            subject_raw: x.subject().as_raw().to_vec(),
            issuer_raw: x.issuer().as_raw().to_vec(),
            subject_cn,
            issuer_cn,
            not_before: x.validity().not_before.timestamp(),
            not_after: x.validity().not_after.timestamp(),
            key,
            amd,
        })
    }

    /// Whether subject and issuer are the same name.
    pub fn is_self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// The role AMD gives this certificate, from its names.
    pub fn role(&self) -> CertRole {
        if self.is_self_issued() {
            CertRole::Ark
        } else if self.subject_cn == "SEV-VCEK" {
            CertRole::Vcek
        } else if self.subject_cn == "SEV-VLEK" {
            CertRole::Vlek
        } else {
            CertRole::Intermediate
        }
    }

    /// The AMD extensions, or why they are unusable.
    pub fn amd_extensions(&self) -> Result<&AmdExtensions, ChainError> {
        self.amd.as_ref().map_err(Clone::clone)
    }

    /// For an endorsement key certificate: its kind, the product line its
    /// issuer names and the TCB it certifies (not verified: the chain is
    /// [`TrustStore::verify_leaf`]'s job).
    pub fn endorsement(&self) -> Result<(LeafKind, Product, Tcb), ChainError> {
        let kind = match self.role() {
            CertRole::Vcek => LeafKind::Vcek,
            CertRole::Vlek => LeafKind::Vlek,
            _ => {
                return Err(ChainError::WrongLeafKind {
                    subject: self.subject_cn.clone(),
                    expected: "VCEK or VLEK",
                })
            }
        };
        let (product, issuer_kind) =
            intermediate_product(&self.issuer_cn).ok_or_else(|| ChainError::UnknownProduct(self.issuer_cn.clone()))?;
        if issuer_kind != kind {
            return Err(ChainError::WrongLeafKind {
                subject: format!("{} issued by {}", self.subject_cn, self.issuer_cn),
                expected: kind.name(),
            });
        }
        Ok((kind, product, certified_tcb(self, product, kind)?))
    }

    /// Verifies that `issuer`'s key signed this certificate (signature only:
    /// names are [`Self::verify_issued_by`]'s job).
    pub fn verify_signature_by(&self, issuer: &ParsedCert) -> Result<(), ChainError> {
        self.sig_alg_ok
            .clone()
            .map_err(|found| ChainError::SignatureAlgorithm {
                subject: self.subject_cn.clone(),
                found,
            })?;
        let CertKey::Rsa(key) = &issuer.key else {
            return Err(ChainError::KeyType {
                subject: issuer.subject_cn.clone(),
                found: issuer.key.describe(),
                expected: "RSA",
            });
        };
        UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA384, key)
            .verify(&self.tbs, &self.signature)
            .map_err(|_| ChainError::BadSignature {
                subject: self.subject_cn.clone(),
                issuer: issuer.subject_cn.clone(),
            })
    }

    /// Verifies that this certificate is self-signed (a root): its
    /// signature verifies with its own key, else [`ChainError::NotSelfSigned`].
    pub fn verify_self_signed(&self) -> Result<(), ChainError> {
        self.verify_issued_by(self).map_err(|e| match e {
            ChainError::BadSignature { .. } => ChainError::NotSelfSigned(self.subject_cn.clone()),
            other => other,
        })
    }

    /// Verifies that `issuer` issued this certificate: names match and the
    /// signature verifies.
    pub fn verify_issued_by(&self, issuer: &ParsedCert) -> Result<(), ChainError> {
        if self.issuer_raw != issuer.subject_raw {
            return Err(ChainError::BadSignature {
                subject: self.subject_cn.clone(),
                issuer: issuer.subject_cn.clone(),
            });
        }
        self.verify_signature_by(issuer)
    }
}

/// What a certificate is in the AMD hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CertRole {
    /// AMD Root Key (self-signed).
    Ark,
    /// ASK or ASVK (issued by the ARK).
    Intermediate,
    /// Versioned Chip Endorsement Key.
    Vcek,
    /// Versioned Loaded Endorsement Key.
    Vlek,
}

/// What [`TrustStore::add_der`] did with a certificate.
#[derive(Clone, Debug)]
pub enum Added {
    /// Added as an intermediate or an endorsement key certificate.
    Role(CertRole),
    /// A self-signed certificate: not added (never a trust anchor from
    /// [`TrustStore::add_der`]); here for the caller to report.
    SelfSigned(Box<ParsedCert>),
}

/// Which endorsement key a report names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeafKind {
    /// VCEK (issued by the ASK `SEV-<product>`).
    Vcek,
    /// VLEK (issued by the ASVK `SEV-VLEK-<product>`).
    Vlek,
}

impl LeafKind {
    /// `VCEK` / `VLEK`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        }
    }
}

/// Product line and leaf kind from an intermediate's name (`SEV-Milan` issues
/// VCEKs, `SEV-VLEK-Milan` VLEKs).
fn intermediate_product(cn: &str) -> Option<(Product, LeafKind)> {
    let rest = cn.strip_prefix("SEV-")?;
    match rest.strip_prefix("VLEK-") {
        Some(p) => Product::from_name(p).map(|p| (p, LeafKind::Vlek)),
        None => Product::from_name(rest).map(|p| (p, LeafKind::Vcek)),
    }
}

/// A verified ARK -> intermediate pair.
#[derive(Debug)]
struct VerifiedIssuer {
    ark_cn: String,
    ark_sha256: [u8; 32],
    cert: Arc<ParsedCert>,
    /// Intersection of the ARK's and the intermediate's validity.
    window: (i64, i64),
}

/// An endorsement key whose chain to a trusted AMD root verified.
/// Time validity is not part of it: check [`VerifiedLeaf::valid_at`] with
/// the appraisal time.
pub struct VerifiedLeaf {
    /// VCEK or VLEK.
    pub kind: LeafKind,
    /// Product line of the chain.
    pub product: Product,
    /// The TCB the certificate certifies.
    pub tcb: Tcb,
    /// `hwID` (VCEK only).
    pub hw_id: Option<Vec<u8>>,
    /// `productName`.
    pub product_name: Option<String>,
    /// Root CN (`ARK-Milan`): the name its maker chose, so not an
    /// identity on its own (see [`VerifiedLeaf::root_sha256`]).
    pub root: String,
    /// SHA-256 of the root's DER: which trust anchor vouched for the chain.
    pub root_sha256: [u8; 32],
    /// Intermediate CN (`SEV-Milan`).
    pub intermediate: String,
    /// SHA-256 of the leaf DER, hex.
    pub fingerprint: String,
    /// Validity of the whole chain (latest notBefore, earliest notAfter).
    pub window: (i64, i64),
    key: ParsedPublicKey,
}

impl std::fmt::Debug for VerifiedLeaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedLeaf")
            .field("kind", &self.kind)
            .field("product", &self.product)
            .field("tcb", &self.tcb)
            .field("root", &self.root)
            .field("root_sha256", &hex::encode(self.root_sha256))
            .field("fingerprint", &self.fingerprint)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl VerifiedLeaf {
    /// Whether every certificate of the chain is valid at `t` (Unix seconds).
    pub fn valid_at(&self, t: i64) -> bool {
        self.window.0 <= t && t <= self.window.1
    }

    /// Verifies an ECDSA P-384 / SHA-384 signature (fixed `r || s`) with
    /// the endorsement key.
    pub fn verify_p384(&self, msg: &[u8], sig_fixed: &[u8]) -> bool {
        self.key.verify_sig(msg, sig_fixed).is_ok()
    }
}

/// Default capacity of [`ChainCache`].
pub const DEFAULT_CACHE_CAPACITY: usize = 256;

#[derive(Default)]
struct CacheInner {
    leaves: HashMap<[u8; 32], Arc<VerifiedLeaf>>,
    leaf_order: VecDeque<[u8; 32]>,
    issuers: HashMap<[u8; 32], Arc<VerifiedIssuer>>,
    issuer_order: VecDeque<[u8; 32]>,
}

fn insert_bounded<V>(map: &mut HashMap<[u8; 32], V>, order: &mut VecDeque<[u8; 32]>, cap: usize, k: [u8; 32], v: V) {
    if map.insert(k, v).is_none() {
        order.push_back(k);
        while map.len() > cap {
            match order.pop_front() {
                Some(old) => {
                    map.remove(&old);
                }
                None => break,
            }
        }
    }
}

/// Verified chains, keyed by the SHA-256 of the endorsement key's DER, and
/// verified ARK -> ASK pairs, keyed by the intermediate's. Only successful
/// verifications are stored, never time checks. Bounded: the oldest entry
/// goes first.
pub struct ChainCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
}

impl std::fmt::Debug for ChainCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainCache")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

impl Default for ChainCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_CAPACITY)
    }
}

impl ChainCache {
    /// A cache holding at most `capacity` chains (and as many issuer pairs).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(CacheInner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // A panic while holding the lock cannot leave a half-inserted entry
        // that matters (entries are inserted whole), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of cached endorsement-key chains.
    pub fn len(&self) -> usize {
        self.lock().leaves.len()
    }

    /// Whether no chain is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut g = self.lock();
        *g = CacheInner::default();
    }

    /// Whether the chain of the endorsement key with this DER is cached.
    pub fn contains(&self, leaf_der: &[u8]) -> bool {
        self.lock().leaves.contains_key(&sha256(leaf_der))
    }

    fn leaf(&self, k: &[u8; 32]) -> Option<Arc<VerifiedLeaf>> {
        self.lock().leaves.get(k).cloned()
    }

    fn put_leaf(&self, k: [u8; 32], v: Arc<VerifiedLeaf>) {
        let mut g = self.lock();
        let g = &mut *g;
        insert_bounded(&mut g.leaves, &mut g.leaf_order, self.capacity, k, v);
    }

    fn issuer(&self, k: &[u8; 32]) -> Option<Arc<VerifiedIssuer>> {
        self.lock().issuers.get(k).cloned()
    }

    fn put_issuer(&self, k: [u8; 32], v: Arc<VerifiedIssuer>) {
        let mut g = self.lock();
        let g = &mut *g;
        insert_bounded(&mut g.issuers, &mut g.issuer_order, self.capacity, k, v);
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data).as_ref());
    out
}

/// The trust anchors and known certificates of one verifier.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    /// Trusted roots (ARKs).
    arks: Vec<Arc<ParsedCert>>,
    /// Intermediates that may be used (ASK/ASVK): verified against an ARK
    /// before use.
    intermediates: Vec<Arc<ParsedCert>>,
    /// Endorsement key certificates supplied out of band, with their DER.
    leaves: Vec<(Arc<ParsedCert>, Arc<[u8]>)>,
}

impl TrustStore {
    /// An empty store (trusts nothing).
    pub fn empty() -> Self {
        Self::default()
    }

    /// Trusts `ark` as a root.
    pub fn add_root(&mut self, ark: ParsedCert) -> Result<(), ChainError> {
        if !ark.is_self_issued() {
            return Err(ChainError::NotSelfSigned(ark.subject_cn));
        }
        if !self.arks.iter().any(|a| a.sha256 == ark.sha256) {
            self.arks.push(Arc::new(ark));
        }
        Ok(())
    }

    /// Adds a chain candidate intermediate (ASK/ASVK). It is only used
    /// after it verified against a trusted root.
    pub fn add_intermediate(&mut self, c: ParsedCert) {
        if !self.intermediates.iter().any(|i| i.sha256 == c.sha256) {
            self.intermediates.push(Arc::new(c));
        }
    }

    /// Whether any root is trusted.
    pub fn has_roots(&self) -> bool {
        !self.arks.is_empty()
    }

    /// Whether a root with this DER hash is trusted.
    pub fn trusts_root(&self, sha256: &[u8; 32]) -> bool {
        self.arks.iter().any(|a| a.sha256 == *sha256)
    }

    /// Adds a certificate that is *not* a trust anchor, by its role:
    /// intermediates become chain candidates (used only once they verify
    /// against a trusted root), VCEK/VLEK endorsement keys are kept to
    /// check raw reports with. A self-signed certificate (an ARK) is
    /// never trusted from here, since whoever supplied the file would
    /// then choose the root: it is left out and returned as
    /// [`Added::SelfSigned`] for the caller to report. Roots are added
    /// only with [`TrustStore::add_root`].
    pub fn add_der(&mut self, der: &[u8]) -> Result<Added, ChainError> {
        let c = ParsedCert::from_der(der)?;
        let role = c.role();
        match role {
            CertRole::Ark => return Ok(Added::SelfSigned(Box::new(c))),
            CertRole::Intermediate => self.add_intermediate(c),
            CertRole::Vcek | CertRole::Vlek => {
                if !self.leaves.iter().any(|(l, _)| l.sha256 == c.sha256) {
                    self.leaves.push((Arc::new(c), Arc::from(der)));
                }
            }
        }
        Ok(Added::Role(role))
    }

    /// Endorsement key certificates of `kind` supplied out of band.
    pub fn leaves(&self, kind: LeafKind) -> impl Iterator<Item = (&ParsedCert, &[u8])> {
        let want = match kind {
            LeafKind::Vcek => CertRole::Vcek,
            LeafKind::Vlek => CertRole::Vlek,
        };
        self.leaves
            .iter()
            .filter(move |(c, _)| c.role() == want)
            .map(|(c, d)| (&**c, &**d))
    }

    /// Verifies `inter` against the trusted roots (ARK self-signature and
    /// ARK -> intermediate), using the cache.
    fn verify_intermediate(
        &self,
        inter: &Arc<ParsedCert>,
        cache: &ChainCache,
    ) -> Result<Arc<VerifiedIssuer>, ChainError> {
        if let Some(v) = cache.issuer(&inter.sha256) {
            return Ok(v);
        }
        let mut err = ChainError::Untrusted {
            intermediate: inter.subject_cn.clone(),
            issuer: inter.issuer_cn.clone(),
        };
        // Whether every trusted root of the issuer's name (if any) was
        // refused only because it did not sign `inter`: then the name was
        // copied, and the refusal says the chain has no trusted root.
        let mut only_signatures_failed = true;
        for ark in self.arks.iter().filter(|a| a.subject_raw == inter.issuer_raw) {
            let r = ark.verify_self_signed().and_then(|()| inter.verify_issued_by(ark));
            match r {
                Ok(()) => {
                    let v = Arc::new(VerifiedIssuer {
                        ark_cn: ark.subject_cn.clone(),
                        ark_sha256: ark.sha256,
                        cert: inter.clone(),
                        window: (ark.not_before.max(inter.not_before), ark.not_after.min(inter.not_after)),
                    });
                    cache.put_issuer(inter.sha256, v.clone());
                    return Ok(v);
                }
                Err(e) => {
                    let signed_by_other =
                        matches!(&e, ChainError::BadSignature { subject, .. } if *subject == inter.subject_cn);
                    only_signatures_failed &= signed_by_other;
                    err = e;
                }
            }
        }
        if only_signatures_failed && matches!(err, ChainError::BadSignature { .. }) {
            err = ChainError::UntrustedSameName {
                intermediate: inter.subject_cn.clone(),
                issuer: inter.issuer_cn.clone(),
            };
        }
        Err(err)
    }

    /// Verifies the chain of the endorsement key `leaf_der` (trusted root ->
    /// intermediate -> leaf). Intermediates come from `extra` (e.g. the
    /// ASK in the Evidence's certificate table) and from this store. The
    /// result is cached by the SHA-256 of `leaf_der`; a cached chain costs
    /// one hash and one lookup.
    pub fn verify_leaf(
        &self,
        leaf_der: &[u8],
        extra: &[&[u8]],
        cache: &ChainCache,
    ) -> Result<Arc<VerifiedLeaf>, ChainError> {
        let cache_key = sha256(leaf_der);
        if let Some(v) = cache.leaf(&cache_key) {
            return Ok(v);
        }
        let leaf = ParsedCert::from_der(leaf_der).map_err(|e| match e {
            ChainError::Malformed { reason, .. } => ChainError::Malformed {
                what: "endorsement key (VCEK/VLEK)".into(),
                reason,
            },
            other => other,
        })?;
        let (kind, product, tcb) = leaf.endorsement()?;
        if !matches!(leaf.key, CertKey::P384(_)) {
            return Err(ChainError::KeyType {
                subject: leaf.subject_cn.clone(),
                found: leaf.key.describe(),
                expected: "ECDSA P-384",
            });
        }

        let mut candidates: Vec<Arc<ParsedCert>> = Vec::new();
        for der in extra {
            // Usually the Evidence's ASK is a known one: skip parsing it.
            let h = sha256(der);
            if self.intermediates.iter().any(|i| i.sha256 == h) {
                continue;
            }
            // An unparseable certificate from the Evidence is not fatal on
            // its own: another candidate may chain.
            if let Ok(c) = ParsedCert::from_der(der) {
                if c.subject_raw == leaf.issuer_raw && !candidates.iter().any(|x| x.sha256 == c.sha256) {
                    candidates.push(Arc::new(c));
                }
            }
        }
        for c in &self.intermediates {
            if c.subject_raw == leaf.issuer_raw && !candidates.iter().any(|x| x.sha256 == c.sha256) {
                candidates.push(c.clone());
            }
        }
        let mut err = ChainError::NoIntermediate(leaf.issuer_cn.clone());
        // When one candidate's chain ends at an untrusted root and another
        // (a trusted intermediate of the same name) did not sign the leaf,
        // the first says what is wrong: the chain has no trusted root.
        let keep = |old: &ChainError, new: ChainError| -> Option<ChainError> {
            let no_root =
                |e: &ChainError| matches!(e, ChainError::Untrusted { .. } | ChainError::UntrustedSameName { .. });
            (!no_root(old) || no_root(&new)).then_some(new)
        };
        for inter in &candidates {
            let issuer = match self.verify_intermediate(inter, cache) {
                Ok(i) => i,
                Err(e) => {
                    if let Some(e) = keep(&err, e) {
                        err = e;
                    }
                    continue;
                }
            };
            if let Err(e) = leaf.verify_issued_by(&issuer.cert) {
                if let Some(e) = keep(&err, e) {
                    err = e;
                }
                continue;
            }
            let CertKey::P384(point) = &leaf.key else {
                unreachable!("checked above")
            };
            let key =
                ParsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point).map_err(|e| ChainError::KeyType {
                    subject: leaf.subject_cn.clone(),
                    found: format!("invalid P-384 point ({e})"),
                    expected: "ECDSA P-384",
                })?;
            let amd = leaf.amd_extensions()?;
            let v = Arc::new(VerifiedLeaf {
                kind,
                product,
                tcb,
                hw_id: amd.hw_id.clone(),
                product_name: amd.product_name.clone(),
                root: issuer.ark_cn.clone(),
                root_sha256: issuer.ark_sha256,
                intermediate: issuer.cert.subject_cn.clone(),
                fingerprint: hex::encode(cache_key),
                window: (
                    issuer.window.0.max(leaf.not_before),
                    issuer.window.1.min(leaf.not_after),
                ),
                key,
            });
            cache.put_leaf(cache_key, v.clone());
            return Ok(v);
        }
        Err(err)
    }
}

/// The TCB certified by an endorsement key certificate.
fn certified_tcb(leaf: &ParsedCert, product: Product, kind: LeafKind) -> Result<Tcb, ChainError> {
    let amd = leaf.amd_extensions()?;
    let need = |v: Option<u8>, name: &'static str, oid: &'static str| {
        v.ok_or_else(|| ChainError::Extension {
            subject: leaf.subject_cn.clone(),
            name,
            oid,
            problem: "is missing".into(),
        })
    };
    let fmc = match product {
        Product::Turin => Some(need(amd.fmc, "fmcSPL", oid::FMC_SPL)?),
        Product::Milan | Product::Genoa => None,
    };
    if kind == LeafKind::Vcek && amd.hw_id.is_none() {
        return Err(ChainError::Extension {
            subject: leaf.subject_cn.clone(),
            name: "hwID",
            oid: oid::HW_ID,
            problem: "is missing".into(),
        });
    }
    Ok(Tcb {
        fmc,
        bootloader: need(amd.bootloader, "blSPL", oid::BL_SPL)?,
        tee: need(amd.tee, "teeSPL", oid::TEE_SPL)?,
        snp: need(amd.snp, "snpSPL", oid::SNP_SPL)?,
        microcode: need(amd.microcode, "ucodeSPL", oid::UCODE_SPL)?,
    })
}

/// Splits PEM text or a DER certificate into DER certificates.
pub fn certs_from_bytes(bytes: &[u8], what: &str) -> Result<Vec<Vec<u8>>, ChainError> {
    let malformed = |reason: String| ChainError::Malformed {
        what: what.to_string(),
        reason,
    };
    let trimmed = bytes.trim_ascii_start();
    if trimmed.starts_with(b"-----BEGIN") {
        let mut out = Vec::new();
        for pem in Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| malformed(format!("PEM: {e}")))?;
            if pem.label == "CERTIFICATE" {
                out.push(pem.contents);
            }
        }
        if out.is_empty() {
            return Err(malformed("no CERTIFICATE block in PEM".into()));
        }
        Ok(out)
    } else {
        Ok(vec![bytes.to_vec()])
    }
}

/// A DER certificate and the file it came from.
pub type LoadedCert = (PathBuf, Vec<u8>);

/// Extensions of files read from a certificate directory.
const CERT_EXTENSIONS: [&str; 4] = ["pem", "der", "crt", "cer"];

/// Reads certificates from files (PEM, possibly several per file, or DER)
/// and directories (their `*.pem`, `*.der`, `*.crt`, `*.cer` files, not
/// recursively, in name order).
pub fn load_cert_paths(paths: &[PathBuf]) -> Result<Vec<LoadedCert>, (PathBuf, String)> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| (p.clone(), e.to_string()))?;
        let files: Vec<PathBuf> = if meta.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| (p.clone(), e.to_string()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.is_file()
                        && f.extension()
                            .and_then(|e| e.to_str())
                            .is_some_and(|e| CERT_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
                })
                .collect();
            v.sort();
            v
        } else {
            vec![p.clone()]
        };
        for f in files {
            let bytes = crate::fsutil::read_bounded(&f, crate::fsutil::MAX_BUNDLE_FILE_LEN)
                .map_err(|e| (f.clone(), e.to_string()))?;
            let ders = certs_from_bytes(&bytes, &display(&f)).map_err(|e| (f.clone(), e.to_string()))?;
            out.extend(ders.into_iter().map(|d| (f.clone(), d)));
        }
    }
    Ok(out)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_der_values() {
        assert_eq!(der_small_uint(&[2, 1, 0x73]), Some(115));
        assert_eq!(der_small_uint(&[2, 2, 0, 0xc8]), Some(200));
        assert_eq!(der_small_uint(&[2, 1, 0x80]), None); // negative
        assert_eq!(der_small_uint(&[2, 2, 0, 0x10]), None); // not minimal
        assert_eq!(der_small_uint(&[4, 1, 1]), None);
        assert_eq!(der_short_string(b"\x16\x05Turin").as_deref(), Some("Turin"));
        assert_eq!(der_short_string(b"\x16\x06Turin"), None);
    }

    #[test]
    fn intermediate_names() {
        assert_eq!(
            intermediate_product("SEV-Milan"),
            Some((Product::Milan, LeafKind::Vcek))
        );
        assert_eq!(
            intermediate_product("SEV-VLEK-Turin"),
            Some((Product::Turin, LeafKind::Vlek))
        );
        assert_eq!(intermediate_product("ARK-Milan"), None);
        assert_eq!(intermediate_product("SEV-Rome"), None);
    }

    #[test]
    fn cache_is_bounded_fifo() {
        let mut m = HashMap::new();
        let mut o = VecDeque::new();
        for i in 0..5u8 {
            insert_bounded(&mut m, &mut o, 3, [i; 32], i);
        }
        assert_eq!(m.len(), 3);
        assert!(!m.contains_key(&[0; 32]) && !m.contains_key(&[1; 32]));
        assert!(m.contains_key(&[4; 32]));
    }
}
