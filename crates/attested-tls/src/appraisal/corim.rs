//! Import of reference values from a CoRIM (draft-ietf-rats-corim).
//!
//! Supported subset (see `docs/corim.md`):
//!
//! - unsigned CoRIM: `#6.501({0: id, 1: [+ #6.506(bstr .cbor concise-mid-tag)], ...})`
//!   (a tag 506 directly wrapping the CoMID map, as in older drafts, is
//!   accepted too; CoSWID / CoTL tags are skipped);
//! - COSE-signed CoRIM: `#6.18(COSE_Sign1)` whose payload is the tagged
//!   unsigned CoRIM, verified with a key the user provides (ES256, ES384,
//!   ES512 or EdDSA); refused if it does not verify;
//! - from every CoMID, the reference triples (`triples` key 4 ->
//!   `reference-triples` key 0): environment class (class id, vendor,
//!   model, layer, index), instance and group, and per measurement its
//!   label (`mkey`, or `name` when there is none), digests, raw value, SVN
//!   and integrity registers.
//!
//! Endorsed values, attestation keys, conditional endorsements, validity
//! periods and entities are not interpreted.

use std::collections::BTreeMap;

use aws_lc_rs::signature;
use base64::Engine;
use ciborium::value::Value;
use coset::{iana, CoseSign1, RegisteredLabelWithPrivate, TaggedCborSerializable};

/// CBOR tag of an unsigned CoRIM.
pub const CORIM_TAG: u64 = 501;
/// CBOR tag of a CoMID inside a CoRIM.
pub const COMID_TAG: u64 = 506;
/// CBOR tag of a COSE_Sign1 (signed CoRIM).
pub const COSE_SIGN1_TAG: u64 = 18;
/// Largest CoRIM accepted, checked before decoding.
pub const MAX_CORIM_LEN: usize = 1024 * 1024;
/// Most reference values imported from one CoRIM.
pub const MAX_ENTRIES: usize = 10_000;

/// Why a CoRIM (or a key to verify one) could not be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CorimError {
    /// The input is larger than accepted.
    #[error("CoRIM is {len} bytes, more than the {max} accepted")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not well-formed CBOR.
    #[error("{what} is not well-formed CBOR: {reason}")]
    Cbor {
        /// What was being decoded.
        what: &'static str,
        /// Decoder message.
        reason: String,
    },
    /// Well-formed CBOR, but not the CoRIM structure.
    #[error("{at}: {reason}")]
    Structure {
        /// Where (e.g. `corim.tags[0].triples`).
        at: String,
        /// What was wrong.
        reason: String,
    },
    /// The CoRIM is signed but no key was given.
    #[error("the CoRIM is signed (COSE_Sign1) but no key to verify it was given")]
    KeyRequired,
    /// Keys were given but the CoRIM is unsigned.
    #[error("the CoRIM is unsigned but a signed CoRIM was required (verification keys were given)")]
    Unsigned,
    /// The signature did not verify with any of the keys.
    #[error("the CoRIM signature does not verify: {0}")]
    Signature(String),
    /// A verification key could not be parsed.
    #[error("verification key: {0}")]
    Key(String),
}

fn st(at: impl Into<String>, reason: impl Into<String>) -> CorimError {
    CorimError::Structure {
        at: at.into(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------
// Keys

/// A public key that verifies COSE (CoRIM) or JWS (EAR) signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerificationKey {
    /// ECDSA P-256 (ES256), uncompressed point.
    P256(Vec<u8>),
    /// ECDSA P-384 (ES384), uncompressed point.
    P384(Vec<u8>),
    /// ECDSA P-521 (ES512), uncompressed point.
    P521(Vec<u8>),
    /// Ed25519 (EdDSA), 32-byte public key.
    Ed25519(Vec<u8>),
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";
const OID_ED25519: &str = "1.3.101.112";

impl VerificationKey {
    /// From a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, CorimError> {
        use x509_parser::prelude::FromDer;
        let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| CorimError::Key(format!("not a SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(CorimError::Key("trailing bytes after the SubjectPublicKeyInfo".into()));
        }
        let alg = spki.algorithm.algorithm.to_id_string();
        let key = spki.subject_public_key.data.to_vec();
        match alg.as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .ok_or_else(|| CorimError::Key("EC key without a named curve".into()))?;
                match curve.as_str() {
                    OID_P256 => Self::ec(Self::P256, key, 65),
                    OID_P384 => Self::ec(Self::P384, key, 97),
                    OID_P521 => Self::ec(Self::P521, key, 133),
                    c => Err(CorimError::Key(format!("unsupported EC curve {c}"))),
                }
            }
            OID_ED25519 if key.len() == 32 => Ok(Self::Ed25519(key)),
            OID_ED25519 => Err(CorimError::Key(format!("Ed25519 key of {} bytes", key.len()))),
            a => Err(CorimError::Key(format!("unsupported key algorithm {a}"))),
        }
    }

    fn ec(make: fn(Vec<u8>) -> Self, point: Vec<u8>, len: usize) -> Result<Self, CorimError> {
        if point.len() != len || point[0] != 0x04 {
            return Err(CorimError::Key(format!(
                "EC point must be uncompressed and {len} bytes, got {}",
                point.len()
            )));
        }
        Ok(make(point))
    }

    /// From a PEM `PUBLIC KEY` (SubjectPublicKeyInfo).
    pub fn from_pem(pem: &[u8]) -> Result<Self, CorimError> {
        use rustls::pki_types::pem::PemObject;
        let der = rustls::pki_types::SubjectPublicKeyInfoDer::from_pem_slice(pem)
            .map_err(|e| CorimError::Key(format!("no PEM PUBLIC KEY: {e}")))?;
        Self::from_spki_der(der.as_ref())
    }

    /// From a JWK (`kty` EC with P-256/P-384/P-521, or OKP with Ed25519).
    pub fn from_jwk(json: &str) -> Result<Self, CorimError> {
        let v: serde_json::Value =
            serde_json::from_str(json).map_err(|e| CorimError::Key(format!("JWK is not JSON: {e}")))?;
        let field = |n: &str| {
            v.get(n)
                .and_then(|x| x.as_str())
                .ok_or_else(|| CorimError::Key(format!("JWK lacks the string member {n:?}")))
        };
        let b64 = |n: &str| -> Result<Vec<u8>, CorimError> {
            let s = field(n)?;
            if s.len() > 256 {
                return Err(CorimError::Key(format!("JWK {n} is too long")));
            }
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s.trim_end_matches('='))
                .map_err(|e| CorimError::Key(format!("JWK {n} is not base64url: {e}")))
        };
        match (field("kty")?, field("crv")?) {
            ("OKP", "Ed25519") => {
                let x = b64("x")?;
                if x.len() != 32 {
                    return Err(CorimError::Key(format!("Ed25519 JWK x is {} bytes", x.len())));
                }
                Ok(Self::Ed25519(x))
            }
            ("EC", crv) => {
                let (make, l): (fn(Vec<u8>) -> Self, usize) = match crv {
                    "P-256" => (Self::P256, 32),
                    "P-384" => (Self::P384, 48),
                    "P-521" => (Self::P521, 66),
                    c => return Err(CorimError::Key(format!("unsupported JWK curve {c:?}"))),
                };
                let (x, y) = (b64("x")?, b64("y")?);
                if x.len() != l || y.len() != l {
                    return Err(CorimError::Key(format!("{crv} JWK coordinates must be {l} bytes")));
                }
                let mut p = vec![0x04];
                p.extend_from_slice(&x);
                p.extend_from_slice(&y);
                Ok(make(p))
            }
            (k, c) => Err(CorimError::Key(format!("unsupported JWK kty {k:?} / crv {c:?}"))),
        }
    }

    /// PEM if the bytes contain `-----BEGIN`, otherwise JWK.
    pub fn from_pem_or_jwk(bytes: &[u8]) -> Result<Self, CorimError> {
        if bytes.windows(10).any(|w| w == b"-----BEGIN") {
            Self::from_pem(bytes)
        } else {
            let text = std::str::from_utf8(bytes).map_err(|_| CorimError::Key("neither PEM nor UTF-8 JWK".into()))?;
            Self::from_jwk(text)
        }
    }

    /// The JOSE `alg` this key verifies (`ES256`, `ES384`, `ES512`, `EdDSA`).
    pub const fn jose_alg(&self) -> &'static str {
        match self {
            Self::P256(_) => "ES256",
            Self::P384(_) => "ES384",
            Self::P521(_) => "ES512",
            Self::Ed25519(_) => "EdDSA",
        }
    }

    const fn cose_alg(&self) -> iana::Algorithm {
        match self {
            Self::P256(_) => iana::Algorithm::ES256,
            Self::P384(_) => iana::Algorithm::ES384,
            Self::P521(_) => iana::Algorithm::ES512,
            Self::Ed25519(_) => iana::Algorithm::EdDSA,
        }
    }

    /// Verifies a raw signature (ECDSA as `r || s`, RFC 7518 / RFC 9053).
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), CorimError> {
        let (alg, key): (&dyn signature::VerificationAlgorithm, &[u8]) = match self {
            Self::P256(k) => (&signature::ECDSA_P256_SHA256_FIXED, k),
            Self::P384(k) => (&signature::ECDSA_P384_SHA384_FIXED, k),
            Self::P521(k) => (&signature::ECDSA_P521_SHA512_FIXED, k),
            Self::Ed25519(k) => (&signature::ED25519, k),
        };
        alg.verify_sig(key, message, sig)
            .map_err(|_| CorimError::Signature(format!("bad {} signature", self.jose_alg())))
    }

    fn verify_sign1(&self, s: &CoseSign1) -> Result<(), CorimError> {
        // RFC 9052 §3.1: a recipient must refuse critical header parameters
        // it does not process; this verifier processes none beyond `alg`.
        if !s.protected.header.crit.is_empty() {
            return Err(CorimError::Signature(format!(
                "protected header marks {:?} as critical; no critical parameter is supported",
                s.protected.header.crit
            )));
        }
        match &s.protected.header.alg {
            Some(RegisteredLabelWithPrivate::Assigned(a)) if *a == self.cose_alg() => {}
            other => {
                return Err(CorimError::Signature(format!(
                    "COSE algorithm {other:?} does not match the {} key",
                    self.jose_alg()
                )))
            }
        }
        s.verify_signature(b"", |sig, tbs| self.verify(tbs, sig))
    }
}

// ---------------------------------------------------------------------------
// Model

/// The environment a reference value applies to (CoMID `environment-map`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Environment {
    /// `class.class-id` (`oid:..`, `uuid:..` or hex bytes).
    pub class_id: Option<String>,
    /// `class.vendor`.
    pub vendor: Option<String>,
    /// `class.model`.
    pub model: Option<String>,
    /// `class.layer`.
    pub layer: Option<u64>,
    /// `class.index`.
    pub index: Option<u64>,
    /// `instance` (`ueid:..`, `uuid:..` or hex bytes).
    pub instance: Option<String>,
    /// `group`.
    pub group: Option<String>,
}

/// A digest: hash algorithm name (`sha-256`, ...) and value.
pub type Digest = (String, Vec<u8>);

/// One measurement of a reference triple.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceValue {
    /// The CoMID's tag id.
    pub comid_id: Option<String>,
    /// The environment.
    pub environment: Environment,
    /// The measured element's label: `mkey` (text, number, `uuid:..`,
    /// `oid:..`) or, without `mkey`, the `name` measurement value.
    pub label: Option<String>,
    /// `digests` (mval key 2).
    pub digests: Vec<Digest>,
    /// `raw-value` (mval key 4).
    pub raw_value: Option<Vec<u8>>,
    /// The mask of a masked raw value (then compare `value & mask`).
    pub raw_value_mask: Option<Vec<u8>>,
    /// `svn` (mval key 1).
    pub svn: Option<u64>,
    /// Whether `svn` is a minimum (`#6.553` min-svn) rather than an exact value.
    pub svn_is_minimum: bool,
    /// `version.version` (mval key 0).
    pub version: Option<String>,
    /// `integrity-registers` (mval key 14): register id -> digests.
    pub integrity_registers: BTreeMap<String, Vec<Digest>>,
}

/// The reference values imported from one CoRIM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferenceValues {
    /// The CoRIM id.
    pub corim_id: Option<String>,
    /// Whether the CoRIM was signed (and the signature verified).
    pub signed: bool,
    /// Every measurement of every reference triple.
    pub entries: Vec<ReferenceValue>,
}

impl ReferenceValues {
    /// Hex digests of every measurement labelled `label` and of every
    /// integrity register named `label` (both case-insensitive): e.g.
    /// `RIM` for CCA `realm_initial_measurements`, `measurement` for SNP,
    /// `mrtd` for TDX. Duplicates removed, order kept.
    pub fn allow_list(&self, label: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        // A set beside the list: `contains` on the list is quadratic in a
        // CoRIM-controlled count.
        let mut seen = std::collections::HashSet::new();
        let mut push = |d: &[u8]| {
            let h = hex::encode(d);
            if seen.insert(h.clone()) {
                out.push(h);
            }
        };
        for e in &self.entries {
            if e.label.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(label)) {
                for (_, d) in &e.digests {
                    push(d);
                }
            }
            for (reg, ds) in &e.integrity_registers {
                if reg.eq_ignore_ascii_case(label) {
                    for (_, d) in ds {
                        push(d);
                    }
                }
            }
        }
        out
    }

    /// Hex raw values of every measurement labelled `label` (case-insensitive).
    pub fn raw_value_list(&self, label: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for e in &self.entries {
            if e.label.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(label)) {
                if let Some(r) = &e.raw_value {
                    let h = hex::encode(r);
                    if seen.insert(h.clone()) {
                        out.push(h);
                    }
                }
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------
// Decoding

fn decode(bytes: &[u8], what: &'static str) -> Result<Value, CorimError> {
    if bytes.len() > MAX_CORIM_LEN {
        return Err(CorimError::TooLarge {
            len: bytes.len(),
            max: MAX_CORIM_LEN,
        });
    }
    let mut r = bytes;
    let v: Value = ciborium::de::from_reader(&mut r).map_err(|e| CorimError::Cbor {
        what,
        reason: e.to_string(),
    })?;
    if !r.is_empty() {
        return Err(st(what, format!("{} trailing bytes", r.len())));
    }
    Ok(v)
}

fn int(v: &Value) -> Option<i128> {
    match v {
        Value::Integer(i) => Some(i128::from(*i)),
        _ => None,
    }
}

fn map<'a>(v: &'a Value, at: &str) -> Result<&'a [(Value, Value)], CorimError> {
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(st(at, "expected a map")),
    }
}

fn array<'a>(v: &'a Value, at: &str) -> Result<&'a [Value], CorimError> {
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(st(at, "expected an array")),
    }
}

fn get(m: &[(Value, Value)], key: i128) -> Option<&Value> {
    m.iter().find(|(k, _)| int(k) == Some(key)).map(|(_, v)| v)
}

fn text(v: &Value, at: &str) -> Result<String, CorimError> {
    match v {
        Value::Text(t) => Ok(t.clone()),
        _ => Err(st(at, "expected a text string")),
    }
}

fn uint(v: &Value, at: &str) -> Result<u64, CorimError> {
    int(v)
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| st(at, "expected an unsigned integer"))
}

/// Text for identifiers: text as is, tagged UUID/OID/UEID/bytes as prefixed hex.
fn ident(v: &Value, at: &str) -> Result<String, CorimError> {
    match v {
        Value::Text(t) => Ok(t.clone()),
        Value::Integer(_) => Ok(int(v).unwrap_or_default().to_string()),
        Value::Bytes(b) => Ok(hex::encode(b)),
        Value::Tag(t, inner) => {
            let Value::Bytes(b) = inner.as_ref() else {
                return Err(st(at, format!("tag {t} does not wrap a byte string")));
            };
            Ok(match t {
                37 => format!("uuid:{}", hex::encode(b)),
                111 => format!("oid:{}", hex::encode(b)),
                550 => format!("ueid:{}", hex::encode(b)),
                _ => hex::encode(b),
            })
        }
        _ => Err(st(at, "unsupported identifier type")),
    }
}

fn alg_name(v: &Value, at: &str) -> Result<String, CorimError> {
    match v {
        Value::Text(t) => Ok(t.to_ascii_lowercase()),
        Value::Integer(_) => Ok(match int(v).unwrap_or_default() {
            1 => "sha-256".into(),
            2 => "sha-256-128".into(),
            3 => "sha-256-120".into(),
            4 => "sha-256-96".into(),
            5 => "sha-256-64".into(),
            6 => "sha-256-32".into(),
            7 => "sha-384".into(),
            8 => "sha-512".into(),
            10 => "sha3-256".into(),
            11 => "sha3-384".into(),
            12 => "sha3-512".into(),
            n => format!("alg-{n}"),
        }),
        _ => Err(st(at, "hash algorithm is neither an integer nor text")),
    }
}

fn digests(v: &Value, at: &str) -> Result<Vec<Digest>, CorimError> {
    let a = array(v, at)?;
    if a.is_empty() {
        return Err(st(at, "digests must not be empty"));
    }
    a.iter()
        .map(|d| {
            let pair = array(d, at)?;
            let [alg, val] = pair else {
                return Err(st(at, "a digest is not [alg, value]"));
            };
            let alg = alg_name(alg, at)?;
            let Value::Bytes(b) = val else {
                return Err(st(at, "digest value is not a byte string"));
            };
            let want = match alg.as_str() {
                "sha-256" | "sha3-256" => Some(32),
                "sha-384" | "sha3-384" => Some(48),
                "sha-512" | "sha3-512" => Some(64),
                _ => None,
            };
            if want.is_some_and(|w| w != b.len()) {
                return Err(st(at, format!("{alg} digest is {} bytes", b.len())));
            }
            Ok((alg, b.clone()))
        })
        .collect()
}

fn environment(v: &Value, at: &str) -> Result<Environment, CorimError> {
    let m = map(v, at)?;
    let mut env = Environment::default();
    if let Some(c) = get(m, 0) {
        let at = format!("{at}.class");
        let c = map(c, &at)?;
        env.class_id = get(c, 0).map(|x| ident(x, &at)).transpose()?;
        env.vendor = get(c, 1).map(|x| text(x, &at)).transpose()?;
        env.model = get(c, 2).map(|x| text(x, &at)).transpose()?;
        env.layer = get(c, 3).map(|x| uint(x, &at)).transpose()?;
        env.index = get(c, 4).map(|x| uint(x, &at)).transpose()?;
    }
    env.instance = get(m, 1).map(|x| ident(x, &format!("{at}.instance"))).transpose()?;
    env.group = get(m, 2).map(|x| ident(x, &format!("{at}.group"))).transpose()?;
    if env == Environment::default() {
        return Err(st(at, "environment has neither class, instance nor group"));
    }
    Ok(env)
}

fn measurement(
    v: &Value,
    at: &str,
    env: &Environment,
    comid_id: &Option<String>,
) -> Result<ReferenceValue, CorimError> {
    let m = map(v, at)?;
    let mut rv = ReferenceValue {
        comid_id: comid_id.clone(),
        environment: env.clone(),
        ..Default::default()
    };
    rv.label = get(m, 0).map(|k| ident(k, &format!("{at}.mkey"))).transpose()?;
    let mval_at = format!("{at}.mval");
    let mval = map(get(m, 1).ok_or_else(|| st(at, "measurement lacks mval (1)"))?, &mval_at)?;
    for (k, v) in mval {
        match int(k) {
            Some(0) => {
                let vm = map(v, &mval_at)?;
                rv.version = get(vm, 0).map(|x| text(x, &mval_at)).transpose()?;
            }
            Some(1) => {
                let inner = match v {
                    Value::Tag(552, i) => i.as_ref(),
                    Value::Tag(553, i) => {
                        rv.svn_is_minimum = true;
                        i.as_ref()
                    }
                    other => other,
                };
                rv.svn = Some(uint(inner, &format!("{mval_at}.svn"))?);
            }
            Some(2) => rv.digests = digests(v, &format!("{mval_at}.digests"))?,
            Some(4) => match v {
                Value::Bytes(b) => rv.raw_value = Some(b.clone()),
                Value::Tag(560, i) => match i.as_ref() {
                    Value::Bytes(b) => rv.raw_value = Some(b.clone()),
                    _ => return Err(st(&mval_at, "raw-value tag 560 does not wrap bytes")),
                },
                Value::Tag(563, i) => match array(i, &mval_at)? {
                    [Value::Bytes(val), Value::Bytes(mask)] if val.len() == mask.len() => {
                        rv.raw_value = Some(val.clone());
                        rv.raw_value_mask = Some(mask.clone());
                    }
                    _ => return Err(st(&mval_at, "masked raw value is not [bytes, mask] of equal length")),
                },
                _ => return Err(st(&mval_at, "unsupported raw-value type")),
            },
            Some(5) => match v {
                Value::Bytes(b) => rv.raw_value_mask = Some(b.clone()),
                _ => return Err(st(&mval_at, "raw-value-mask is not bytes")),
            },
            Some(11) if rv.label.is_none() => rv.label = Some(text(v, &format!("{mval_at}.name"))?),
            Some(14) => {
                let regs = map(v, &format!("{mval_at}.integrity-registers"))?;
                for (rk, rd) in regs {
                    let at = format!("{mval_at}.integrity-registers");
                    let id = match rk {
                        Value::Text(t) => t.clone(),
                        _ => uint(rk, &at)?.to_string(),
                    };
                    rv.integrity_registers.insert(id, digests(rd, &at)?);
                }
            }
            _ => {} // other measurement values are not interpreted
        }
    }
    if let (Some(v), Some(m)) = (&rv.raw_value, &rv.raw_value_mask) {
        if v.len() != m.len() {
            return Err(st(mval_at, "raw value and mask differ in length"));
        }
    }
    Ok(rv)
}

fn comid(m: &[(Value, Value)], at: &str, out: &mut Vec<ReferenceValue>) -> Result<(), CorimError> {
    let ident_map = map(get(m, 1).ok_or_else(|| st(at, "CoMID lacks tag-identity (1)"))?, at)?;
    let id = Some(ident(
        get(ident_map, 0).ok_or_else(|| st(at, "tag-identity lacks tag-id (0)"))?,
        at,
    )?);
    let triples_at = format!("{at}.triples");
    let triples = map(get(m, 4).ok_or_else(|| st(at, "CoMID lacks triples (4)"))?, &triples_at)?;
    let Some(refs) = get(triples, 0) else {
        return Ok(()); // no reference triples: nothing to import
    };
    for (i, t) in array(refs, &triples_at)?.iter().enumerate() {
        let at = format!("{triples_at}.reference-triples[{i}]");
        let [env, ms] = array(t, &at)? else {
            return Err(st(at, "a reference triple is not [environment, [measurements]]"));
        };
        let env = environment(env, &format!("{at}.environment"))?;
        let ms = array(ms, &at)?;
        if ms.is_empty() {
            return Err(st(at, "a reference triple has no measurement"));
        }
        for (j, mm) in ms.iter().enumerate() {
            if out.len() >= MAX_ENTRIES {
                return Err(st(at, format!("more than {MAX_ENTRIES} reference values")));
            }
            out.push(measurement(mm, &format!("{at}.measurements[{j}]"), &env, &id)?);
        }
    }
    Ok(())
}

fn unsigned_corim(v: &Value, signed: bool) -> Result<ReferenceValues, CorimError> {
    let Value::Tag(tag, inner) = v else {
        return Err(st("corim", format!("not a tagged CoRIM (tag {CORIM_TAG})")));
    };
    if *tag != CORIM_TAG {
        return Err(st("corim", format!("CBOR tag {tag}, expected {CORIM_TAG}")));
    }
    let m = map(inner, "corim")?;
    let id = ident(get(m, 0).ok_or_else(|| st("corim", "lacks id (0)"))?, "corim.id")?;
    let tags = array(get(m, 1).ok_or_else(|| st("corim", "lacks tags (1)"))?, "corim.tags")?;
    if tags.is_empty() {
        return Err(st("corim.tags", "must not be empty"));
    }
    let mut entries = Vec::new();
    for (i, t) in tags.iter().enumerate() {
        let at = format!("corim.tags[{i}]");
        let Value::Tag(tn, inner) = t else {
            return Err(st(at, "not a tagged concise tag"));
        };
        if *tn != COMID_TAG {
            continue; // CoSWID (505), CoTL (508): not interpreted
        }
        match inner.as_ref() {
            Value::Bytes(b) => {
                let c = decode(b, "CoMID")?;
                comid(map(&c, &at)?, &at, &mut entries)?;
            }
            Value::Map(cm) => comid(cm, &at, &mut entries)?,
            _ => return Err(st(at, "CoMID is neither a byte string nor a map")),
        }
    }
    Ok(ReferenceValues {
        corim_id: Some(id),
        signed,
        entries,
    })
}

/// Imports a CoRIM. With `key` the CoRIM must be COSE-signed and verify
/// with it; without, it must be unsigned (a signed CoRIM without a key is
/// refused rather than trusted unverified).
pub fn import(bytes: &[u8], key: Option<&VerificationKey>) -> Result<ReferenceValues, CorimError> {
    match key {
        Some(k) => import_with_keys(bytes, std::slice::from_ref(k)),
        None => import_with_keys(bytes, &[]),
    }
}

/// Like [`import`], with any of several keys: empty `keys` requires an
/// unsigned CoRIM, non-empty a signed one verifying with one of them.
pub fn import_with_keys(bytes: &[u8], keys: &[VerificationKey]) -> Result<ReferenceValues, CorimError> {
    if bytes.len() > MAX_CORIM_LEN {
        return Err(CorimError::TooLarge {
            len: bytes.len(),
            max: MAX_CORIM_LEN,
        });
    }
    let v = decode(bytes, "CoRIM")?;
    match &v {
        Value::Tag(COSE_SIGN1_TAG, _) => {
            if keys.is_empty() {
                return Err(CorimError::KeyRequired);
            }
            let s = CoseSign1::from_tagged_slice(bytes).map_err(|e| CorimError::Cbor {
                what: "signed CoRIM",
                reason: e.to_string(),
            })?;
            let mut last = CorimError::Signature("no key".into());
            let mut ok = false;
            for k in keys {
                match k.verify_sign1(&s) {
                    Ok(()) => {
                        ok = true;
                        break;
                    }
                    Err(e) => last = e,
                }
            }
            if !ok {
                return Err(last);
            }
            let payload = s
                .payload
                .as_deref()
                .ok_or_else(|| st("signed CoRIM", "detached payload"))?;
            unsigned_corim(&decode(payload, "CoRIM payload")?, true)
        }
        Value::Tag(CORIM_TAG, _) => {
            if !keys.is_empty() {
                return Err(CorimError::Unsigned);
            }
            unsigned_corim(&v, false)
        }
        Value::Tag(t, _) => Err(st(
            "corim",
            format!("CBOR tag {t}, expected {CORIM_TAG} (unsigned) or {COSE_SIGN1_TAG} (signed)"),
        )),
        _ => Err(st("corim", "not a tagged CoRIM")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_algorithm_names() {
        assert_eq!(alg_name(&Value::Integer(1.into()), "t").unwrap(), "sha-256");
        assert_eq!(alg_name(&Value::Integer(7.into()), "t").unwrap(), "sha-384");
        assert_eq!(alg_name(&Value::Integer(8.into()), "t").unwrap(), "sha-512");
        assert_eq!(alg_name(&Value::Integer(99.into()), "t").unwrap(), "alg-99");
        assert_eq!(alg_name(&Value::Text("SHA-256".into()), "t").unwrap(), "sha-256");
        let e = alg_name(&Value::Bool(true), "t").unwrap_err();
        assert!(
            matches!(e, CorimError::Structure { .. }) && e.to_string().contains("neither an integer nor text"),
            "{e:?}"
        );
    }

    #[test]
    fn digests_check_lengths_of_known_algorithms() {
        let d = |alg: i64, n: usize| {
            Value::Array(vec![Value::Array(vec![
                Value::Integer(alg.into()),
                Value::Bytes(vec![0; n]),
            ])])
        };
        assert!(digests(&d(1, 32), "t").is_ok());
        let e = digests(&d(1, 48), "t").unwrap_err();
        assert!(
            matches!(e, CorimError::Structure { .. }) && e.to_string().contains("sha-256 digest is 48 bytes"),
            "{e:?}"
        );
        assert!(digests(&d(7, 48), "t").is_ok());
        assert!(digests(&d(99, 5), "t").is_ok());
        let e = digests(&Value::Array(vec![]), "t").unwrap_err();
        assert!(
            matches!(e, CorimError::Structure { .. }) && e.to_string().contains("digests must not be empty"),
            "{e:?}"
        );
        let e = digests(&Value::Array(vec![Value::Array(vec![Value::Integer(1.into())])]), "t").unwrap_err();
        assert!(
            matches!(e, CorimError::Structure { .. }) && e.to_string().contains("a digest is not [alg, value]"),
            "{e:?}"
        );
    }

    #[test]
    fn identifiers() {
        let t = |tag: u64| Value::Tag(tag, Box::new(Value::Bytes(vec![0xab])));
        assert_eq!(ident(&t(37), "t").unwrap(), "uuid:ab");
        assert_eq!(ident(&t(111), "t").unwrap(), "oid:ab");
        assert_eq!(ident(&t(550), "t").unwrap(), "ueid:ab");
        assert_eq!(ident(&t(560), "t").unwrap(), "ab");
        let e = ident(&Value::Tag(37, Box::new(Value::Text("x".into()))), "t").unwrap_err();
        assert!(
            matches!(e, CorimError::Structure { .. }) && e.to_string().contains("tag 37 does not wrap a byte string"),
            "{e:?}"
        );
        let e = ident(&Value::Null, "t").unwrap_err();
        assert!(
            matches!(e, CorimError::Structure { .. }) && e.to_string().contains("unsupported identifier type"),
            "{e:?}"
        );
    }

    #[test]
    fn verification_key_algorithms() {
        assert_eq!(VerificationKey::Ed25519(vec![0; 32]).jose_alg(), "EdDSA");
        assert_eq!(VerificationKey::P384(vec![4; 97]).jose_alg(), "ES384");
        // A signature over the wrong message does not verify (a real key and
        // a real signature, so only the message can be what fails).
        use aws_lc_rs::signature::KeyPair;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
        let doc = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let kp = signature::EcdsaKeyPair::from_pkcs8(alg, doc.as_ref()).unwrap();
        let key = VerificationKey::P256(kp.public_key().as_ref().to_vec());
        let sig = kp.sign(&rng, b"m").unwrap();
        key.verify(b"m", sig.as_ref()).unwrap();
        let e = key.verify(b"n", sig.as_ref()).unwrap_err();
        assert!(
            matches!(&e, CorimError::Signature(m) if m == "bad ES256 signature"),
            "{e:?}"
        );
    }
}

/// The policy keys each platform section fills from CoRIM labels
/// (`(label in the CoRIM, key in the policy section)`).
pub fn policy_keys(platform: &str) -> Option<&'static [(&'static str, &'static str)]> {
    Some(match platform {
        "sim" => &[("measurement", "measurements")],
        "snp" => &[
            ("measurement", "measurements"),
            ("host_data", "host_data"),
            ("id_key_digest", "id_key_digests"),
            ("author_key_digest", "author_key_digests"),
        ],
        "tdx" => &[
            ("mrtd", "mrtd"),
            ("rtmr0", "rtmr0"),
            ("rtmr1", "rtmr1"),
            ("rtmr2", "rtmr2"),
            ("rtmr3", "rtmr3"),
            ("mrconfigid", "mrconfigid"),
            ("mrowner", "mrowner"),
            ("mrownerconfig", "mrownerconfig"),
        ],
        "sgx" => &[("mrenclave", "mrenclave"), ("mrsigner", "mrsigner")],
        "cca" => &[
            ("RIM", "realm_initial_measurements"),
            ("RPV", "realm_personalization_values"),
        ],
        _ => return None,
    })
}

/// A TOML policy section for `platform` with the allow-lists these
/// reference values provide (digests, else raw values, per label), ready
/// to paste into a policy. `None` for an unknown platform.
pub fn policy_fragment(values: &ReferenceValues, platform: &str) -> Option<String> {
    let keys = policy_keys(platform)?;
    // The id is the CoRIM author's text: printed as an escaped string so
    // that no character of it (a newline above all) can leave the comment
    // and write policy keys.
    let mut s = format!(
        "# from CoRIM {} ({})\n[{platform}]\n",
        values
            .corim_id
            .as_deref()
            .map_or_else(|| "(no id)".to_string(), |id| format!("{id:?}")),
        if values.signed {
            "signature verified"
        } else {
            "unsigned"
        }
    );
    for (label, key) in keys {
        let mut list = values.allow_list(label);
        if list.is_empty() {
            list = values.raw_value_list(label);
        }
        if !list.is_empty() {
            let quoted: Vec<String> = list.iter().map(|h| format!("\"{h}\"")).collect();
            s.push_str(&format!("{key} = [{}]\n", quoted.join(", ")));
        }
    }
    Some(s)
}

#[cfg(test)]
mod fragment_tests {
    use super::*;

    #[test]
    fn fragment_lists_digests_by_label_and_parses_as_policy() {
        let entry = |label: &str, d: u8| ReferenceValue {
            comid_id: None,
            environment: Environment::default(),
            label: Some(label.into()),
            digests: vec![("sha-384".to_string(), vec![d; 48])],
            raw_value: None,
            raw_value_mask: None,
            svn: None,
            svn_is_minimum: false,
            version: None,
            integrity_registers: BTreeMap::new(),
        };
        let rv = ReferenceValues {
            corim_id: Some("c1".into()),
            signed: true,
            entries: vec![entry("MRTD", 1), entry("rtmr1", 2), entry("other", 3)],
        };
        let frag = policy_fragment(&rv, "tdx").unwrap();
        assert!(frag.contains(&format!("mrtd = [\"{}\"]", "01".repeat(48))), "{frag}");
        assert!(frag.contains("rtmr1 = ["), "{frag}");
        assert!(
            !frag.contains(&"03".repeat(48)),
            "unlabelled values are not used: {frag}"
        );
        let p = crate::policy::Policy::from_toml(&format!("id = \"x\"\n{frag}"), std::path::Path::new(".")).unwrap();
        assert_eq!(p.tdx.unwrap().mrtd.len(), 1);
        assert!(policy_fragment(&rv, "nope").is_none());
    }
}
